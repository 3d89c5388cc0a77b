/* runner.h - pushing inputs through a chain of stages, streaming.
 *
 * Each input (an NDJSON line, a whole JSON document, or a path for chains
 * that start with a stage reading paths) becomes a record handed to the
 * engine (engine.h), which runs the stages on a pool of workers and writes
 * results in input order.  Memory depends on the largest documents in
 * flight, not on how many there are.
 *
 * Nothing is lost: every document ends as one output record or one error
 * record, and a stage that swallows a record is reported as an internal
 * error.  documents = emitted + failed, always.
 *
 * Error records fed back as input are retried (retry.h): the input each
 * names is read again (a line of the original file, or an argument) and
 * only the documents that failed are kept.  With a checkpoint callback and
 * a skip count, an interrupted run resumes where its output stops
 * (runstate.h). */
#ifndef DP_RUNNER_H
#define DP_RUNNER_H

#include <stdio.h>

#include "errors.h"
#include "engine.h"
#include "pipeline.h"

struct dp_run_options {
  /* Where lines go, workers and order, as the engine takes them (engine.h);
   * but its checkpoint is told how many inputs and error records, the
   * skipped ones included, are completely written, and its shard is the
   * runner's, made from shard_k and shard_n. */
  struct dp_engine_options engine;
  unsigned shard_k, shard_n; /* --shard K/N (shard.h); N = 0: everything */
  size_t max_line;
  unsigned long skip;        /* inputs an interrupted earlier attempt completed */
  unsigned long skip_failed; /* error records those inputs gave */
};

struct dp_runner;
struct dp_progress;

struct dp_runner *dpi_runner_new(struct dp_chain *chain, const struct dp_run_options *opt);
/* Wait until every record is written and stop the workers.  DP_FATAL when
 * the output could not be written. */
enum dp_status dpi_runner_finish(struct dp_runner *run);
void dpi_runner_free(struct dp_runner *run);
/* Feed one input: a file of NDJSON (or one JSON document), "-" for stdin;
 * for path-reading chains, a file or folder.  Returns DP_FATAL only when the
 * run cannot go on (output closed, out of memory). */
enum dp_status dpi_runner_feed(struct dp_runner *run, const char *input);
/* Feed one input as a line of stdin gives it: for chains reading JSON one
 * JSON value (an NDJSON line, or a whole document over several lines), for
 * argument-reading chains one argument; error records are retried.  `line`
 * names it in error records, as {"file": "-", "line": line}.  Blank text is
 * no input. */
enum dp_status dpi_runner_feed_text(struct dp_runner *run, const char *text, size_t len,
                                    unsigned long line);
/* Feed stdin: NDJSON, or for argument-reading chains one argument per line. */
enum dp_status dpi_runner_feed_stdin(struct dp_runner *run);
/* When no input was named: stdin, or one empty argument for a source that
 * needs no input (export). */
enum dp_status dpi_runner_feed_default(struct dp_runner *run);
const struct dp_counts *dpi_runner_counts(const struct dp_runner *run);
/* The document counts so far (not inputs), from any thread while the run
 * goes on, until dpi_runner_finish is called. */
void dpi_runner_snapshot(struct dp_runner *run, struct dp_counts *out);
/* Before feeding: where to report the input bytes read. */
void dpi_runner_set_progress(struct dp_runner *run, struct dp_progress *progress);
/* One line: "docpipe: 12 documents from 10 inputs: 11 converted, 1 failed (damaged 1)" */
void dpi_runner_summary(const struct dp_runner *run, FILE *f);

#endif
