/* ppt.c - text of PowerPoint 97-2003 presentations (.ppt).
 *
 * The "PowerPoint Document" stream is a tree of records ([MS-PPT] 2.3.1):
 * an 8-byte header (version and instance in 16 bits, a 16-bit type, a
 * 32-bit length), containers having version 0xF and records inside.  The
 * text is in TextCharsAtom (UTF-16LE) and TextBytesAtom (8-bit, the low
 * bytes of UTF-16) records: those of the slides' outline placeholders in the
 * document's SlideListWithText, in slide order, the rest (text boxes,
 * shapes, tables) in each slide's drawing, and speaker notes in the notes
 * slides.  The walk takes them in stream order, one line per paragraph
 * (paragraphs end in CR, line breaks are VT), a blank line after each text
 * block.  Master slides, the master's SlideListWithText and handouts hold
 * only the layout's sample text ("Click to edit Master title style") and are
 * skipped, as LibreOffice leaves them out of what it shows; so is a text
 * that is only "*", the placeholder of a slide number.
 *
 * An encrypted presentation (a CryptSession10Container, or the
 * EncryptedSummary stream of PowerPoint 2003) is `encrypted`; a record that
 * says it is longer than its container is where the walk stops, and a
 * stream in which no text could be read because of that is `damaged`. */
#include <stdint.h>

#include "dplimits.h"
#include "ole2read.h"
#include "registry.h"
#include "textconv.h"

enum {
  PPT_MAIN_MASTER = 0x03F8,
  PPT_SLIDE_LIST = 0x0FF0,
  PPT_TEXT_CHARS = 0x0FA0,
  PPT_TEXT_BYTES = 0x0FA8,
  PPT_HANDOUT = 0x0FC9,
  PPT_CRYPT_SESSION = 0x2F14
};

struct ppt {
  struct dp_record *rec;
  const unsigned char *s;
  size_t len;
  struct dp_buf *text;
  int cut;       /* a record ran past its container */
  int encrypted;
};

static void put_text(struct ppt *p, size_t at, size_t n, int wide)
{
  uint32_t high = 0;
  size_t count = wide ? n / 2 : n;
  /* A lone "*" is the placeholder of a slide number field. */
  if(count == 1 && (wide ? dpi_le16(p->s, p->len, at) : p->s[at]) == '*')
    return;
  for(size_t i = 0; i < count; i++) {
    uint32_t u = wide ? dpi_le16(p->s, p->len, at + 2 * i) : p->s[at + i];
    if(high && u >= 0xDC00 && u <= 0xDFFF) {
      dpi_utf8_put(p->text, 0x10000 + ((high - 0xD800) << 10) + (u - 0xDC00));
      high = 0;
      continue;
    }
    if(high)
      dpi_utf8_put(p->text, 0xFFFD);
    high = 0;
    if(u >= 0xD800 && u <= 0xDBFF)
      high = u;
    else if(u == 0x0D || u == 0x0B)
      dpi_buf_addc(p->text, '\n');
    else if(u == 0x09 || u >= 0x20)
      dpi_utf8_put(p->text, u);
  }
  if(high)
    dpi_utf8_put(p->text, 0xFFFD);
  dpi_buf_adds(p->text, "\n\n");
}

/* The records in [at, end). */
static void walk(struct ppt *p, size_t at, size_t end, int depth)
{
  while(end - at >= 8 && !dpi_buf_failed(p->text) && !p->encrypted) {
    unsigned vi = dpi_le16(p->s, end, at), type = dpi_le16(p->s, end, at + 2);
    size_t n = dpi_le32(p->s, end, at + 4), body = at + 8;
    if(n > end - body) {
      p->cut = 1;
      return;
    }
    if(type == PPT_CRYPT_SESSION) {
      p->encrypted = 1;
      return;
    }
    int skip = type == PPT_MAIN_MASTER || type == PPT_HANDOUT ||
               (type == PPT_SLIDE_LIST && (vi >> 4) == 1);
    if(type == PPT_TEXT_CHARS || type == PPT_TEXT_BYTES)
      put_text(p, body, n, type == PPT_TEXT_CHARS);
    else if((vi & 0xF) == 0xF && !skip && depth < DP_PPT_MAX_NESTING)
      walk(p, body, body + n, depth + 1);
    at = body + n;
  }
}

static enum dp_status read_ppt(const struct dp_stage *st, struct dp_record *rec,
                               GsfInfile *root, struct dp_buf *text)
{
  GsfInput *crypt = gsf_infile_child_by_name(root, "EncryptedSummary");
  if(crypt) {
    g_object_unref(crypt);
    return dpi_record_fail(rec, DP_KIND_ENCRYPTED, "PowerPoint presentation is encrypted");
  }
  struct dp_buf doc;
  dpi_buf_init(&doc, st->ctx->max_document);
  const char *name = "PowerPoint Document";
  enum dp_ole2_read rc = dpi_ole2_read(root, name, st->ctx->max_document, &doc);
  if(rc != DP_OLE2_READ_OK) {
    dpi_buf_free(&doc);
    return dpi_ole2_read_fail(rec, name, rc, st->ctx->max_document);
  }
  struct ppt p = {rec, (const unsigned char *)doc.mem, doc.len, text, 0, 0};
  walk(&p, 0, p.len, 0);
  dpi_buf_free(&doc);
  if(p.encrypted)
    return dpi_record_fail(rec, DP_KIND_ENCRYPTED, "PowerPoint presentation is encrypted");
  if(p.cut && !text->len)
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "PowerPoint Document stream has a record longer than its container, "
                           "before any text");
  if(p.cut)
    dpi_record_warn(rec, "PowerPoint Document stream has a record longer than its container: "
                         "the text after it is missing");
  return DP_OK;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return dpi_ole2_bid(peek, DP_OLE2_PPT);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  return dpi_ole2_process(st, rec, out, read_ppt);
}

const struct dp_stage_ops dp_stage_ppt = {
  .name = "ppt",
  .summary = "PowerPoint 97-2003 presentations (.ppt): slide text and speaker notes",
  .format = "ppt",
  .mime = "application/vnd.ms-powerpoint",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
