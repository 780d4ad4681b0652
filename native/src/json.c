#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *p, *end;
  int depth;
} jparser_t;

static jval_t *parse_value (jparser_t *ps);

static void
skip_ws (jparser_t *ps)
{
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static jval_t *
new_val (jtype_t t)
{
  jval_t *v = calloc (1, sizeof *v);
  if (v == NULL)
    abort ();
  v->type = t;
  return v;
}

static int
hex4 (const char *p, unsigned *out)
{
  unsigned v = 0;
  for (int k = 0; k < 4; k++)
    {
      char c = p[k];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= (unsigned) (c - '0');
      else if (c >= 'a' && c <= 'f')
        v |= (unsigned) (c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        v |= (unsigned) (c - 'A' + 10);
      else
        return -1;
    }
  *out = v;
  return 0;
}

static void
put_utf8 (tbuf_t *b, unsigned cp)
{
  char o[4];
  size_t n;
  if (cp < 0x80)
    o[0] = (char) cp, n = 1;
  else if (cp < 0x800)
    o[0] = (char) (0xC0 | (cp >> 6)), o[1] = (char) (0x80 | (cp & 0x3F)), n = 2;
  else if (cp < 0x10000)
    o[0] = (char) (0xE0 | (cp >> 12)), o[1] = (char) (0x80 | ((cp >> 6) & 0x3F)),
    o[2] = (char) (0x80 | (cp & 0x3F)), n = 3;
  else
    o[0] = (char) (0xF0 | (cp >> 18)), o[1] = (char) (0x80 | ((cp >> 12) & 0x3F)),
    o[2] = (char) (0x80 | ((cp >> 6) & 0x3F)), o[3] = (char) (0x80 | (cp & 0x3F)), n = 4;
  buf_append (b, o, n);
}

/* Parses a string literal at ps->p (which points at the opening quote). */
static char *
parse_string (jparser_t *ps)
{
  tbuf_t b = { 0 };
  ps->p++;
  while (ps->p < ps->end && *ps->p != '"')
    {
      unsigned char c = (unsigned char) *ps->p++;
      if (c < 0x20)
        goto fail;
      if (c != '\\')
        {
          buf_append (&b, &c, 1);
          continue;
        }
      if (ps->p >= ps->end)
        goto fail;
      char e = *ps->p++;
      const char *simple = strchr ("\"\\/bfnrt", e);
      if (simple != NULL && e != '\0')
        {
          static const char map[] = "\"\\/\b\f\n\r\t";
          buf_append (&b, &map[simple - "\"\\/bfnrt"], 1);
          continue;
        }
      if (e != 'u' || ps->end - ps->p < 4)
        goto fail;
      unsigned cp;
      if (hex4 (ps->p, &cp) < 0)
        goto fail;
      ps->p += 4;
      if (cp >= 0xD800 && cp < 0xDC00 && ps->end - ps->p >= 6 && ps->p[0] == '\\' && ps->p[1] == 'u')
        {
          unsigned lo;
          if (hex4 (ps->p + 2, &lo) == 0 && lo >= 0xDC00 && lo < 0xE000)
            {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
              ps->p += 6;
            }
        }
      if (cp == 0)
        goto fail; /* embedded NUL would truncate paths/argv silently */
      put_utf8 (&b, cp);
    }
  if (ps->p >= ps->end)
    goto fail;
  ps->p++;
  if (b.data == NULL)
    buf_append (&b, "", 0);
  return b.data;
fail:
  buf_free (&b);
  return NULL;
}

static jval_t *
parse_container (jparser_t *ps, bool obj)
{
  jval_t *v = new_val (obj ? J_OBJ : J_ARR);
  size_t cap = 0;
  char close = obj ? '}' : ']';
  if (++ps->depth > 64)
    goto fail;
  ps->p++;
  skip_ws (ps);
  if (ps->p < ps->end && *ps->p == close)
    {
      ps->p++;
      ps->depth--;
      return v;
    }
  for (;;)
    {
      char *key = NULL;
      skip_ws (ps);
      if (obj)
        {
          if (ps->p >= ps->end || *ps->p != '"' || (key = parse_string (ps)) == NULL)
            goto fail;
          skip_ws (ps);
          if (ps->p >= ps->end || *ps->p != ':')
            {
              free (key);
              goto fail;
            }
          ps->p++;
        }
      jval_t *item = parse_value (ps);
      if (item == NULL)
        {
          free (key);
          goto fail;
        }
      if (v->len == cap)
        {
          cap = cap ? cap * 2 : 8;
          v->items = realloc (v->items, cap * sizeof *v->items);
          if (obj)
            v->keys = realloc (v->keys, cap * sizeof *v->keys);
          if (v->items == NULL || (obj && v->keys == NULL))
            abort ();
        }
      v->items[v->len] = item;
      if (obj)
        v->keys[v->len] = key;
      v->len++;
      skip_ws (ps);
      if (ps->p < ps->end && *ps->p == ',')
        {
          ps->p++;
          continue;
        }
      if (ps->p < ps->end && *ps->p == close)
        {
          ps->p++;
          ps->depth--;
          return v;
        }
      goto fail;
    }
fail:
  json_free (v);
  return NULL;
}

static jval_t *
parse_value (jparser_t *ps)
{
  skip_ws (ps);
  if (ps->p >= ps->end)
    return NULL;
  char c = *ps->p;
  if (c == '{' || c == '[')
    return parse_container (ps, c == '{');
  if (c == '"')
    {
      char *s = parse_string (ps);
      if (s == NULL)
        return NULL;
      jval_t *v = new_val (J_STR);
      v->s = s;
      return v;
    }
  static const struct { const char *lit; jtype_t t; bool b; } lits[] = {
    { "true", J_BOOL, true }, { "false", J_BOOL, false }, { "null", J_NULL, false }
  };
  for (size_t k = 0; k < 3; k++)
    {
      size_t n = strlen (lits[k].lit);
      if ((size_t) (ps->end - ps->p) >= n && memcmp (ps->p, lits[k].lit, n) == 0)
        {
          ps->p += n;
          jval_t *v = new_val (lits[k].t);
          v->b = lits[k].b;
          return v;
        }
    }
  if (c == '-' || (c >= '0' && c <= '9'))
    {
      char tmp[64];
      size_t n = 0;
      bool integral = true;
      while (ps->p + n < ps->end && n < sizeof tmp - 1 && strchr ("+-0123456789.eE", ps->p[n]) && ps->p[n])
        {
          if (strchr (".eE", ps->p[n]))
            integral = false;
          n++;
        }
      memcpy (tmp, ps->p, n);
      tmp[n] = '\0';
      char *endp;
      errno = 0;
      double d = strtod (tmp, &endp);
      if (endp != tmp + n || n == 0)
        return NULL;
      jval_t *v = new_val (J_NUM);
      v->num = d;
      if (integral)
        {
          errno = 0;
          long long ll = strtoll (tmp, NULL, 10);
          v->is_int = errno == 0;
          v->i = ll;
        }
      ps->p += n;
      return v;
    }
  return NULL;
}

jval_t *
json_parse (const char *text, size_t len, tank_err_t *err)
{
  jparser_t ps = { text, text + len, 0 };
  jval_t *v = parse_value (&ps);
  if (v != NULL)
    {
      skip_ws (&ps);
      if (ps.p != ps.end)
        {
          json_free (v);
          v = NULL;
        }
    }
  if (v == NULL)
    tank_error (err, EINVAL, "parse_json", "malformed JSON near byte %zu", (size_t) (ps.p - text));
  return v;
}

void
json_free (jval_t *v)
{
  if (v == NULL)
    return;
  for (size_t k = 0; k < v->len; k++)
    {
      json_free (v->items[k]);
      if (v->keys)
        free (v->keys[k]);
    }
  free (v->items);
  free (v->keys);
  free (v->s);
  free (v);
}

const jval_t *
json_get (const jval_t *obj, const char *key)
{
  if (obj == NULL || obj->type != J_OBJ)
    return NULL;
  for (size_t k = 0; k < obj->len; k++)
    if (strcmp (obj->keys[k], key) == 0)
      return obj->items[k];
  return NULL;
}

const char *
json_str (const jval_t *obj, const char *key)
{
  const jval_t *v = json_get (obj, key);
  return v && v->type == J_STR ? v->s : NULL;
}

int
json_int (const jval_t *obj, const char *key, int64_t *out, bool *present)
{
  const jval_t *v = json_get (obj, key);
  if (present)
    *present = v != NULL && v->type != J_NULL;
  if (v == NULL || v->type == J_NULL)
    return present ? 0 : -1;
  if (v->type != J_NUM || !v->is_int)
    return -1;
  *out = v->i;
  return 0;
}

int
json_bool (const jval_t *obj, const char *key, bool *out)
{
  const jval_t *v = json_get (obj, key);
  if (v == NULL || v->type == J_NULL)
    return 0;
  if (v->type != J_BOOL)
    return -1;
  *out = v->b;
  return 0;
}

/* Length of the well-formed UTF-8 sequence at s[0..n) (1-4), or 0 if it is not one. */
static size_t
utf8_len (const unsigned char *s, size_t n)
{
  unsigned char c = s[0];
  size_t len = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (len == 0 || len > n)
    return 0;
  for (size_t k = 1; k < len; k++)
    if ((s[k] & 0xc0) != 0x80)
      return 0;
  /* overlong 3/4-byte forms, UTF-16 surrogates, beyond U+10FFFF */
  if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f) || (c == 0xf0 && s[1] < 0x90)
      || (c == 0xf4 && s[1] > 0x8f))
    return 0;
  return len;
}

/* Always valid JSON in valid UTF-8: control characters are \u-escaped and a byte that is not part
 * of a well-formed UTF-8 sequence becomes U+FFFD (what a UTF-8 reader would make of it anyway). */
void
json_write_strn (tbuf_t *b, const char *s, size_t n)
{
  buf_append (b, "\"", 1);
  for (size_t k = 0; k < n;)
    {
      unsigned char c = (unsigned char) s[k];
      size_t len = utf8_len ((const unsigned char *) s + k, n - k);
      if (len == 0)
        buf_puts (b, "\\ufffd"), len = 1;
      else if (c == '"' || c == '\\')
        {
          char e[2] = { '\\', (char) c };
          buf_append (b, e, 2);
        }
      else if (c == '\n')
        buf_puts (b, "\\n");
      else if (c < 0x20 || c == 0x7f)
        buf_printf (b, "\\u%04x", c);
      else
        buf_append (b, s + k, len);
      k += len;
    }
  buf_append (b, "\"", 1);
}

void
json_write_str (tbuf_t *b, const char *s)
{
  json_write_strn (b, s, strlen (s));
}

void
json_write_error (tbuf_t *b, const tank_err_t *err)
{
  buf_puts (b, "{\"step\":");
  json_write_str (b, err->step);
  buf_printf (b, ",\"errno\":%d,\"message\":", err->errnum);
  json_write_str (b, err->message);
  buf_puts (b, "}");
}
