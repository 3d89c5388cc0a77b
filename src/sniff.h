/* sniff.h - deciding a document's format from its bytes.
 *
 * Every extractor in the registry bids on a capped prefix; the highest bid
 * wins and ties go to the one registered first.  The declared contentType is
 * never consulted: labels lie, bytes do not. */
#ifndef DP_SNIFF_H
#define DP_SNIFF_H

#include <stddef.h>

#include "record.h"
#include "stage.h"

struct dp_sniff {
  const struct dp_stage_ops *ops; /* NULL when nothing bid */
  const char *format;             /* "unknown" when nothing bid */
  const char *mime;
  int score;
};

void dpi_sniff(const void *bytes, size_t len, struct dp_sniff *out);
/* Sniff rec's body and record "format" and "source.contentType". */
void dpi_sniff_record(struct dp_record *rec);

#endif
