/*
 * cc-agent's EXEC and KILL requests. "run" gets a handler process of its
 * own that collects the command's output and replies EXITED; "spawn"
 * detaches the command (own session, output to a file) and replies SPAWNED.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "protocol.h"

#define MAX_RUNNING 256

static volatile sig_atomic_t kill_group = 0;
static int sigpipe_w = -1;

static void on_handler_signal(int sig)
{
	int saved = errno;
	if (sig == SIGTERM)
		kill_group = 1;
	if (sigpipe_w >= 0 && write(sigpipe_w, "x", 1) < 0) {
	}
	errno = saved;
}

static void child_exec(const char *cwd, char **envp, char **argv) __attribute__((noreturn));
static void child_exec(const char *cwd, char **envp, char **argv)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int s = 1; s < 32; s++)
		signal(s, SIG_DFL);
	umask(077);
	if (cwd[0] && chdir(cwd) < 0) {
		fprintf(stderr, "cc-agent: chdir %s: %s\n", cwd, strerror(errno));
		_exit(126);
	}
	syscall(SYS_close_range, 3, ~0U, 0);
	environ = envp;
	execvp(argv[0], argv);
	fprintf(stderr, "cc-agent: exec %s: %s\n", argv[0], strerror(errno));
	_exit(errno == ENOENT ? 127 : 126);
}

/* Runs in a process of its own: runs argv, collects its output, replies. */
static void handle_run(uint32_t id, const char *cwd, char **envp, char **argv) __attribute__((noreturn));
static void handle_run(uint32_t id, const char *cwd, char **envp, char **argv)
{
	int out[2], err[2], sp[2];
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(sp, O_CLOEXEC | O_NONBLOCK) < 0) {
		int32_t r[4] = { 126, 0, 0, 0 };
		send_frame(id, EXITED, r, 16, NULL, 0, NULL, 0);
		_exit(0);
	}
	sigpipe_w = sp[1];
	struct sigaction sa = { .sa_handler = on_handler_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		child_exec(cwd, envp, argv);
	}
	close(out[1]);
	close(err[1]);
	if (pid > 0)
		setpgid(pid, pid);
	struct buf bo = { 0 }, be = { 0 };
	int status = 0, exited = pid < 0;
	if (pid < 0)
		status = 126 << 8;
	struct pollfd pf[3] = { { .fd = out[0], .events = POLLIN }, { .fd = err[0], .events = POLLIN }, { .fd = sp[0], .events = POLLIN } };
	int open_pipes = 2;
	uint64_t drain_deadline = 0;
	for (;;) {
		if (kill_group && pid > 0) {
			kill(-pid, SIGKILL);
			kill_group = 0;
		}
		if (!exited && pid > 0) {
			pid_t w = waitpid(pid, &status, WNOHANG);
			if (w == pid) {
				exited = 1;
				/* Output still buffered in the pipes is read; a background process keeping them open is not waited for. */
				drain_deadline = now_ms() + 200;
			}
		}
		if (exited && (open_pipes == 0 || now_ms() >= drain_deadline))
			break;
		int r = poll(pf, 3, exited ? 50 : -1);
		if (r < 0 && errno != EINTR)
			break;
		char tmp[65536];
		if (pf[2].revents & POLLIN)
			while (read(sp[0], tmp, sizeof(tmp)) > 0) {
			}
		for (int i = 0; i < 2; i++) {
			if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(pf[i].fd, tmp, sizeof(tmp));
			if (n > 0) {
				buf_add(i == 0 ? &bo : &be, tmp, n);
			} else if (n == 0 || (n < 0 && errno != EINTR)) {
				close(pf[i].fd);
				pf[i].fd = -1;
				open_pipes--;
			}
		}
	}
	int32_t code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	int32_t sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	if (bo.truncated)
		buf_add(&be, "\ncc-agent: stdout truncated\n", 28);
	uint32_t head[4];
	memcpy(&head[0], &code, 4);
	memcpy(&head[1], &sig, 4);
	head[2] = bo.len;
	head[3] = be.len;
	send_frame(id, EXITED, head, 16, bo.p, bo.len, be.p, be.len);
	_exit(0);
}

static void handle_spawn(uint32_t id, const char *cwd, const char *outfile, char **envp, char **argv)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		reply_status(id, SPAWNED, -errno);
		return;
	}
	pid_t mid = fork();
	if (mid == 0) {
		close(p[0]);
		pid_t pid = fork();
		if (pid == 0) {
			setsid();
			int null = open("/dev/null", O_RDONLY);
			int o = open(outfile, O_WRONLY | O_CREAT | O_APPEND, 0600);
			if (null < 0 || o < 0)
				_exit(126);
			dup2(null, 0);
			dup2(o, 1);
			dup2(o, 2);
			child_exec(cwd, envp, argv);
		}
		int32_t v = pid < 0 ? -errno : pid;
		write_all(p[1], &v, 4);
		_exit(0);
	}
	close(p[1]);
	int32_t v = -EIO;
	if (mid < 0 || read(p[0], &v, 4) != 4)
		v = mid < 0 ? -errno : -EIO;
	close(p[0]);
	if (mid > 0)
		waitpid(mid, NULL, 0);
	reply_status(id, SPAWNED, v);
}

static struct {
	uint32_t id;
	pid_t pid;
} running[MAX_RUNNING];

void reap_handlers(void)
{
	pid_t w;
	while ((w = waitpid(-1, NULL, WNOHANG)) > 0)
		for (int i = 0; i < MAX_RUNNING; i++)
			if (running[i].pid == w)
				running[i].pid = 0;
}

void handle_exec(uint32_t id, char *payload, uint32_t len)
{
	char *strs[4096];
	int n = 0;
	for (uint32_t off = 0; off < len && n < 4095;) {
		strs[n++] = payload + off;
		off += strnlen(payload + off, len - off) + 1;
	}
	if (n < 5) {
		reply_status(id, strcmp(n ? strs[0] : "", "spawn") == 0 ? SPAWNED : DONE, -EINVAL);
		return;
	}
	int nenv = atoi(strs[3]);
	if (nenv < 0 || 4 + nenv >= n) {
		reply_status(id, DONE, -EINVAL);
		return;
	}
	char **envp = calloc(nenv + 1, sizeof(char *));
	char **argv = calloc(n - 4 - nenv + 1, sizeof(char *));
	for (int i = 0; i < nenv; i++)
		envp[i] = strs[4 + i];
	for (int i = 4 + nenv; i < n; i++)
		argv[i - 4 - nenv] = strs[i];
	if (strcmp(strs[0], "spawn") == 0) {
		handle_spawn(id, strs[1], strs[2], envp, argv);
	} else {
		pid_t h = fork();
		if (h == 0)
			handle_run(id, strs[1], envp, argv);
		if (h < 0) {
			int32_t r[4] = { 126, 0, 0, 0 };
			send_frame(id, EXITED, r, 16, NULL, 0, NULL, 0);
		} else {
			for (int i = 0; i < MAX_RUNNING; i++)
				if (!running[i].pid) {
					running[i].id = id;
					running[i].pid = h;
					break;
				}
		}
	}
	free(envp);
	free(argv);
}

void handle_kill(const char *payload, uint32_t len)
{
	uint32_t target = 0;
	if (len >= 4)
		memcpy(&target, payload, 4);
	for (int i = 0; i < MAX_RUNNING; i++)
		if (running[i].pid && running[i].id == target)
			kill(running[i].pid, SIGTERM);
}
