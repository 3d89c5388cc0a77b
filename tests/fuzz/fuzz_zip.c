/* fuzz_zip.c - ZIP containers and gzip files on any bytes: the ZIP reader,
 * each member through the extractors, the gzip reader, and the pure peeks
 * the OOXML and ODF bidders make. */
#include "fuzz.h"
#include "registry.h"
#include "zipread.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const needles[] = {"main+xml", "opendocument", NULL};
  dpf_run_stage(&dp_stage_zip, data, size);
  dpf_run_stage(&dp_stage_gzip, data, size);
  dpi_zip_peek_has(data, size, "[Content_Types].xml");
  dpi_zip_peek_find(data, size, "[Content_Types].xml", needles);
  dpi_zip_peek_find(data, size, "mimetype", needles);
  return 0;
}
