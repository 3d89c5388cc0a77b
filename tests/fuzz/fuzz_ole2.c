/* fuzz_ole2.c - the OLE2 sniff (a pure walk of the directory) and the
 * stage that opens any compound file and hands it on. */
#include "fuzz.h"
#include "ole2read.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  (void)dpi_ole2_sniff(data, size);
  dpf_run_stage(&dp_stage_ole2, data, size);
  return 0;
}
