/* fuzz_pptx.c - the pptx extractor on any bytes (the ZIP reader and the
 * package's XML parts with it). */
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dpf_run_stage(&dp_stage_pptx, data, size);
  return 0;
}
