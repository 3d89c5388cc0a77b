/* sniff.c - the "sniff" stage: decide the format from the bytes.
 *
 * The bidding itself is in src/sniff.c so that extraction of embedded
 * documents uses the same rules.  The declared content type stays in
 * source.declaredContentType; the sniffed one goes to source.contentType. */
#include "registry.h"
#include "sniff.h"

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  if(!rec->has_body)
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT,
                           "record has no document bytes (run decode or files first)");
  dpi_sniff_record(st->ctx->stages, rec);
  return dpi_emit(out, rec);
}

const struct dp_stage_ops dp_stage_sniff = {
  .name = "sniff",
  .summary = "decide each document's format from its bytes, not its declared type",
  .process = process,
};
