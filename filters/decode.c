/* decode.c - the "decode" stage: an attachment's Base64 becomes bytes.
 *
 * Tolerant where FHIR allows it (line breaks, white space, base64url, no
 * padding), strict elsewhere: invalid Base64 fails that document only.  A
 * payload that is Base64 of Base64 is unwrapped to the real document.  When
 * the attachment declares its size or SHA-1 hash, they are checked:
 *   - a hash that differs: damaged (this is not the document described);
 *   - a size that differs while the hash matches, or with no hash to tell:
 *     converted, with the disagreement in meta.warnings (writers get
 *     attachment.size wrong, for the Base64 length, or the size before a
 *     conversion; the bytes are all there is, and dropping the document
 *     would lose it).  The data here is complete: inline or dumped JSON that
 *     parsed, or a Binary from the server that parsed as JSON; a transfer cut
 *     short is caught where it happens (the HTTP client, damaged) before it
 *     gets here. */
#include <string.h>

#include "extract.h"
#include "hash.h"
#include "registry.h"

static const struct dp_option_spec decode_options[] = {
  {"no-verify", NULL, DP_OPT_FLAG, "DOCPIPE_NO_VERIFY", NULL,
   "accept documents whose size or hash differs from the attachment's"},
  {NULL, NULL, 0, NULL, NULL, NULL},
};

/* Compare with attachment.size and attachment.hash when present. */
static enum dp_status verify(struct dp_record *rec, const struct dp_buf *bytes)
{
  json_object *facts, *size;
  if(!json_object_object_get_ex(rec->obj, "_fhir", &facts))
    return DP_OK;
  const char *hash = dpi_json_path_str(facts, "hash");
  int sized = json_object_object_get_ex(facts, "size", &size) &&
              json_object_is_type(size, json_type_int);
  long long said = sized ? (long long)json_object_get_int64(size) : 0;
  int size_differs = sized && (size_t)said != bytes->len;
  char sha1[29];
  if(hash && !dpi_sha1_b64(dpi_buf_str(bytes), bytes->len, sha1) && strcmp(hash, sha1)) {
    if(size_differs) {
      dpi_record_hint(rec, "the transfer may have been cut short; --no-verify accepts it");
      return dpi_record_fail(rec, DP_KIND_DAMAGED, "decoded %zu bytes but attachment.size is "
                             "%lld, and their SHA-1 differs from attachment.hash",
                             bytes->len, said);
    }
    dpi_record_hint(rec, "the document differs from the one the server described; "
                         "--no-verify accepts it");
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "SHA-1 of the decoded bytes differs from "
                                                 "attachment.hash");
  }
  if(!size_differs)
    return DP_OK;
  dpi_record_warn(rec, "attachment.size is %lld but the data holds %zu bytes%s", said, bytes->len,
                  hash ? " (attachment.hash matches)" : "");
  return DP_OK;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  if(rec->has_body)
    return dpi_emit(out, rec); /* already decoded */
  json_object *data;
  if(!json_object_object_get_ex(rec->obj, "data", &data) ||
     !json_object_is_type(data, json_type_string))
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT,
                           "record has no attachment data (run resolve first)");
  struct dp_buf bytes;
  dpi_buf_init(&bytes, st->ctx->max_document);
  size_t bad = 0;
  int layers = 0;
  enum dp_b64_result rc = dpi_decode_payload(st->ctx->stages, json_object_get_string(data),
                                             (size_t)json_object_get_string_len(data), &bytes,
                                             &bad, &layers);
  if(rc != DP_B64_OK) {
    dpi_buf_free(&bytes);
    if(rc == DP_B64_INVALID)
      return dpi_record_fail(rec, DP_KIND_BAD_BASE64,
                             "attachment data is not valid Base64 (offset %zu of %d)", bad,
                             json_object_get_string_len(data));
    if(rc == DP_B64_TOO_BIG) {
      dpi_record_hint(rec, "raise --max-bytes to convert it");
      return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "decoded document is over the %zu-byte cap",
                             st->ctx->max_document);
    }
    return dpi_record_fail(rec, DP_KIND_INTERNAL, "out of memory");
  }
  if(bytes.len == 0) {
    dpi_buf_free(&bytes);
    return dpi_record_fail(rec, DP_KIND_EMPTY, "attachment data is empty");
  }
  if(layers == 1 && !dpi_opt_flag(st, "no-verify") && verify(rec, &bytes) == DP_FAIL) {
    dpi_buf_free(&bytes);
    return DP_FAIL;
  }
  if(dpi_record_set_body(rec, &bytes))
    return dpi_record_fail(rec, DP_KIND_INTERNAL, "cannot hash the document");
  return dpi_emit(out, rec);
}

const struct dp_stage_ops dp_stage_decode = {
  .name = "decode",
  .summary = "decode attachment Base64 (also base64url, wrapped, Base64 of Base64) to bytes",
  .options = decode_options,
  .process = process,
};
