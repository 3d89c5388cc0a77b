/* sniff.c - see sniff.h */
#include "sniff.h"

#include <stdlib.h>
#include <string.h>

#include "dplimits.h"

/* The prefix as UTF-8 when it carries a UTF-16 BOM; code points outside the
 * BMP and surrogates are not needed to find markup, so they become '?'. */
static size_t utf16_prefix(const unsigned char *p, size_t n, int big_endian, char *out,
                           size_t cap)
{
  size_t w = 0;
  for(size_t i = 2; i + 1 < n && w + 3 < cap; i += 2) {
    unsigned cp = big_endian ? (unsigned)(p[i] << 8 | p[i + 1]) : (unsigned)(p[i + 1] << 8 | p[i]);
    if(cp < 0x80) {
      out[w++] = (char)cp;
    } else if(cp < 0x800) {
      out[w++] = (char)(0xC0 | (cp >> 6));
      out[w++] = (char)(0x80 | (cp & 0x3F));
    } else if(cp >= 0xD800 && cp <= 0xDFFF) {
      out[w++] = '?';
    } else {
      out[w++] = (char)(0xE0 | (cp >> 12));
      out[w++] = (char)(0x80 | ((cp >> 6) & 0x3F));
      out[w++] = (char)(0x80 | (cp & 0x3F));
    }
  }
  return w;
}

void dpi_sniff(const struct dp_stage_ops *const *stages, const void *bytes, size_t len,
               struct dp_sniff *out)
{
  const unsigned char *p = bytes;
  size_t n = len < DP_SNIFF_PREFIX ? len : DP_SNIFF_PREFIX;
  size_t m = len < DP_SNIFF_MARKUP ? len : DP_SNIFF_MARKUP;
  char *wide = NULL;
  struct dp_peek peek = {p, n, (const char *)p, m, len, p};
  if(n >= 2 && (!memcmp(p, "\xFF\xFE", 2) || !memcmp(p, "\xFE\xFF", 2)) &&
     !(n >= 4 && !memcmp(p, "\xFF\xFE\0\0", 4))) {
    /* Each UTF-16 unit takes at most 3 bytes of UTF-8. */
    wide = malloc(m / 2 * 3 + 4);
    peek.text = wide ? wide : "";
    peek.text_len = wide ? utf16_prefix(p, m, p[0] == 0xFE, wide, m / 2 * 3 + 4) : 0;
  } else if(n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3)) {
    peek.text = (const char *)p + 3;
    peek.text_len = m - 3;
  }

  out->ops = NULL;
  out->format = "unknown";
  out->mime = "application/octet-stream";
  out->score = 0;
  for(const struct dp_stage_ops *const *s = stages; *s && len; s++) {
    if(!(*s)->bid)
      continue;
    const char *mime = NULL;
    int score = (*s)->bid(&peek, &mime);
    if(score > out->score) {
      out->ops = *s;
      out->format = (*s)->format;
      out->mime = mime ? mime : (*s)->mime;
      out->score = score;
    }
  }
  free(wide);
}

void dpi_sniff_record(const struct dp_stage_ops *const *stages, struct dp_record *rec)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  struct dp_sniff s;
  dpi_sniff(stages, body, len, &s);
  dpi_record_set_str(rec, "format", s.format);
  dpi_json_set_str(dpi_record_object(rec, "source"), "contentType", s.mime);
}

const struct dp_stage_ops *dpi_extractor_for(const struct dp_stage_ops *const *stages,
                                             const char *format)
{
  for(const struct dp_stage_ops *const *s = stages; *s; s++)
    if((*s)->format && !strcmp((*s)->format, format))
      return *s;
  return NULL;
}
