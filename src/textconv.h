/* textconv.h - UTF-8, conversion to it (iconv), and text clean-up.
 *
 * Every extractor produces UTF-8.  Which charset a document is in is decided
 * by charset.h; the conversion and the checks of UTF-8 are here. */
#ifndef DP_TEXTCONV_H
#define DP_TEXTCONV_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "buf.h"

/* The UTF-8 sequence at data (n >= 1 bytes available): its length when it
 * is well-formed; 0 when it is not, with *used the length of its maximal
 * ill-formed subpart (at least 1); -1 when the data ends inside it, with
 * *used = n. */
int dpi_utf8_sequence(const void *data, size_t n, size_t *used);
/* 1 when data is well-formed UTF-8 (no overlongs, no surrogates). */
int dpi_utf8_valid(const void *data, size_t len);
/* Like dpi_utf8_valid, but an incomplete sequence cut off at the very end is
 * accepted (for prefixes). */
int dpi_utf8_valid_prefix(const void *data, size_t len);
/* Append the UTF-8 form of a code point (invalid ones become U+FFFD). */
int dpi_utf8_put(struct dp_buf *out, uint32_t cp);
/* Append data, replacing every ill-formed subpart (and a sequence cut off at
 * the end) with one U+FFFD. */
int dpi_utf8_sanitize(struct dp_buf *out, const void *data, size_t len);

/* Append data converted from `charset` (an iconv name) to UTF-8; bytes that
 * do not convert become U+FFFD.  Returns 0, or -1 when the charset is
 * unknown or the buffer's cap was reached. */
int dpi_to_utf8(struct dp_buf *out, const void *data, size_t len, const char *charset);

/* The clean form of extracted text written to records: valid UTF-8, "\n"
 * line endings, no control characters but tab and newline (no C1 controls
 * either), no trailing
 * blanks on a line, at most one empty line in a row, no leading or trailing
 * empty lines. */
int dpi_text_clean(struct dp_buf *out, const char *text, size_t len);

/* Remove, in place, the control characters no content may hold: C0 controls
 * but tab, newline, carriage return and form feed, DEL, and the C1 controls
 * U+0080-U+009F (which reach text from PDFs with broken font maps and from
 * ISO-8859 text).  A run of them between two words leaves one space. */
void dpi_text_drop_controls(struct dp_buf *text);

/* Collapse runs of white space (ASCII and U+00A0) to one space and trim;
 * used for short values such as titles and table cells. */
int dpi_text_squeeze(struct dp_buf *out, const char *text, size_t len);

/* Make every string inside a JSON value valid UTF-8 without NUL bytes (an
 * input may carry either in any field, and the output contract promises
 * valid UTF-8 everywhere). */
void dpi_json_clean_strings(json_object *o);

#endif
