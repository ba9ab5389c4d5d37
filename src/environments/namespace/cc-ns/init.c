/*
 * cc-ns init: new namespaces whose PID 1 enters the node image's root and
 * then only reaps orphans (see main.c for the command line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cc-ns.h"

static int report_fd = -1;

static void fail(const char *step, const char *what)
{
	char buf[512];
	int n = snprintf(buf, sizeof(buf), "error: %s %s: %s\n", step, what ? what : "", strerror(errno));
	if (report_fd >= 0 && write(report_fd, buf, n) < 0) {}
	_exit(1);
}

static void must_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	if (mount(src, dst, type, flags, data) < 0)
		fail("mount", dst);
}

static void loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr = { 0 };
	if (s < 0)
		fail("socket", "lo");
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		fail("ioctl", "SIOCGIFFLAGS lo");
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		fail("ioctl", "SIOCSIFFLAGS lo");
	close(s);
}

static void enter_root(const char *rootfs, const char *workdir)
{
	char p[4096];

	must_mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
	must_mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL);
	snprintf(p, sizeof(p), "%s/proc", rootfs);
	must_mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	snprintf(p, sizeof(p), "%s/sys", rootfs);
	must_mount("/sys", p, NULL, MS_BIND | MS_REC, NULL);
	snprintf(p, sizeof(p), "%s/dev", rootfs);
	must_mount("/dev", p, NULL, MS_BIND | MS_REC, NULL);
	/* The node's own POSIX shared memory: what its workloads create in /dev/shm stays in the node and goes with it. */
	snprintf(p, sizeof(p), "%s/dev/shm", rootfs);
	must_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	snprintf(p, sizeof(p), "%s/tmp", rootfs);
	must_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	snprintf(p, sizeof(p), "%s/run", rootfs);
	must_mount("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	snprintf(p, sizeof(p), "%s/run/criu-compat", rootfs);
	if (mkdir(p, 0700) < 0)
		fail("mkdir", p);
	must_mount(workdir, p, NULL, MS_BIND, NULL);
	/* The node image itself stays pristine: read-only for everything we run. */
	must_mount(NULL, rootfs, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL);
	if (chdir(rootfs) < 0)
		fail("chdir", rootfs);
	if (syscall(SYS_pivot_root, ".", ".") < 0)
		fail("pivot_root", rootfs);
	if (umount2(".", MNT_DETACH) < 0)
		fail("umount", "old root");
	if (chdir("/") < 0)
		fail("chdir", "/");
	if (sethostname("criu-compat", 11) < 0)
		fail("sethostname", NULL);
	loopback_up();
}

static void reap_forever(void)
{
	sigset_t set;
	sigfillset(&set);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (;;) {
		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		sigwaitinfo(&set, NULL);
	}
}

static pid_t init_child;
static void kill_init(int sig)
{
	(void)sig;
	if (init_child > 0)
		kill(init_child, SIGKILL);
}

int cmd_init(int argc, char **argv)
{
	int sync[2];
	pid_t parent = getppid();
	char buf[512];
	ssize_t n;

	if (argc != 2) {
		fprintf(stderr, "usage: cc-ns init ROOTFS WORKDIR\n");
		return 2;
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		return 1;
	if (pipe2(sync, O_CLOEXEC) < 0 ||
	    unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC) < 0) {
		printf("error: unshare: %s\n", strerror(errno));
		return 1;
	}
	init_child = fork();
	if (init_child < 0) {
		printf("error: fork: %s\n", strerror(errno));
		return 1;
	}
	if (init_child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(sync[0]);
		report_fd = sync[1];
		enter_root(argv[0], argv[1]);
		if (write(sync[1], "ok\n", 3) < 0) {}
		close_from(0, -1);
		reap_forever();
	}
	close(sync[1]);
	signal(SIGTERM, kill_init);
	signal(SIGINT, kill_init);
	signal(SIGHUP, kill_init);
	n = read(sync[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	if (strncmp(buf, "ok\n", 3) != 0) {
		printf("%s", n > 0 ? buf : "error: init died while entering the root\n");
		fflush(stdout);
		kill_init(0);
		waitpid(init_child, NULL, 0);
		return 1;
	}
	printf("ready %d\n", (int)init_child);
	fflush(stdout);
	for (;;) {
		int status;
		pid_t p = waitpid(init_child, &status, 0);
		if (p == init_child)
			return 0;
		if (p < 0 && errno != EINTR)
			return 1;
	}
}
