/*
 * cc-ns exec: runs a command inside an environment's namespaces and root
 * (see main.c for the command line). Four steps: parse the command line,
 * enter the environment, spawn the command, wait for it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cc-ns.h"

/* What "cc-ns exec" was asked to run. */
struct exec_req {
	const char *initpid;
	const char *outfile; /* NULL: wait for the command; else detach it, output appended here */
	const char *cwd;
	char **envv;
	int nenv;
	char **cmd;
};

/* Returns 0, or the exit status (125) after saying what is wrong. */
static int parse_exec(int argc, char **argv, struct exec_req *r)
{
	int i;

	if (argc < 1) {
		fprintf(stderr, "usage: cc-ns exec INITPID [-d OUTFILE] [-C DIR] [-e K=V]... [-E K]... -- ARGV...\n");
		return 125;
	}
	*r = (struct exec_req){ .initpid = argv[0], .cwd = "/", .envv = calloc(argc + 1, sizeof(char *)) };
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			i++;
			break;
		} else if (!strcmp(argv[i], "-d") && i + 1 < argc)
			r->outfile = argv[++i];
		else if (!strcmp(argv[i], "-C") && i + 1 < argc)
			r->cwd = argv[++i];
		else if (!strcmp(argv[i], "-e") && i + 1 < argc)
			r->envv[r->nenv++] = argv[++i];
		else if (!strcmp(argv[i], "-E") && i + 1 < argc) {
			/* NAME=VALUE from cc-ns's own environment: a value (a secret) never on a command line any user can read */
			const char *name = argv[++i];
			const char *value = getenv(name);
			size_t n = strlen(name) + (value ? strlen(value) : 0) + 2;
			char *kv = malloc(n);

			if (!value || !kv) {
				fprintf(stderr, "cc-ns exec: -E %s: %s\n", name, value ? "out of memory" : "not in cc-ns's environment");
				return 125;
			}
			snprintf(kv, n, "%s=%s", name, value);
			r->envv[r->nenv++] = kv;
		}
		else {
			fprintf(stderr, "cc-ns exec: unexpected argument %s\n", argv[i]);
			return 125;
		}
	}
	if (i >= argc) {
		fprintf(stderr, "cc-ns exec: no command\n");
		return 125;
	}
	r->cmd = argv + i;
	return 0;
}

/* Joins the namespaces and the root of INITPID. Returns 0, or 125 after saying why not. */
static int enter_env(const char *initpid)
{
	static const char *nss[] = { "ipc", "uts", "net", "pid", "mnt" };
	int rootfd, nsfd[5];
	char path[64];

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
	return 0;
}

/* Tells cc-ns, through the pipe, "P PID" (about to exec) or "E ERRNO" (failed). */
static void report(int fd, char what, int v)
{
	char msg[64];
	int n = snprintf(msg, sizeof(msg), "%c %d\n", what, v);
	if (write(fd, msg, n) < 0) {}
}

/* The forked child: sets up stdio, descriptors, cwd and environment, then execs the command. */
static void spawn_child(const struct exec_req *r, int pw) __attribute__((noreturn));
static void spawn_child(const struct exec_req *r, int pw)
{
	if (r->outfile) {
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
		fd = open(r->outfile, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd < 0) {
			report(pw, 'E', errno);
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
	close_from(3, pw);
	umask(077); /* checkpoint images and logs are for root's eyes only */
	if (chdir(r->cwd) < 0) {
		report(pw, 'E', errno);
		_exit(127);
	}
	clearenv();
	for (int k = 0; k < r->nenv; k++)
		putenv(r->envv[k]);
	report(pw, 'P', (int)getpid());
	execvp(r->cmd[0], r->cmd);
	report(pw, 'E', errno);
	_exit(127);
}

/* Forks the command; STARTED gets what the child reported ("P PID" or "E ERRNO") once the pipe closes. */
static pid_t spawn_cmd(const struct exec_req *r, char *started, size_t size)
{
	int pp[2];
	ssize_t got = 0, n;

	if (pipe2(pp, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "cc-ns exec: fork: %s\n", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(pp[0]);
		spawn_child(r, pp[1]);
	}
	close(pp[1]);
	memset(started, 0, size);
	while ((n = read(pp[0], started + got, size - 1 - got)) > 0)
		got += n;
	return pid;
}

static pid_t exec_child;

static void kill_exec_child(int sig)
{
	(void)sig;
	if (exec_child > 0) {
		kill(-exec_child, SIGKILL);
		kill(exec_child, SIGKILL);
	}
}

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

/* Waits for the command and passes on how it ended: its exit status, or its signal. */
static int wait_cmd(pid_t pid)
{
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

int cmd_exec(int argc, char **argv)
{
	struct exec_req r;
	char started[128];
	int rc = parse_exec(argc, argv, &r);

	if (rc)
		return rc;
	if (enter_env(r.initpid))
		return 125;
	pid_t pid = spawn_cmd(&r, started, sizeof(started));
	if (pid < 0)
		return 125;
	char *e = strstr(started, "E ");
	if (e) {
		errno = atoi(e + 2);
		fprintf(stderr, "cc-ns exec: %s: %s\n", r.cmd[0], strerror(errno));
		waitpid(pid, NULL, 0);
		return 127;
	}
	if (r.outfile) {
		/* Detached: print the PID as the namespace sees it; the init adopts it. */
		waitpid(pid, NULL, 0);
		printf("%s", started + 2);
		return 0;
	}
	return wait_cmd(pid);
}
