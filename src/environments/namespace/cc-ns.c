/*
 * cc-ns: the namespace backend's native helper.
 *
 *   cc-ns init ROOTFS WORKDIR
 *       Creates new mount, PID, network, UTS and IPC namespaces whose PID 1
 *       enters ROOTFS (bind-mounted read-only, fresh /proc, /sys and /dev
 *       rbound, tmpfs /tmp and /run, WORKDIR bound at /run/criu-compat),
 *       pivots into it, brings loopback up and then only reaps orphans.
 *       Prints "ready PID" (host PID of that init) once the root is set up,
 *       or "error: STEP: REASON". Stays in the foreground; it and the init
 *       die with SIGKILL when the harness (our parent) dies.
 *
 *   cc-ns exec INITPID [-d OUTFILE] [-C DIR] [-e K=V]... -- ARGV...
 *       Runs ARGV inside the namespaces and root of INITPID with exactly
 *       the given environment and no inherited descriptors but 0, 1, 2.
 *       Without -d it waits and exits with ARGV's status (ARGV is killed if
 *       cc-ns dies). With -d ARGV is detached (own session, stdin /dev/null,
 *       stdout+stderr appended to OUTFILE, reparented to the init) and cc-ns
 *       prints ARGV's PID as seen inside the namespace.
 *
 *   cc-ns guard -- ARGV...
 *       Execs ARGV with SIGKILL as its parent-death signal: a VM (QEMU)
 *       started this way cannot outlive the harness, even after kill -9.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* Closes every descriptor >= lowfd but keep (-1: none), whatever the limit. */
static void close_from(int lowfd, int keep)
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

static int cmd_init(int argc, char **argv)
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

static pid_t exec_child;
/* The command was killed by SIG: die of the same signal, so that our caller
 * sees "killed by SIGSEGV" and not an exit status that a program could also
 * have chosen. No core file of ours: the crash was the command's. */
static void die_like(int sig)
{
	struct rlimit none = { 0, 0 };
	sigset_t set;

	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	fflush(NULL);
	raise(sig);
}

static void kill_exec_child(int sig)
{
	(void)sig;
	if (exec_child > 0) {
		kill(-exec_child, SIGKILL);
		kill(exec_child, SIGKILL);
	}
}

static int cmd_exec(int argc, char **argv)
{
	static const char *nss[] = { "ipc", "uts", "net", "pid", "mnt" };
	const char *outfile = NULL, *cwd = "/";
	char **envv = calloc(argc + 1, sizeof(char *));
	int nenv = 0, i, rootfd, nsfd[5], pp[2];
	char path[64];
	pid_t pid;

	if (argc < 1) {
		fprintf(stderr, "usage: cc-ns exec INITPID [-d OUTFILE] [-C DIR] [-e K=V]... -- ARGV...\n");
		return 125;
	}
	const char *initpid = argv[0];
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "-d") && i + 1 < argc)
			outfile = argv[++i];
		else if (!strcmp(argv[i], "-C") && i + 1 < argc)
			cwd = argv[++i];
		else if (!strcmp(argv[i], "-e") && i + 1 < argc)
			envv[nenv++] = argv[++i];
		else {
			fprintf(stderr, "cc-ns exec: unexpected argument %s\n", argv[i]);
			return 125;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "cc-ns exec: no command\n");
		return 125;
	}
	char **cmd = argv + i;

	snprintf(path, sizeof(path), "/proc/%s/root", initpid);
	rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rootfd < 0) {
		fprintf(stderr, "cc-ns exec: %s: %s (is the environment still up?)\n", path, strerror(errno));
		return 125;
	}
	for (int k = 0; k < 5; k++) {
		snprintf(path, sizeof(path), "/proc/%s/ns/%s", initpid, nss[k]);
		nsfd[k] = open(path, O_RDONLY | O_CLOEXEC);
		if (nsfd[k] < 0) {
			fprintf(stderr, "cc-ns exec: %s: %s\n", path, strerror(errno));
			return 125;
		}
	}
	for (int k = 0; k < 5; k++)
		if (setns(nsfd[k], 0) < 0) {
			fprintf(stderr, "cc-ns exec: setns %s: %s\n", nss[k], strerror(errno));
			return 125;
		}
	if (fchdir(rootfd) < 0 || chroot(".") < 0) {
		fprintf(stderr, "cc-ns exec: chroot: %s\n", strerror(errno));
		return 125;
	}
	if (pipe2(pp, O_CLOEXEC) < 0)
		return 125;
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "cc-ns exec: fork: %s\n", strerror(errno));
		return 125;
	}
	if (pid == 0) {
		char msg[64];
		int n;
		close(pp[0]);
		if (outfile) {
			int fd;
			/* Fork once more inside the namespace: an orphan is adopted by the
			 * reaper of its parent's PID namespace, and ours is the host's. */
			pid_t grandchild = fork();
			if (grandchild < 0)
				_exit(127);
			if (grandchild > 0)
				_exit(0);
			setsid();
			fd = open("/dev/null", O_RDONLY);
			dup2(fd, 0);
			fd = open(outfile, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (fd < 0) {
				n = snprintf(msg, sizeof(msg), "E %d\n", errno);
				if (write(pp[1], msg, n) < 0) {}
				_exit(127);
			}
			dup2(fd, 1);
			dup2(fd, 2);
		} else {
			/* Our own process group, so that cc-ns can kill the command and
			 * what it started in one go. Our parent lives outside the PID
			 * namespace, so getppid() is 0 while it lives and 1 once the
			 * init has adopted us. */
			setpgid(0, 0);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() != 0)
				_exit(137);
		}
		close_from(3, pp[1]);
		umask(077); /* checkpoint images and logs are for root's eyes only */
		if (chdir(cwd) < 0) {
			n = snprintf(msg, sizeof(msg), "E %d\n", errno);
			if (write(pp[1], msg, n) < 0) {}
			_exit(127);
		}
		clearenv();
		for (int k = 0; k < nenv; k++)
			putenv(envv[k]);
		n = snprintf(msg, sizeof(msg), "P %d\n", (int)getpid());
		if (write(pp[1], msg, n) < 0) {}
		execvp(cmd[0], cmd);
		n = snprintf(msg, sizeof(msg), "E %d\n", errno);
		if (write(pp[1], msg, n) < 0) {}
		_exit(127);
	}
	close(pp[1]);
	char buf[128] = { 0 };
	ssize_t got = 0, r;
	while ((r = read(pp[0], buf + got, sizeof(buf) - 1 - got)) > 0)
		got += r;
	char *e = strstr(buf, "E ");
	if (e) {
		errno = atoi(e + 2);
		fprintf(stderr, "cc-ns exec: %s: %s\n", cmd[0], strerror(errno));
		waitpid(pid, NULL, 0);
		return 127;
	}
	if (outfile) {
		/* Detached: print the PID as the namespace sees it; the init adopts it. */
		waitpid(pid, NULL, 0);
		printf("%s", buf + 2);
		return 0;
	}
	/* Stopping (timeout, Ctrl-C): kill the command's group and still reap it
	 * ourselves. Were we killed instead, the command would be adopted by the
	 * reaper of *our* PID namespace (the host's init), not the environment's. */
	exec_child = pid;
	signal(SIGINT, kill_exec_child);
	signal(SIGTERM, kill_exec_child);
	signal(SIGHUP, kill_exec_child);
	for (;;) {
		int status;
		pid_t p = waitpid(pid, &status, 0);
		if (p == pid) {
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			die_like(WTERMSIG(status));
			return 128 + WTERMSIG(status);
		}
		if (p < 0 && errno != EINTR)
			return 125;
	}
}

/* Execs ARGV so that it dies with SIGKILL when the harness (our parent) dies. */
static int cmd_guard(int argc, char **argv)
{
	pid_t parent = getppid();
	if (argc < 2 || strcmp(argv[0], "--") != 0) {
		fprintf(stderr, "usage: cc-ns guard -- ARGV...\n");
		return 2;
	}
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		return 125;
	execvp(argv[1], argv + 1);
	fprintf(stderr, "cc-ns guard: exec %s: %s\n", argv[1], strerror(errno));
	return 127;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc >= 2 && !strcmp(argv[1], "init"))
		return cmd_init(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "exec"))
		return cmd_exec(argc - 2, argv + 2);
	if (argc >= 2 && !strcmp(argv[1], "guard"))
		return cmd_guard(argc - 2, argv + 2);
	fprintf(stderr, "usage: cc-ns init ROOTFS WORKDIR | cc-ns exec INITPID [-d OUTFILE] [-C DIR] [-e K=V]... -- ARGV... | cc-ns guard -- ARGV...\n");
	return 2;
}
