/* cc-agent's PUT and GET requests: whole files in, byte ranges out. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"
#include "protocol.h"

void handle_put(uint32_t id, char *payload, uint32_t len)
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

void handle_get(uint32_t id, char *payload, uint32_t len)
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
