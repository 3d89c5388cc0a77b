/* text.c - the plain-text extractor, and the fallback of the sniff.
 *
 * Plain text arrives in any charset: UTF-8 (with or without a byte order
 * mark, sometimes with a stray byte), UTF-16/32 with or without a BOM, and
 * the legacy charsets of older systems (Windows-125x, ISO-8859-x, KOI8-R,
 * CP866, Shift_JIS, EUC-JP, GB18030...).  charset.h decides which from the
 * bytes; the text is converted to UTF-8 (without the BOM) and line endings
 * become "\n", whatever the source used (CRLF from Windows, a lone CR from
 * old Macs and from HL7-ish exports).  meta.charset says what was used, so
 * a wrong guess can be spotted downstream.
 *
 * The bid is deliberately the lowest in docpipe (1): every specific format
 * outbids it, and it only says "this looks like text at all", so that binary
 * data ends as "unknown" rather than as a page of mojibake. */
#include <string.h>

#include "charset.h"
#include "dplimits.h"
#include "extract.h"
#include "registry.h"
#include "textconv.h"

/* C0 control characters that real text files carry: tab, newline, carriage
 * return, form feed (page breaks in printed reports) and escape (printer
 * control sequences in old report dumps). */
static int text_control(unsigned char c)
{
  return c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0x1B;
}

/* Text, in any 8-bit or multi-byte charset, hardly ever holds other control
 * characters; binary data is full of them (one byte in eight of random
 * data).  A window passes with at most 1 % of them. */
static int window_is_text(const unsigned char *p, size_t n)
{
  size_t controls = 0;
  for(size_t i = 0; i < n; i++)
    if(p[i] < 0x20 && !text_control(p[i]))
      controls++;
  return controls * 100 <= n;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  const unsigned char *p = peek->bytes;
  size_t n = peek->len;
  (void)mime;
  if(n == 0)
    return 0;
  /* UTF-16 and UTF-32 text is full of NUL bytes; its BOM vouches for it. */
  if(n >= 2 && (!memcmp(p, "\xFF\xFE", 2) || !memcmp(p, "\xFE\xFF", 2)))
    return 1;
  if(n >= 4 && !memcmp(p, "\0\0\xFE\xFF", 4))
    return 1;
  if(memchr(p, '\0', n))
    return dpi_charset_wide(p, n) ? 1 : 0;
  if(!window_is_text(p, n))
    return 0;
  /* A binary file may open with a page of text (FITS headers, a PostScript
   * prologue, tar headers): windows spread over the whole document must
   * pass too.  Small documents are read whole. */
  if(!peek->all || peek->total <= n)
    return 1;
  const unsigned char *all = peek->all;
  size_t total = peek->total, w = DP_SNIFF_PREFIX;
  size_t windows = total <= DP_TEXT_SAMPLE_WINDOWS * w ? (total - n + w - 1) / w
                                                       : DP_TEXT_SAMPLE_WINDOWS;
  for(size_t k = 1; k <= windows; k++) {
    size_t at = total <= DP_TEXT_SAMPLE_WINDOWS * w ? n + (k - 1) * w
                                                    : n + (total - n - w) / windows * k;
    size_t len = total - at < w ? total - at : w;
    if(memchr(all + at, '\0', len) || !window_is_text(all + at, len))
      return 0;
  }
  return 1;
}

/* CRLF and lone CR become LF, in place (the text only shrinks). */
static void normalise_line_endings(struct dp_buf *text)
{
  char *s = text->mem;
  size_t n = text->len, w = 0;
  for(size_t i = 0; i < n; i++) {
    if(s[i] == '\r') {
      s[w++] = '\n';
      if(i + 1 < n && s[i + 1] == '\n')
        i++;
    } else {
      s[w++] = s[i];
    }
  }
  dpi_buf_truncate(text, w);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  struct dp_buf text;
  struct dp_charset cs;
  dpi_text_buf_init(st, &text);
  /* On failure the buffer is in its failed state (the cap was reached) and
   * dpi_extract_finish reports it. */
  if(!dpi_charset_decode(&text, body, len, NULL, &cs))
    normalise_line_endings(&text);
  dpi_json_set_str(dpi_record_object(rec, "meta"), "charset", cs.name);
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_text = {
  .name = "text",
  .summary = "plain text in any charset (UTF-8, UTF-16/32, Windows-125x, ISO-8859, CJK...)",
  .format = "text",
  .mime = "text/plain",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
