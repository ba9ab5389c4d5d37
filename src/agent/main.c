/*
 * cc-agent: PID 1 of a criu-compat guest, and its exec channel; one static
 * binary shared by the qemu and container backends.
 *
 * Started by the kernel as rdinit=/cc/init from the guest's initramfs (the
 * node image's rootfs plus /cc). It does a guest init's duties (see
 * agent-init.c), raises pid_max, and then serves every virtio-serial port
 * whose name starts with "cc." with one server process each (serve.c; the
 * protocol is in protocol.h). After that it only reaps orphans.
 *
 * With "cc.probe" on the kernel command line it instead prints
 * "cc-probe: up" on the console and powers off at once (the accelerator
 * probe and the bare-boot benchmark).
 *
 * "cc-agent --listen SOCKET" serves the same protocol in a container instead
 * (see listen_mode in serve.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/reboot.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "protocol.h"

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
