/* update.c - the "update" stage: version-aware writes to the FHIR server.
 *
 * Input lines are either a whole resource whose meta.versionId is the
 * version the change was made against, or a merge patch:
 *   {"reference": "DocumentReference/123", "patch": {"docStatus": "amended"}}
 * A resource is written with PUT and If-Match: W/"<versionId>"; a patch is
 * applied to the resource as read now and written against that version.
 * When the server answers 412 (or 409, which Oracle Health's R4 API uses for
 * the same case) someone else changed the resource first: the stage reads
 * it again and reports the conflict with both versions.  With --reapply a
 * patch is applied again to the fresh version and written again (a few
 * times at most).  A PUT is never retried blindly (see http.c).
 *
 * Output, one record per update: {"id": "DocumentReference/123",
 * "updated": true, "versionId": "4", "basedOn": "3"}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "fhir.h"
#include "ndjson.h"
#include "registry.h"
#include "scopes.h"

#define REAPPLY_TRIES 3

static const struct dp_option_spec update_options[] = {
  {"reapply", NULL, DP_OPT_FLAG, "DOCPIPE_REAPPLY", NULL,
   "on a version conflict, apply a merge patch again to the fresh version and retry"},
  {NULL, NULL, 0, NULL, NULL, NULL},
};

/* Read a resource; its version goes to version[]. */
static json_object *read_resource(struct dp_net *net, const char *ref, char *version,
                                  size_t vlen, struct dp_http_response *res)
{
  char url[4096];
  version[0] = '\0';
  if(dpi_fhir_url(net, ref, url, sizeof(url)))
    return NULL;
  struct dp_http_request req = {.url = url, .accept = "application/fhir+json"};
  if(dpi_http_do(net->http, &req, res) || res->status != 200)
    return NULL;
  json_object *obj = NULL;
  char why[128];
  if(dpi_json_parse(dpi_buf_str(&res->body), res->body.len, &obj, why, sizeof(why)))
    return NULL;
  const char *v = dpi_json_path_str(obj, "meta.versionId");
  snprintf(version, vlen, "%s", v ? v : "");
  return obj;
}

/* PUT body against version; the new version goes to newv[].  Returns the
 * HTTP status (0 when no answer). */
static long put_resource(struct dp_net *net, const char *ref, json_object *body,
                         const char *version, char *newv, size_t nlen,
                         struct dp_http_response *res)
{
  char url[4096], match[128];
  newv[0] = '\0';
  if(dpi_fhir_url(net, ref, url, sizeof(url)))
    return 0;
  snprintf(match, sizeof(match), "W/\"%s\"", version);
  size_t n = 0;
  const char *text = json_object_to_json_string_length(
      body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
  struct dp_http_request req = {.method = "PUT", .url = url, .accept = "application/fhir+json",
                                .content_type = "application/fhir+json", .body = text,
                                .body_len = n, .if_match = match};
  if(dpi_http_do(net->http, &req, res))
    return 0;
  /* The new version: from the ETag (W/"4"), else from the body. */
  const char *q = strchr(res->etag, '"');
  if(q)
    snprintf(newv, nlen, "%.*s", (int)strcspn(q + 1, "\""), q + 1);
  if(!newv[0]) {
    json_object *o = NULL;
    char why[128];
    if(!dpi_json_parse(dpi_buf_str(&res->body), res->body.len, &o, why, sizeof(why))) {
      const char *v = dpi_json_path_str(o, "meta.versionId");
      snprintf(newv, nlen, "%s", v ? v : "");
    }
    json_object_put(o);
  }
  return res->status;
}

static enum dp_status conflict(struct dp_stage *st, struct dp_record *rec, const char *ref,
                               const char *based_on, const struct dp_http_response *put)
{
  char current[64];
  struct dp_http_response res;
  json_object *now = read_resource(st->ctx->net, ref, current, sizeof(current), &res);
  json_object_put(now);
  dpi_http_response_free(&res);
  rec->err_status = (int)put->status;
  if(put->request_id[0])
    dpi_record_set_str(rec, "_requestId", put->request_id);
  dpi_record_hint(rec, "read the resource again and apply the change to the current version%s",
                  dpi_opt_flag(st, "reapply") ? "" : " (for merge patches, --reapply does it)");
  return dpi_record_fail(rec, DP_KIND_VERSION_CONFLICT,
                         "%s: version conflict (HTTP %ld): the change was based on version %s, "
                         "the server has version %s",
                         ref, put->status, based_on[0] ? based_on : "?",
                         current[0] ? current : "unknown");
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  struct dp_net *net = st->ctx->net;
  const char *patch_ref = dpi_record_str(rec, "reference");
  json_object *patch = dpi_json_member(rec->obj, "patch");
  const char *type = dpi_record_str(rec, "resourceType"), *rid = dpi_record_str(rec, "id");
  char ref[DP_MAX_SHORT];
  if(patch_ref && patch)
    snprintf(ref, sizeof(ref), "%s", patch_ref);
  else if(type && rid)
    snprintf(ref, sizeof(ref), "%s/%s", type, rid);
  else
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "neither a resource with an id nor "
                                                       "{\"reference\", \"patch\"}");
  char based_on[64] = "", newv[64];
  struct dp_http_response res;
  long status = 0;
  int tries = patch && dpi_opt_flag(st, "reapply") ? REAPPLY_TRIES : 1;
  for(int attempt = 1; attempt <= tries; attempt++) {
    json_object *body;
    if(patch) {
      json_object *current = read_resource(net, ref, based_on, sizeof(based_on), &res);
      if(!current) {
        char what[DP_MAX_SHORT + 16], rtype[64];
        snprintf(what, sizeof(what), "GET %s", ref);
        snprintf(rtype, sizeof(rtype), "%.*s", (int)strcspn(ref, "/"), ref);
        dpi_fhir_fail(rec, &res, what, rtype, DP_FHIR_ASKED);
        dpi_http_response_free(&res);
        return DP_FAIL;
      }
      dpi_http_response_free(&res);
      body = dpi_merge_patch(current, patch);
      json_object_put(current);
    } else {
      const char *v = dpi_json_path_str(rec->obj, "meta.versionId");
      if(!v)
        return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "%s has no meta.versionId: the "
                                                           "version the change was made "
                                                           "against is needed", ref);
      snprintf(based_on, sizeof(based_on), "%s", v);
      body = NULL;
      json_object_deep_copy(rec->obj, &body, NULL);
      json_object_object_del(body, "_input");
    }
    status = put_resource(net, ref, body, based_on, newv, sizeof(newv), &res);
    json_object_put(body);
    if(status == 200 || status == 201)
      break;
    if((status == 409 || status == 412) && attempt < tries) {
      dpi_http_response_free(&res);
      continue; /* someone else won: read, apply the patch again */
    }
    enum dp_status rc;
    if(status == 409 || status == 412) {
      rc = conflict(st, rec, ref, based_on, &res);
    } else {
      char what[DP_MAX_SHORT + 16];
      snprintf(what, sizeof(what), "PUT %s", ref);
      rc = dpi_fhir_fail(rec, &res, what, "resource", DP_FHIR_ASKED);
    }
    dpi_http_response_free(&res);
    return rc;
  }
  dpi_http_response_free(&res);
  json_object *result = json_object_new_object();
  dpi_json_set_str(result, "id", ref);
  json_object_object_add(result, "updated", json_object_new_boolean(1));
  dpi_json_set_str(result, "versionId", newv[0] ? newv : NULL);
  dpi_json_set_str(result, "basedOn", based_on);
  json_object_put(rec->obj);
  rec->obj = result;
  return dpi_emit(out, rec);
}

/* A read for the current version, then the PUT. */
static void update_access(const struct dp_stage *st, const char *const *args, size_t nargs,
                          struct dp_buf *access)
{
  (void)st;
  (void)args;
  (void)nargs;
  dpi_access_add(access, "DocumentReference", "ru");
}

const struct dp_stage_ops dp_stage_update = {
  .name = "update",
  .summary = "version-aware writes: PUT with If-Match, conflicts reported with both versions",
  .flags = DP_STAGE_NETWORK,
  .options = update_options,
  .process = process,
  .access = update_access,
};
