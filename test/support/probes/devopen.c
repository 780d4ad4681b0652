/* devopen TYPE MAJOR MINOR PATH: mknod PATH (TYPE c|b) then open it read-only, and print one JSON
 * line with what the kernel said at each step: {"mknod":"ok"|"EPERM"|...,"open":"ok"|"EPERM"|...}.
 * devopen - - - PATH: open an existing node only ("mknod":"skipped"). Exit 0 whatever happened. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static const char *
errname (int e)
{
  switch (e)
    {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EEXIST: return "EEXIST";
    case ENXIO: return "ENXIO";
    case ENODEV: return "ENODEV";
    case EROFS: return "EROFS";
    case EBUSY: return "EBUSY";
    case EINVAL: return "EINVAL";
    default: return "EOTHER";
    }
}

int
main (int argc, char **argv)
{
  if (argc != 5)
    {
      fprintf (stderr, "usage: devopen c|b|- MAJOR MINOR PATH\n");
      return 2;
    }
  const char *mk = "skipped";
  if (strcmp (argv[1], "-") != 0)
    {
      mode_t type = argv[1][0] == 'b' ? S_IFBLK : S_IFCHR;
      dev_t dev = makedev (strtoul (argv[2], NULL, 10), strtoul (argv[3], NULL, 10));
      mk = mknod (argv[4], type | 0600, dev) == 0 ? "ok" : errname (errno);
    }
  int fd = open (argv[4], O_RDONLY | O_NONBLOCK);
  const char *op = fd >= 0 ? "ok" : errname (errno);
  printf ("{\"mknod\":\"%s\",\"open\":\"%s\"}\n", mk, op);
  return 0;
}
