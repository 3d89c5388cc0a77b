/* pdfuncrop.h - let poppler-glib read a PDF page's whole media box.
 *
 * pdftotext lays out the text of the media box; poppler-glib only of the crop
 * box (it displays pages with useMediaBox=false, crop=true, and its
 * TextOutputDev drops every character outside the page it is given), and it
 * has no call to choose.  So when some page's crop box is smaller than its
 * media box, docpipe gives poppler a copy of the file with one incremental
 * update appended: a new version of each page-tree node that sets /CropBox,
 * without that key, so the crop box defaults to the media box.  Everything
 * else (objects, offsets, the document's revisions) stays as it was.
 *
 * This reads only as much PDF as that takes: the cross-reference sections
 * (tables and streams, with /Prev and /XRefStm), object streams, and the page
 * tree from the trailer's /Root.  Flate is the only filter it decodes.  On
 * anything it does not follow it changes nothing: the text is then the crop
 * box's, as before.  All reading is bounded by the input and the limits
 * below. */
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
