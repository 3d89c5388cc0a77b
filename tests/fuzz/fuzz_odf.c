/* fuzz_odf.c - the ODT, ODS and ODP extractor on any bytes (one process
 * serves all three; the odt table runs it). */
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dpf_run_stage(&dp_stage_odt, data, size);
  return 0;
}
