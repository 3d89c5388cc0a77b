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
#include <string.h>

/* Boxes closer than this (in points) count as equal. */
#define BOX_SLACK 0.01

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

/* The crop box cuts something off the media box. */
static int crops(const double media[4], const double crop[4])
{
  return crop[0] > media[0] + BOX_SLACK || crop[1] > media[1] + BOX_SLACK ||
         crop[2] < media[2] - BOX_SLACK || crop[3] < media[3] - BOX_SLACK;
}

int dpi_pdf_uncrop(const unsigned char *pdf, size_t len, struct dp_buf *out)
{
  /* A crop box is either in plain sight or inside an object stream: most
   * PDFs have neither, and skip qpdf's parse. */
  if(!memmem(pdf, len, "/CropBox", 8) && !memmem(pdf, len, "/ObjStm", 7))
    return 0;
  qpdf_data q = qpdf_init();
  if(!q)
    return 0;
  qpdf_silence_errors(q);
  qpdf_set_suppress_warnings(q, QPDF_TRUE);
  qpdf_set_attempt_recovery(q, QPDF_FALSE);
  int changed = 0, rc = 0;
  if(qpdf_read_memory(q, "document", (const char *)pdf, len, "") & QPDF_ERRORS ||
     qpdf_is_encrypted(q) || qpdf_push_inherited_attributes_to_page(q) & QPDF_ERRORS)
    goto done;
  int pages = qpdf_get_num_pages(q);
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
