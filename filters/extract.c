/* extract.c - the "extract" stage: run the extractor for the sniffed format.
 *
 * Dispatch by the record's "format" through the registry (src/extract.c);
 * naming an extractor stage instead ("docpipe pdf") bypasses the sniff. */
#include "extract.h"
#include "registry.h"

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  return dpi_extract_record(st->ctx, rec, out);
}

const struct dp_stage_ops dp_stage_extract = {
  .name = "extract",
  .summary = "extract text with the extractor for each record's format (sniffs if needed)",
  .open = dpi_extract_open,
  .process = process,
};
