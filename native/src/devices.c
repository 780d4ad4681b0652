/* cgroup2 has no device controller: the kernel asks the BPF_PROG_TYPE_CGROUP_DEVICE programs
 * attached to a task's cgroup2 group and to its ancestors (all must allow) on every mknod and
 * every open of a device node. This mode builds such a program from v1-style rules ("c 1:3 rwm"),
 * deny by default, loads it, attaches it with BPF_F_ALLOW_MULTI and detaches what was attached to
 * the group before, so applying a policy again replaces it instead of stacking (the same shape as
 * runc's libcontainer/cgroups/devices and crun's ebpf.c). During the swap both programs run, so
 * the group is never less restricted than by either policy. */
#include "devices.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/magic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "json.h"
#include "util.h"

#define ANY (-1L)
#define MAX_MAJOR 4095L     /* dev_t: 12 bits of major */
#define MAX_MINOR 0xfffffL  /* and 20 bits of minor */
#define MAX_PROGS 64        /* BPF_CGROUP_MAX_PROGS: the kernel's per-group, per-type limit */

typedef struct {
  char type;         /* 'c', 'b', or 'a' (any type) */
  long major, minor; /* ANY or a number */
  uint32_t access;   /* BPF_DEVCG_ACC_* bits */
} dev_rule_t;

static const char usage[] = "usage: tank-helper cgroup-devices --dir ABS_CGROUP2_DIR [--allow \"c 1:3 rwm\"]...";

static int
bpf (int cmd, union bpf_attr *attr)
{
  return (int) syscall (__NR_bpf, cmd, attr, sizeof *attr);
}

static int
parse_num (const char **p, long max, long *out)
{
  if (**p == '*')
    {
      (*p)++;
      *out = ANY;
      return 0;
    }
  if (**p < '0' || **p > '9')
    return -1;
  long v = 0;
  for (; **p >= '0' && **p <= '9'; (*p)++)
    if ((v = v * 10 + (**p - '0')) > max)
      return -1;
  *out = v;
  return 0;
}

/* "<a|b|c> <major|*>:<minor|*> <subset of rwm>", exactly as a v1 devices.allow line. */
static int
parse_rule (const char *s, dev_rule_t *r, tank_err_t *err)
{
  const char *p = s;
  if ((*p != 'a' && *p != 'b' && *p != 'c') || p[1] != ' ')
    goto bad;
  r->type = *p;
  p += 2;
  if (parse_num (&p, MAX_MAJOR, &r->major) < 0 || *p++ != ':' || parse_num (&p, MAX_MINOR, &r->minor) < 0
      || *p++ != ' ' || *p == '\0')
    goto bad;
  r->access = 0;
  for (; *p; p++)
    {
      uint32_t bit = *p == 'r' ? BPF_DEVCG_ACC_READ : *p == 'w' ? BPF_DEVCG_ACC_WRITE : *p == 'm' ? BPF_DEVCG_ACC_MKNOD : 0;
      if (bit == 0 || (r->access & bit))
        goto bad;
      r->access |= bit;
    }
  return 0;
bad:
  return tank_error (err, EINVAL, "rule", "device rule `%s` is not \"<a|b|c> <major|*>:<minor|*> <rwm>\"", s);
}

#define INSN(CODE, DST, SRC, OFF, IMM) \
  ((struct bpf_insn) { .code = (CODE), .dst_reg = (DST), .src_reg = (SRC), .off = (OFF), .imm = (IMM) })

static void
emit (tbuf_t *prog, struct bpf_insn insn)
{
  buf_append (prog, &insn, sizeof insn);
}

/* The program, for ctx = struct bpf_cgroup_dev_ctx in r1:
 *     r2 = ctx->access_type & 0xffff (device type)   r3 = ctx->access_type >> 16 (requested access)
 *     r4 = ctx->major                                r5 = ctx->minor
 *   per rule:  if r2 != type goto next; if (r3 & access) != r3 goto next;
 *              if r4 != major goto next; if r5 != minor goto next; return 1
 *   next: ... return 0
 * Checks for "any" are left out; a rule with no check at all allows everything, and ends the
 * program there (the verifier rejects unreachable instructions). */
static void
build_program (const dev_rule_t *rules, size_t n, tbuf_t *prog)
{
  emit (prog, INSN (BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, 0, 0));
  emit (prog, INSN (BPF_ALU | BPF_AND | BPF_K, BPF_REG_2, 0, 0, 0xffff));
  emit (prog, INSN (BPF_LDX | BPF_W | BPF_MEM, BPF_REG_3, BPF_REG_1, 0, 0));
  emit (prog, INSN (BPF_ALU | BPF_RSH | BPF_K, BPF_REG_3, 0, 0, 16));
  emit (prog, INSN (BPF_LDX | BPF_W | BPF_MEM, BPF_REG_4, BPF_REG_1, 4, 0));
  emit (prog, INSN (BPF_LDX | BPF_W | BPF_MEM, BPF_REG_5, BPF_REG_1, 8, 0));
  const uint32_t rwm = BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE | BPF_DEVCG_ACC_MKNOD;
  for (size_t k = 0; k < n; k++)
    {
      const dev_rule_t *r = &rules[k];
      struct bpf_insn checks[6];
      int c = 0;
      if (r->type != 'a')
        checks[c++] = INSN (BPF_JMP | BPF_JNE | BPF_K, BPF_REG_2, 0, 0,
                            r->type == 'b' ? BPF_DEVCG_DEV_BLOCK : BPF_DEVCG_DEV_CHAR);
      if (r->access != rwm)
        {
          checks[c++] = INSN (BPF_ALU | BPF_MOV | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
          checks[c++] = INSN (BPF_ALU | BPF_AND | BPF_K, BPF_REG_1, 0, 0, (int32_t) r->access);
          checks[c++] = INSN (BPF_JMP | BPF_JNE | BPF_X, BPF_REG_1, BPF_REG_3, 0, 0);
        }
      if (r->major != ANY)
        checks[c++] = INSN (BPF_JMP | BPF_JNE | BPF_K, BPF_REG_4, 0, 0, (int32_t) r->major);
      if (r->minor != ANY)
        checks[c++] = INSN (BPF_JMP | BPF_JNE | BPF_K, BPF_REG_5, 0, 0, (int32_t) r->minor);
      for (int j = 0; j < c; j++)
        {
          if (BPF_CLASS (checks[j].code) == BPF_JMP)
            checks[j].off = (int16_t) (c - j - 1 + 2); /* past the remaining checks and "return 1" */
          emit (prog, checks[j]);
        }
      emit (prog, INSN (BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 1));
      emit (prog, INSN (BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
      if (c == 0)
        return;
    }
  emit (prog, INSN (BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0));
  emit (prog, INSN (BPF_JMP | BPF_EXIT, 0, 0, 0, 0));
}

/* Loads the program; on failure loads it again with the verifier's log, handed back in *log. */
static int
load_program (const tbuf_t *prog, char **log, tank_err_t *err)
{
  union bpf_attr a;
  memset (&a, 0, sizeof a);
  a.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  a.insns = (uintptr_t) prog->data;
  a.insn_cnt = (uint32_t) (prog->len / sizeof (struct bpf_insn));
  a.license = (uintptr_t) "GPL";
  int fd = bpf (BPF_PROG_LOAD, &a);
  if (fd < 0 && errno == EPERM)
    {
      /* Before Linux 5.11 BPF memory was charged to RLIMIT_MEMLOCK: lift it and try once more. */
      struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
      if (setrlimit (RLIMIT_MEMLOCK, &unlimited) == 0)
        fd = bpf (BPF_PROG_LOAD, &a);
    }
  if (fd >= 0)
    return fd;
  int saved = errno;
  for (size_t size = 64 << 10; size <= (4 << 20); size *= 4)
    {
      free (*log);
      if ((*log = calloc (1, size)) == NULL)
        break;
      a.log_level = 1;
      a.log_buf = (uintptr_t) *log;
      a.log_size = (uint32_t) size;
      fd = bpf (BPF_PROG_LOAD, &a);
      if (fd >= 0) /* loaded with a log where it failed without: keep it */
        return fd;
      if (errno != ENOSPC)
        {
          saved = errno;
          break;
        }
    }
  return tank_error (err, saved, "load", "load the device program (%u instructions)", a.insn_cnt);
}

static int
query (int dirfd, uint32_t ids[MAX_PROGS], uint32_t *count, tank_err_t *err)
{
  union bpf_attr a;
  memset (&a, 0, sizeof a);
  a.query.target_fd = (uint32_t) dirfd;
  a.query.attach_type = BPF_CGROUP_DEVICE;
  a.query.prog_ids = (uintptr_t) ids;
  a.query.prog_cnt = MAX_PROGS;
  if (bpf (BPF_PROG_QUERY, &a) < 0)
    return tank_error (err, errno, "query", "query the device programs attached to the group");
  *count = a.query.prog_cnt;
  return 0;
}

static int
program_id (int fd, uint32_t *id, tank_err_t *err)
{
  struct bpf_prog_info info;
  union bpf_attr a;
  memset (&info, 0, sizeof info);
  memset (&a, 0, sizeof a);
  a.info.bpf_fd = (uint32_t) fd;
  a.info.info_len = sizeof info;
  a.info.info = (uintptr_t) &info;
  if (bpf (BPF_OBJ_GET_INFO_BY_FD, &a) < 0)
    return tank_error (err, errno, "prog_info", "read the device program's id");
  *id = info.id;
  return 0;
}

/* Detach program `id` from the group; one already gone is fine. */
static int
detach (int dirfd, uint32_t id, bool *detached, tank_err_t *err)
{
  union bpf_attr a;
  memset (&a, 0, sizeof a);
  a.prog_id = id;
  cleanup_close int fd = bpf (BPF_PROG_GET_FD_BY_ID, &a);
  *detached = false;
  if (fd < 0)
    return errno == ENOENT ? 0 : tank_error (err, errno, "detach", "open the previous device program %u", id);
  memset (&a, 0, sizeof a);
  a.target_fd = (uint32_t) dirfd;
  a.attach_bpf_fd = (uint32_t) fd;
  a.attach_type = BPF_CGROUP_DEVICE;
  if (bpf (BPF_PROG_DETACH, &a) < 0)
    return errno == ENOENT ? 0 : tank_error (err, errno, "detach", "detach the previous device program %u", id);
  *detached = true;
  return 0;
}

static void
print_failure (const tank_err_t *err, const char *log)
{
  cleanup_buf tbuf_t b = { 0 };
  buf_puts (&b, "{\"error\":{\"step\":");
  json_write_str (&b, err->step);
  buf_printf (&b, ",\"errno\":%d,\"message\":", err->errnum);
  json_write_str (&b, err->message);
  if (log != NULL && log[0] != '\0')
    {
      buf_puts (&b, ",\"log\":");
      json_write_str (&b, log);
    }
  buf_puts (&b, "}}\n");
  (void) write_all (1, b.data, b.len);
}

static void
write_ids (tbuf_t *b, const uint32_t *ids, uint32_t n)
{
  buf_puts (b, "[");
  for (uint32_t k = 0; k < n; k++)
    buf_printf (b, "%s%u", k ? "," : "", ids[k]);
  buf_puts (b, "]");
}

static int
apply (const char *dir, const dev_rule_t *rules, size_t n, tbuf_t *out, char **log, tank_err_t *err)
{
  cleanup_close int dirfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return tank_error (err, errno, "open_cgroup", "open `%s`", dir);
  struct statfs sfs;
  if (fstatfs (dirfd, &sfs) < 0)
    return tank_error (err, errno, "open_cgroup", "statfs `%s`", dir);
  if (sfs.f_type != CGROUP2_SUPER_MAGIC)
    return tank_error (err, EINVAL, "open_cgroup", "`%s` is not a cgroup2 directory", dir);

  cleanup_buf tbuf_t prog = { 0 };
  build_program (rules, n, &prog);
  cleanup_close int fd = load_program (&prog, log, err);
  if (fd < 0)
    return -1;
  uint32_t id = 0, old[MAX_PROGS], old_count = 0, now[MAX_PROGS], now_count = 0, gone[MAX_PROGS], gone_count = 0;
  if (program_id (fd, &id, err) < 0 || query (dirfd, old, &old_count, err) < 0)
    return -1;

  union bpf_attr a;
  memset (&a, 0, sizeof a);
  a.target_fd = (uint32_t) dirfd;
  a.attach_bpf_fd = (uint32_t) fd;
  a.attach_type = BPF_CGROUP_DEVICE;
  a.attach_flags = BPF_F_ALLOW_MULTI;
  if (bpf (BPF_PROG_ATTACH, &a) < 0)
    return tank_error (err, errno, "attach", "attach the device program to `%s`", dir);
  /* From here on the new program is in force; a failure below leaves the group stricter (old
   * and new both run), never looser. */
  for (uint32_t k = 0; k < old_count; k++)
    {
      bool detached;
      if (detach (dirfd, old[k], &detached, err) < 0)
        return -1;
      if (detached)
        gone[gone_count++] = old[k];
    }
  if (query (dirfd, now, &now_count, err) < 0)
    return -1;

  buf_puts (out, "{\"ok\":true,\"dir\":");
  json_write_str (out, dir);
  buf_printf (out, ",\"programId\":%u,\"instructions\":%zu,\"detached\":", id,
              prog.len / sizeof (struct bpf_insn));
  write_ids (out, gone, gone_count);
  buf_puts (out, ",\"attached\":");
  write_ids (out, now, now_count);
  buf_puts (out, "}\n");
  return 0;
}

int
cgroup_devices_main (int argc, char **argv)
{
  tank_err_t err = { 0 };
  const char *dir = NULL;
  cleanup_free dev_rule_t *rules = calloc ((size_t) argc, sizeof *rules);
  size_t n = 0;
  if (rules == NULL)
    abort ();
  for (int k = 1; k < argc; k++)
    {
      if (strcmp (argv[k], "--dir") == 0 && k + 1 < argc)
        dir = argv[++k];
      else if (strcmp (argv[k], "--allow") == 0 && k + 1 < argc)
        {
          if (parse_rule (argv[++k], &rules[n++], &err) < 0)
            {
              print_failure (&err, NULL);
              return 2;
            }
        }
      else
        {
          dir = NULL;
          break;
        }
    }
  if (dir == NULL || dir[0] != '/')
    {
      tank_error (&err, EINVAL, "usage", "%s", usage);
      print_failure (&err, NULL);
      return 2;
    }
  cleanup_free char *log = NULL;
  cleanup_buf tbuf_t out = { 0 };
  if (apply (dir, rules, n, &out, &log, &err) < 0)
    {
      print_failure (&err, log);
      return 1;
    }
  (void) write_all (1, out.data, out.len);
  return 0;
}
