/* textconv.c - see textconv.h */
#include "textconv.h"

#include <errno.h>
#include <iconv.h>
#include <string.h>

int dpi_utf8_sequence(const void *data, size_t n, size_t *used)
{
  const unsigned char *p = data;
  unsigned char c = p[0];
  *used = 1;
  if(c < 0x80)
    return 1;
  int len;
  unsigned char lo = 0x80, hi = 0xBF;
  if(c >= 0xC2 && c <= 0xDF)
    len = 2;
  else if(c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if(c == 0xE0)
      lo = 0xA0; /* overlong */
    else if(c == 0xED)
      hi = 0x9F; /* surrogates */
  } else if(c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if(c == 0xF0)
      lo = 0x90;
    else if(c == 0xF4)
      hi = 0x8F;
  } else
    return 0;
  for(int i = 1; i < len; i++) {
    if((size_t)i >= n) {
      *used = n;
      return -1;
    }
    unsigned char b = p[i];
    if(b < (i == 1 ? lo : 0x80) || b > (i == 1 ? hi : 0xBF)) {
      *used = (size_t)i; /* the maximal subpart: what was well-formed so far */
      return 0;
    }
  }
  *used = (size_t)len;
  return len;
}

static int utf8_check(const void *data, size_t len, int allow_cut)
{
  const unsigned char *p = data;
  size_t i = 0;
  while(i < len) {
    if(p[i] < 0x80) {
      i++;
      continue;
    }
    size_t used;
    int n = dpi_utf8_sequence(p + i, len - i, &used);
    if(n < 0)
      return allow_cut;
    if(n == 0)
      return 0;
    i += used;
  }
  return 1;
}

int dpi_utf8_valid(const void *data, size_t len)
{
  return utf8_check(data, len, 0);
}

int dpi_utf8_valid_prefix(const void *data, size_t len)
{
  return utf8_check(data, len, 1);
}

int dpi_utf8_put(struct dp_buf *out, uint32_t cp)
{
  char s[4];
  if(cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    cp = 0xFFFD;
  if(cp < 0x80)
    return dpi_buf_addc(out, (char)cp);
  if(cp < 0x800) {
    s[0] = (char)(0xC0 | (cp >> 6));
    s[1] = (char)(0x80 | (cp & 0x3F));
    return dpi_buf_add(out, s, 2);
  }
  if(cp < 0x10000) {
    s[0] = (char)(0xE0 | (cp >> 12));
    s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    s[2] = (char)(0x80 | (cp & 0x3F));
    return dpi_buf_add(out, s, 3);
  }
  s[0] = (char)(0xF0 | (cp >> 18));
  s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  s[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  s[3] = (char)(0x80 | (cp & 0x3F));
  return dpi_buf_add(out, s, 4);
}

static const char replacement[] = "\xEF\xBF\xBD";

int dpi_utf8_sanitize(struct dp_buf *out, const void *data, size_t len)
{
  const unsigned char *p = data;
  size_t i = 0, run = 0;
  while(i < len) {
    if(p[i] < 0x80) {
      i++;
      continue;
    }
    size_t used;
    if(dpi_utf8_sequence(p + i, len - i, &used) > 0) {
      i += used;
      continue;
    }
    /* An ill-formed subpart, or a sequence cut off by the end: one U+FFFD
     * for it (Unicode's "maximal subpart" practice), the rest goes on. */
    if(dpi_buf_add(out, p + run, i - run) || dpi_buf_add(out, replacement, 3))
      return -1;
    i += used;
    run = i;
  }
  return dpi_buf_add(out, p + run, len - run);
}

int dpi_to_utf8(struct dp_buf *out, const void *data, size_t len, const char *charset)
{
  if(!strcmp(charset, "UTF-8"))
    return dpi_utf8_sanitize(out, data, len);
  iconv_t cd = iconv_open("UTF-8", charset);
  if(cd == (iconv_t)-1)
    return -1;
  char *in = (char *)data;
  size_t left = len;
  int rc = 0;
  while(left > 0) {
    size_t room = left * 4 + 16;
    char *w = dpi_buf_reserve(out, room);
    if(!w) {
      rc = -1;
      break;
    }
    char *wp = w;
    size_t wleft = room;
    size_t r = iconv(cd, &in, &left, &wp, &wleft);
    dpi_buf_commit(out, (size_t)(wp - w));
    if(r == (size_t)-1) {
      if(errno == E2BIG)
        continue;
      /* EILSEQ or EINVAL (cut off): replace one unit and go on.  A UTF-16
       * unit is two bytes, a UTF-32 one four. */
      size_t unit = strstr(charset, "32") ? 4 : strstr(charset, "16") ? 2 : 1;
      if(unit > left)
        unit = left;
      in += unit;
      left -= unit;
      if(dpi_buf_add(out, replacement, 3)) {
        rc = -1;
        break;
      }
      iconv(cd, NULL, NULL, NULL, NULL);
    }
  }
  iconv_close(cd);
  return rc || dpi_buf_failed(out) ? -1 : 0;
}

/* The control characters no content keeps: C0 but tab, newline, CR and form
 * feed; DEL; C1 (U+0080-U+009F, UTF-8 C2 80-9F; C2 is never a continuation
 * byte, so this is safe on any bytes).  Returns their length at s, or 0. */
static size_t control_at(const unsigned char *s, size_t n)
{
  if((s[0] < 0x20 && s[0] != '\t' && s[0] != '\n' && s[0] != '\r' && s[0] != '\f') ||
     s[0] == 0x7F)
    return 1;
  return s[0] == 0xC2 && n > 1 && s[1] <= 0x9F ? 2 : 0;
}

static int is_space_byte(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

/* Remove control characters in place; returns the new length.  A run of
 * them between two words becomes one space: PDFs with broken font maps use
 * control codes as the space glyph ("Overview\x02of\x02the"), and dropping
 * them would run the words together.  With lines, CR, CRLF, FF and VT also
 * become "\n". */
static size_t controls_pass(char *text, size_t n, int lines)
{
  unsigned char *s = (unsigned char *)text;
  /* Bytes that may need work: every C0 but tab and newline (CR and FF are
   * kept without lines), DEL, and the C1 lead byte C2.  Most text has none
   * but its line ends: it is scanned with one table look-up a byte and left
   * as it is, unwritten. */
  static const unsigned char suspect[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x0B] = 1, [0x0C] = 1, [0x0D] = 1, [0x0E] = 1, [0x0F] = 1,
    [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1,
    [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1A] = 1, [0x1B] = 1, [0x1C] = 1, [0x1D] = 1,
    [0x1E] = 1, [0x1F] = 1, [0x7F] = 1, [0xC2] = 1,
  };
  size_t w = 0;
  for(; w < n; w++) {
    if(!suspect[s[w]])
      continue;
    if(!lines && (s[w] == '\r' || s[w] == '\f'))
      continue;
    if(s[w] == 0xC2 && (w + 1 >= n || s[w + 1] > 0x9F))
      continue;
    break;
  }
  int gap = 0;
  for(size_t i = w; i < n; i++) {
    size_t k = control_at(s + i, n - i);
    if(k && !(lines && s[i] == '\v')) {
      gap = 1;
      i += k - 1;
      continue;
    }
    unsigned char c = s[i];
    if(gap && w && !is_space_byte(s[w - 1]) && !is_space_byte(c) && c != '\v')
      s[w++] = ' ';
    gap = 0;
    if(lines && c == '\r') {
      s[w++] = '\n';
      if(i + 1 < n && s[i + 1] == '\n')
        i++;
    } else if(lines && (c == '\f' || c == '\v')) {
      s[w++] = '\n';
    } else {
      s[w++] = c;
    }
  }
  return w;
}

void dpi_text_drop_controls(struct dp_buf *text)
{
  if(text->mem)
    dpi_buf_truncate(text, controls_pass(text->mem, text->len, 0));
}

/* Append one line without its trailing blanks. */
/* Length of line s[0, n) without its trailing blanks (spaces, tabs, U+00A0:
 * a Word page's empty paragraphs are a lone &nbsp;). */
static size_t trimmed(const char *s, size_t n)
{
  for(;;) {
    if(n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
      n--;
    else if(n >= 2 && s[n - 2] == '\xC2' && s[n - 1] == '\xA0')
      n -= 2;
    else
      return n;
  }
}

int dpi_text_clean(struct dp_buf *out, const char *text, size_t len)
{
  struct dp_buf tmp;
  dpi_buf_init(&tmp, out->max);
  /* First pass: valid UTF-8, "\n" endings, controls dropped. */
  if(dpi_utf8_sanitize(&tmp, text, len)) {
    dpi_buf_free(&tmp);
    return -1;
  }
  char *s = tmp.mem ? tmp.mem : "";
  size_t w = controls_pass(s, tmp.len, 1);
  /* Second pass: lines without trailing blanks, blank runs squeezed. */
  size_t start = 0, blank_run = 0;
  int wrote = 0, rc = 0;
  for(size_t i = 0; i <= w && !rc; i++) {
    if(i < w && s[i] != '\n')
      continue;
    size_t ll = i - start;
    const char *line = s + start;
    size_t k = trimmed(line, ll);
    if(k == 0) {
      blank_run++;
    } else {
      if(wrote)
        rc |= dpi_buf_add(out, blank_run ? "\n\n" : "\n", blank_run ? 2 : 1);
      rc |= dpi_buf_add(out, line, k);
      wrote = 1;
      blank_run = 0;
    }
    start = i + 1;
  }
  dpi_buf_free(&tmp);
  return rc || dpi_buf_failed(out) ? -1 : 0;
}

int dpi_text_squeeze(struct dp_buf *out, const char *text, size_t len)
{
  const unsigned char *p = (const unsigned char *)text;
  int pending = 0, any = 0;
  for(size_t i = 0; i < len; i++) {
    int space = p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r' || p[i] == '\f' ||
                p[i] == '\v';
    if(!space && p[i] == 0xC2 && i + 1 < len && p[i + 1] == 0xA0) {
      space = 1;
      i++;
    }
    if(space) {
      pending = any;
      continue;
    }
    if(pending && dpi_buf_addc(out, ' '))
      return -1;
    pending = 0;
    any = 1;
    if(dpi_buf_addc(out, (char)p[i]))
      return -1;
  }
  return 0;
}

/* A clean copy of a string value, or NULL when it is clean already. */
static json_object *clean_string(json_object *v)
{
  const char *s = json_object_get_string(v);
  size_t n = (size_t)json_object_get_string_len(v);
  if(!memchr(s, '\0', n) && dpi_utf8_valid(s, n))
    return NULL;
  struct dp_buf b;
  dpi_buf_init(&b, n * 3 + 16);
  dpi_utf8_sanitize(&b, s, n);
  size_t w = 0;
  for(size_t i = 0; i < b.len; i++)
    if(b.mem[i])
      b.mem[w++] = b.mem[i];
  json_object *clean = json_object_new_string_len(dpi_buf_str(&b), (int)w);
  dpi_buf_free(&b);
  return clean;
}

void dpi_json_clean_strings(json_object *o)
{
  if(json_object_is_type(o, json_type_object)) {
    json_object_object_foreach(o, key, value)
    {
      json_object *clean = value && json_object_is_type(value, json_type_string)
                               ? clean_string(value) : NULL;
      if(clean)
        json_object_object_add(o, key, clean);
      else if(value)
        dpi_json_clean_strings(value);
    }
  } else if(json_object_is_type(o, json_type_array)) {
    size_t n = json_object_array_length(o);
    for(size_t i = 0; i < n; i++) {
      json_object *v = json_object_array_get_idx(o, i);
      json_object *clean = v && json_object_is_type(v, json_type_string) ? clean_string(v) : NULL;
      if(clean)
        json_object_array_put_idx(o, i, clean);
      else if(v)
        dpi_json_clean_strings(v);
    }
  }
}
