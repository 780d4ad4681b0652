/* A minimal JSON reader (DOM of jval_t) and writer helpers. No external libraries.
 * Numbers are kept as double plus an exact int64 when the literal is an integer. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "error.h"
#include "util.h"

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype_t;

typedef struct jval {
  jtype_t type;
  bool b;
  double num;
  int64_t i;
  bool is_int;
  char *s; /* J_STR: NUL-terminated (embedded NULs are rejected) */
  size_t len; /* J_ARR/J_OBJ: item count */
  struct jval **items;
  char **keys; /* J_OBJ only */
} jval_t;

jval_t *json_parse (const char *text, size_t len, tank_err_t *err);
void json_free (jval_t *v);
static inline void cleanup_json_fn (jval_t **v) { json_free (*v); }
#define cleanup_json __attribute__ ((cleanup (cleanup_json_fn)))

const jval_t *json_get (const jval_t *obj, const char *key);
/* NULL when missing or not a string. */
const char *json_str (const jval_t *obj, const char *key);
/* Typed getters: 0 = ok (or missing with *present=false when present != NULL), -1 = wrong type. */
int json_int (const jval_t *obj, const char *key, int64_t *out, bool *present);
int json_bool (const jval_t *obj, const char *key, bool *out);

void json_write_str (tbuf_t *b, const char *s);
void json_write_strn (tbuf_t *b, const char *s, size_t n);
void json_write_error (tbuf_t *b, const tank_err_t *err);
