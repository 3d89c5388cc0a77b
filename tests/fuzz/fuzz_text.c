/* fuzz_text.c - charset detection and conversion, the text extractor and the
 * clean-up every record's content goes through. */
#include "charset.h"
#include "fuzz.h"
#include "registry.h"
#include "textconv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct dp_charset cs;
  struct dp_buf u, clean;
  dpi_buf_init(&u, 64u << 20);
  dpi_buf_init(&clean, 64u << 20);
  if(!dpi_charset_decode(&u, data, size, NULL, &cs)) {
    if(!dpi_utf8_valid(u.mem ? u.mem : "", u.len))
      __builtin_trap(); /* conversion must give valid UTF-8 */
    if(!dpi_text_clean(&clean, u.mem ? u.mem : "", u.len) &&
       !dpi_utf8_valid(clean.mem ? clean.mem : "", clean.len))
      __builtin_trap();
  }
  dpi_buf_free(&u);
  dpi_buf_free(&clean);
  dpf_run_stage(&dp_stage_text, data, size);
  return 0;
}
