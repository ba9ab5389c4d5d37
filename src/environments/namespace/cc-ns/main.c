/*
 * cc-ns: the namespace backend's native helper.
 *
 *   cc-ns init ROOTFS WORKDIR
 *       Creates new mount, PID, network, UTS and IPC namespaces whose PID 1
 *       enters ROOTFS (bind-mounted read-only, fresh /proc, /sys and /dev
 *       rbound, tmpfs /tmp, /run and /dev/shm, WORKDIR bound at /run/criu-compat),
 *       pivots into it, brings loopback up and then only reaps orphans.
 *       Prints "ready PID" (host PID of that init) once the root is set up,
 *       or "error: STEP: REASON". Stays in the foreground; it and the init
 *       die with SIGKILL when the harness (our parent) dies. (init.c)
 *
 *   cc-ns exec INITPID [-d OUTFILE] [-C DIR] [-e K=V]... [-E K]... -- ARGV...
 *       Runs ARGV inside the namespaces and root of INITPID with exactly
 *       the given environment and no inherited descriptors but 0, 1, 2.
 *       Without -d it waits and exits with ARGV's status, or dies of ARGV's
 *       signal (ARGV is killed if cc-ns dies). With -d ARGV is detached (own
 *       session, stdin /dev/null, stdout+stderr appended to OUTFILE,
 *       reparented to the init) and cc-ns prints ARGV's PID as seen inside
 *       the namespace. Exit status 125: cc-ns itself failed; 127: ARGV could
 *       not be started. (exec.c)
 *
 * Keeping a VM from outliving the harness is cc-guard's (src/native/cc-guard.c).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cc-ns.h"

/* Closes every descriptor >= lowfd but keep (-1: none), whatever the limit. */
void close_from(int lowfd, int keep)
{
	if (keep < 0) {
		if (syscall(SYS_close_range, lowfd, ~0U, 0) == 0)
			return;
	} else if (keep >= lowfd) {
		if ((keep == lowfd || syscall(SYS_close_range, lowfd, keep - 1, 0) == 0) &&
		    syscall(SYS_close_range, keep + 1, ~0U, 0) == 0)
			return;
	}
	long max = sysconf(_SC_OPEN_MAX);
	for (int fd = lowfd; fd < (max > 0 ? max : 1024); fd++)
		if (fd != keep)
			close(fd);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "init"))
		return cmd_init(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "exec"))
		return cmd_exec(argc - 2, argv + 2);
	fprintf(stderr, "usage: cc-ns init ROOTFS WORKDIR | cc-ns exec INITPID [-d OUTFILE] [-C DIR] [-e K=V]... [-E K]... -- ARGV...\n");
	return 2;
}
