/* manual.h - --help and the man pages, written from the same tables.
 *
 * Every option is described once (settings.c for the global ones, each
 * stage's spec table for its own); the terminal help and the roff of
 * docpipe(1) and docpipe-pipeline(5) are two renderings of those tables, so
 * the manual cannot fall behind the program.  The man pages are made at
 * build time from templates under docs/man/ by `docpipe __man`. */
#ifndef DP_MANUAL_H
#define DP_MANUAL_H

#include <stdio.h>

#include "stage.h"

enum dp_doc_style { DP_DOC_TEXT, DP_DOC_ROFF };

/* One option (a general one, a stage's or check's) as the help shows it: its
 * def and env when set, "(repeatable)" for DP_OPT_MULTI. */
void dpi_doc_option(FILE *f, enum dp_doc_style style, const struct dp_option_spec *o);
/* A section heading inside a list of options. */
void dpi_doc_heading(FILE *f, enum dp_doc_style style, const char *title);

/* docpipe --help */
void dpi_manual_help(FILE *f);
/* docpipe STAGE --help */
void dpi_manual_stage_help(FILE *f, const struct dp_stage_ops *ops);
/* docpipe check --help, docpipe help check */
void dpi_manual_check_help(FILE *f);
/* docpipe pipelines: the pipelines found, with what each is for */
void dpi_manual_list_pipelines(FILE *f);
/* docpipe stages */
void dpi_manual_list_stages(FILE *f);
/* docpipe help [STAGE|check], pipelines, stages (cmd, with the arguments
 * from argv[i]): the exit status, or -1 when cmd is another command. */
int dpi_manual_command(const char *cmd, int argc, char **argv, int i);
/* docpipe COMMAND --help: single is the stage of `docpipe STAGE`, or NULL. */
void dpi_manual_command_help(FILE *f, const char *cmd, const struct dp_stage_ops *single);
/* docpipe __man TEMPLATE [OUTPUT]: the template with @VERSION@, @OPTIONS@,
 * @STAGES@, @ENVIRONMENT@, @ERROR_KINDS@ and @CHECK@ filled in.  Returns an
 * exit status. */
int dpi_manual_main(int argc, char **argv);

#endif
