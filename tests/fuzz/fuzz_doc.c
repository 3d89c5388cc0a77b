/* fuzz_doc.c - the doc extractor on any bytes. */
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dpf_run_stage(&dp_stage_doc, data, size);
  return 0;
}
