/* Seccomp filters: compile an OCI profile to BPF (`seccomp-compile` mode), read and load a compiled
 * program (the workload and `enter`). See seccomp.c and PROTOCOL.md. */
#pragma once
#include "error.h"

typedef struct {
  void *filter; /* struct sock_filter[len], owned */
  unsigned short len; /* instructions */
} seccomp_prog_t;

int seccomp_compile_main (int argc, char **argv);
/* Read a compiled program (a file of struct sock_filter) into memory. */
int seccomp_read (const char *path, seccomp_prog_t *out, tank_err_t *err);
/* Load it for the calling thread (no-op when prog->filter is NULL). Needs no_new_privs or
 * CAP_SYS_ADMIN. */
int seccomp_apply (const seccomp_prog_t *prog, tank_err_t *err);
