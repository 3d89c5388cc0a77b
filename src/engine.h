/* engine.h - the worker pool that runs records through a chain, in order.
 *
 * Records enter stage 0 from one producer (the runner reading inputs).
 * Worker threads take (record, stage) tasks; what a stage emits becomes new
 * tasks for the next stage, so one slow document, or a stage waiting on the
 * network, does not hold up the others, and a search result fans out over
 * all workers.  Output keeps input order: every record in flight owns a slot
 * in one ordered list, a record's children take slots just before their
 * parent's, and a writer thread writes ready slots from the head.
 *
 * Memory stays bounded: lines ready behind a slot still in work (one slow
 * document) wait in a window of a few hundred lines per worker and a byte
 * cap (DP_ORDER_WINDOW_* in dplimits.h); when it is full the producer, and a
 * source stage making many documents from one input, wait for room.  The
 * producer also waits while the task queue is full, and when it is full a
 * worker runs the next stage itself, depth-first, instead of queueing.
 * docs/internals/PIPELINE.md says why this cannot deadlock.
 *
 * The engine only schedules and writes.  What it keeps is handed in: the
 * shard policy (shard.h) for the run, and a filter per input (a retry of an
 * error file keeps only what failed before: retry.h). */
#ifndef DP_ENGINE_H
#define DP_ENGINE_H

#include <stdio.h>

#include "counts.h"
#include "errors.h"
#include "pipeline.h"
#include "record.h"
#include "shard.h"

/* Which of one input's records are written.  keeps() is called on the
 * worker threads, at once for several records, with each record about to be
 * written; what it refuses is counted as "filtered".  free() is called once
 * the input's every line is written (or when the input is not taken). */
struct dp_input_filter {
  int (*keeps)(const struct dp_input_filter *self, const struct dp_record *rec);
  void (*free)(struct dp_input_filter *self);
};

struct dp_engine_options {
  FILE *out;      /* records */
  FILE *errors;   /* error records */
  /* Instead of out and errors (which are then unused): each line, without
   * its '\n' and NUL-terminated, handed to this function on the writer
   * thread, in output order (the library's callbacks).  A line is valid
   * only during the call.  Non-zero stops the run as a failed write does. */
  int (*sink)(void *user, int is_error, const char *line, size_t len);
  void *sink_user;
  unsigned jobs;  /* worker threads, at least 1 */
  int unbuffered; /* flush after every line */
  int unordered;  /* write each line as soon as it is ready (no checkpoints) */
  /* --shard K/N (shard.h), NULL: every document.  Errors that come before
   * the first stage (unreadable inputs) go by their own identity.  Must
   * outlive the engine. */
  const struct dp_shard *shard;
  /* Called by the writer after it wrote lines, with the number of inputs
   * whose every line is now written and of error records written (final:
   * the run is over, or the output has stood still since lines were
   * written: record it whatever the pace).  Runs on the writer thread, which alone writes to out
   * and errors. */
  void (*checkpoint)(void *user, unsigned long inputs_written, unsigned long failed, int final);
  void *checkpoint_user;
};

struct dp_engine;
struct dp_progress;

/* Start the workers and the writer; NULL when threads cannot start. */
struct dp_engine *dpi_engine_start(struct dp_chain *chain, const struct dp_engine_options *opt);
/* Hand a record to stage 0; waits while too much is in flight.  filter
 * (NULL: write everything; ownership taken) chooses which of the records
 * made from it are written.  Returns DP_FATAL once the run cannot go on
 * (output closed). */
enum dp_status dpi_engine_submit(struct dp_engine *e, struct dp_record *rec,
                                 struct dp_input_filter *filter);
/* Lines written to a terminal first erase this progress line (progress.h). */
void dpi_engine_set_progress(struct dp_engine *e, struct dp_progress *progress);
/* Add the counts so far to *out (any thread, while the run goes on). */
void dpi_engine_snapshot(struct dp_engine *e, struct dp_counts *out);
/* A record that failed before entering the chain (unreadable input): its
 * error record is written in order with the rest. */
enum dp_status dpi_engine_submit_failed(struct dp_engine *e, struct dp_record *rec,
                                        const char *stage);
/* Wait until everything is written, stop the threads and
 * add its counts to *counts.  DP_FATAL when writing failed. */
enum dp_status dpi_engine_finish(struct dp_engine *e, struct dp_counts *counts);
/* After dpi_engine_finish (snapshots may be taken until then). */
void dpi_engine_free(struct dp_engine *e);

#endif
