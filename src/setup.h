/* setup.h - a run built from settings, for the program and the library alike.
 *
 * cli.c (`docpipe run`, `convert`, `docpipe STAGE`) and docpipe.c (the
 * library) go the same way from a loaded chain and its settings to a running
 * engine: the access the chain needs on the FHIR server, the connection,
 * the chain's stages opened, where the lines go, the extraction helpers, the
 * runner.  Only the program has files (-o, -e), a run state that resumes an
 * interrupted run (--state, with its checkpoints) and a progress line: those
 * come with a status FILE, which the library never gives, so that it never
 * prints.  The library hands its lines to a sink instead. */
#ifndef DP_SETUP_H
#define DP_SETUP_H

#include <stdio.h>

#include "errors.h"
#include "pipeline.h"
#include "runner.h"
#include "settings.h"

/* Which step could not be done; the why text says more. */
enum dp_setup_error {
  DP_SETUP_OK = 0,
  DP_SETUP_NETWORK,  /* the FHIR server cannot be set up */
  DP_SETUP_STATE,    /* the run state cannot be read, or --state with --unordered */
  DP_SETUP_PIPELINE, /* a stage of the chain cannot start */
  DP_SETUP_OUTPUT,   /* an -o or -e file cannot be written or resumed */
  DP_SETUP_HELPERS,  /* the extraction helpers cannot start */
  DP_SETUP_WORKERS   /* the worker threads cannot start */
};

struct dp_checkpointer;

struct dp_setup {
  /* Given. */
  struct dp_settings *s;
  struct dp_chain *chain;
  const char *what;           /* the pipeline, naming the run in its state */
  const char *const *inputs;  /* the run's arguments; NULL for the library (pushed) */
  size_t ninputs;
  /* The program: status lines, warnings and the progress line go here
   * (stderr), and the program's options are obeyed.  NULL (the library):
   * nothing is printed, and -o, -e, --state, --progress, --unbuffered are
   * not looked at, wherever they were set. */
  FILE *status;
  /* The library: each line to this function (engine.h) instead of files. */
  int (*sink)(void *user, int is_error, const char *line, size_t len);
  void *sink_user;
  /* Made. */
  struct dp_runner *run;
  FILE *out, *err;           /* the program's sinks */
  unsigned long skip;        /* inputs done by the interrupted attempts resumed */
  unsigned long skip_failed; /* and the error records they gave */
  /* private */
  struct dp_checkpointer *cp;
};

/* Connect s->ctx.net when the run talks to a FHIR server (needed: a stage
 * does): -1 with a message in why, else 0; warns on status about
 * --insecure. */
int dpi_setup_network(struct dp_settings *s, FILE *status, int needed, char *why, size_t whylen);
/* The network, the run state (the program), the stages of the chain and
 * the program's sinks.  On failure su holds what to free (dpi_setup_free). */
enum dp_setup_error dpi_setup_open(struct dp_setup *su, char *why, size_t whylen);
/* The extraction helpers, the runner, and the program's progress line. */
enum dp_setup_error dpi_setup_start(struct dp_setup *su, char *why, size_t whylen);
/* Wait for the last line and stop the progress line.  DP_FATAL when the
 * output could not be written. */
enum dp_status dpi_setup_finish(struct dp_setup *su);
/* The program's end of a finished run (rc: how feeding and finishing went):
 * close the sinks, complete the run state, print what went wrong and the
 * summary on status.  Returns the exit status (enum dp_exit). */
int dpi_setup_report(struct dp_setup *su, enum dp_status rc);
/* The helpers go (at the end of a run, before the handle). */
void dpi_setup_stop_helpers(struct dp_setup *su);
/* Free what the set-up made; the sinks are closed when still open. */
void dpi_setup_free(struct dp_setup *su);

#endif
