/* counts.h - what a run has done so far, counted.
 *
 * The engine (engine.h) keeps these as it writes, the runner adds the
 * inputs, and the progress line (progress.h) and the summary read them.
 * A header of its own so that readers of the counts need not know the
 * engine. */
#ifndef DP_COUNTS_H
#define DP_COUNTS_H

#include "errors.h"

struct dp_counts {
  unsigned long inputs;  /* lines or arguments read (kept by the runner) */
  unsigned long emitted; /* records written */
  unsigned long no_text; /* of those, scans whose OCR found no text */
  unsigned long failed;  /* error records written */
  unsigned long skipped; /* inputs that held no document (empty Bundles, Patients) */
  unsigned long deleted; /* deletion lines written (record.h): not documents */
  unsigned long resumed; /* inputs done by an interrupted earlier attempt */
  unsigned long filtered; /* records dropped by a retry: they converted before */
  unsigned long other_shard; /* documents left to the other shards */
  unsigned long held;    /* now: lines ready but held back for the output order,
                            behind a document still in work (not a total) */
  unsigned long by_kind[DP_KIND_COUNT];
};

#endif
