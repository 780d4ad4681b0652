/* The private channel between the monitor and its workload child before execve (PROTOCOL.md §5):
 * a SOCK_SEQPACKET socketpair, CLOEXEC on both ends, fixed-size messages, fds by SCM_RIGHTS.
 * EOF on the monitor's end after PROCEED means execve succeeded (the child's end closed on exec). */
#pragma once
#include <stdint.h>

#include "error.h"

enum {
  SYNC_PARKED = 1, /* child -> monitor: namespaces joined, waiting at the checkpoint (sync 2) */
  SYNC_PROCEED = 2, /* monitor -> child: agent said proceed (sync 3) */
  SYNC_ERROR = 3, /* child -> monitor: a setup step failed; the child then exits */
  SYNC_PTY = 4, /* child -> monitor: PTY master of the container's devpts, fd attached */
};

typedef struct {
  int32_t type;
  int32_t errnum;
  char step[40];
  char message[256];
} sync_msg_t;

int sync_send (int fd, int type, const tank_err_t *e, int passfd);
/* 1 = message, 0 = EOF, -1 = error (errno). *passfd = -1 when none attached. */
int sync_recv (int fd, sync_msg_t *m, int *passfd);
