/*
 * cc-agent's request loop: one server process per channel, reading frames
 * and dispatching them to the handlers. In a VM every virtio-serial port
 * whose name starts with "cc." is a channel (start_servers); in a container
 * every connection to a unix socket is one (listen_mode).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "protocol.h"

/* A unix socket's end of file is its host gone for good (a virtio-serial port's is "no host yet"). */
static int eof_ends_channel;

static int read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	while (len > 0) {
		ssize_t n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -1;
		if (n == 0 && eof_ends_channel) {
			errno = 0;
			return -1;
		}
		if (n <= 0) {
			/* No host connected (or nothing yet): wait for one. A virtio-serial
			 * port without a host reads as end of file and polls as readable at
			 * once, so sleep instead of spinning (a busy guest vCPU, which under
			 * TCG is a busy host core). */
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			if (n == 0)
				usleep(20000);
			else
				poll(&pfd, 1, 100);
			reap_handlers();
			continue;
		}
		p += n;
		len -= n;
	}
	return 0;
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
		case KILL:
			handle_kill(payload, len);
			break;
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

int start_servers(void)
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
 * virtio-serial port does in a VM, until the host closes it; PID 1 reaps
 * orphans.
 */
int listen_mode(const char *path)
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
			/* Servers of closed connections. */
			while (waitpid(-1, NULL, WNOHANG) > 0) {
			}
			pid_t pid = fork();
			if (pid == 0) {
				close(ls);
				port_fd = c;
				eof_ends_channel = 1;
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
