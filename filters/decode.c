/* decode.c - placeholder until the stage is written */
#include "registry.h"

const struct dp_stage_ops dp_stage_decode = {.name = "decode", .summary = "not written yet"};
