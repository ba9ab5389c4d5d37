/*
 * cc-registry: a read-only OCI distribution endpoint on 127.0.0.1 inside a
 * node, serving the images the node built itself (the cri suite). containerd
 * restores a CRI checkpoint only after pulling the checkpoint's base image by
 * its repository digest, and a kubelet's images always come from a registry:
 * this is that registry, with nothing from outside the node.
 *
 *   cc-registry PORT ROOT
 *
 * ROOT/NAME/manifests/REF  a manifest (REF a digest, or a tag: a symlink to
 *                          the digest's file, whose name is the digest)
 * ROOT/NAME/blobs/DIGEST   a blob
 *
 * GET and HEAD only, one request per connection, answers with
 * Docker-Content-Digest for manifests. Ends on SIGTERM.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

static const char *root;

static void reply(int fd, const char *status, const char *type, const char *digest, long long len) {
  char h[1024];
  int n = snprintf(h, sizeof h,
                   "HTTP/1.1 %s\r\nConnection: close\r\nDocker-Distribution-API-Version: registry/2.0\r\nContent-Type: %s\r\nContent-Length: %lld\r\n%s%s%s\r\n",
                   status, type, len, digest ? "Docker-Content-Digest: " : "", digest ? digest : "", digest ? "\r\n" : "");
  if (n > 0) (void)!write(fd, h, (size_t)n);
}

static void serve_file(int fd, int head, const char *path, const char *type, const char *digest) {
  int f = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (f < 0 || fstat(f, &st) < 0 || !S_ISREG(st.st_mode)) {
    if (f >= 0) close(f);
    reply(fd, "404 Not Found", "application/json", NULL, 2);
    if (!head) (void)!write(fd, "{}", 2);
    return;
  }
  reply(fd, "200 OK", type, digest, (long long)st.st_size);
  if (!head) {
    char buf[65536];
    ssize_t r;
    while ((r = read(f, buf, sizeof buf)) > 0)
      if (write(fd, buf, (size_t)r) != r) break;
  }
  close(f);
}

static void handle(int fd) {
  char req[4096];
  size_t got = 0;
  while (got < sizeof req - 1) {
    ssize_t r = read(fd, req + got, sizeof req - 1 - got);
    if (r <= 0) return;
    got += (size_t)r;
    req[got] = 0;
    if (strstr(req, "\r\n\r\n")) break;
  }
  char method[8], path[2048];
  if (sscanf(req, "%7s %2047s", method, path) != 2) return;
  int head = strcmp(method, "HEAD") == 0;
  if (!head && strcmp(method, "GET") != 0) {
    reply(fd, "405 Method Not Allowed", "text/plain", NULL, 0);
    return;
  }
  char *q = strchr(path, '?');
  if (q) *q = 0;
  if (strcmp(path, "/v2/") == 0 || strcmp(path, "/v2") == 0) {
    reply(fd, "200 OK", "application/json", NULL, 2);
    if (!head) (void)!write(fd, "{}", 2);
    return;
  }
  if (strncmp(path, "/v2/", 4) != 0 || strstr(path, "..")) {
    reply(fd, "404 Not Found", "text/plain", NULL, 0);
    return;
  }
  char file[PATH_MAX];
  snprintf(file, sizeof file, "%s/%s", root, path + 4);
  if (strstr(path, "/manifests/")) {
    /* The digest is the name of the file a tag links to, or the reference itself. */
    char target[PATH_MAX], digest[256];
    ssize_t n = readlink(file, target, sizeof target - 1);
    if (n > 0) {
      target[n] = 0;
      snprintf(digest, sizeof digest, "%s", basename(target));
    } else {
      snprintf(digest, sizeof digest, "%s", strrchr(path, '/') + 1);
    }
    serve_file(fd, head, file, "application/vnd.oci.image.manifest.v1+json", digest);
  } else {
    serve_file(fd, head, file, "application/octet-stream", NULL);
  }
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: cc-registry PORT ROOT\n");
    return 2;
  }
  root = argv[2];
  signal(SIGPIPE, SIG_IGN);
  int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[1])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 16) < 0) {
    fprintf(stderr, "cc-registry: cannot listen on 127.0.0.1:%s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  printf("listening\n");
  fflush(stdout);
  for (;;) {
    int c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    /* A client that stalls cannot hold the (single) loop for long. */
    struct timeval tv = {.tv_sec = 5};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    handle(c);
    close(c);
  }
}
