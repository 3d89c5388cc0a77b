/* pdfuncrop.c - see pdfuncrop.h.
 *
 * The PDF is read and written by libqpdf, which follows cross-reference
 * tables and streams, object streams and inherited page attributes the way
 * PDF readers do.  Its repair of damaged files is off: a file qpdf would
 * have to rebuild is left to poppler as it is (poppler decides whether it is
 * readable at all), and its crop box stays. */
#define _GNU_SOURCE 1 /* memmem */
#include "pdfuncrop.h"

#include <qpdf/qpdf-c.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>

/* Boxes closer than this (in points) count as equal. */
#define BOX_SLACK 0.01
/* Page-tree levels followed up from a page (a loop must end). */
#define MAX_TREE_DEPTH 64
/* Bytes of one object stream inflated to look for a crop box (more: ask qpdf). */
#define PEEK_MAX (64u << 20)

/* A page's box as [x1 y1 x2 y2] (normalised), 0 when it has none. */
static int box_of(qpdf_data q, qpdf_oh page, const char *key, double box[4])
{
  qpdf_oh a = qpdf_oh_get_key(q, page, key);
  if(!qpdf_oh_is_array(q, a) || qpdf_oh_get_array_n_items(q, a) != 4)
    return 0;
  for(int i = 0; i < 4; i++) {
    qpdf_oh n = qpdf_oh_get_array_item(q, a, i);
    if(!qpdf_oh_is_number(q, n))
      return 0;
    box[i] = qpdf_oh_get_numeric_value(q, n);
  }
  for(int i = 0; i < 2; i++)
    if(box[i] > box[i + 2]) {
      double t = box[i];
      box[i] = box[i + 2];
      box[i + 2] = t;
    }
  return 1;
}

/* A page's box as it applies to the page: its own, else the nearest
 * ancestor's in the page tree (PDF 32000-1, 7.7.3.4).  Looked up here rather
 * than with qpdf_push_inherited_attributes_to_page, which costs more than
 * the rest of the check and is only needed when something changes. */
static int page_box(qpdf_data q, qpdf_oh page, const char *key, double box[4])
{
  qpdf_oh node = page;
  for(int depth = 0; depth < MAX_TREE_DEPTH && qpdf_oh_is_dictionary(q, node); depth++) {
    if(qpdf_oh_has_key(q, node, key))
      return box_of(q, node, key, box);
    node = qpdf_oh_get_key(q, node, "/Parent");
  }
  return 0;
}

/* The crop box cuts something off the media box. */
static int crops(const double media[4], const double crop[4])
{
  return crop[0] > media[0] + BOX_SLACK || crop[1] > media[1] + BOX_SLACK ||
         crop[2] < media[2] - BOX_SLACK || crop[3] < media[3] - BOX_SLACK;
}

/* Does the Flate stream at p hold "/CropBox"?  1 yes, 0 no, -1 cannot tell. */
static int inflated_has_crop_box(const unsigned char *p, size_t len)
{
  z_stream z;
  memset(&z, 0, sizeof(z));
  if(inflateInit(&z) != Z_OK)
    return -1;
  unsigned char out[16384 + 8];
  size_t keep = 0, total = 0;
  int found = 0, rc = Z_OK;
  z.next_in = (Bytef *)p;
  z.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
  while(!found && rc == Z_OK && total < PEEK_MAX) {
    z.next_out = out + keep;
    z.avail_out = sizeof(out) - keep;
    rc = inflate(&z, Z_NO_FLUSH);
    size_t have = keep + (sizeof(out) - keep - z.avail_out);
    total += have - keep;
    found = memmem(out, have, "/CropBox", 8) != NULL;
    keep = have < 7 ? have : 7; /* a name cut between two chunks */
    memmove(out, out + have - keep, keep);
    if(rc == Z_BUF_ERROR && z.avail_in == 0)
      break;
  }
  inflateEnd(&z);
  if(found)
    return 1;
  return rc == Z_STREAM_END ? 0 : -1;
}

/* Might some page set a crop box?  Objects in plain sight show "/CropBox";
 * object streams (Flate, as every writer makes them) are inflated to look
 * inside.  Anything not understood here counts as "maybe": then qpdf reads
 * the file and decides.  This is only a gate, to spare the great majority
 * of PDFs qpdf's parse. */
static int may_crop(const unsigned char *pdf, size_t len)
{
  if(memmem(pdf, len, "/CropBox", 8))
    return 1;
  const unsigned char *end = pdf + len, *at = pdf;
  while((at = memmem(at, (size_t)(end - at), "/ObjStm", 7))) {
    at += 7;
    const unsigned char *dict_end = memmem(at, (size_t)(end - at), ">>", 2);
    const unsigned char *stream = memmem(at, (size_t)(end - at), "stream", 6);
    if(!dict_end || !stream || stream < dict_end || stream - at > 4096)
      return 1;
    /* The filter is named in the dictionary, which may begin before /ObjStm. */
    const unsigned char *dict = at - 7;
    size_t back = (size_t)(dict - pdf) < 4096 ? (size_t)(dict - pdf) : 4096;
    if(!memmem(dict - back, back + (size_t)(dict_end - dict), "/FlateDecode", 12))
      return 1;
    stream += 6;
    if(stream < end && *stream == '\r')
      stream++;
    if(stream < end && *stream == '\n')
      stream++;
    const unsigned char *stop = memmem(stream, (size_t)(end - stream), "endstream", 9);
    if(!stop)
      return 1;
    if(inflated_has_crop_box(stream, (size_t)(stop - stream)) != 0)
      return 1;
    at = stop;
  }
  return 0;
}

int dpi_pdf_uncrop(const unsigned char *pdf, size_t len, struct dp_buf *out)
{
  if(!may_crop(pdf, len))
    return 0;
  qpdf_data q = qpdf_init();
  if(!q)
    return 0;
  qpdf_silence_errors(q);
  qpdf_set_suppress_warnings(q, QPDF_TRUE);
  qpdf_set_attempt_recovery(q, QPDF_FALSE);
  int changed = 0, rc = 0;
  if(qpdf_read_memory(q, "document", (const char *)pdf, len, "") & QPDF_ERRORS ||
     qpdf_is_encrypted(q))
    goto done;
  int pages = qpdf_get_num_pages(q), cropped = 0;
  for(int i = 0; i < pages && !cropped; i++) {
    qpdf_oh page = qpdf_get_page_n(q, (size_t)i);
    double media[4], crop[4];
    cropped = page_box(q, page, "/MediaBox", media) && page_box(q, page, "/CropBox", crop) &&
              crops(media, crop);
  }
  /* Inherited boxes become the pages' own, so that one page's crop box can
   * go without touching its siblings'. */
  if(!cropped || qpdf_push_inherited_attributes_to_page(q) & QPDF_ERRORS)
    goto done;
  for(int i = 0; i < pages; i++) {
    qpdf_oh page = qpdf_get_page_n(q, (size_t)i);
    double media[4], crop[4];
    if(box_of(q, page, "/MediaBox", media) && box_of(q, page, "/CropBox", crop) &&
       crops(media, crop)) {
      qpdf_oh_remove_key(q, page, "/CropBox");
      changed++;
    }
  }
  if(!changed || qpdf_has_error(q))
    goto done;
  if(qpdf_init_write_memory(q) & QPDF_ERRORS)
    goto done;
  /* Streams are copied as they are: nothing is decoded or compressed again
   * (set after qpdf_init_write_memory, which makes the writer). */
  qpdf_set_stream_data_mode(q, qpdf_s_preserve);
  if(qpdf_write(q) & QPDF_ERRORS)
    goto done;
  size_t n = qpdf_get_buffer_length(q);
  const unsigned char *bytes = qpdf_get_buffer(q);
  if(!bytes || !n)
    goto done;
  rc = dpi_buf_add(out, bytes, n) ? -1 : changed;
done:
  qpdf_cleanup(&q);
  return rc;
}
