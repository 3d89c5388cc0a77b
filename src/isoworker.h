/* isoworker.h - the helper process of isolation: `docpipe __extract-worker`.
 *
 * isolate.h starts it and speaks to it over the wire protocol of
 * isowire.h.  In here a request's document is extracted as any other, in
 * this process (dpi_extract_record), under the caps and memory limit the
 * parent passed on its command line; each record and failure goes back as
 * a frame.  The dependency runs one way: this file uses extract.h, which
 * uses the parent's side, which knows nothing of this file. */
#ifndef DP_ISOWORKER_H
#define DP_ISOWORKER_H

#include "stage.h"

/* The helper's main: argv is "docpipe __extract-worker TEXT PAGES BYTES
 * MEMORY DEPTH OCR LANGS DPI" (the caps of the run, and --ocr, --ocr-lang
 * and --ocr-dpi).  Returns an exit status: 0 once the
 * parent closes the socket (or is gone), 2 for bad arguments, 3 when the
 * parent's bytes are no request.  stages: the extractors, the front end's
 * table (ctx->stages). */
int dpi_isolate_worker_main(int argc, char **argv, const struct dp_stage_ops *const *stages);

#endif
