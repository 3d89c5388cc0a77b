/* check.h - the preflight a person runs before a big job (docpipe check). */
#ifndef DP_CHECK_H
#define DP_CHECK_H

#include <stdio.h>

#include "fhir.h"
#include "stage.h"

struct dp_check_options {
  const char *patient;  /* a patient id for the search and Binary read steps */
  const char *pipeline; /* the pipeline judged; NULL: bulk-export when the server has
                           $export but no DocumentReference search, else fhir-documents */
  const char *level;    /* export level: system (NULL), Patient, Group/ID */
};

/* Each step prints "OK   ...", "SKIP ...", or "FAIL ...: what to fix".
 * Returns the exit status: 0 when nothing blocks the job, 1 when something
 * does. */
int dpi_check(const struct dp_context *ctx, const struct dp_net_config *cfg,
              const struct dp_check_options *opt, FILE *out);

#endif
