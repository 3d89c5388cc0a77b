/* charset.h - deciding the character set of a document, once, from its bytes.
 *
 * Every extractor of text-like formats (plain text, HTML, HL7 v2, RTF code
 * pages) asks here, so all of them decide the same way:
 *
 *   1. a byte order mark (UTF-8, UTF-16, UTF-32) settles it;
 *   2. UTF-16/32 without a BOM is recognised by the structure of its code
 *      units (dpi_charset_wide), not by language statistics;
 *   3. bytes that are UTF-8 are UTF-8, even when a stray byte or a cut last
 *      character spoils them: those cost one U+FFFD each, not the document.
 *      A declaration that says otherwise is wrong (Latin-1 text is never
 *      full of valid multi-byte sequences);
 *   4. what the format declares (HTML <meta charset>, the XML declaration,
 *      RTF \ansicpg, HL7 MSH-18), when iconv knows it;
 *   5. otherwise the detectors: uchardet (the reference for plain text, and
 *      the one that knows CP866, Windows-1250 and the CJK charsets), then
 *      ICU's ucsdet; Windows-1252 when neither has an answer.
 *
 * (ICU's own UTF-16 recogniser only knows text that is mostly Latin: it
 * misses Cyrillic and CJK without a BOM, hence step 2.)
 *
 * The result is an iconv name, and it is what meta.charset reports. */
#ifndef DP_CHARSET_H
#define DP_CHARSET_H

#include <stddef.h>

#include "buf.h"

struct dp_charset {
  char name[32]; /* iconv name of the charset used: "UTF-8", "WINDOWS-1250", "CP932" */
  size_t bom;    /* length of the byte order mark at the start, to skip */
  const char *how; /* "bom", "utf-8", "declared" or "detected" (for messages and tests) */
};

/* Decide the charset of a whole document.  declared is the charset the
 * document itself names (any spelling iconv or the WHATWG labels know:
 * "iso-8859-2", "latin1", "cp1250", "x-sjis"...), or NULL. */
void dpi_charset_decide(const void *data, size_t len, const char *declared,
                        struct dp_charset *cs);

/* Decide as above, then append the document without its BOM as UTF-8 to out:
 * bytes that do not convert cost one U+FFFD each.  Returns 0, or -1 when
 * out reached its cap (out is then in its failed state). */
int dpi_charset_decode(struct dp_buf *out, const void *data, size_t len, const char *declared,
                       struct dp_charset *cs);

/* UTF-16 or UTF-32 without a byte order mark, judged from the code units:
 * nearly all of them text characters in one byte order (surrogates paired),
 * and for UTF-16 the NUL bytes where its ASCII characters put them.
 * "UTF-16LE", "UTF-16BE", "UTF-32LE", "UTF-32BE", or NULL.  Pure (the text
 * bidder calls it). */
const char *dpi_charset_wide(const void *data, size_t len);

/* The second half of dpi_charset_decode, for callers that looked at the
 * decision first (to skip a copy of text that is UTF-8 already). */
int dpi_charset_convert(struct dp_buf *out, const void *data, size_t len, struct dp_charset *cs);

/* The iconv name for a charset label, written into name (cap bytes): WHATWG
 * and IANA aliases are folded ("latin1" -> "WINDOWS-1252" as browsers read
 * it, "x-sjis" -> "CP932"), and the result is one iconv can open.
 * Returns 0 for a label nobody knows. */
int dpi_charset_canonical(const char *label, char *name, size_t cap);

#endif
