/* tank-helper: the native process helper of Tank. A thin dispatcher; see PROTOCOL.md. */
#include <stdio.h>
#include <string.h>

#include "devices.h"
#include "enter.h"
#include "error.h"
#include "monitor.h"
#include "sandbox.h"
#include "seccomp.h"
#include "spawner.h"

int
main (int argc, char **argv)
{
  if (argc >= 2 && strcmp (argv[1], "spawner") == 0)
    return spawner_main (argv[0], argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "monitor") == 0)
    return monitor_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "enter") == 0)
    return enter_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "sandbox") == 0)
    return sandbox_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "sandbox-remove") == 0)
    return sandbox_remove_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "seccomp-compile") == 0)
    return seccomp_compile_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "cgroup-devices") == 0)
    return cgroup_devices_main (argc - 1, argv + 1);
  if (argc >= 2 && strcmp (argv[1], "version") == 0)
    {
      printf ("{\"protocol\":%d}\n", PROTOCOL_VERSION);
      return 0;
    }
  fprintf (stderr, "usage: tank-helper monitor|enter|sandbox|sandbox-remove|seccomp-compile|cgroup-devices|spawner|version ...\n");
  return 2;
}
