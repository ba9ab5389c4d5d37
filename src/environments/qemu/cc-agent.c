/*
 * cc-agent: PID 1 of a criu-compat guest, and its exec channel.
 *
 * Started by the kernel as rdinit=/cc/init from the guest's initramfs (the
 * node image's rootfs plus /cc). It mounts /proc, /sys, /dev (devtmpfs),
 * /dev/pts (with its own ptmx), /dev/shm, /tmp, /run and the cgroup2
 * hierarchy, loads the kernel modules listed in /cc/modules.load (one path
 * per line, dependencies first; they live in /cc/lib/modules/RELEASE), brings loopback up, raises pid_max, and
 * then serves every virtio-serial port whose name starts with "cc." with
 * one server process each. After that it only reaps orphans.
 *
 * With "cc.probe" on the kernel command line it instead prints
 * "cc-probe: up" on the console and powers off at once (the accelerator
 * probe and the bare-boot benchmark).
 *
 * Channel protocol (both directions): frames of a 12-byte header
 *   u32 payload length, u32 request id, u8 type, 3 bytes zero
 * followed by the payload (little endian throughout).
 *
 *   PING    ->  PONG (payload: the agent's uptime in ms as u32)
 *   EXEC    payload: strings, each NUL-terminated:
 *             mode ("run" | "spawn"), cwd, outfile, N (decimal),
 *             N environment entries K=V, then argv...
 *           run:   -> EXITED: i32 exit code (-1 if killed), i32 signal,
 *                     u32 stdout length, u32 stderr length, stdout, stderr
 *                     (each capped at 16 MiB)
 *           spawn: -> SPAWNED: i32 pid (as seen in the guest) or -errno;
 *                     the program runs in its own session, stdin /dev/null,
 *                     stdout+stderr to outfile (created 0600)
 *   KILL    payload: u32 id of a running "run" request; its whole process
 *           group gets SIGKILL (its EXITED still follows). No reply.
 *   PUT     payload: path, NUL, u32 mode, data -> DONE: i32 0 or -errno
 *   GET     payload: path, NUL [, u64 offset, u32 length] -> DATA: i32 0 or
 *           -errno, then the bytes (at most 16 MiB a request)
 *
 * The agent trusts its channel: the host that started the VM owns it.
 *
 * "cc-agent --listen SOCKET" serves the same protocol in a container instead
 * (see listen_mode).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { PING = 1, PONG, EXEC, EXITED, SPAWNED, KILL, PUT, DONE, GET, DATA };

#define MAX_FRAME (256u << 20)
#define MAX_OUTPUT (16u << 20)
#define MAX_RUNNING 256

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof(buf) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* stderr is the console */
	if (write(2, "cc-agent: ", 10) < 0 || write(2, buf, n) < 0)
		return;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { .fd = fd, .events = POLLOUT };
				poll(&pfd, 1, 100);
				continue;
			}
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

/* ---- setup as PID 1 ---- */

static void try_mount(const char *src, const char *dst, const char *type, unsigned long flags, const char *data)
{
	mkdir(dst, 0755);
	if (mount(src, dst, type, flags, data) < 0)
		logmsg("mount %s on %s: %s", type ? type : src, dst, strerror(errno));
}

/*
 * The initramfs is the kernel's rootfs, which can never be pivoted away:
 * pivot_root(2) fails with EINVAL while it is the root, and container
 * runtimes (runc, crun) pivot into every container's root. A real node's
 * root is a mount like any other, so make ours one: bind the rootfs onto a
 * directory of itself, move that mount over / and chroot into it (the way
 * switch_root ends, without copying anything).
 */
static void leave_rootfs(void)
{
	if (mkdir("/.cc-root", 0700) < 0 && errno != EEXIST)
		goto fail;
	if (mount("/", "/.cc-root", NULL, MS_BIND | MS_REC, NULL) < 0 || chdir("/.cc-root") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
		goto fail;
	return;
fail:
	logmsg("cannot make the root a mount of its own (%s): container runtimes will fail to pivot_root", strerror(errno));
}

static void mount_basics(void)
{
	try_mount("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	try_mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	try_mount("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	try_mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
	unlink("/dev/ptmx");
	if (symlink("pts/ptmx", "/dev/ptmx") < 0)
		logmsg("symlink /dev/ptmx: %s", strerror(errno));
	try_mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	try_mount("mqueue", "/dev/mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
	try_mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	try_mount("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	try_mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static void load_modules(void)
{
	FILE *f = fopen("/cc/modules.load", "r");
	if (!f)
		return;
	char line[4096];
	int loaded = 0, failed = 0;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (!line[0])
			continue;
		int fd = open(line, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			logmsg("module %s: %s", line, strerror(errno));
			failed++;
			continue;
		}
		if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST) {
			logmsg("module %s: %s", line, strerror(errno));
			failed++;
		} else {
			loaded++;
		}
		close(fd);
	}
	fclose(f);
	logmsg("modules: %d loaded, %d failed", loaded, failed);
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		logmsg("write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void loopback_up(void)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "lo");
	if (s < 0 || ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
		goto fail;
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
		goto fail;
	close(s);
	return;
fail:
	logmsg("loopback up: %s", strerror(errno));
	if (s >= 0)
		close(s);
}

static int cmdline_has(const char *word)
{
	char buf[4096];
	int fd = open("/proc/cmdline", O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
		if (strcmp(tok, word) == 0)
			return 1;
	return 0;
}

/* ---- one channel ---- */

static int port_fd = -1;
static char lock_path[64];

/* Frames from several processes share the port: each is written whole under a lock. */
static void send_frame(uint32_t id, uint8_t type, const void *a, size_t alen, const void *b, size_t blen, const void *c, size_t clen)
{
	unsigned char hdr[12] = { 0 };
	uint32_t len = alen + blen + clen;
	memcpy(hdr, &len, 4);
	memcpy(hdr + 4, &id, 4);
	hdr[8] = type;
	int lk = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lk >= 0)
		flock(lk, LOCK_EX);
	if (write_all(port_fd, hdr, 12) == 0 && (!alen || write_all(port_fd, a, alen) == 0) &&
	    (!blen || write_all(port_fd, b, blen) == 0))
		if (clen)
			write_all(port_fd, c, clen);
	if (lk >= 0)
		close(lk);
}

static void reply_status(uint32_t id, uint8_t type, int32_t v)
{
	send_frame(id, type, &v, 4, NULL, 0, NULL, 0);
}

struct buf {
	char *p;
	size_t len, cap;
	int truncated;
};

static void buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->len + n > MAX_OUTPUT) {
		b->truncated = 1;
		n = MAX_OUTPUT - b->len;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

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

static void reap_handlers(void)
{
	pid_t w;
	while ((w = waitpid(-1, NULL, WNOHANG)) > 0)
		for (int i = 0; i < MAX_RUNNING; i++)
			if (running[i].pid == w)
				running[i].pid = 0;
}

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n <= 0) {
			/* No host connected (or nothing yet): wait for one. */
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			poll(&pfd, 1, 100);
			reap_handlers();
			continue;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static void handle_exec(uint32_t id, char *payload, uint32_t len)
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

static void handle_put(uint32_t id, char *payload, uint32_t len)
{
	size_t plen = strnlen(payload, len);
	if (plen + 5 > len) {
		reply_status(id, DONE, -EINVAL);
		return;
	}
	uint32_t mode;
	memcpy(&mode, payload + plen + 1, 4);
	const char *data = payload + plen + 5;
	size_t dlen = len - plen - 5;
	int fd = open(payload, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode & 07777);
	int32_t r = 0;
	if (fd < 0 || write_all(fd, data, dlen) < 0 || fchmod(fd, mode & 07777) < 0)
		r = -errno;
	if (fd >= 0)
		close(fd);
	reply_status(id, DONE, r);
}

static void handle_get(uint32_t id, char *payload, uint32_t len)
{
	size_t plen = strnlen(payload, len);
	uint64_t offset = 0;
	uint32_t want = MAX_OUTPUT;
	if (plen + 1 + 12 <= len) {
		memcpy(&offset, payload + plen + 1, 8);
		memcpy(&want, payload + plen + 9, 4);
		if (want > MAX_OUTPUT)
			want = MAX_OUTPUT;
	}
	payload[plen < len ? plen : (len ? len - 1 : 0)] = 0;
	struct buf b = { 0 };
	int32_t r = 0;
	int fd = open(payload, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
	} else {
		char tmp[65536];
		ssize_t n = 0;
		while (b.len < want) {
			size_t chunk = want - b.len < sizeof(tmp) ? want - b.len : sizeof(tmp);
			n = pread(fd, tmp, chunk, offset + b.len);
			if (n <= 0)
				break;
			buf_add(&b, tmp, n);
		}
		if (n < 0)
			r = -errno;
		close(fd);
	}
	send_frame(id, DATA, &r, 4, b.p, r ? 0 : b.len, NULL, 0);
	free(b.p);
}

static void serve_fd(const char *dev, int index) __attribute__((noreturn));

static void serve(const char *dev, int index) __attribute__((noreturn));
static void serve(const char *dev, int index)
{
	for (int tries = 0; (port_fd = open(dev, O_RDWR | O_CLOEXEC)) < 0; tries++) {
		if (tries == 100) {
			logmsg("open %s: %s", dev, strerror(errno));
			_exit(1);
		}
		usleep(20000);
	}
	serve_fd(dev, index);
}

/* Serves the protocol on port_fd (a virtio-serial port or an accepted unix socket) until it closes. */
static void serve_fd(const char *dev, int index)
{
	snprintf(lock_path, sizeof(lock_path), "/run/cc-agent.%d.lock", index);
	signal(SIGPIPE, SIG_IGN);
	uint64_t started = now_ms();
	for (;;) {
		unsigned char hdr[12];
		if (read_full(port_fd, hdr, 12) < 0) {
			if (errno)
				logmsg("read %s: %s", dev, strerror(errno));
			_exit(1);
		}
		uint32_t len, id;
		memcpy(&len, hdr, 4);
		memcpy(&id, hdr + 4, 4);
		uint8_t type = hdr[8];
		if (len > MAX_FRAME) {
			logmsg("%s: frame of %u bytes refused; channel out of step", dev, len);
			_exit(1);
		}
		char *payload = malloc(len + 1);
		if (!payload || read_full(port_fd, payload, len) < 0)
			_exit(1);
		payload[len] = 0;
		reap_handlers();
		switch (type) {
		case PING: {
			uint32_t up = now_ms() - started;
			send_frame(id, PONG, &up, 4, NULL, 0, NULL, 0);
			break;
		}
		case EXEC:
			handle_exec(id, payload, len);
			break;
		case KILL: {
			uint32_t target = 0;
			if (len >= 4)
				memcpy(&target, payload, 4);
			for (int i = 0; i < MAX_RUNNING; i++)
				if (running[i].pid && running[i].id == target)
					kill(running[i].pid, SIGTERM);
			break;
		}
		case PUT:
			handle_put(id, payload, len);
			break;
		case GET:
			handle_get(id, payload, len);
			break;
		default:
			logmsg("%s: unknown frame type %u", dev, type);
		}
		free(payload);
	}
}

static int start_servers(void)
{
	int started = 0;
	for (int attempt = 0; attempt < 250 && !started; attempt++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			char p[512], name[128] = { 0 };
			snprintf(p, sizeof(p), "/sys/class/virtio-ports/%s/name", e->d_name);
			int fd = open(p, O_RDONLY);
			if (fd < 0)
				continue;
			ssize_t n = read(fd, name, sizeof(name) - 1);
			close(fd);
			if (n <= 0 || strncmp(name, "cc.", 3) != 0)
				continue;
			name[strcspn(name, "\n")] = 0;
			int index = atoi(name + 3);
			char dev[300];
			snprintf(dev, sizeof(dev), "/dev/%s", e->d_name);
			pid_t pid = fork();
			if (pid == 0)
				serve(dev, index);
			started++;
		}
		if (d)
			closedir(d);
		if (!started)
			usleep(20000);
	}
	return started;
}

/*
 * Container mode (cc-agent --listen SOCKET): PID 1 of a privileged node-image
 * container. The container runtime has set up /proc, /dev and the network
 * already, so nothing is mounted and no module is loaded (and pid_max, which
 * is not namespaced, is left alone). Every connection to SOCKET (in a
 * directory bind-mounted from the host) gets its own server, as each
 * virtio-serial port does in a VM; PID 1 reaps orphans.
 */
static int listen_mode(const char *path)
{
	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (ls < 0 || strlen(path) >= sizeof(sa.sun_path)) {
		logmsg("socket %s: %s", path, ls < 0 ? strerror(errno) : "path too long");
		return 1;
	}
	strcpy(sa.sun_path, path);
	unlink(path);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 || listen(ls, 64) < 0) {
		logmsg("listen %s: %s", path, strerror(errno));
		return 1;
	}
	mkdir("/run", 0755);
	signal(SIGTERM, SIG_DFL);
	pid_t acceptor = fork();
	if (acceptor == 0) {
		for (int index = 1;; index++) {
			int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
			if (c < 0) {
				if (errno == EINTR)
					continue;
				logmsg("accept: %s", strerror(errno));
				_exit(1);
			}
			pid_t pid = fork();
			if (pid == 0) {
				close(ls);
				port_fd = c;
				serve_fd(path, index);
			}
			close(c);
		}
	}
	close(ls);
	logmsg("ready, listening on %s", path);
	for (;;) {
		pid_t pid = waitpid(-1, NULL, 0);
		if (pid == acceptor)
			return 1; /* no more connections possible: the container ends */
		if (pid < 0 && errno == ECHILD)
			pause();
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--listen") == 0)
		return listen_mode(argv[2]);
	if (getpid() != 1) {
		fprintf(stderr, "cc-agent runs as a guest's init (rdinit=/cc/init)\n");
		return 2;
	}
	leave_rootfs();
	mount_basics();
	if (cmdline_has("cc.probe")) {
		static const char msg[] = "cc-probe: up\n";
		write_all(1, msg, sizeof(msg) - 1);
		sync();
		reboot(RB_POWER_OFF);
		for (;;)
			pause();
	}
	load_modules();
	loopback_up();
	write_file("/proc/sys/kernel/pid_max", "4194304");
	sethostname("criu-compat", 11);
	int n = start_servers();
	logmsg("ready, %d channel%s", n, n == 1 ? "" : "s");
	if (!n) {
		logmsg("no virtio-serial port named cc.*: nothing to serve; powering off");
		reboot(RB_POWER_OFF);
	}
	/* PID 1: reap everything, forever. */
	for (;;) {
		if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
			pause();
	}
}
