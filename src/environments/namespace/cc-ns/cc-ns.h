/* cc-ns's parts: its two commands and what they share. */
#ifndef CC_NS_H
#define CC_NS_H

/* Closes every descriptor >= lowfd but keep (-1: none), whatever the limit. */
void close_from(int lowfd, int keep);

int cmd_init(int argc, char **argv);
int cmd_exec(int argc, char **argv);

#endif
