/* pipeline.h - pipeline files and chains of stage instances.
 *
 * A pipeline file (docpipe-pipeline(5)) names one stage per line with its
 * options; '#' starts a comment; values may be double-quoted; relative file
 * names in options are relative to the pipeline file.  For example:
 *
 *     # FHIR Bulk Data dump to records
 *     resolve --binaries Binary.ndjson
 *     decode
 *     sniff
 *     extract
 *     normalize
 */
#ifndef DP_PIPELINE_H
#define DP_PIPELINE_H

#include <stddef.h>

#include "stage.h"

struct dp_chain {
  struct dp_stage *stages;
  size_t n;
  int opened;
};

/* Parse pipeline text.  origin names it in messages ("fhir-dump.pipeline");
 * base_dir anchors relative paths (NULL: the current directory).  Returns 0,
 * or -1 with a message in why ("origin:line: ..."). */
int dpi_pipeline_parse(const char *text, const char *origin, const char *base_dir,
                       const struct dp_context *ctx, struct dp_chain *chain, char *why,
                       size_t whylen);
/* Find a pipeline by path, or by name in the pipelines folders
 * (dpi_pipeline_find: "fhir-dump" finds fhir-dump.pipeline), and parse it. */
int dpi_pipeline_load(const char *name, const struct dp_context *ctx, struct dp_chain *chain,
                      char *why, size_t whylen);
/* Add a stage at the end (an output format). 0 or -1. */
int dpi_chain_append(struct dp_chain *chain, const struct dp_stage_ops *ops);
/* A chain of one stage, as `docpipe STAGE` runs it. */
int dpi_chain_single(const struct dp_stage_ops *ops, const struct dp_context *ctx,
                     struct dp_chain *chain);
/* Give "--name value" to every stage of the chain that declares the option.
 * Returns how many stages took it (0: nobody knows it), -1 on OOM. */
int dpi_chain_set_option(struct dp_chain *chain, const char *name, const char *value);
/* argv[*i] as a command line gives it after a pipeline ("--name value",
 * "--name=value"): to every stage of the chain that takes it, with the next
 * argument as its value when it needs one (*i then moves on).  1, or -1 with
 * a message in why (empty when out of memory). */
int dpi_chain_arg(struct dp_chain *chain, int argc, char **argv, int *i, char *why,
                  size_t whylen);
/* Does any stage of the chain declare the option?  Sets *takes_arg. */
int dpi_chain_knows_option(const struct dp_chain *chain, const char *name, int *takes_arg);
/* Open every stage; on failure closes those opened and returns -1 with a
 * message in why. */
int dpi_chain_open(struct dp_chain *chain, char *why, size_t whylen);
/* Close every stage (they may record marks in the run state then); free
 * then only releases memory. */
void dpi_chain_close(struct dp_chain *chain);
void dpi_chain_free(struct dp_chain *chain);

/* Find a pipeline or its data (the LOINC table) by file name in the
 * pipelines folders, in the order of paths.h: in each folder `file`, then
 * `alt` (NULL: none); the first folder that has one wins.  0 with its path,
 * or -1 with the folders looked in ("A, B, C") in looked. */
int dpi_pipeline_find(const char *file, const char *alt, char *path, size_t len, char *looked,
                      size_t lookedlen);
/* The stage of `stages` (NULL-terminated: ctx->stages) named `name`, or NULL. */
const struct dp_stage_ops *dpi_stage_find(const struct dp_stage_ops *const *stages,
                                          const char *name);
/* Does any stage of the chain talk to the FHIR server? */
int dpi_chain_needs_network(const struct dp_chain *chain);
/* What the chain does on the FHIR server, as access words (scopes.h), for
 * the run's arguments (NULL when they come on stdin). */
void dpi_chain_access(const struct dp_chain *chain, const char *const *args, size_t nargs,
                      struct dp_buf *access);

#endif
