/* harness.c - see fuzz.h */
#include <libxml/parser.h>
#include <string.h>

#include "dplimits.h"
#include "fuzz.h"
#include "record.h"
#include "registry.h"

static struct dp_context ctx;
static int ready;

const struct dp_context *dpf_context(void)
{
  if(!ready) {
    xmlInitParser();
    dpi_context_defaults(&ctx, dp_stage_registry);
    ctx.max_document = 16u << 20;
    ctx.max_text = 4u << 20;
    ctx.max_pages = 64;
    /* OCR runs on every page without text, as in docpipe, but on the
     * smallest page image --ocr-dpi allows: the time goes to the parsers,
     * and a replay of tests/fuzz/crashes/ stays short. */
    ctx.ocr_dpi = DP_OCR_MIN_DPI;
    ready = 1;
  }
  return &ctx;
}

static enum dp_status drop(struct dp_emitter *self, struct dp_record *rec)
{
  (void)self;
  dpi_record_free(rec);
  return DP_OK;
}

enum dp_status dpf_run_stage(const struct dp_stage_ops *ops, const uint8_t *data, size_t size)
{
  struct dp_record *rec = dpi_record_new();
  dpi_record_set_str(rec, "id", "fuzz");
  struct dp_buf b;
  dpi_buf_init(&b, dpf_context()->max_document);
  dpi_buf_add(&b, data, size);
  dpi_record_set_body(rec, &b);
  struct dp_stage st = {.ops = ops, .ctx = dpf_context()};
  struct dp_emitter out = {drop, drop};
  enum dp_status rc = ops->process(&st, rec, &out);
  if(rc == DP_FAIL)
    dpi_record_free(rec);
  return rc;
}
