/*
 * cc-guard -- ARGV...
 *
 * Execs ARGV with SIGKILL as its parent-death signal: a VM (QEMU) started
 * this way cannot outlive the harness (our parent), even after kill -9.
 * Exit status 2 for a bad command line, 125 if the harness is already gone
 * (or the signal cannot be set), 127 if ARGV cannot be executed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	pid_t parent = getppid();
	if (argc < 3 || strcmp(argv[1], "--") != 0) {
		fprintf(stderr, "usage: cc-guard -- ARGV...\n");
		return 2;
	}
	/* Set before checking the parent: had it died in between, we were reparented and must not run. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		return 125;
	execvp(argv[2], argv + 2);
	fprintf(stderr, "cc-guard: exec %s: %s\n", argv[2], strerror(errno));
	return 127;
}
