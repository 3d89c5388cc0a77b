/* fuzz_hl7v2.c - the hl7v2 extractor on any bytes. */
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dpf_run_stage(&dp_stage_hl7v2, data, size);
  return 0;
}
