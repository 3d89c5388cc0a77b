/* fuzz.h - shared pieces of the fuzz targets.
 *
 * Each tests/fuzz/fuzz_<target>.c defines LLVMFuzzerTestOneInput.  Built
 * with clang -fsanitize=fuzzer (scripts/fuzz) they are libFuzzer targets;
 * built normally they link standalone.c, which runs them over the seed and
 * crash files, as ordinary ctest tests in every build. */
#ifndef DPF_FUZZ_H
#define DPF_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "stage.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Limits small enough for fast fuzzing, the same logic as a run. */
const struct dp_context *dpf_context(void);
/* Run one stage on a record whose body is data; everything it makes is
 * freed.  Returns the stage's status. */
enum dp_status dpf_run_stage(const struct dp_stage_ops *ops, const uint8_t *data, size_t size);

#endif
