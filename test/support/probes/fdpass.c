/* fdpass: a host file descriptor handed into a container, as a leak or a compromised helper would.
 *   fdpass send SOCK DIR   (host)  listen on the unix socket SOCK (mode 0777), open DIR (a
 *                                   directory, read-only) and send it to the first client; print "sent".
 *   fdpass recv SOCK NAME  (pod)   connect, receive the fd, try to create NAME inside that directory
 *                                   and to chmod the directory itself; print one JSON line with the
 *                                   kernel's verdict: {"create":"ok"|errno,"chmod":"ok"|errno}. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static const char *
name (int e)
{
  static char b[16];
  switch (e)
    {
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EROFS: return "EROFS";
    case ENOENT: return "ENOENT";
    case EBADF: return "EBADF";
    default: snprintf (b, sizeof b, "E%d", e); return b;
    }
}

int
main (int argc, char **argv)
{
  if (argc != 4)
    return 2;
  struct sockaddr_un a = { .sun_family = AF_UNIX };
  snprintf (a.sun_path, sizeof a.sun_path, "%s", argv[2]);
  int s = socket (AF_UNIX, SOCK_STREAM, 0);
  char byte = 'x';
  struct iovec iov = { &byte, 1 };
  char ctl[CMSG_SPACE (sizeof (int))];
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl };
  if (strcmp (argv[1], "send") == 0)
    {
      int dir = open (argv[3], O_RDONLY | O_DIRECTORY);
      unlink (argv[2]);
      if (dir < 0 || bind (s, (struct sockaddr *) &a, sizeof a) < 0 || chmod (argv[2], 0777) < 0 || listen (s, 1) < 0)
        return perror ("send setup"), 1;
      printf ("listening\n");
      fflush (stdout);
      int c = accept (s, NULL, NULL);
      struct cmsghdr *h = CMSG_FIRSTHDR (&m);
      h->cmsg_level = SOL_SOCKET, h->cmsg_type = SCM_RIGHTS, h->cmsg_len = CMSG_LEN (sizeof (int));
      memcpy (CMSG_DATA (h), &dir, sizeof dir);
      if (c < 0 || sendmsg (c, &m, 0) < 0)
        return perror ("sendmsg"), 1;
      printf ("sent\n");
      return 0;
    }
  if (connect (s, (struct sockaddr *) &a, sizeof a) < 0 || recvmsg (s, &m, 0) < 0)
    {
      printf ("{\"error\":\"%s\"}\n", name (errno));
      return 0;
    }
  int fd;
  memcpy (&fd, CMSG_DATA (CMSG_FIRSTHDR (&m)), sizeof fd);
  int f = openat (fd, argv[3], O_CREAT | O_WRONLY | O_EXCL, 0644);
  const char *create = f >= 0 ? "ok" : name (errno);
  int r = fchmod (fd, 0777);
  printf ("{\"create\":\"%s\",\"chmod\":\"%s\"}\n", create, r == 0 ? "ok" : name (errno));
  return 0;
}
