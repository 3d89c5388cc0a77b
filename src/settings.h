/* settings.h - the options every command takes, from the command line, the
 * environment and a config file (in that order of precedence).
 *
 * One table describes each option once (struct dp_option_spec, stage.h): its
 * name, short form, environment variable, default and help text; --help and
 * the man page are printed from it (manual.h). */
#ifndef DP_SETTINGS_H
#define DP_SETTINGS_H

#include <stdio.h>

#include "fhir.h"
#include "pipeline.h"
#include "stage.h"

struct dp_settings {
  struct dp_context ctx;
  const char *output;
  const char *errors;
  int quiet;
  int progress; /* -1: when stderr is a terminal */
  double progress_interval; /* 0: the default */
  unsigned shard_k, shard_n; /* --shard K/N; N = 0: no sharding */
  int unbuffered;
  int unordered;
  size_t max_line;
  unsigned jobs;
  int jobs_given;
  const char *state;  /* --state FILE (runstate.h) */
  const char *format; /* --format: ndjson, or a DP_STAGE_FORMAT stage */
  const char *index;  /* --index: for es-bulk */
  struct dp_net_config net;
  /* private */
  unsigned char given[64];
  char **owned;
  size_t nowned;
  const char *config;
};

/* The format that writes the records as they are (--format's default). */
#define DP_FORMAT_RECORDS "ndjson"

/* Every option at its default; stages: the run's stage table (ctx.stages),
 * where --format finds its format stages. */
void dpi_settings_init(struct dp_settings *s, const struct dp_stage_ops *const *stages);
void dpi_settings_free(struct dp_settings *s);
/* If argv[*i] is a global option, take it (and its value) and return 1;
 * 0 when it is not one; -1 with a message in why for a bad value. */
int dpi_settings_arg(struct dp_settings *s, int argc, char **argv, int *i, char *why,
                     size_t whylen);
/* Set one option by its long name (without "--") as the command line
 * would; the value is copied.  A flag takes NULL, "" or "1" (and --progress
 * also "0").  1 when taken, 0 when no global option has that name, -1 with a
 * message in why for a missing or bad value. */
int dpi_settings_set(struct dp_settings *s, const char *name, const char *value, char *why,
                     size_t whylen);
/* Fill in what the command line left unset from DOCPIPE_* variables, then
 * from the config file (--config, else $DOCPIPE_CONFIG). */
int dpi_settings_finish(struct dp_settings *s, char *why, size_t whylen);
/* Does the run talk to a FHIR server (a base URL or credentials given)? */
int dpi_settings_network(const struct dp_settings *s);
/* Each option in --help order, with its group ("general", "FHIR server"). */
void dpi_settings_each(void (*fn)(const struct dp_option_spec *o, const char *group, void *user),
                       void *user);
/* Worker threads of the run: --jobs (default: the CPUs), or for a run that
 * talks to a FHIR server --concurrency when larger and --jobs not given. */
unsigned dpi_settings_jobs(const struct dp_settings *s);
/* Put the output format (--format, with its --index) at the end of the
 * chain; nothing for an empty chain.  0, or -1 when out of memory. */
int dpi_settings_format_chain(const struct dp_settings *s, struct dp_chain *chain);
/* What the chain does on the FHIR server, for the default --scope
 * (scopes.h): the arguments of the run (NULL when they come on stdin) name
 * export levels.  Call before dpi_settings_open_network. */
void dpi_settings_access(struct dp_settings *s, const struct dp_chain *chain,
                         const char *const *args, size_t nargs);
/* Connect s->ctx.net to the FHIR server when the run talks to one (needed:
 * a stage of the chain does).  1 when connected, 0 when not needed, -1 with
 * a message in why. */
int dpi_settings_open_network(struct dp_settings *s, int needed, char *why, size_t whylen);

#endif
