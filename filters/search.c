/* search.c - the "search" stage: DocumentReference searches on a FHIR
 * server, every page, as FHIR resource records for resolve.
 *
 * Each input is a patient id ("12724066", "Patient/12724066"), a query
 * string ("patient=12724066&category=clinical-note"), or a full search URL.
 * --param adds parameters to every search (type, category, date, ...).
 * Bundle.link "next" is followed to the end.  --since (or the mark kept in
 * the run state file, docpipe --state) adds _lastUpdated=ge<instant>; the
 * mark moves, when the run completes without a failed search, to the time
 * the run began by the server's clock, so a nightly job fetches only what
 * changed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "fhir.h"
#include "interrupt.h"
#include "ndjson.h"
#include "registry.h"
#include "date.h"
#include "runstate.h"
#include "scopes.h"

static const struct dp_option_spec search_options[] = {
  {"param", "NAME=VALUE", DP_OPT_MULTI, "DOCPIPE_SEARCH_PARAMS", NULL,
   "a search parameter added to every search (type, category, date, period, ...)"},
  {"count", "N", 0, "DOCPIPE_SEARCH_COUNT", "100", "page size (_count)"},
  {"resource", "TYPE", 0, "DOCPIPE_SEARCH_RESOURCE", "DocumentReference",
   "DocumentReference or DiagnosticReport"},
  {"since", "INSTANT", 0, "DOCPIPE_SEARCH_SINCE", NULL,
   "only resources updated since then (_lastUpdated=ge); default: the mark in --state"},
  {NULL, NULL, 0, NULL, NULL, NULL},
};

struct search_state {
  struct dp_runmark mark; /* --since, and the time of this run for next time */
};

static enum dp_status search_open(struct dp_stage *st, char *why, size_t whylen)
{
  struct search_state *ss = calloc(1, sizeof(*ss));
  if(!ss) {
    snprintf(why, whylen, "out of memory");
    return DP_FATAL;
  }
  /* Older state files kept search's mark as {"since": ...}. */
  dpi_runmark_open(&ss->mark, st->ctx->state, "search", dpi_opt(st, "since"), "since");
  st->state = ss;
  return DP_OK;
}

static void search_close(struct dp_stage *st)
{
  struct search_state *ss = st->state;
  if(!ss)
    return;
  /* A failed search must be asked again next time: the mark stays. */
  dpi_runmark_close(&ss->mark);
  free(ss);
  st->state = NULL;
}

static void mark(struct dp_stage *st, int failed, const struct dp_http_response *res)
{
  struct search_state *ss = st->state;
  if(failed)
    dpi_runmark_fail(&ss->mark);
  if(res) {
    /* Next time, ask for what changed since this run began, by the
     * server's clock (its Date header), not ours. */
    char now[32];
    dpi_iso_now(res->date, now);
    dpi_runmark_propose(&ss->mark, now);
  }
}

/* The first page's URL for one input.  A query string given as the input
 * is the user's own, sent as written; everything docpipe adds (the
 * patient, --param, _count, _lastUpdated) is encoded by libcurl. */
static int first_url(struct dp_stage *st, const char *arg, char *out, size_t outlen)
{
  const struct search_state *ss = st->state;
  if(strstr(arg, "://"))
    return snprintf(out, outlen, "%s", arg) < (int)outlen ? 0 : -1;
  const char *type = dpi_opt(st, "resource") ? dpi_opt(st, "resource") : "DocumentReference";
  char path[4096];
  if(snprintf(path, sizeof(path), "%s/%s", st->ctx->net->base, type) >= (int)sizeof(path))
    return -1;
  CURLU *u = curl_url();
  int bad = !u || curl_url_set(u, CURLUPART_URL, path, 0) != CURLUE_OK;
  const char *a = arg[0] == '?' ? arg + 1 : arg;
  int has_count = 0;
  if(!bad && strchr(a, '=')) {
    bad = curl_url_set(u, CURLUPART_QUERY, a, 0) != CURLUE_OK;
    has_count = !strncmp(a, "_count=", 7) || strstr(a, "&_count=");
  } else if(!bad) {
    bad = dpi_fhir_add_param(u, "patient", 7, !strncmp(a, "Patient/", 8) ? a + 8 : a);
  }
  const char *p;
  for(size_t i = 0; !bad && (p = dpi_opt_nth(st, "param", i)); i++) {
    const char *eq = strchr(p, '=');
    if(eq) {
      bad = dpi_fhir_add_param(u, p, (size_t)(eq - p), eq + 1);
      has_count |= eq - p == 6 && !strncmp(p, "_count", 6);
    }
  }
  if(!bad && !has_count)
    bad = dpi_fhir_add_param(u, "_count", 6, dpi_opt(st, "count") ? dpi_opt(st, "count") : "100");
  if(!bad && ss->mark.since[0]) {
    char ge[80];
    snprintf(ge, sizeof(ge), "ge%s", ss->mark.since);
    bad = dpi_fhir_add_param(u, "_lastUpdated", 12, ge);
  }
  char *full = NULL;
  if(!bad)
    bad = curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK ||
          snprintf(out, outlen, "%s", full) >= (int)outlen;
  curl_free(full);
  curl_url_cleanup(u);
  return bad ? -1 : 0;
}

/* GET one page of the search: its Bundle, or NULL with rec failed (a
 * failed search keeps its mark from moving). */
static json_object *get_page(struct dp_stage *st, struct dp_record *rec, const char *url,
                             const char *what, unsigned long emitted)
{
  struct dp_http_request req = {.url = url, .accept = "application/fhir+json"};
  struct dp_http_response res;
  if(dpi_http_do(st->ctx->net->http, &req, &res) || res.status != 200) {
    dpi_fhir_fail(rec, &res, what, "DocumentReference", DP_FHIR_ASKED);
    if(emitted)
      dpi_record_hint(rec, "%lu resources of this search were received before the failure; "
                           "run it again to get the rest",
                      emitted);
    dpi_http_response_free(&res);
    mark(st, 1, NULL);
    return NULL;
  }
  mark(st, 0, &res);
  json_object *bundle = NULL;
  char why[256];
  if(dpi_json_parse(dpi_buf_str(&res.body), res.body.len, &bundle, why, sizeof(why)) ||
     !dpi_json_member_str(bundle, "resourceType") ||
     strcmp(dpi_json_member_str(bundle, "resourceType"), "Bundle")) {
    json_object_put(bundle);
    dpi_http_response_free(&res);
    mark(st, 1, NULL);
    dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: the answer is not a Bundle", what);
    return NULL;
  }
  dpi_http_response_free(&res);
  return bundle;
}

/* The resources of one page as records, each with the input's _input. */
static enum dp_status emit_entries(json_object *bundle, json_object *input,
                                   struct dp_emitter *out, unsigned long *emitted)
{
  json_object *entries = dpi_json_member(bundle, "entry");
  size_t n = entries && json_object_is_type(entries, json_type_array)
                 ? json_object_array_length(entries) : 0;
  enum dp_status rc = DP_OK;
  for(size_t i = 0; i < n && rc != DP_FATAL; i++) {
    json_object *entry = json_object_array_get_idx(entries, i);
    json_object *res_obj = dpi_json_member(entry, "resource");
    const char *type = dpi_json_member_str(res_obj, "resourceType");
    if(!type || !strcmp(type, "OperationOutcome"))
      continue; /* search.mode "outcome": warnings, not documents */
    /* Move the resource out of the Bundle: the record goes to another
     * thread and must share nothing with what this one frees. */
    json_object *resource = json_object_get(res_obj);
    json_object_object_del(entry, "resource");
    struct dp_record *r = dpi_record_from_json(resource);
    if(!r)
      return DP_FATAL;
    json_object *copy = NULL;
    if(input && !json_object_deep_copy(input, &copy, NULL))
      json_object_object_add(r->obj, "_input", copy);
    rc = dpi_emit(out, r);
    (*emitted)++;
  }
  return rc;
}

/* The next page's URL into next ("" at the last page); -1 with rec failed
 * when it is on another server than the search's (not followed). */
static int next_page(struct dp_stage *st, struct dp_record *rec, json_object *bundle,
                     const char *url, const char *what, char *next, size_t nextlen)
{
  const char *link = dpi_fhir_next_link(bundle);
  next[0] = '\0';
  if(!link || !strcmp(link, url))
    return 0;
  if(dpi_http_resolve_url(url, link, next, nextlen) ||
     !dpi_http_same_origin(next, st->ctx->net->base)) {
    mark(st, 1, NULL);
    dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: the next page is on another server "
                                               "(not followed)", what);
    return -1;
  }
  return 0;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  const char *arg = dpi_record_str(rec, "_arg");
  if(!arg || !*arg)
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "a patient id or a search is needed");
  char url[DP_MAX_BUILT_URL];
  if(first_url(st, arg, url, sizeof(url)))
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "search too long");
  /* Errors name the search as TYPE?query, without the server part. */
  char label[600];
  const char *q = strchr(url, '?');
  snprintf(label, sizeof(label), "%s%.500s",
           dpi_opt(st, "resource") ? dpi_opt(st, "resource") : "DocumentReference", q ? q : "");
  dpi_record_set_str(rec, "id", label);
  json_object *input = dpi_json_member(rec->obj, "_input");
  unsigned long emitted = 0;
  for(unsigned page = 1; page <= DP_SEARCH_MAX_PAGES; page++) {
    if(dpi_interrupted())
      break;
    char what[700];
    snprintf(what, sizeof(what), "search %s page %u", label, page);
    json_object *bundle = get_page(st, rec, url, what, emitted);
    if(!bundle)
      return emitted ? dpi_emit_fail(out, rec) : DP_FAIL;
    enum dp_status rc = emit_entries(bundle, input, out, &emitted);
    char next_url[DP_MAX_BUILT_URL] = "";
    if(rc == DP_OK && next_page(st, rec, bundle, url, what, next_url, sizeof(next_url))) {
      json_object_put(bundle);
      return dpi_emit_fail(out, rec);
    }
    json_object_put(bundle);
    if(rc == DP_FATAL)
      return rc;
    if(!next_url[0])
      break;
    snprintf(url, sizeof(url), "%s", next_url);
  }
  dpi_record_free(rec);
  return DP_OK;
}

static void search_access(const struct dp_stage *st, const char *const *args, size_t nargs,
                          struct dp_buf *access)
{
  (void)args;
  (void)nargs;
  const char *type = dpi_opt(st, "resource");
  dpi_access_add(access, type ? type : "DocumentReference", "rs");
}

const struct dp_stage_ops dp_stage_search = {
  .name = "search",
  .summary = "search a FHIR server for DocumentReferences (by patient or query), every page",
  .flags = DP_STAGE_READS_ARGS | DP_STAGE_NETWORK | DP_STAGE_MAY_DROP,
  .options = search_options,
  .open = search_open,
  .process = process,
  .close = search_close,
  .access = search_access,
};
