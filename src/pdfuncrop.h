/* pdfuncrop.h - let poppler-glib read a PDF page's whole media box.
 *
 * pdftotext lays out the text of the media box; poppler-glib only of the crop
 * box (it displays pages with useMediaBox=false, crop=true, and its
 * TextOutputDev drops every character outside the page it is given), and it
 * has no call to choose.
 *
 * So when some page's crop box is smaller than its media box, docpipe gives
 * poppler a copy of the file, rewritten by libqpdf, whose pages have no
 * /CropBox (which then defaults to the media box).  Files qpdf cannot read
 * without repairing them, and encrypted ones, are left as they are: their
 * text is then the crop box's, as before. */
#ifndef DP_PDFUNCROP_H
#define DP_PDFUNCROP_H

#include <stddef.h>

#include "buf.h"

/* When some page of the PDF in pdf[0..len) has a crop box smaller than its
 * media box, fill `out` (initialised by the caller, with its cap) with the
 * uncropped copy and return the number of pages affected; return 0 when
 * there is nothing to do or the file cannot be followed, -1 when `out` failed
 * (too big, out of memory). */
int dpi_pdf_uncrop(const unsigned char *pdf, size_t len, struct dp_buf *out);

#endif
