/* runner.h - pushing inputs through a chain of stages, streaming.
 *
 * Each input (an NDJSON line, or a path for chains that start with a stage
 * reading paths) becomes a record that is pushed through the stages at once
 * and written out before the next input is read, so memory depends on the
 * largest document, not on how many there are.  The per-input work is a
 * pure function of the input, which is what a worker pool needs later.
 *
 * Nothing is lost: every document ends as one output record or one error
 * record, and a stage that swallows a record is reported as an internal
 * error.  documents = emitted + failed, always. */
#ifndef DP_RUNNER_H
#define DP_RUNNER_H

#include <stdio.h>

#include "errors.h"
#include "pipeline.h"

struct dp_run_options {
  FILE *out;      /* records */
  FILE *errors;   /* error records */
  size_t max_line;
  int unbuffered; /* flush after every line */
};

struct dp_counts {
  unsigned long inputs;   /* lines or paths read */
  unsigned long emitted;  /* records written */
  unsigned long failed;   /* error records written */
  unsigned long skipped;  /* inputs that held no document (empty Bundles, Patients) */
  unsigned long by_kind[DP_KIND_COUNT];
};

struct dp_runner;

struct dp_runner *dpi_runner_new(struct dp_chain *chain, const struct dp_run_options *opt);
void dpi_runner_free(struct dp_runner *run);
/* Feed one input: a file of NDJSON (or one JSON document), "-" for stdin;
 * for path-reading chains, a file or folder.  Returns DP_FATAL only when the
 * run cannot go on (output closed, out of memory). */
enum dp_status dpi_runner_feed(struct dp_runner *run, const char *input);
/* Feed stdin: NDJSON, or for path-reading chains one path per line. */
enum dp_status dpi_runner_feed_stdin(struct dp_runner *run);
const struct dp_counts *dpi_runner_counts(const struct dp_runner *run);
/* One line: "docpipe: 12 documents from 10 inputs: 11 converted, 1 failed (damaged 1)" */
void dpi_runner_summary(const struct dp_runner *run, FILE *f);

#endif
