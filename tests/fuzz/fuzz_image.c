/* fuzz_image.c - the image extractor on any bytes: Leptonica's header
 * reading (the decompression-bomb check), its decoders and OCR of what they
 * decode. */
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  dpf_run_stage(&dp_stage_image, data, size);
  return 0;
}
