/* isolate.h - extraction in helper processes, for crash isolation and a
 * wall-clock budget: the parent's side.
 *
 * Parsers of hostile documents live in libraries (poppler above all) that
 * can crash or loop on a bad file.  With isolation (on by default for PDF and images),
 * docpipe hands the document to a helper process: a crash becomes an error
 * record of kind "extractor-crash", a document that takes longer than
 * --max-time is killed with its helper and becomes "timeout", and the run
 * goes on with a fresh helper.  Helpers are docpipe itself (or, for a
 * program that embeds the library, the docpipe program installed with it:
 * ctx->helper), started with posix_spawn (never a bare fork of a threaded
 * process), limited in memory (--max-memory, RLIMIT_AS), without core
 * dumps, and they die with docpipe (PR_SET_PDEATHSIG).  They are spawned
 * when first needed and reused.
 *
 * The helper's side is isoworker.h, the protocol between them isowire.h.
 * This side never extracts anything itself, so extract.c may call it
 * without a circle.  docs/internals/ISOLATION.md has the whole picture. */
#ifndef DP_ISOLATE_H
#define DP_ISOLATE_H

#include "stage.h"

struct dp_isolate;

struct dp_isolate *dpi_isolate_new(const struct dp_context *ctx, unsigned max_helpers);
void dpi_isolate_free(struct dp_isolate *iso);

/* Does an --isolate value ("pdf,image", "all", "none") name this format? */
int dpi_isolate_names(const char *isolate, const char *format);
/* Should records of this format go to a helper? */
int dpi_isolate_wants(const struct dp_context *ctx, const char *format);
/* Extract rec in a helper; same contract as a stage's process(). */
enum dp_status dpi_isolate_extract(struct dp_isolate *iso, struct dp_record *rec,
                                   struct dp_emitter *out);

#endif
