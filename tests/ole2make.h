/* ole2make.h - OLE2 compound files made at test time with libgsf's writer,
 * for the doc, xls, ppt and msg suites. */
#ifndef DPT_OLE2MAKE_H
#define DPT_OLE2MAKE_H

#include <stddef.h>

struct dpt_stream {
  const char *name; /* "Stream", or "Storage/Stream" (one level) */
  const void *data;
  size_t len;
};

/* The bytes of a compound file holding the streams given (malloc'd). */
unsigned char *dpt_ole2_make(const struct dpt_stream *streams, size_t n, size_t *len);

#endif
