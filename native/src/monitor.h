/* The per-container monitor (conmon-like): one state struct, no other globals. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "logs.h"
#include "spawn.h"
#include "util.h"

#define PROTOCOL_VERSION 1
/* Connection slots (PROTOCOL.md §4): anyone may hold a general slot; the reserved ones only take
 * connections from the agent named by `agentPidFile` (checked by SO_PEERCRED), so a client holding
 * every general slot can never lock the agent out of its own monitors. */
#define GENERAL_SLOTS 32
#define AGENT_SLOTS 8
#define MAX_CLIENTS (GENERAL_SLOTS + AGENT_SLOTS)
#define MAX_PENDING 8
#define LINE_MAX_BYTES 65536
#define ATTACH_OUT_MAX (1 << 20) /* output to a slow attacher beyond this is dropped */
#define CONTROL_OUT_MAX (4 << 20)
#define STDIN_MAX (1 << 20)

typedef enum { ST_PARKED, ST_STARTING, ST_RUNNING, ST_EXITED } wl_state_t;
typedef enum { C_FREE = 0, C_CONTROL, C_ATTACH } client_mode_t;
typedef enum { P_WAIT, P_PROCEED, P_STOP } pending_kind_t;

/* Attach frames: type byte + 4-byte big-endian payload length + payload. */
enum { F_STDIN = 0, F_RESIZE = 1, F_STDIN_EOF = 2, F_STDOUT = 1, F_STDERR = 2, F_TTY = 3, F_EXIT = 4 };

typedef struct {
  pending_kind_t kind;
  int64_t id;
} pending_t;

typedef struct {
  int fd;
  client_mode_t mode;
  bool close_after_flush;
  tbuf_t in, out;
  pending_t pend[MAX_PENDING];
  int npend;
} client_t;

typedef struct {
  monitor_config_t *cfg;
  int listen_fd, sig_fd, pty_fd;
  /* The socket file this monitor created: only that inode is ever unlinked (a newer monitor may
   * have bound the same path since, e.g. after someone removed ours). */
  dev_t sock_dev;
  ino_t sock_ino;
  spawn_t sp;
  wl_state_t state;
  char started_at[40], finished_at[40];
  unsigned long long start_time; /* /proc/<pid>/stat field 22, against pid reuse */
  bool reaped, finalized, released;
  int wait_status;
  bool has_setup_err;
  bool proceeded; /* proceed was forwarded to the workload (a later one is not_parked) */
  tank_err_t setup_err;
  int64_t park_deadline, stop_deadline, linger_deadline; /* monotonic ms, 0 = none */
  int stop_sig;         /* the signal of the last stop, looked at again while it is pending */
  int64_t stop_recheck; /* monotonic ms of that next look, 0 = none */
  int64_t stop_recheck_ms; /* the interval of those looks, doubling */
  bool stop_dropped_once; /* the last look said "dropped": the next one decides */
  log_t log;
  log_stream_t ls_out, ls_err, ls_tty;
  client_t clients[MAX_CLIENTS];
  int attacher; /* client index or -1 */
  tbuf_t stdin_pending;
  bool stdin_eof; /* the attacher closed stdin: close the workload's once the buffer is written */
  tbuf_t exit_json; /* the exit record once finalized */
} monitor_t;

int monitor_main (int argc, char **argv);

/* control.c */
void client_accept (monitor_t *m);
void client_readable (monitor_t *m, int idx);
void client_writable (monitor_t *m, int idx);
void client_close (monitor_t *m, int idx);
void clients_on_running (monitor_t *m);
void clients_on_exit (monitor_t *m);
void reply_ok (client_t *c, int64_t id, const char *extra);
void reply_err (client_t *c, int64_t id, const char *code, const char *msg);
void state_json (monitor_t *m, tbuf_t *b);

/* attach.c */
void attach_frames (monitor_t *m, int idx);
void attach_output (monitor_t *m, int type, const char *data, size_t n);
void stdin_flush (monitor_t *m);
void frame_append (tbuf_t *b, int type, const void *p, size_t n);

/* monitor.c (used by control.c) */
void workload_kill (monitor_t *m, int sig);
/* Send `sig`, then SIGKILL after `grace_ms` — at once when the workload has no handler for `sig`
 * (PID 1 of a pid namespace: the kernel dropped it). */
void workload_stop (monitor_t *m, int sig, int64_t grace_ms);
void workload_proceed (monitor_t *m);
void workload_abort (monitor_t *m, const char *step, int errnum, const char *why);
