/* fuzz_rtf.c - the rtf extractor on any bytes. */
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dpf_run_stage(&dp_stage_rtf, data, size);
  return 0;
}
