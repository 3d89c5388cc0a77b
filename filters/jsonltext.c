/* jsonltext.c - the "jsonl-text" stage: {"id": ..., "text": ...} lines for
 * tools that want only the identity and the text (docpipe --format
 * jsonl-text appends it).
 *
 * Deletion lines (record.h) are left out: the tools fed this way only ever
 * insert {id, text} pairs, and a deletion would reach them as a document
 * with no text.  They are counted as holding no document; --format ndjson
 * or es-bulk passes them on. */
#include "registry.h"

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  (void)st;
  if(dpi_record_is_deletion(rec)) {
    dpi_record_free(rec);
    return DP_OK;
  }
  json_object *id = dpi_json_member(rec->obj, "id");
  json_object *text = dpi_json_member(rec->obj, "content");
  if(!text || !json_object_is_type(text, json_type_string))
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT,
                           "record has no extracted content (run extract first)");
  json_object *o = json_object_new_object();
  json_object_object_add(o, "id", json_object_get(id));
  json_object_object_add(o, "text", json_object_get(text));
  json_object *input = dpi_json_member(rec->obj, "_input");
  if(input)
    json_object_object_add(o, "_input", json_object_get(input));
  json_object_put(rec->obj);
  rec->obj = o;
  return dpi_emit(out, rec);
}

const struct dp_stage_ops dp_stage_jsonl_text = {
  .name = "jsonl-text",
  .summary = "records reduced to {\"id\", \"text\"} for indexers that want only those",
  .flags = DP_STAGE_DELETIONS | DP_STAGE_FORMAT,
  .process = process,
};
