/* fuzz_pdfuncrop.c - docpipe's own PDF reading (src/pdfuncrop.c): the
 * cross-reference sections, object streams and page tree of any bytes. */
#include <string.h>

#include "fuzz.h"
#include "pdfuncrop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct dp_buf out;
  dpi_buf_init(&out, size + (1u << 20));
  int rc = dpi_pdf_uncrop(data, size, &out);
  /* An update keeps the file's bytes first. */
  if(rc > 0 && (out.len <= size || memcmp(out.mem, data, size)))
    __builtin_trap();
  dpi_buf_free(&out);
  return 0;
}
