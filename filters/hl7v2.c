/* hl7v2.c - placeholder until the stage is written */
#include "registry.h"

const struct dp_stage_ops dp_stage_hl7v2 = {.name = "hl7v2", .summary = "not written yet"};
