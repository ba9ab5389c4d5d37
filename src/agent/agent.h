/* cc-agent's parts, as main.c and serve.c see them (the protocol is in protocol.h). */
#ifndef CC_AGENT_H
#define CC_AGENT_H

#include <stdint.h>

/* agent-init.c: PID 1 duties in a guest. */
void leave_rootfs(void);
void mount_basics(void);
void load_modules(void);
void loopback_up(void);
void write_file(const char *path, const char *text);
int cmdline_has(const char *word);

/* handle-exec.c: EXEC (run, spawn) and KILL. */
void handle_exec(uint32_t id, char *payload, uint32_t len);
void handle_kill(const char *payload, uint32_t len);
/* Reaps finished "run" handlers, so that KILL never targets a stale PID. */
void reap_handlers(void);

/* handle-files.c: PUT and GET. */
void handle_put(uint32_t id, char *payload, uint32_t len);
void handle_get(uint32_t id, char *payload, uint32_t len);

/* serve.c: the request loop, on virtio-serial ports (VM) or a unix socket (container). */
int start_servers(void);
int listen_mode(const char *path);

#endif
