/*
 * cc-agent's duties as PID 1 of a guest: make the root a mount of its own,
 * mount /proc, /sys, /dev (devtmpfs), /dev/pts (with its own ptmx),
 * /dev/shm, /tmp, /run and the cgroup2 hierarchy, load the kernel modules
 * listed in /cc/modules.load (one path per line, dependencies first; they
 * live in /cc/lib/modules/RELEASE) and bring loopback up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "agent.h"
#include "protocol.h"

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
void leave_rootfs(void)
{
	if (mkdir("/.cc-root", 0700) < 0 && errno != EEXIST)
		goto fail;
	if (mount("/", "/.cc-root", NULL, MS_BIND | MS_REC, NULL) < 0 || chdir("/.cc-root") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 || chdir("/") < 0)
		goto fail;
	return;
fail:
	logmsg("cannot make the root a mount of its own (%s): container runtimes will fail to pivot_root", strerror(errno));
}

void mount_basics(void)
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

void load_modules(void)
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

void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, text, strlen(text)) < 0)
		logmsg("write %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

void loopback_up(void)
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

int cmdline_has(const char *word)
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
