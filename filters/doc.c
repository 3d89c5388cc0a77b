/* doc.c - text of Word 97-2003 documents (.doc), from the piece table.
 *
 * libwv (wvWare) was the Debian library for this, and is not used: it prints
 * to stdout (docpipe's record stream), calls exit() and abort() on broken
 * files, keeps its state in globals, and has had no release since 2014.
 * The text of a Word 97 file is simple to reach without it, with libgsf for
 * the OLE2 container ([MS-DOC] 2.4.1, "Retrieving Text"):
 *
 *   - the FIB at the start of the WordDocument stream says which table
 *     stream holds the piece table (fWhichTblStm: 1Table or 0Table), where
 *     (fcClx, lcbClx), whether the file is encrypted (fEncrypted), and how
 *     many characters each story has (ccpText, ccpFtn, ccpHdd, ccpAtn,
 *     ccpEdn, ccpTxbx, ccpHdrTxbx);
 *   - the CLX is a run of Prc (property modifiers, skipped) then one Pcdt,
 *     whose PlcPcd maps character positions to pieces: each piece is either
 *     UTF-16LE at fc or, with fCompressed (bit 30), 8-bit Windows-1252 text
 *     at fc / 2 in the WordDocument stream.
 *
 * The stories come in character-position order: main text, footnotes,
 * headers and footers, comments, endnotes, text boxes.  Special characters:
 * 0x0D (paragraph), 0x0B (line break), 0x0C (page or section break) and 0x0E
 * (column break) end a line; 0x07 ends a table cell (" | " before the next
 * cell) and, right after another, a row (a newline); fields 0x13 code 0x14
 * result 0x15 keep only their result, nested fields too; 0x1E is a hyphen,
 * 0x1F (optional hyphen) and the anchors of pictures, footnotes and comments
 * (0x01 0x02 0x05 0x08) are dropped.
 *
 * Word 6 and Word 95 files (nFib below 101) without fast saves keep their
 * text as one Windows-1252 run between fcMin and fcMac; fast-saved ones are
 * unsupported.  An encrypted file is `encrypted`; pieces or a CLX outside
 * their streams are `damaged`. */
#include <stdint.h>
#include <string.h>

#include "dplimits.h"
#include "ole2read.h"
#include "registry.h"
#include "textconv.h"

#define FIB_IDENT 0xA5EC
#define FIB_MIN_WORD97 101
#define FIB_FLAGS 0x0A
#define FIB_ENCRYPTED 0x0100
#define FIB_TABLE1 0x0200
#define FIB_COMPLEX 0x0004
#define FIB_FCMIN 0x18
#define FIB_FCMAC 0x1C
#define FIB_CCP_TEXT 0x4C
#define FIB_CCP_LAST 0x68 /* ccpHdrTxbx */
#define FIB_FCCLX 0x01A2
#define FIB_LCBCLX 0x01A6
#define PCD_COMPRESSED 0x40000000UL
#define DOC_MAX_FIELDS 64

/* Windows-1252 for 0x80..0x9F (the rest of the 8-bit pieces is Latin-1). */
static const uint16_t cp1252_high[32] = {
  0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
  0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
  0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178};

struct doc_text {
  struct dp_buf *out;
  int field_code[DOC_MAX_FIELDS]; /* per open field: still in its code */
  int fields;                     /* open fields (more than the cap are not tracked) */
  int in_code;                    /* open fields still in their code */
  int cell;                       /* a cell ended: " | " before more text */
  int last_cell;                  /* the last character was a cell mark */
  uint32_t high;                  /* a high surrogate waiting for its low half */
};

static void field_char(struct doc_text *d, uint32_t c)
{
  if(c == 0x13) {
    if(d->fields < DOC_MAX_FIELDS) {
      d->field_code[d->fields] = 1;
      d->in_code++;
    }
    d->fields++;
  } else if(c == 0x14) {
    if(d->fields && d->fields <= DOC_MAX_FIELDS && d->field_code[d->fields - 1]) {
      d->field_code[d->fields - 1] = 0;
      d->in_code--;
    }
  } else if(d->fields) { /* 0x15 */
    d->fields--;
    if(d->fields < DOC_MAX_FIELDS && d->field_code[d->fields])
      d->in_code--;
  }
}

static void put_char(struct doc_text *d, uint32_t c)
{
  if(c == 0x13 || c == 0x14 || c == 0x15) {
    field_char(d, c);
    return;
  }
  if(d->in_code)
    return;
  int was_cell = d->last_cell;
  d->last_cell = c == 0x07;
  switch(c) {
  case 0x07:
    if(was_cell) { /* the row's own mark, after its last cell's */
      d->cell = 0;
      d->last_cell = 0;
      dpi_buf_addc(d->out, '\n');
    } else {
      d->cell = 1;
    }
    return;
  case 0x0D:
  case 0x0B:
  case 0x0C:
  case 0x0E:
    d->cell = 0;
    dpi_buf_addc(d->out, '\n');
    return;
  case 0x1E:
    c = '-';
    break;
  case 0x09:
    break;
  default:
    if(c < 0x20)
      return; /* anchors of pictures, notes, comments; optional hyphens */
  }
  if(d->cell) {
    dpi_buf_adds(d->out, " | ");
    d->cell = 0;
  }
  dpi_utf8_put(d->out, c);
}

static void put_unit(struct doc_text *d, uint32_t u)
{
  if(d->high) {
    uint32_t hi = d->high;
    d->high = 0;
    if(u >= 0xDC00 && u <= 0xDFFF) {
      put_char(d, 0x10000 + ((hi - 0xD800) << 10) + (u - 0xDC00));
      return;
    }
    put_char(d, 0xFFFD);
  }
  if(u >= 0xD800 && u <= 0xDBFF)
    d->high = u;
  else
    put_char(d, u);
}

static void put_8bit(struct doc_text *d, const unsigned char *p, size_t n)
{
  for(size_t i = 0; i < n; i++)
    put_unit(d, p[i] >= 0x80 && p[i] < 0xA0 ? cp1252_high[p[i] - 0x80] : p[i]);
}

/* The characters of the piece [cp, cp + n) stored at fc. */
static enum dp_status put_piece(struct doc_text *d, struct dp_record *rec,
                                const struct dp_buf *word, unsigned long fc, size_t n,
                                size_t index)
{
  const unsigned char *w = (const unsigned char *)word->mem;
  int compressed = (fc & PCD_COMPRESSED) != 0;
  size_t off = compressed ? (fc & ~PCD_COMPRESSED) / 2 : fc;
  size_t bytes = compressed ? n : 2 * n;
  if(off > word->len || word->len - off < bytes)
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "Word piece %zu lies past the end of the WordDocument stream "
                           "(%zu bytes)", index, word->len);
  if(compressed)
    put_8bit(d, w + off, n);
  else
    for(size_t i = 0; i < n; i++)
      put_unit(d, dpi_le16(w, word->len, off + 2 * i));
  return DP_OK;
}

/* The PlcPcd of the CLX at [at, at + lcb) of the table stream. */
static enum dp_status read_clx(struct doc_text *d, struct dp_record *rec,
                               const struct dp_buf *word, const struct dp_buf *table,
                               size_t at, size_t lcb, unsigned long total)
{
  const unsigned char *t = (const unsigned char *)table->mem;
  if(at > table->len || table->len - at < lcb)
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "Word piece table (fcClx %zu, lcbClx %zu) lies outside its table "
                           "stream (%zu bytes)", at, lcb, table->len);
  size_t end = at + lcb;
  while(at < end && t[at] == 0x01) /* Prc: property modifiers */
    at += 3 + dpi_le16(t, end, at + 1);
  if(at >= end || t[at] != 0x02 || end - at < 5)
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "Word piece table has no Pcdt");
  size_t plc_len = dpi_le32(t, end, at + 1), plc = at + 5;
  if(plc_len > end - plc || plc_len < 16 || (plc_len - 4) % 12)
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "Word piece table has a PlcPcd of %zu bytes",
                           plc_len);
  size_t n = (plc_len - 4) / 12;
  if(n > DP_DOC_MAX_PIECES)
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "Word piece table has more than %d pieces",
                           DP_DOC_MAX_PIECES);
  for(size_t i = 0; i < n && !dpi_buf_failed(d->out); i++) {
    unsigned long cp0 = dpi_le32(t, end, plc + 4 * i);
    unsigned long cp1 = dpi_le32(t, end, plc + 4 * (i + 1));
    if(cp1 > total)
      cp1 = total;
    if(cp0 >= cp1)
      continue;
    unsigned long fc = dpi_le32(t, end, plc + 4 * (n + 1) + 8 * i + 2);
    if(put_piece(d, rec, word, fc, cp1 - cp0, i))
      return DP_FAIL;
  }
  return DP_OK;
}

/* Word 6 and 95: one Windows-1252 run, unless the file was fast-saved. */
static enum dp_status read_word6(struct doc_text *d, struct dp_record *rec,
                                 const struct dp_buf *word, unsigned flags, unsigned nfib)
{
  const unsigned char *w = (const unsigned char *)word->mem;
  if(flags & FIB_COMPLEX)
    return dpi_record_fail(rec, DP_KIND_UNSUPPORTED,
                           "fast-saved Word 6/95 document (nFib %u) is not supported", nfib);
  size_t lo = dpi_le32(w, word->len, FIB_FCMIN), hi = dpi_le32(w, word->len, FIB_FCMAC);
  if(lo > hi || hi > word->len)
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "Word 6/95 text (%zu..%zu) lies outside the WordDocument stream",
                           lo, hi);
  put_8bit(d, w + lo, hi - lo);
  return DP_OK;
}

/* The sum of the story lengths: the character positions that hold text. */
static unsigned long story_total(const struct dp_buf *word)
{
  unsigned long total = 0;
  for(size_t at = FIB_CCP_TEXT; at <= FIB_CCP_LAST; at += 4) {
    unsigned long n = dpi_le32((const unsigned char *)word->mem, word->len, at);
    total = n > 0x7FFFFFFFUL - total ? 0x7FFFFFFFUL : total + n;
  }
  return total;
}

static enum dp_status read_word97(struct doc_text *d, const struct dp_stage *st,
                                  struct dp_record *rec, GsfInfile *root,
                                  const struct dp_buf *word, unsigned flags)
{
  const unsigned char *w = (const unsigned char *)word->mem;
  const char *tname = flags & FIB_TABLE1 ? "1Table" : "0Table";
  if(word->len < FIB_LCBCLX + 4)
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "Word FIB is cut short (%zu bytes)",
                           word->len);
  struct dp_buf table;
  dpi_buf_init(&table, st->ctx->max_document);
  enum dp_ole2_read rc = dpi_ole2_read(root, tname, st->ctx->max_document, &table);
  enum dp_status status;
  if(rc != DP_OLE2_READ_OK)
    status = dpi_ole2_read_fail(rec, tname, rc, st->ctx->max_document);
  else
    status = read_clx(d, rec, word, &table, dpi_le32(w, word->len, FIB_FCCLX),
                      dpi_le32(w, word->len, FIB_LCBCLX), story_total(word));
  dpi_buf_free(&table);
  return status;
}

static enum dp_status read_doc(const struct dp_stage *st, struct dp_record *rec,
                               GsfInfile *root, struct dp_buf *text)
{
  struct dp_buf word;
  dpi_buf_init(&word, st->ctx->max_document);
  enum dp_ole2_read rc = dpi_ole2_read(root, "WordDocument", st->ctx->max_document, &word);
  if(rc != DP_OLE2_READ_OK) {
    dpi_buf_free(&word);
    return dpi_ole2_read_fail(rec, "WordDocument", rc, st->ctx->max_document);
  }
  const unsigned char *w = (const unsigned char *)word.mem;
  unsigned ident = dpi_le16(w, word.len, 0), nfib = dpi_le16(w, word.len, 2);
  unsigned flags = dpi_le16(w, word.len, FIB_FLAGS);
  struct doc_text d = {.out = text};
  enum dp_status status;
  if(word.len < FIB_CCP_LAST + 4 || ident != FIB_IDENT)
    status = dpi_record_fail(rec, DP_KIND_DAMAGED, "WordDocument stream has no Word FIB");
  else if(flags & FIB_ENCRYPTED)
    status = dpi_record_fail(rec, DP_KIND_ENCRYPTED, "Word document is encrypted");
  else if(nfib < FIB_MIN_WORD97)
    status = read_word6(&d, rec, &word, flags, nfib);
  else
    status = read_word97(&d, st, rec, root, &word, flags);
  dpi_buf_free(&word);
  return status;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return dpi_ole2_bid(peek, DP_OLE2_DOC);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  return dpi_ole2_process(st, rec, out, read_doc);
}

const struct dp_stage_ops dp_stage_doc = {
  .name = "doc",
  .summary = "Word 97-2003 documents (.doc): the text of the piece table",
  .format = "doc",
  .mime = "application/msword",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
