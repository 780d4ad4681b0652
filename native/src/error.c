#include "error.h"
#include "json.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
tank_error (tank_err_t *err, int errnum, const char *step, const char *fmt, ...)
{
  va_list ap;
  if (err == NULL)
    return -1;
  err->errnum = errnum;
  snprintf (err->step, sizeof err->step, "%s", step);
  va_start (ap, fmt);
  vsnprintf (err->message, sizeof err->message, fmt, ap);
  va_end (ap);
  if (errnum != 0)
    {
      size_t n = strlen (err->message);
      snprintf (err->message + n, sizeof err->message - n, ": %s", strerror (errnum));
    }
  return -1;
}

void
tank_error_print (int fd, const tank_err_t *err)
{
  cleanup_buf tbuf_t b = { 0 };
  buf_puts (&b, "{\"error\":");
  json_write_error (&b, err);
  buf_puts (&b, "}\n");
  (void) write_all (fd, b.data, b.len);
}
