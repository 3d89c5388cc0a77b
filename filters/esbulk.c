/* esbulk.c - the "es-bulk" stage: records as an Elasticsearch / OpenSearch
 * _bulk body (docpipe --format es-bulk appends it).
 *
 * Each record becomes two lines: the action {"index": {"_index": NAME,
 * "_id": ID}} and the record itself.  The _id is the record's id (for
 * example "DocumentReference/123#1"), stable across runs, so loading the
 * same documents again updates them instead of duplicating them; an id
 * longer than Elasticsearch's 512-byte limit becomes its SHA-256.
 *
 * A deletion line (a resource a Bulk export reports deleted, record.h)
 * becomes one {"delete": {"_index": NAME, "_id": ID}} action with the same
 * _id, so an index kept up to date with --state and _since loses it. */
#include <string.h>

#include "hash.h"
#include "registry.h"

static const struct dp_option_spec esbulk_options[] = {
  {"index", "NAME", 0, "DOCPIPE_ES_INDEX", "docpipe", "index to load the records into"},
  {NULL, NULL, 0, NULL, NULL, NULL},
};

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  const char *id = dpi_record_str(rec, "id");
  if(!id)
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "record without an id");
  int deletion = dpi_record_is_deletion(rec);
  char hex[65];
  const char *doc_id = id;
  if(strlen(id) > 512 && !dpi_sha256_hex(id, strlen(id), hex))
    doc_id = hex;
  json_object *target = json_object_new_object();
  const char *index = dpi_opt(st, "index");
  dpi_json_set_str(target, "_index", index ? index : "docpipe");
  dpi_json_set_str(target, "_id", doc_id);
  json_object *action = json_object_new_object();
  json_object_object_add(action, deletion ? "delete" : "index", target);
  struct dp_buf raw;
  dpi_buf_init(&raw, (size_t)4 << 30);
  int flags = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
  dpi_buf_adds(&raw, json_object_to_json_string_ext(action, flags));
  json_object_put(action);
  if(!deletion) {
    /* The source: the record as it is, private fields aside. */
    json_object *source = json_object_new_object();
    json_object_object_foreach(rec->obj, key, value)
    {
      if(key[0] != '_')
        json_object_object_add(source, key, json_object_get(value));
    }
    dpi_buf_addc(&raw, '\n');
    size_t n = 0;
    const char *s = json_object_to_json_string_length(source, flags, &n);
    dpi_buf_add(&raw, s, n);
    json_object_put(source);
  }
  if(dpi_buf_failed(&raw)) {
    dpi_buf_free(&raw);
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "record too large for a bulk body");
  }
  json_object_object_add(rec->obj, "_raw",
                         json_object_new_string_len(dpi_buf_str(&raw), (int)raw.len));
  dpi_buf_free(&raw);
  return dpi_emit(out, rec);
}

const struct dp_stage_ops dp_stage_es_bulk = {
  .name = "es-bulk",
  .summary = "records as an Elasticsearch/OpenSearch _bulk body (action and source lines)",
  .flags = DP_STAGE_DELETIONS | DP_STAGE_FORMAT,
  .options = esbulk_options,
  .process = process,
};
