/* sniff.h - deciding a document's format from its bytes.
 *
 * Every extractor of the run's stage table (ctx->stages) bids on a capped
 * prefix; the highest bid wins and ties go to the one listed first.  The declared contentType is
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

/* Ask the extractors of `stages` (NULL-terminated) to bid on the bytes. */
void dpi_sniff(const struct dp_stage_ops *const *stages, const void *bytes, size_t len,
               struct dp_sniff *out);
/* Sniff rec's body and record "format" and "source.contentType". */
void dpi_sniff_record(const struct dp_stage_ops *const *stages, struct dp_record *rec);
/* The extractor of `stages` that produces `format` ("pdf"), or NULL. */
const struct dp_stage_ops *dpi_extractor_for(const struct dp_stage_ops *const *stages,
                                             const char *format);

#endif
