/* options.h - parsing "--name value" options against a stage's spec table,
 * for the command line and for pipeline files alike. */
#ifndef DP_OPTIONS_H
#define DP_OPTIONS_H

#include <stddef.h>

#include "stage.h"

/* Find the spec for `name` (without "--") in a NULL-terminated table. */
const struct dp_option_spec *dpi_opt_spec(const struct dp_option_spec *table, const char *name);

/* Add a value to a stage instance (copied).  For DP_OPT_PATH options a
 * relative value is joined to base_dir when base_dir is not NULL.  Returns 0
 * or -1 on OOM. */
int dpi_stage_add_opt(struct dp_stage *st, const struct dp_option_spec *spec, const char *value,
                      const char *base_dir);
void dpi_stage_free_opts(struct dp_stage *st);

/* Options not given take their value from the spec's environment variable
 * (one value per line for repeatable ones); called as the chain opens.
 * 0, or -1 on OOM. */
int dpi_stage_env_defaults(struct dp_stage *st);
/* "0", "no", "off", "false": a flag's variable that turns it off. */
int dpi_falsy(const char *v);

/* Parse a size such as "64M", "512k", "1G" or "1000"; returns 0 or -1. */
int dpi_parse_size(const char *s, size_t *out);
/* Parse a positive integer; returns 0 or -1. */
int dpi_parse_uint(const char *s, unsigned *out);

#endif
