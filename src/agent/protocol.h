/*
 * cc-agent's channel protocol (both directions): frames of a 12-byte header
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
 * The host's end is src/environments/qemu/agent-channel.ts. The agent trusts
 * its channel: the host that started the VM (or the container) owns it.
 */
#ifndef CC_AGENT_PROTOCOL_H
#define CC_AGENT_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

enum { PING = 1, PONG, EXEC, EXITED, SPAWNED, KILL, PUT, DONE, GET, DATA };

#define MAX_FRAME (256u << 20)
#define MAX_OUTPUT (16u << 20)

/* The channel this server process answers on, and the lock its writers share. */
extern int port_fd;
extern char lock_path[64];

/* Frames from several processes share the port: each is written whole under a lock. */
void send_frame(uint32_t id, uint8_t type, const void *a, size_t alen, const void *b, size_t blen, const void *c, size_t clen);
void reply_status(uint32_t id, uint8_t type, int32_t v);

/* A reply's bytes, capped at MAX_OUTPUT (truncated says some were dropped). */
struct buf {
	char *p;
	size_t len, cap;
	int truncated;
};
void buf_add(struct buf *b, const char *p, size_t n);

void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ms(void);
int write_all(int fd, const void *buf, size_t len);

#endif
