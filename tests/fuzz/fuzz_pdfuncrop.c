/* fuzz_pdfuncrop.c - the crop-box rewrite (src/pdfuncrop.c) on any bytes:
 * libqpdf reads them without repair, docpipe walks the pages' boxes. */
#include <string.h>

#include "fuzz.h"
#include "pdfuncrop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct dp_buf out;
  dpi_buf_init(&out, size + (64u << 20));
  int rc = dpi_pdf_uncrop(data, size, &out);
  /* A rewrite is a PDF; nothing to do leaves the buffer empty. */
  if((rc > 0 && (out.len < 5 || memcmp(out.mem, "%PDF-", 5))) || (rc == 0 && out.len))
    __builtin_trap();
  dpi_buf_free(&out);
  return 0;
}
