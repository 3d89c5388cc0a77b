/* names.c - see names.h */
#include "names.h"

#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "textconv.h"

static const char escape_char[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the character that starts at p when it is well-formed UTF-8,
 * else 0 (the byte is escaped alone). */
static size_t char_len(const unsigned char *p, size_t n)
{
  size_t len = p[0] < 0x80 ? 1 : p[0] >= 0xC2 && p[0] <= 0xDF ? 2
             : p[0] >= 0xE0 && p[0] <= 0xEF ? 3 : p[0] >= 0xF0 && p[0] <= 0xF4 ? 4 : 0;
  return len && len <= n && dpi_utf8_valid(p, len) ? len : 0;
}

int dpi_name_needs_escape(const void *name, size_t len)
{
  const unsigned char *p = name;
  for(size_t i = 0; i < len;) {
    size_t n = char_len(p + i, len - i);
    if(!n || (n == 3 && !memcmp(p + i, escape_char, 3)))
      return 1;
    i += n;
  }
  return 0;
}

static int put_escaped(struct dp_buf *out, unsigned char byte)
{
  static const char hex[] = "0123456789ABCDEF";
  char e[5] = {escape_char[0], escape_char[1], escape_char[2], hex[byte >> 4], hex[byte & 15]};
  return dpi_buf_add(out, e, sizeof(e));
}

int dpi_name_escape(struct dp_buf *out, const void *name, size_t len)
{
  const unsigned char *p = name;
  if(!dpi_name_needs_escape(name, len))
    return dpi_buf_add(out, p, len);
  int rc = 0;
  for(size_t i = 0; i < len && !rc;) {
    size_t n = char_len(p + i, len - i);
    if(n == 3 && !memcmp(p + i, escape_char, 3)) {
      rc = put_escaped(out, p[i]) || put_escaped(out, p[i + 1]) || put_escaped(out, p[i + 2]);
    } else if(!n) {
      rc = put_escaped(out, p[i]);
      n = 1;
    } else {
      rc = dpi_buf_add(out, p + i, n);
    }
    i += n;
  }
  return rc || dpi_buf_failed(out) ? -1 : 0;
}

static int hex_value(char c)
{
  return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int dpi_name_unescape(struct dp_buf *out, const char *s, size_t len)
{
  size_t i = 0, run = 0;
  while(i + 3 <= len) {
    if(memcmp(s + i, escape_char, 3)) {
      i++;
      continue;
    }
    int hi = i + 5 <= len ? hex_value(s[i + 3]) : -1;
    int lo = hi >= 0 ? hex_value(s[i + 4]) : -1;
    if(lo < 0)
      return -1;
    if(dpi_buf_add(out, s + run, i - run) || dpi_buf_addc(out, (char)(hi << 4 | lo)))
      return -1;
    i += 5;
    run = i;
  }
  return dpi_buf_add(out, s + run, len - run) || dpi_buf_failed(out) ? -1 : 0;
}

void dpi_json_set_name(json_object *o, const char *key, const char *name)
{
  if(!name || !dpi_name_needs_escape(name, strlen(name))) {
    dpi_json_set_str(o, key, name);
    return;
  }
  struct dp_buf b;
  size_t n = strlen(name);
  dpi_buf_init(&b, n * 5 + 1);
  dpi_name_escape(&b, name, n);
  json_object_object_add(o, key, json_object_new_string_len(dpi_buf_str(&b), (int)b.len));
  dpi_buf_free(&b);
}

char *dpi_name_bytes(const char *s)
{
  size_t n = strlen(s);
  struct dp_buf b;
  dpi_buf_init(&b, n + 1);
  /* A NUL would cut the name short: no record form holds one. */
  if(dpi_name_unescape(&b, s, n) || memchr(dpi_buf_str(&b), '\0', b.len)) {
    dpi_buf_free(&b);
    return dpi_memdup(s, n);
  }
  char *bytes = dpi_memdup(dpi_buf_str(&b), b.len);
  dpi_buf_free(&b);
  return bytes;
}
