/* fuzz_ndjson.c - the JSON reader and the FHIR resource walk of resolve. */
#include <stdlib.h>

#include "fuzz.h"
#include "ndjson.h"
#include "registry.h"

static enum dp_status drop(struct dp_emitter *self, struct dp_record *rec)
{
  (void)self;
  dpi_record_free(rec);
  return DP_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_object *obj = NULL;
  char why[256];
  if(dpi_json_parse((const char *)data, size, &obj, why, sizeof(why)) != DP_JSON_OK)
    return 0;
  if(!json_object_is_type(obj, json_type_object)) {
    json_object_put(obj);
    return 0;
  }
  struct dp_record *rec = dpi_record_parse(obj);
  if(!rec)
    return 0;
  if(rec->err_kind != DP_KIND_NONE) {
    dpi_record_free(rec);
    return 0;
  }
  struct dp_stage st = {.ops = &dp_stage_resolve, .ctx = dpf_context()};
  char err[256];
  if(dp_stage_resolve.open(&st, err, sizeof(err)) != DP_OK) {
    dpi_record_free(rec);
    return 0;
  }
  struct dp_emitter out = {drop, drop};
  if(dp_stage_resolve.process(&st, rec, &out) == DP_FAIL)
    dpi_record_free(rec);
  dp_stage_resolve.close(&st);
  return 0;
}
