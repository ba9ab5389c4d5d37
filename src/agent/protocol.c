/* cc-agent: framing of replies on the channel, and the small I/O helpers every part uses. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

int port_fd = -1;
char lock_path[64];

void logmsg(const char *fmt, ...)
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

uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int write_all(int fd, const void *buf, size_t len)
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

void send_frame(uint32_t id, uint8_t type, const void *a, size_t alen, const void *b, size_t blen, const void *c, size_t clen)
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

void reply_status(uint32_t id, uint8_t type, int32_t v)
{
	send_frame(id, type, &v, 4, NULL, 0, NULL, 0);
}

void buf_add(struct buf *b, const char *p, size_t n)
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
