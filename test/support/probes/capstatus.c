/* capstatus: print this process's identity and privileges as the kernel sees them, one JSON line:
 * {"uid":..,"euid":..,"CapEff":"hex","CapPrm":"hex","CapBnd":"hex","NoNewPrivs":"0|1","Seccomp":"0|2",
 *  "nofile":"soft:hard","cgroup":"lines of /proc/self/cgroup joined by |"}. Installed setuid-root, it
 * shows whether a setuid binary lifts a non-root workload. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static void
field (const char *key, char *out, size_t len)
{
  char line[256];
  size_t kl = strlen (key);
  snprintf (out, len, "?");
  FILE *f = fopen ("/proc/self/status", "r");
  while (f && fgets (line, sizeof line, f))
    if (strncmp (line, key, kl) == 0 && line[kl] == ':')
      {
        char *v = line + kl + 1;
        while (*v == ' ' || *v == '\t')
          v++;
        v[strcspn (v, "\n")] = '\0';
        snprintf (out, len, "%s", v);
        break;
      }
  if (f)
    fclose (f);
}

int
main (void)
{
  char eff[32], prm[32], bnd[32], nnp[8], sc[8], cg[2048] = "", line[256];
  field ("CapEff", eff, sizeof eff);
  field ("CapPrm", prm, sizeof prm);
  field ("CapBnd", bnd, sizeof bnd);
  field ("NoNewPrivs", nnp, sizeof nnp);
  field ("Seccomp", sc, sizeof sc);
  /* every line of /proc/self/cgroup, joined by '|' */
  FILE *f = fopen ("/proc/self/cgroup", "r");
  while (f && fgets (line, sizeof line, f))
    {
      line[strcspn (line, "\n")] = '\0';
      if (strlen (cg) + strlen (line) + 2 < sizeof cg)
        strcat (strcat (cg, cg[0] ? "|" : ""), line);
    }
  if (f)
    fclose (f);
  struct rlimit nofile;
  getrlimit (RLIMIT_NOFILE, &nofile);
  printf ("{\"uid\":%u,\"euid\":%u,\"CapEff\":\"%s\",\"CapPrm\":\"%s\",\"CapBnd\":\"%s\",\"NoNewPrivs\":\"%s\","
          "\"Seccomp\":\"%s\",\"nofile\":\"%lld:%lld\",\"cgroup\":\"%s\"}\n",
          getuid (), geteuid (), eff, prm, bnd, nnp, sc, (long long) nofile.rlim_cur, (long long) nofile.rlim_max, cg);
  return 0;
}
