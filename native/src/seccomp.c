/* Seccomp: compiling a profile to a classic BPF program (libseccomp, once per distinct profile, by
 * the agent) and loading that program in a process about to execve (the workload, `enter`).
 *
 * Why split: libseccomp's compilation of docker's profile for three ABIs costs about a millisecond
 * and allocates; loading a ready program is one syscall. The agent caches the compiled file by the
 * profile's hash, so a container start pays only the load. The program file lives under the data
 * dir (root-only) and is read by the monitor before the workload is cloned (so a bad file fails the
 * start before `ready`), or by `enter` before it joins any namespace.
 *
 * Profile format: the OCI runtime spec's `linux.seccomp` (what runc and crun receive; docker's
 * profile format minus `archMap`/`includes`/`excludes`, which the agent resolves beforehand). */
#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <math.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "json.h"
#include "util.h"

/* The kernel's limit on a classic BPF program (BPF_MAXINSNS). */
#define MAX_INSNS 4096

static int
parse_action (const char *name, int64_t errno_ret, bool has_errno, uint32_t *out)
{
  uint32_t e = has_errno ? (uint32_t) errno_ret : EPERM;
  if (strcmp (name, "SCMP_ACT_ALLOW") == 0)
    *out = SCMP_ACT_ALLOW;
  else if (strcmp (name, "SCMP_ACT_ERRNO") == 0)
    *out = SCMP_ACT_ERRNO (e);
  else if (strcmp (name, "SCMP_ACT_KILL") == 0 || strcmp (name, "SCMP_ACT_KILL_THREAD") == 0)
    *out = SCMP_ACT_KILL_THREAD;
  else if (strcmp (name, "SCMP_ACT_KILL_PROCESS") == 0)
    *out = SCMP_ACT_KILL_PROCESS;
  else if (strcmp (name, "SCMP_ACT_TRAP") == 0)
    *out = SCMP_ACT_TRAP;
  else if (strcmp (name, "SCMP_ACT_TRACE") == 0)
    *out = SCMP_ACT_TRACE (e);
  else if (strcmp (name, "SCMP_ACT_LOG") == 0)
    *out = SCMP_ACT_LOG;
  else
    return -1; /* SCMP_ACT_NOTIFY needs a listener Tank does not run */
  return 0;
}

static int
parse_op (const char *name, enum scmp_compare *out)
{
  static const struct { const char *n; enum scmp_compare op; } ops[] = {
    { "SCMP_CMP_NE", SCMP_CMP_NE }, { "SCMP_CMP_LT", SCMP_CMP_LT }, { "SCMP_CMP_LE", SCMP_CMP_LE },
    { "SCMP_CMP_EQ", SCMP_CMP_EQ }, { "SCMP_CMP_GE", SCMP_CMP_GE }, { "SCMP_CMP_GT", SCMP_CMP_GT },
    { "SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ },
  };
  for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++)
    if (strcmp (name, ops[k].n) == 0)
      return *out = ops[k].op, 0;
  return -1;
}

static int
parse_arch (const char *name, uint32_t *out)
{
  static const struct { const char *n; uint32_t a; } arches[] = {
    { "SCMP_ARCH_X86_64", SCMP_ARCH_X86_64 }, { "SCMP_ARCH_X86", SCMP_ARCH_X86 },
    { "SCMP_ARCH_X32", SCMP_ARCH_X32 },       { "SCMP_ARCH_AARCH64", SCMP_ARCH_AARCH64 },
    { "SCMP_ARCH_ARM", SCMP_ARCH_ARM },       { "SCMP_ARCH_RISCV64", SCMP_ARCH_RISCV64 },
    { "SCMP_ARCH_S390X", SCMP_ARCH_S390X },   { "SCMP_ARCH_S390", SCMP_ARCH_S390 },
    { "SCMP_ARCH_PPC64LE", SCMP_ARCH_PPC64LE },
  };
  for (size_t k = 0; k < sizeof arches / sizeof arches[0]; k++)
    if (strcmp (name, arches[k].n) == 0)
      return *out = arches[k].a, 0;
  return -1;
}

/* A JSON number as an unsigned 64-bit argument value (masks and -1 style values exceed int64). */
static int
arg_value (const jval_t *v, uint64_t *out)
{
  if (v == NULL)
    return *out = 0, 0;
  if (v->type != J_NUM)
    return -1;
  if (v->is_int)
    return *out = (uint64_t) v->i, 0;
  if (v->num < 0 || v->num >= 18446744073709551616.0 || v->num != floor (v->num))
    return -1;
  return *out = (uint64_t) v->num, 0;
}

/* One rule of the profile: every name, with its argument comparisons. Comparisons on distinct
 * arguments are ANDed in one rule; several on the same argument become one rule each (ORed), as
 * runc does, because libseccomp cannot AND two comparisons of one argument. */
static int
add_rule (scmp_filter_ctx ctx, const jval_t *rule, size_t idx, uint32_t default_action, tank_err_t *err)
{
  const jval_t *names = json_get (rule, "names"), *args = json_get (rule, "args");
  const char *action_name = json_str (rule, "action");
  int64_t errno_ret = 0;
  bool has_errno = false;
  uint32_t action;
  if (names == NULL || names->type != J_ARR)
    return tank_error (err, EINVAL, "seccomp_profile", "`syscalls[%zu].names` must be an array", idx);
  if (json_int (rule, "errnoRet", &errno_ret, &has_errno) < 0 || errno_ret < 0 || errno_ret > 4095)
    return tank_error (err, EINVAL, "seccomp_profile", "`syscalls[%zu].errnoRet` must be 0..4095", idx);
  if (action_name == NULL || parse_action (action_name, errno_ret, has_errno, &action) < 0)
    return tank_error (err, EINVAL, "seccomp_profile", "`syscalls[%zu].action` is not a supported action", idx);
  if (action == default_action)
    return 0; /* libseccomp refuses rules equal to the default; they change nothing */
  size_t nargs = args && args->type == J_ARR ? args->len : 0;
  if (args != NULL && args->type != J_ARR && args->type != J_NULL)
    return tank_error (err, EINVAL, "seccomp_profile", "`syscalls[%zu].args` must be an array", idx);
  if (nargs > 6)
    return tank_error (err, EINVAL, "seccomp_profile", "`syscalls[%zu].args` has more than 6 comparisons", idx);
  struct scmp_arg_cmp cmp[6];
  bool same_index = false;
  for (size_t a = 0; a < nargs; a++)
    {
      const jval_t *arg = args->items[a];
      int64_t index = -1;
      uint64_t value, value_two;
      const char *op = json_str (arg, "op");
      if (json_int (arg, "index", &index, NULL) < 0 || index < 0 || index > 5 || op == NULL
          || parse_op (op, &cmp[a].op) < 0 || arg_value (json_get (arg, "value"), &value) < 0
          || arg_value (json_get (arg, "valueTwo"), &value_two) < 0)
        return tank_error (err, EINVAL, "seccomp_profile", "`syscalls[%zu].args[%zu]` is malformed", idx, a);
      cmp[a].arg = (unsigned) index;
      /* MASKED_EQ: value is the mask, valueTwo the expected result (libseccomp's datum_a/datum_b). */
      cmp[a].datum_a = value;
      cmp[a].datum_b = value_two;
      for (size_t b = 0; b < a; b++)
        same_index |= cmp[b].arg == cmp[a].arg;
    }
  for (size_t n = 0; n < names->len; n++)
    {
      if (names->items[n]->type != J_STR)
        return tank_error (err, EINVAL, "seccomp_profile", "`syscalls[%zu].names[%zu]` must be a string", idx, n);
      int nr = seccomp_syscall_resolve_name (names->items[n]->s);
      if (nr == __NR_SCMP_ERROR)
        continue; /* unknown to this libseccomp on every ABI: nothing to allow or deny */
      int r = 0;
      if (!same_index)
        r = seccomp_rule_add_array (ctx, action, nr, (unsigned) nargs, nargs ? cmp : NULL);
      else
        for (size_t a = 0; a < nargs && r == 0; a++)
          r = seccomp_rule_add_array (ctx, action, nr, 1, &cmp[a]);
      /* -EDOM / -EOPNOTSUPP: the call does not exist on one of the ABIs, or is a multiplexed
       * pseudo-call there; libseccomp still added it where it can. */
      if (r < 0 && r != -EDOM && r != -EOPNOTSUPP)
        return tank_error (err, -r, "seccomp_profile", "add rule for `%s` (syscalls[%zu])", names->items[n]->s, idx);
    }
  return 0;
}

static int
build (const jval_t *p, scmp_filter_ctx *out, tank_err_t *err)
{
  const char *def = json_str (p, "defaultAction");
  int64_t def_errno = 0;
  bool has_def_errno = false;
  uint32_t def_action;
  if (def == NULL || json_int (p, "defaultErrnoRet", &def_errno, &has_def_errno) < 0 || def_errno < 0
      || def_errno > 4095 || parse_action (def, def_errno, has_def_errno, &def_action) < 0)
    return tank_error (err, EINVAL, "seccomp_profile", "`defaultAction` must be a supported action");
  scmp_filter_ctx ctx = seccomp_init (def_action);
  if (ctx == NULL)
    return tank_error (err, ENOMEM, "seccomp_profile", "seccomp_init");
  *out = ctx;
  /* The filter checks no_new_privs itself only when asked; Tank sets it (or holds CAP_SYS_ADMIN)
   * before loading, so libseccomp must not try to set it on the compiling process. */
  seccomp_attr_set (ctx, SCMP_FLTATR_CTL_NNP, 0);
  /* A binary tree over the syscall numbers: docker's ~370 names in ~log2 comparisons per call. */
  seccomp_attr_set (ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  const jval_t *arches = json_get (p, "architectures");
  if (arches != NULL && arches->type == J_ARR)
    for (size_t k = 0; k < arches->len; k++)
      {
        uint32_t a;
        if (arches->items[k]->type != J_STR || parse_arch (arches->items[k]->s, &a) < 0)
          return tank_error (err, EINVAL, "seccomp_profile", "`architectures[%zu]` is not a supported architecture", k);
        int r = seccomp_arch_add (ctx, a);
        if (r < 0 && r != -EEXIST)
          return tank_error (err, -r, "seccomp_profile", "add architecture `%s`", arches->items[k]->s);
      }
  const jval_t *rules = json_get (p, "syscalls");
  if (rules != NULL && rules->type != J_ARR && rules->type != J_NULL)
    return tank_error (err, EINVAL, "seccomp_profile", "`syscalls` must be an array");
  for (size_t k = 0; rules && rules->type == J_ARR && k < rules->len; k++)
    if (add_rule (ctx, rules->items[k], k, def_action, err) < 0)
      return -1;
  return 0;
}

static int
compile (const char *in, const char *outp, long long *insns, tank_err_t *err)
{
  cleanup_free char *text = NULL;
  size_t len;
  if (read_file (in, 4 << 20, &text, &len, err) < 0)
    return -1;
  cleanup_json jval_t *p = json_parse (text, len, err);
  if (p == NULL)
    return -1;
  if (p->type != J_OBJ)
    return tank_error (err, EINVAL, "seccomp_profile", "the profile is not a JSON object");
  scmp_filter_ctx ctx = NULL;
  if (build (p, &ctx, err) < 0)
    {
      seccomp_release (ctx);
      return -1;
    }
  /* Written beside and renamed: a concurrent start never loads a half-written program. */
  char tmp[4200];
  snprintf (tmp, sizeof tmp, "%s.%d.tmp", outp, (int) getpid ());
  int fd = open (tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      seccomp_release (ctx);
      return tank_error (err, errno, "seccomp_export", "create `%s`", tmp);
    }
  int r = seccomp_export_bpf (ctx, fd);
  seccomp_release (ctx);
  struct stat st;
  if (r < 0 || fstat (fd, &st) < 0 || close (fd) < 0)
    {
      int e = r < 0 ? -r : errno;
      unlink (tmp);
      return tank_error (err, e, "seccomp_export", "write the program to `%s`", tmp);
    }
  if (st.st_size == 0 || st.st_size % 8 != 0 || st.st_size / 8 > MAX_INSNS)
    {
      unlink (tmp);
      return tank_error (err, E2BIG, "seccomp_export", "the program has %lld instructions (the kernel takes 1..%d)",
                         (long long) st.st_size / 8, MAX_INSNS);
    }
  if (rename (tmp, outp) < 0)
    {
      int e = errno;
      unlink (tmp);
      return tank_error (err, e, "seccomp_export", "rename to `%s`", outp);
    }
  *insns = (long long) st.st_size / 8;
  return 0;
}

/* tank-helper seccomp-compile --profile FILE --out ABS_FILE -> {"ok":true,"instructions":N} */
int
seccomp_compile_main (int argc, char **argv)
{
  tank_err_t err = { 0 };
  const char *in = NULL, *outp = NULL;
  long long insns = 0;
  for (int k = 1; k + 1 < argc; k += 2)
    {
      if (strcmp (argv[k], "--profile") == 0)
        in = argv[k + 1];
      else if (strcmp (argv[k], "--out") == 0)
        outp = argv[k + 1];
    }
  if (in == NULL || outp == NULL || outp[0] != '/')
    tank_error (&err, EINVAL, "usage", "usage: tank-helper seccomp-compile --profile FILE --out ABS_FILE");
  else if (compile (in, outp, &insns, &err) == 0)
    {
      printf ("{\"ok\":true,\"instructions\":%lld}\n", insns);
      return 0;
    }
  tank_error_print (1, &err);
  return 1;
}

int
seccomp_read (const char *path, seccomp_prog_t *out, tank_err_t *err)
{
  char *data = NULL;
  size_t len = 0;
  out->filter = NULL;
  out->len = 0;
  if (read_file (path, MAX_INSNS * 8, &data, &len, err) < 0)
    {
      snprintf (err->step, sizeof err->step, "seccomp");
      return -1;
    }
  if (len == 0 || len % 8 != 0)
    {
      free (data);
      return tank_error (err, EINVAL, "seccomp", "`%s` is not a BPF program (%zu bytes)", path, len);
    }
  out->filter = data;
  out->len = (unsigned short) (len / 8);
  return 0;
}

int
seccomp_apply (const seccomp_prog_t *prog, tank_err_t *err)
{
  if (prog->filter == NULL)
    return 0;
  struct sock_fprog fprog = { .len = prog->len, .filter = (struct sock_filter *) prog->filter };
  if (syscall (SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &fprog) < 0)
    return tank_error (err, errno, "seccomp", "load the seccomp filter (%u instructions)", prog->len);
  return 0;
}
