/* image.c - images: scans read by OCR (ocr.h).
 *
 * A scanned document is a document: it gets a record with format "image",
 * its image type, and the text Tesseract reads on every page (every frame
 * of a TIFF), pages separated as PDF pages are; meta.ocr says how.  What
 * Leptonica cannot decode (DICOM, a format it was built without) keeps a
 * record with empty content and meta.ocr.skipped saying why, as does every
 * image under --ocr never.  A header that claims more pixels than
 * DP_MAX_IMAGE_PIXELS is a decompression bomb: too-large, nothing decoded. */
#include <stdio.h>
#include <string.h>

#include "dplimits.h"
#include "extract.h"
#include "ocr.h"
#include "registry.h"

struct magic {
  size_t offset;
  const char *bytes;
  size_t len;
  const char *mime;
  int score; /* the bits a signature checks, more or less */
};

static const struct magic magics[] = {
  {0, "\x89PNG\r\n\x1a\n", 8, "image/png", 64},
  {0, "\xFF\xD8\xFF", 3, "image/jpeg", 24},
  {0, "GIF87a", 6, "image/gif", 48},
  {0, "GIF89a", 6, "image/gif", 48},
  {0, "II*\0", 4, "image/tiff", 32},
  {0, "MM\0*", 4, "image/tiff", 32},
  {128, "DICM", 4, "application/dicom", 32},
  {0, "\0\0\0\x0cjP  \r\n\x87\n", 12, "image/jp2", 64},
  {0, "BM", 2, "image/bmp", 0}, /* too weak on its own, see bid() */
};

/* Skip white space and '#' comments of a Netpbm header; then read a decimal
 * number.  The position after it, or 0 when there is none. */
static size_t pnm_number(const unsigned char *p, size_t len, size_t i)
{
  while(i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n' || p[i] == '#'))
    if(p[i++] == '#')
      while(i < len && p[i] != '\n')
        i++;
  size_t start = i;
  while(i < len && i - start < 9 && p[i] >= '0' && p[i] <= '9')
    i++;
  return i > start && i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n')
             ? i
             : 0;
}

/* Netpbm (PBM, PGM, PPM: what pdftoppm and scanners' tools write): "P1" to
 * "P6", then width, height and (but for bitmaps) the maximum value, each a
 * number after white space.  The whole header is checked, since "P5 " may
 * begin a line of text. */
static int is_pnm(const unsigned char *p, size_t len)
{
  if(len < 3 || p[0] != 'P' || p[1] < '1' || p[1] > '6')
    return 0;
  int numbers = p[1] == '1' || p[1] == '4' ? 2 : 3;
  size_t i = 2;
  if(!(p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
    return 0;
  for(int k = 0; k < numbers && i; k++)
    i = pnm_number(p, len, i);
  return i != 0;
}

static const struct magic *match(const unsigned char *p, size_t len)
{
  for(size_t i = 0; i < sizeof(magics) / sizeof(*magics); i++) {
    const struct magic *m = &magics[i];
    if(len >= m->offset + m->len && !memcmp(p + m->offset, m->bytes, m->len))
      return m;
  }
  if(len >= 12 && !memcmp(p, "RIFF", 4) && !memcmp(p + 8, "WEBP", 4)) {
    static const struct magic webp = {0, "RIFF", 4, "image/webp", 64};
    return &webp;
  }
  if(is_pnm(p, len)) {
    static const struct magic pnm = {0, "P", 1, "image/x-portable-anymap", 48};
    return &pnm;
  }
  return NULL;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  const struct magic *m = match(peek->bytes, peek->len);
  if(!m)
    return 0;
  if(!strcmp(m->mime, "image/bmp")) {
    /* "BM" then the file size, little endian, must match the document. */
    if(peek->len < 6)
      return 0;
    unsigned long size = (unsigned long)peek->bytes[2] | (unsigned long)peek->bytes[3] << 8 |
                         (unsigned long)peek->bytes[4] << 16 | (unsigned long)peek->bytes[5] << 24;
    if(size != peek->total)
      return 0;
    *mime = m->mime;
    return 48;
  }
  *mime = m->mime;
  return m->score;
}

static void skipped(struct dp_record *rec, const char *why)
{
  json_object *ocr = json_object_new_object();
  json_object_object_add(ocr, "skipped", json_object_new_string(why));
  json_object_object_add(dpi_record_object(rec, "meta"), "ocr", ocr);
}

/* The pages of the image read into text; DP_FAIL when the image is too
 * large to decode. */
static enum dp_status read_pages(struct dp_stage *st, struct dp_record *rec,
                                 const unsigned char *body, size_t len, struct dp_buf *text)
{
  const struct dp_context *ctx = st->ctx;
  struct dp_image_info info;
  if(dpi_image_info(body, len, &info) != 0) {
    skipped(rec, "the image cannot be decoded (Leptonica reads PNG, JPEG, TIFF, GIF, BMP, "
                 "WebP, JPEG 2000, PNM)");
    return DP_OK;
  }
  if(info.pages > ctx->max_pages) {
    dpi_record_hint(rec, "raise --max-pages to convert it");
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "image has %u pages, over the cap of %u",
                           info.pages, ctx->max_pages);
  }
  struct dp_ocr_stats stats = {0};
  char why[256];
  int rc = dpi_ocr_image(ctx->ocr_lang, body, len, ctx->max_pages, text, &stats, why,
                         sizeof(why));
  if(rc == -2) {
    dpi_ocr_stats_free(&stats);
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "image %s", why);
  }
  if(rc != 0) {
    if(!stats.pages) {
      dpi_ocr_stats_free(&stats);
      skipped(rec, why);
      return DP_OK;
    }
    /* Some pages were read: the rest is not silently missing. */
    dpi_ocr_stats_free(&stats);
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "image: %s", why);
  }
  dpi_ocr_describe(rec, &stats, ctx->ocr_lang, text->len);
  return DP_OK;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  const struct magic *m = body ? match(body, len) : NULL;
  json_object *meta = dpi_record_object(rec, "meta");
  dpi_json_set_str(meta, "imageType", m ? m->mime : "unknown");
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  if(st->ctx->ocr == DP_OCR_NEVER) {
    skipped(rec, "--ocr never");
  } else if(body && read_pages(st, rec, body, len, &text) != DP_OK) {
    dpi_buf_free(&text);
    return DP_FAIL;
  }
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_image = {
  .name = "image",
  .summary = "images (PNG, JPEG, GIF, TIFF, WebP, BMP, JPEG 2000, PNM) read by OCR; DICOM kept",
  .format = "image",
  .mime = "application/octet-stream",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .open = dpi_extract_open,
  .process = process,
};
