// The steps of starting a child, shared by spawn.c (on the host) and container.c
// (inside a rootfs). All of them run in the child between fork and execve: raw system
// calls and stack variables only.
#ifndef CSYS_SPAWN_STEPS_H
#define CSYS_SPAWN_STEPS_H

#include "csys.h"

void spawn_reset_signals(void);
int spawn_wire_stdio(const struct csys_spawn_request *r);
int spawn_change_identity(const struct csys_spawn_request *r);
// Closes every descriptor from 3 up, except `keep` (the close-on-exec error pipe).
void spawn_close_other_descriptors(int keep);
// execvpe, without its allocation: tries each directory of the search path in turn.
int spawn_exec_searching(const struct csys_spawn_request *r);
// Tells the parent where the child stopped (through the close-on-exec report pipe).
void spawn_report(int report_fd, int stage, int detail, int error);
// The last steps of every child: stdio, identity, directory, execve. Never returns.
_Noreturn void spawn_run_program(const struct csys_spawn_request *r, int report_fd);
// A contained child: namespaces, then the namespace's init. Never returns.
_Noreturn void spawn_contained(const struct csys_spawn_request *r, int report_fd);

#endif
