/* The control protocol on the monitor's socket (PROTOCOL.md §4): JSON lines, request/reply by id. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "json.h"
#include "monitor.h"
#include "pty.h"

static const char *const state_names[] = { "parked", "starting", "running", "exited" };

void
reply_ok (client_t *c, int64_t id, const char *extra)
{
  buf_printf (&c->out, "{\"id\":%lld,\"ok\":true%s%s}\n", (long long) id, extra && *extra ? "," : "",
              extra ? extra : "");
}

void
reply_err (client_t *c, int64_t id, const char *code, const char *msg)
{
  buf_printf (&c->out, "{\"id\":%lld,\"ok\":false,\"error\":{\"code\":", (long long) id);
  json_write_str (&c->out, code);
  buf_puts (&c->out, ",\"message\":");
  json_write_str (&c->out, msg);
  buf_puts (&c->out, "}}\n");
}

void
state_json (monitor_t *m, tbuf_t *b)
{
  buf_printf (b, "{\"status\":\"%s\",\"pid\":%d,\"monitorPid\":%d,\"startTime\":%llu,\"tty\":%s,\"attached\":%s",
              state_names[m->state], (int) m->sp.pid, (int) getpid (), m->start_time, m->cfg->tty ? "true" : "false",
              m->attacher >= 0 ? "true" : "false");
  if (m->started_at[0])
    buf_printf (b, ",\"startedAt\":\"%s\"", m->started_at);
  if (m->finalized)
    buf_printf (b, ",\"exit\":%s", m->exit_json.data);
  buf_puts (b, "}");
}

/* Is the peer the agent named by `agentPidFile`? The pid comes from the kernel (SO_PEERCRED), so
 * no other client can claim the agent's slots; the file is re-read each time, as every new agent
 * (lock holder) writes its own pid there. */
static bool
peer_is_agent (monitor_t *m, int fd)
{
  struct ucred cr;
  socklen_t len = sizeof cr;
  cleanup_free char *text = NULL;
  size_t n;
  tank_err_t err;
  if (m->cfg->agent_pid_file == NULL || getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 || cr.pid <= 0
      || read_file (m->cfg->agent_pid_file, 64, &text, &n, &err) < 0)
    return false;
  char *end;
  long pid = strtol (text, &end, 10);
  return end != text && pid == (long) cr.pid;
}

static int
free_slot (monitor_t *m, int from, int to)
{
  for (int k = from; k < to; k++)
    if (m->clients[k].mode == C_FREE)
      return k;
  return -1;
}

static bool accept_one (monitor_t *m);

/* Take (or refuse) every pending connection: the backlog must not fill up, as a client whose
 * connect finds it full gets EAGAIN instead of an answer. Bounded per round, so a flood of connects
 * cannot starve the workload's output. */
void
client_accept (monitor_t *m)
{
  for (int round = 0; round < 4 * MAX_CLIENTS; round++)
    if (!accept_one (m))
      return;
}

static bool
accept_one (monitor_t *m)
{
  int fd = accept4 (m->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return errno == EINTR || errno == ECONNABORTED;
  /* The agent uses its reserved slots first, so it never competes with other clients. */
  bool agent = peer_is_agent (m, fd);
  int k = agent ? free_slot (m, GENERAL_SLOTS, MAX_CLIENTS) : -1;
  if (k < 0)
    k = free_slot (m, 0, GENERAL_SLOTS);
  if (k < 0)
    {
      /* Sent instead of the hello; the client must read it as "busy", never as "monitor gone". */
      cleanup_buf tbuf_t busy = { 0 };
      int slots = agent ? MAX_CLIENTS : GENERAL_SLOTS;
      buf_printf (&busy,
                  "{\"id\":0,\"ok\":false,\"error\":{\"code\":\"busy\",\"message\":\"all %d connection slots "
                  "are taken\",\"slots\":%d}}\n",
                  slots, slots);
      (void) write (fd, busy.data, busy.len);
      close (fd);
      return true;
    }
  client_t *c = &m->clients[k];
  memset (c, 0, sizeof *c);
  c->fd = fd;
  c->mode = C_CONTROL;
  buf_printf (&c->out, "{\"hello\":{\"protocol\":%d,\"monitorPid\":%d,\"pid\":%d}}\n", PROTOCOL_VERSION,
              (int) getpid (), (int) m->sp.pid);
  return true;
}

void
client_close (monitor_t *m, int idx)
{
  client_t *c = &m->clients[idx];
  if (c->mode == C_FREE)
    return;
  close (c->fd);
  buf_free (&c->in);
  buf_free (&c->out);
  c->mode = C_FREE;
  c->fd = -1;
  if (m->attacher == idx)
    m->attacher = -1;
}

static void
add_pending (client_t *c, pending_kind_t kind, int64_t id)
{
  if (c->npend >= MAX_PENDING)
    {
      reply_err (c, id, "busy", "too many outstanding requests on this connection");
      return;
    }
  c->pend[c->npend++] = (pending_t) { kind, id };
}

static void
reply_exit (client_t *c, int64_t id, monitor_t *m)
{
  cleanup_buf tbuf_t x = { 0 };
  buf_printf (&x, "\"exit\":%s", m->exit_json.data);
  reply_ok (c, id, x.data);
}

static void
reply_proceed (monitor_t *m, client_t *c, int64_t id)
{
  if (m->state == ST_RUNNING)
    reply_ok (c, id, "\"status\":\"running\"");
  else if (m->has_setup_err)
    {
      cleanup_buf tbuf_t x = { 0 };
      buf_printf (&x, "{\"id\":%lld,\"ok\":false,\"error\":{\"code\":\"setup_failed\",\"message\":", (long long) id);
      json_write_str (&x, m->setup_err.message);
      buf_puts (&x, ",\"setupError\":");
      json_write_error (&x, &m->setup_err);
      buf_puts (&x, "}}\n");
      buf_append (&c->out, x.data, x.len);
    }
  else
    reply_exit (c, id, m);
}

void
clients_on_running (monitor_t *m)
{
  for (int k = 0; k < MAX_CLIENTS; k++)
    {
      client_t *c = &m->clients[k];
      if (c->mode == C_CONTROL)
        buf_printf (&c->out, "{\"event\":\"running\",\"pid\":%d,\"startedAt\":\"%s\"}\n", (int) m->sp.pid,
                    m->started_at);
      for (int p = 0; c->mode == C_CONTROL && p < c->npend;)
        if (c->pend[p].kind == P_PROCEED)
          {
            reply_proceed (m, c, c->pend[p].id);
            c->pend[p] = c->pend[--c->npend];
          }
        else
          p++;
    }
}

void
clients_on_exit (monitor_t *m)
{
  for (int k = 0; k < MAX_CLIENTS; k++)
    {
      client_t *c = &m->clients[k];
      if (c->mode == C_ATTACH)
        {
          frame_append (&c->out, F_EXIT, m->exit_json.data, m->exit_json.len);
          c->close_after_flush = true;
          continue;
        }
      if (c->mode == C_CONTROL)
        buf_printf (&c->out, "{\"event\":\"exited\",\"exit\":%s}\n", m->exit_json.data);
      for (int p = 0; c->mode == C_CONTROL && p < c->npend; p++)
        if (c->pend[p].kind == P_PROCEED)
          reply_proceed (m, c, c->pend[p].id);
        else
          reply_exit (c, c->pend[p].id, m);
      c->npend = 0;
    }
}

static void
op_signal (monitor_t *m, client_t *c, int64_t id, const jval_t *req)
{
  int64_t sig = 0;
  if (json_int (req, "signal", &sig, NULL) < 0 || sig < 1 || sig > 64)
    return reply_err (c, id, "bad_request", "`signal` must be an integer 1..64");
  if (m->state == ST_EXITED || m->reaped)
    return reply_err (c, id, "exited", "the workload has exited");
  if (m->state == ST_PARKED)
    return reply_err (c, id, "parked", "the workload is parked; use proceed or abort");
  if (kill (m->sp.pid, (int) sig) < 0)
    return reply_err (c, id, "errno", strerror (errno));
  reply_ok (c, id, NULL);
}

static void
op_stop (monitor_t *m, client_t *c, int64_t id, const jval_t *req)
{
  int64_t grace = 10000, sig = SIGTERM;
  bool present;
  if (json_int (req, "graceMs", &grace, &present) < 0 || grace < 0 || json_int (req, "signal", &sig, &present) < 0
      || sig < 1 || sig > 64)
    return reply_err (c, id, "bad_request", "`graceMs` must be >= 0 and `signal` in 1..64");
  if (m->finalized)
    return reply_exit (c, id, m);
  add_pending (c, P_STOP, id);
  if (m->state == ST_PARKED)
    return workload_abort (m, "aborted", ECANCELED, "stopped while parked at the checkpoint");
  /* The deadline is enforced by the monitor even if this client goes away. */
  workload_stop (m, (int) sig, grace);
}

static void
op_attach (monitor_t *m, int idx, int64_t id)
{
  client_t *c = &m->clients[idx];
  if (m->attacher >= 0)
    return reply_err (c, id, "already_attached", "another client is attached; only one attacher at a time");
  if (m->state == ST_EXITED || m->reaped)
    return reply_err (c, id, "exited", "the workload has exited");
  reply_ok (c, id, m->cfg->tty ? "\"tty\":true" : "\"tty\":false");
  c->mode = C_ATTACH;
  m->attacher = idx;
}

static void
dispatch (monitor_t *m, int idx, const jval_t *req)
{
  client_t *c = &m->clients[idx];
  int64_t id = 0;
  const char *op = json_str (req, "op");
  if (json_int (req, "id", &id, NULL) < 0 || op == NULL)
    return reply_err (c, id, "bad_request", "requests need an integer `id` and a string `op`");
  if (strcmp (op, "hello") == 0)
    {
      int64_t v = 0;
      if (json_int (req, "protocol", &v, NULL) < 0 || v != PROTOCOL_VERSION)
        return reply_err (c, id, "protocol_version", "this monitor speaks protocol 1");
      return reply_ok (c, id, "\"protocol\":1");
    }
  if (strcmp (op, "state") == 0)
    {
      cleanup_buf tbuf_t s = { 0 };
      buf_puts (&s, "\"state\":");
      state_json (m, &s);
      return reply_ok (c, id, s.data);
    }
  if (strcmp (op, "proceed") == 0)
    {
      /* The workload sets up its rootfs while parked (spawn.c): a failure there ends it before the
       * agent's proceed arrives, and that proceed is answered with the setup error (at the exit
       * when the workload has not been reaped yet). */
      if (!m->proceeded && m->has_setup_err && m->state != ST_RUNNING)
        return m->finalized ? reply_proceed (m, c, id) : add_pending (c, P_PROCEED, id);
      if (m->state != ST_PARKED)
        return reply_err (c, id, "not_parked", "proceed is only valid while parked");
      add_pending (c, P_PROCEED, id);
      return workload_proceed (m);
    }
  if (strcmp (op, "abort") == 0)
    {
      if (m->state != ST_PARKED)
        return reply_err (c, id, "not_parked", "abort is only valid while parked; use stop");
      workload_abort (m, "aborted", ECANCELED, "aborted by the agent at the checkpoint");
      return reply_ok (c, id, NULL);
    }
  if (strcmp (op, "wait") == 0)
    return m->finalized ? reply_exit (c, id, m) : add_pending (c, P_WAIT, id);
  if (strcmp (op, "signal") == 0)
    return op_signal (m, c, id, req);
  if (strcmp (op, "stop") == 0)
    return op_stop (m, c, id, req);
  if (strcmp (op, "attach") == 0)
    return op_attach (m, idx, id);
  if (strcmp (op, "resize") == 0)
    {
      int64_t rows = 0, cols = 0;
      if (json_int (req, "rows", &rows, NULL) < 0 || json_int (req, "cols", &cols, NULL) < 0 || rows < 0
          || rows > 65535 || cols < 0 || cols > 65535)
        return reply_err (c, id, "bad_request", "`rows` and `cols` must be integers 0..65535");
      if (m->pty_fd < 0)
        return reply_err (c, id, "no_tty", "the workload has no terminal");
      pty_resize (m->pty_fd, (unsigned short) rows, (unsigned short) cols);
      return reply_ok (c, id, NULL);
    }
  if (strcmp (op, "release") == 0)
    {
      if (!m->finalized)
        return reply_err (c, id, "running", "release is only valid after the workload exited");
      m->released = true;
      return reply_ok (c, id, NULL);
    }
  /* The op is the client's bytes: shown escaped (\xHH for anything but printable ASCII), bounded. */
  cleanup_buf tbuf_t msg = { 0 };
  buf_puts (&msg, "unknown op \"");
  buf_escaped (&msg, op, strlen (op), 64);
  buf_puts (&msg, "\"");
  reply_err (c, id, "unknown_op", msg.data);
}

void
client_readable (monitor_t *m, int idx)
{
  client_t *c = &m->clients[idx];
  char chunk[16384];
  ssize_t r = read (c->fd, chunk, sizeof chunk);
  if (r < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (r <= 0)
    return client_close (m, idx);
  buf_append (&c->in, chunk, (size_t) r);
  while (c->mode == C_CONTROL)
    {
      char *nl = c->in.data ? memchr (c->in.data, '\n', c->in.len) : NULL;
      if (nl == NULL)
        {
          if (c->in.len > LINE_MAX_BYTES)
            client_close (m, idx);
          return;
        }
      tank_err_t err;
      jval_t *req = json_parse (c->in.data, (size_t) (nl - c->in.data), &err);
      buf_consume (&c->in, (size_t) (nl - c->in.data) + 1);
      if (req == NULL || req->type != J_OBJ)
        reply_err (c, 0, "bad_request", "each request is one JSON object per line");
      else
        dispatch (m, idx, req);
      json_free (req);
    }
  if (c->mode == C_ATTACH)
    attach_frames (m, idx);
}

void
client_writable (monitor_t *m, int idx)
{
  client_t *c = &m->clients[idx];
  while (c->out.len > 0)
    {
      ssize_t w = send (c->fd, c->out.data, c->out.len, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0 && errno == EAGAIN)
        break;
      if (w < 0)
        return client_close (m, idx);
      buf_consume (&c->out, (size_t) w);
    }
  if (c->out.len == 0 && c->close_after_flush)
    client_close (m, idx);
  else if (c->mode == C_CONTROL && c->out.len > CONTROL_OUT_MAX)
    client_close (m, idx);
}
