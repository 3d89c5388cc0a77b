/* fuzz_base64.c - FHIR Base64 (validation, libb64, Base64 of Base64) and the
 * round trip of the wire form. */
#include <string.h>

#include "b64.h"
#include "extract.h"
#include "fuzz.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct dp_buf out, again;
  dpi_buf_init(&out, 16u << 20);
  dpi_buf_init(&again, 32u << 20);
  size_t bad = 0;
  int layers = 0;
  if(dpi_decode_payload(dp_stage_registry, (const char *)data, size, &out, &bad, &layers) == DP_B64_INVALID &&
     bad > size)
    __builtin_trap(); /* the offset must point into the text */
  /* Encoding any bytes and decoding them gives them back. */
  if(dpi_b64_encode(data, size, &again) == DP_B64_OK) {
    struct dp_buf back;
    dpi_buf_init(&back, 16u << 20);
    if(dpi_b64_decode(again.mem, again.len, &back, NULL) != DP_B64_OK || back.len != size ||
       (size && memcmp(back.mem, data, size)))
      __builtin_trap();
    dpi_buf_free(&back);
  }
  dpi_buf_free(&out);
  dpi_buf_free(&again);
  return 0;
}
