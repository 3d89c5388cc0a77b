/* image.c - images: recognised, kept, not read.
 *
 * A scanned document is still a document: it gets a record with format
 * "image", empty content and its image type, not an error.  (OCR is out of
 * scope; the record tells an indexer the document exists.) */
#include <string.h>

#include "extract.h"
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

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  const struct magic *m = body ? match(body, len) : NULL;
  json_object *meta = dpi_record_object(rec, "meta");
  dpi_json_set_str(meta, "imageType", m ? m->mime : "unknown");
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_image = {
  .name = "image",
  .summary = "images (PNG, JPEG, GIF, TIFF, DICOM, JPEG 2000, WebP, BMP): a record, no text",
  .format = "image",
  .mime = "application/octet-stream",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
