/* fuzz_sniff.c - every bidder on any prefix. */
#include "fuzz.h"
#include "registry.h"
#include "sniff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct dp_sniff s;
  dpi_sniff(dp_stage_registry, data, size, &s);
  if(!s.format || !s.mime)
    __builtin_trap();
  return 0;
}
