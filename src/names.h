/* names.h - file names (and other arguments) as record strings.
 *
 * A Unix file name is any bytes but '/' and NUL; a record string must be
 * valid UTF-8.  Replacing bad bytes with U+FFFD (as text clean-up does)
 * would give two files one id and a path that opens nothing, so names are
 * escaped instead, reversibly (docs/RECORD.md, "Names that are not UTF-8"):
 *
 *   - a name that is valid UTF-8 and holds no U+FFFD is written as it is
 *     (every ordinary name, so ids stay what they always were);
 *   - otherwise every byte that is not part of a well-formed UTF-8
 *     character, and each of the three bytes EF BF BD of a U+FFFD already
 *     in the name, becomes U+FFFD followed by the byte in two upper-case
 *     hex digits ("caf\xE9" -> "caf\uFFFDE9"); the rest is kept.
 *
 * U+FFFD is the escape character because it is the one no ordinary name
 * holds (it is what a mangled name shows), so escaping it too costs nobody
 * an id, and an escaped name always holds a U+FFFD while an unescaped one
 * never does: the two forms cannot collide, and every U+FFFD in an escaped
 * name starts exactly one escape. */
#ifndef DP_NAMES_H
#define DP_NAMES_H

#include <json-c/json.h>
#include <stddef.h>

#include "buf.h"

/* 1 when the name is written escaped (it is not UTF-8, or holds U+FFFD). */
int dpi_name_needs_escape(const void *name, size_t len);
/* Append the record form of a name.  Returns 0, or -1 when out's cap was
 * reached. */
int dpi_name_escape(struct dp_buf *out, const void *name, size_t len);
/* Append the bytes of a name from its record form: the string itself when it
 * holds no U+FFFD.  Returns 0, or -1 when s is not a record form (a U+FFFD
 * not followed by two upper-case hex digits) or the cap was reached. */
int dpi_name_unescape(struct dp_buf *out, const char *s, size_t len);

/* Set o[key] to the record form of a NUL-terminated name (NULL: JSON null). */
void dpi_json_set_name(json_object *o, const char *key, const char *name);
/* The bytes of a record-form name as a new NUL-terminated string; a string
 * that is not a record form is taken as it is.  NULL when out of memory. */
char *dpi_name_bytes(const char *s);

#endif
