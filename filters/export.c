/* export.c - the "export" stage: FHIR Bulk Data $export, feeding the same
 * pipeline as a search.
 *
 * Input: the export level ("" or "system", "Patient", "Group/ID"); with no
 * input, a system-level export.
 *
 * Kick-off: GET with Prefer: respond-async and the parameters in the query
 * (each one URL-encoded, so a _typeFilter holding '&' stays one parameter),
 * or POST with a FHIR Parameters body when a patient= parameter is given,
 * --post is set, or the server answers the GET with 405.  A kick-off is
 * retried only when the server says it is transient (429, 503, or an
 * OperationOutcome coded transient or throttled): a permanent refusal
 * ("processing") is reported at once, with the server's explanation.
 *
 * Status: polled honouring Retry-After, every wait capped by --retry-cap
 * (servers send epoch times there) and the whole by --wait; X-Progress is
 * shown on stderr unless -q.  A 429 or transient failure of a poll is
 * retried like a kick-off; after the retries the export fails (429:
 * rate-limited) with the server's message.  Whatever ends the export (a
 * failed poll, --wait, Ctrl-C, the download done) DELETEs the job.
 *
 * Manifest: every page, following link "next" (allowPartialManifests).
 * Its output[] files become one record per resource; its deleted[] files
 * (transaction Bundles of DELETE requests) one deletion line per resource,
 * {"id":"Patient/123","deleted":true,...}; its error[] files (OperationOutcome,
 * with or without a final newline) one error record per outcome with its
 * diagnostics.  Files are downloaded by up to --concurrency threads into
 * unlinked temporary files, ahead of the one being read, and emitted in
 * manifest order, so the output does not depend on which finished first.
 * The token goes with a file only when the manifest says
 * requiresAccessToken.  A 410 for a file is "expired": export again.
 *
 * --since (or the mark kept in the run state file, docpipe --state) sends
 * _since; the mark moves to the manifest's transactionTime when the run
 * completes without a failed export. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "dplimits.h"
#include "fhir.h"
#include "interrupt.h"
#include "ndjson.h"
#include "progress.h"
#include "registry.h"
#include "runstate.h"
#include "scopes.h"

static const struct dp_option_spec export_options[] = {
  {"type", "TYPES", 0, "DOCPIPE_EXPORT_TYPE", "DocumentReference",
   "resource types to export (_type)"},
  {"param", "NAME=VALUE", DP_OPT_MULTI, "DOCPIPE_EXPORT_PARAMS", NULL,
   "an extra kick-off parameter (_typeFilter, patient, allowPartialManifests...), URL-encoded"},
  {"since", "INSTANT", 0, "DOCPIPE_EXPORT_SINCE", NULL,
   "only resources changed since then (_since); default: the mark in --state"},
  {"wait", "SECONDS", 0, "DOCPIPE_EXPORT_WAIT", DP_STR(DP_BULK_WAIT),
   "give up polling after this long"},
  {"post", NULL, DP_OPT_FLAG, "DOCPIPE_EXPORT_POST", NULL,
   "kick off with POST and a Parameters body (also done for patient=, or when GET is refused)"},
  {NULL, NULL, 0, NULL, NULL, NULL},
};

struct export_state {
  struct dp_runmark mark; /* --since, and the transactionTime for next time */
  unsigned seed;          /* jitter of the stage's own retries */
  pthread_mutex_t lock;   /* guards seed */
};

static enum dp_status export_open(struct dp_stage *st, char *why, size_t whylen)
{
  struct export_state *es = calloc(1, sizeof(*es));
  if(!es) {
    snprintf(why, whylen, "out of memory");
    return DP_FATAL;
  }
  pthread_mutex_init(&es->lock, NULL);
  es->seed = (unsigned)time(NULL) ^ (unsigned)getpid();
  dpi_runmark_open(&es->mark, st->ctx->state, "export", dpi_opt(st, "since"), NULL);
  st->state = es;
  return DP_OK;
}

static void export_close(struct dp_stage *st)
{
  struct export_state *es = st->state;
  if(!es)
    return;
  dpi_runmark_close(&es->mark);
  pthread_mutex_destroy(&es->lock);
  free(es);
  st->state = NULL;
}

static void failed(struct export_state *es)
{
  dpi_runmark_fail(&es->mark);
}

static double jitter(struct export_state *es)
{
  pthread_mutex_lock(&es->lock);
  double u = (double)rand_r(&es->seed) / ((double)RAND_MAX + 1.0);
  pthread_mutex_unlock(&es->lock);
  return u;
}

static double now_mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* How long to wait before asking again: the server's Retry-After (seconds,
 * an HTTP-date, or nonsense such as an epoch time), else `fallback`; never
 * more than --retry-cap. */
static double wait_for(const struct dp_net *net, const struct dp_http_response *res,
                       double fallback)
{
  double after = dpi_retry_after_seconds(res->retry_after, (long)time(NULL));
  if(after < 0)
    after = fallback;
  return after > net->retry_cap ? net->retry_cap : after;
}

static void delete_job(struct dp_net *net, const char *status_url)
{
  struct dp_http_request req = {.method = "DELETE", .url = status_url, .no_retry = 1};
  struct dp_http_response res;
  dpi_http_do(net->http, &req, &res);
  dpi_http_response_free(&res);
}

/* ---- what the server said ------------------------------------------------ */

/* The issue codes of an OperationOutcome body, joined by spaces, or "". */
static void outcome_codes(const struct dp_buf *body, char *out, size_t outlen)
{
  out[0] = '\0';
  json_object *o = NULL;
  char why[64];
  if(!body->len || dpi_json_parse(dpi_buf_str(body), body->len, &o, why, sizeof(why)))
    return;
  const char *type = dpi_json_member_str(o, "resourceType");
  json_object *issues = dpi_json_member(o, "issue");
  size_t n = type && !strcmp(type, "OperationOutcome") && issues &&
                     json_object_is_type(issues, json_type_array)
                 ? json_object_array_length(issues) : 0;
  size_t used = 0;
  for(size_t i = 0; i < n && used + 1 < outlen; i++) {
    const char *code = dpi_json_member_str(json_object_array_get_idx(issues, i), "code");
    if(code)
      used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? " " : "", code);
  }
  if(used >= outlen)
    out[outlen - 1] = '\0';
  json_object_put(o);
}

static int has_code(const char *codes, const char *code)
{
  size_t n = strlen(code);
  for(const char *p = codes; (p = strstr(p, code)); p += n)
    if((p == codes || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
      return 1;
  return 0;
}

/* Is this failure one the server says will pass (a kick-off or a status
 * poll may be tried again)? */
static int transient(const struct dp_http_response *res)
{
  if(res->auth_failed || res->too_large)
    return 0;
  if(res->status == 0)
    return 1; /* no answer: a reset, a timeout */
  if(res->status == 429 || res->status == 503)
    return 1;
  char codes[256];
  outcome_codes(&res->body, codes, sizeof(codes));
  return has_code(codes, "transient") || has_code(codes, "throttled");
}

/* A short answer that is not an OperationOutcome, fit for a message: the
 * "message" (or "error_description", "error") of a JSON error body (object
 * storage says {"code","message"}), else a plain-text body; one line, at
 * most DP_SERVER_TEXT bytes, URLs without their query strings (a server
 * quoting a pre-signed URL would quote its signature).  "" when there is
 * nothing readable. */
static void server_text(const struct dp_http_response *res, char *out, size_t outlen)
{
  out[0] = '\0';
  const char *body = dpi_buf_str(&res->body);
  size_t len = res->body.len;
  if(!len)
    return;
  json_object *o = NULL;
  char why[64];
  const char *text = NULL;
  if(!dpi_json_parse(body, len, &o, why, sizeof(why))) {
    if(!dpi_json_member_str(o, "resourceType")) {
      static const char *const keys[] = {"message", "error_description", "error", "detail"};
      for(size_t i = 0; i < sizeof(keys) / sizeof(*keys) && !text; i++)
        text = dpi_json_member_str(o, keys[i]);
    }
    if(text) {
      body = text;
      len = strlen(text);
    }
  } else if(res->content_type[0] && strncasecmp(res->content_type, "text/", 5)) {
    return; /* not text */
  } else if(!strncasecmp(res->content_type, "text/html", 9) && memchr(body, '<', len)) {
    return; /* an HTML error page says nothing useful in one line (Express calls its plain
               sentences text/html: those are kept) */
  }
  if(!text && o) {
    json_object_put(o);
    return;
  }
  size_t used = 0, cap = outlen - 1 < DP_SERVER_TEXT ? outlen - 1 : DP_SERVER_TEXT;
  int in_url = 0, in_query = 0, space = 0;
  for(size_t i = 0; i < len && used < cap; i++) {
    unsigned char c = (unsigned char)body[i];
    if(c == 0)
      break;
    if(c < ' ' || c == 0x7f || c == ' ') {
      in_url = in_query = 0;
      space = used > 0;
      continue;
    }
    if(i + 2 < len && !memcmp(body + i, "://", 3))
      in_url = 1;
    if(in_url && (c == '?' || c == '#'))
      in_query = 1;
    if(in_query)
      continue;
    if(space && used + 1 < cap)
      out[used++] = ' ';
    space = 0;
    out[used++] = (char)c;
  }
  /* Do not cut a UTF-8 character in two. */
  while(used && used == cap && ((unsigned char)out[used - 1] & 0xC0) == 0x80)
    used--;
  if(used && used == cap && (unsigned char)out[used - 1] >= 0xC0)
    used--;
  out[used] = '\0';
  json_object_put(o);
}

/* Fail rec for a failed exchange of the export: dpi_fhir_fail's diagnosis,
 * plus what only the export knows: a 410 is "expired"; a plain-text or
 * JSON error body is quoted when there is no OperationOutcome; a 401 for a
 * request that carried no token does not blame a refused token; `tries` is
 * the number of attempts made. */
static enum dp_status export_fail(struct dp_record *rec, struct dp_http_response *res,
                                  const char *what, const char *type, unsigned tries,
                                  int sent_token)
{
  res->tries = tries ? tries : res->tries;
  if(res->status == 410) {
    char diag[600];
    dpi_fhir_outcome(&res->body, diag, sizeof(diag));
    if(!diag[0])
      server_text(res, diag, sizeof(diag));
    rec->err_status = 410;
    if(res->request_id[0])
      dpi_record_set_str(rec, "_requestId", res->request_id);
    dpi_record_hint(rec, "the server no longer keeps this export's files; run the export again "
                         "(and download sooner)");
    return dpi_record_fail(rec, DP_KIND_EXPIRED, "%s: HTTP 410 Gone%s%s", what,
                           diag[0] ? ": " : "", diag);
  }
  dpi_fhir_fail(rec, res, what, type, DP_FHIR_ASKED);
  char diag[600], text[DP_SERVER_TEXT + 1];
  dpi_fhir_outcome(&res->body, diag, sizeof(diag));
  if(!diag[0] && res->status) {
    server_text(res, text, sizeof(text));
    if(text[0]) {
      char *msg = rec->err_message;
      rec->err_message = NULL;
      dpi_record_fail(rec, rec->err_kind, "%s: %s", msg ? msg : what, text);
      free(msg);
    }
  }
  if(res->status == 401 && !sent_token)
    dpi_record_hint(rec, "the server wants an access token and none was sent: give the SMART "
                         "client (--client-id with --private-key or --client-secret-file) or "
                         "--bearer-file");
  return DP_FAIL;
}

/* A 5xx the server does not call transient was not retried: a hint that
 * says "try again later" would not fit it. */
static void permanent_hint(struct dp_record *rec, const struct dp_http_response *res)
{
  if(res->status >= 500 && !transient(res))
    dpi_record_hint(rec, "the server reported a failure it does not call transient (not 503, "
                         "no OperationOutcome code transient or throttled), so it was not "
                         "retried; see its message, or report the request id");
}

/* ---- kick-off ------------------------------------------------------------- */

struct param {
  const char *name;
  size_t name_len;
  const char *value;
};

/* _type, _since and every --param; -1 when one is not NAME=VALUE. */
static int kickoff_params(struct dp_stage *st, struct param *ps, size_t *n, char *why,
                          size_t whylen)
{
  const struct export_state *es = st->state;
  *n = 0;
  const char *type = dpi_opt(st, "type") ? dpi_opt(st, "type") : "DocumentReference";
  ps[(*n)++] = (struct param){"_type", 5, type};
  if(es->mark.since[0])
    ps[(*n)++] = (struct param){"_since", 6, es->mark.since};
  const char *p;
  for(size_t i = 0; (p = dpi_opt_nth(st, "param", i)); i++) {
    const char *eq = strchr(p, '=');
    if(!eq || eq == p) {
      snprintf(why, whylen, "--param %.200s: NAME=VALUE expected", p);
      return -1;
    }
    if(*n == DP_BULK_MAX_PARAMS) {
      snprintf(why, whylen, "more than %d kick-off parameters", DP_BULK_MAX_PARAMS);
      return -1;
    }
    ps[(*n)++] = (struct param){p, (size_t)(eq - p), eq + 1};
  }
  return 0;
}

static int param_is(const struct param *p, const char *name)
{
  return p->name_len == strlen(name) && !strncmp(p->name, name, p->name_len);
}

/* The kick-off URL: base/$export or base/LEVEL/$export, with the query for
 * a GET. */
static int kickoff_url(const struct dp_net *net, const char *level, const struct param *ps,
                       size_t n, int with_query, char *out, size_t outlen)
{
  char path[4096];
  int w = !*level || !strcmp(level, "system")
              ? snprintf(path, sizeof(path), "%s/$export", net->base)
              : snprintf(path, sizeof(path), "%s/%s/$export", net->base, level);
  if(w >= (int)sizeof(path))
    return -1;
  CURLU *u = curl_url();
  int bad = !u || curl_url_set(u, CURLUPART_URL, path, 0) != CURLUE_OK;
  for(size_t i = 0; i < n && !bad && with_query; i++)
    bad = dpi_fhir_add_param(u, ps[i].name, ps[i].name_len, ps[i].value);
  char *full = NULL;
  if(!bad)
    bad = curl_url_get(u, CURLUPART_URL, &full, 0) != CURLUE_OK ||
          snprintf(out, outlen, "%s", full) >= (int)outlen;
  curl_free(full);
  curl_url_cleanup(u);
  return bad ? -1 : 0;
}

static void add_parameter(json_object *list, const char *name, size_t name_len, const char *key,
                          json_object *value)
{
  json_object *p = json_object_new_object();
  json_object_object_add(p, "name", json_object_new_string_len(name, (int)name_len));
  json_object_object_add(p, key, value);
  json_object_array_add(list, p);
}

/* The kick-off as a FHIR Parameters resource (Bulk Data IG: _since is an
 * instant, patient a reference per patient, allowPartialManifests a
 * boolean, includeAssociatedData a code, the rest strings). */
static char *kickoff_body(const struct param *ps, size_t n)
{
  json_object *params = json_object_new_object();
  dpi_json_set_str(params, "resourceType", "Parameters");
  json_object *list = json_object_new_array();
  for(size_t i = 0; i < n; i++) {
    const struct param *p = &ps[i];
    if(param_is(p, "patient")) {
      /* patient=1,2 names two patients, each its own parameter */
      for(const char *v = p->value; *v;) {
        size_t len = strcspn(v, ",");
        if(len) {
          char ref[512];
          int prefixed = len > 8 && !strncmp(v, "Patient/", 8);
          snprintf(ref, sizeof(ref), "%s%.*s", prefixed ? "" : "Patient/", (int)len, v);
          json_object *r = json_object_new_object();
          dpi_json_set_str(r, "reference", ref);
          add_parameter(list, p->name, p->name_len, "valueReference", r);
        }
        v += len + (v[len] == ',');
      }
    } else if(param_is(p, "_since")) {
      add_parameter(list, p->name, p->name_len, "valueInstant", json_object_new_string(p->value));
    } else if(param_is(p, "allowPartialManifests")) {
      add_parameter(list, p->name, p->name_len, "valueBoolean",
                    json_object_new_boolean(!strcasecmp(p->value, "true") ||
                                            !strcmp(p->value, "1")));
    } else if(param_is(p, "includeAssociatedData")) {
      add_parameter(list, p->name, p->name_len, "valueCode", json_object_new_string(p->value));
    } else {
      add_parameter(list, p->name, p->name_len, "valueString", json_object_new_string(p->value));
    }
  }
  json_object_object_add(params, "parameter", list);
  char *body = strdup(json_object_to_json_string_ext(params, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(params);
  return body;
}

/* Start the export: DP_OK with the status URL, or DP_FAIL with rec failed
 * (no job was left on the server). */
static enum dp_status kick_off(struct dp_stage *st, struct dp_record *rec, const char *level,
                               const char *label, char *status_url, size_t status_len)
{
  struct export_state *es = st->state;
  struct dp_net *net = st->ctx->net;
  struct param ps[DP_BULK_MAX_PARAMS];
  size_t n;
  char why[300];
  if(kickoff_params(st, ps, &n, why, sizeof(why)))
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "%s: %s", label, why);
  int post = dpi_opt_flag(st, "post");
  for(size_t i = 0; i < n; i++)
    post |= param_is(&ps[i], "patient"); /* a POST-only parameter (Bulk Data IG) */
  char what[300];
  snprintf(what, sizeof(what), "%s kick-off", label);
  int switched = 0;
  for(unsigned attempt = 1;; attempt++) {
    if(dpi_interrupted())
      return dpi_record_fail(rec, DP_KIND_TIMEOUT, "%s: interrupted before the server accepted "
                                                   "the export", label);
    char url[DP_MAX_BUILT_URL];
    if(kickoff_url(net, level, ps, n, !post, url, sizeof(url)))
      return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "%s: the request is too long", label);
    char *body = post ? kickoff_body(ps, n) : NULL;
    if(post && !body)
      return dpi_record_fail(rec, DP_KIND_INTERNAL, "%s: out of memory", label);
    struct dp_http_request req = {.method = post ? "POST" : NULL,
                                  .url = url,
                                  .accept = "application/fhir+json",
                                  .prefer = "respond-async",
                                  .content_type = post ? "application/fhir+json" : NULL,
                                  .body = body,
                                  .body_len = body ? strlen(body) : 0,
                                  .no_retry = 1};
    struct dp_http_response res;
    int got = dpi_http_do(net->http, &req, &res);
    free(body);
    if(!got && res.status == 202 && res.content_location[0]) {
      int bad = dpi_http_resolve_url(url, res.content_location, status_url, status_len);
      dpi_http_response_free(&res);
      if(bad)
        return dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: unusable Content-Location", what);
      /* Cut short now, the job would be left running: the caller deletes it. */
      return DP_OK;
    }
    if(!got && !post && !switched && res.status == 405) {
      /* This server takes the kick-off as POST only. */
      dpi_http_response_free(&res);
      post = switched = 1;
      attempt--;
      continue;
    }
    if(!got && res.status == 202) {
      dpi_http_response_free(&res);
      return dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: 202 without Content-Location", what);
    }
    if(!got && !res.auth_failed && res.status && res.status < 400) {
      dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: HTTP %ld instead of 202 Accepted", what,
                      res.status);
      dpi_http_response_free(&res);
      return DP_FAIL;
    }
    if(transient(&res) && attempt <= net->retries) {
      double d = wait_for(net, &res, dpi_backoff_delay(attempt, net->retry_base, net->retry_cap,
                                                       jitter(es)));
      dpi_http_response_free(&res);
      dpi_sleep(d);
      continue;
    }
    export_fail(rec, &res, what, "Bulk Data export", attempt,
                dpi_auth_mode(net->auth) != DP_AUTH_NONE);
    permanent_hint(rec, &res);
    dpi_http_response_free(&res);
    return DP_FAIL;
  }
}

/* ---- status and manifest pages ------------------------------------------- */

struct poller {
  struct dp_stage *st;
  const char *label;
  double deadline; /* monotonic time past which polling gives up (--wait) */
  double started;
  char progress[128];
};

/* GET url until it gives a manifest (200): the status URL, or the next page
 * of a manifest.  202 means not yet: wait Retry-After (capped) and ask
 * again.  Transient failures are retried --retries times in a row.
 * DP_OK with *manifest, or DP_FAIL with rec failed (the caller deletes the
 * job). */
static enum dp_status poll_manifest(struct poller *pl, struct dp_record *rec, const char *url,
                                    const char *what, json_object **manifest)
{
  struct export_state *es = pl->st->state;
  struct dp_net *net = pl->st->ctx->net;
  *manifest = NULL;
  unsigned failures = 0;
  for(;;) {
    if(dpi_interrupted())
      return dpi_record_fail(rec, DP_KIND_TIMEOUT, "%s: interrupted; the export job was deleted "
                                                   "on the server", pl->label);
    struct dp_http_request poll = {.url = url, .accept = "application/json", .no_retry = 1};
    struct dp_http_response res;
    int got = dpi_http_do(net->http, &poll, &res);
    double d;
    if(!got && res.status == 200) {
      char why[256];
      if(dpi_json_parse(dpi_buf_str(&res.body), res.body.len, manifest, why, sizeof(why)) ||
         !json_object_is_type(*manifest, json_type_object)) {
        json_object_put(*manifest);
        *manifest = NULL;
        dpi_http_response_free(&res);
        return dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: the manifest is not a JSON "
                                                          "object (%s)", what, why);
      }
      dpi_http_response_free(&res);
      return DP_OK;
    }
    if(!got && res.status == 202) {
      failures = 0;
      if(res.x_progress[0] && strcmp(res.x_progress, pl->progress)) {
        snprintf(pl->progress, sizeof(pl->progress), "%s", res.x_progress);
        dpi_say(pl->st->ctx, "export: %s", pl->progress);
      }
      d = wait_for(net, &res, 2);
    } else if(transient(&res) && ++failures <= net->retries) {
      d = wait_for(net, &res, dpi_backoff_delay(failures, net->retry_base, net->retry_cap,
                                                jitter(es)));
    } else {
      export_fail(rec, &res, what, "Bulk Data export", failures ? failures : 1,
                  dpi_auth_mode(net->auth) != DP_AUTH_NONE);
      permanent_hint(rec, &res);
      dpi_http_response_free(&res);
      return DP_FAIL;
    }
    dpi_http_response_free(&res);
    double now = now_mono();
    if(now + d > pl->deadline)
      return dpi_record_fail(rec, DP_KIND_TIMEOUT, "%s: not ready after %.0f s (--wait); the "
                                                   "job was deleted", pl->label, now - pl->started);
    dpi_sleep(d);
  }
}

/* ---- files ------------------------------------------------------------------- */

enum file_list { LIST_OUTPUT, LIST_DELETED, LIST_ERROR };

struct bulk_file {
  char *url;           /* as the manifest gives it (a pre-signed URL keeps its query) */
  char *name;          /* the URL without its query, whole: _input.file, source.url */
  char *type;          /* the manifest's "type", or NULL */
  enum file_list list;
  /* Filled by the thread that downloads it. */
  FILE *tmp;           /* the body, in an unlinked temporary file */
  struct dp_http_response res;
  int got;             /* dpi_http_do: 0 when an answer came; -2: no temporary file */
  int state;           /* FILE_WAITING, FILE_RUNNING, FILE_DONE */
};

enum { FILE_WAITING, FILE_RUNNING, FILE_DONE };

/* Downloads run ahead of the file being read, by at most `ahead` files, on
 * `nthreads` threads; the stage's own thread reads the files in manifest
 * order as they are done. */
struct fetcher {
  pthread_mutex_t lock;
  pthread_cond_t cv;
  struct bulk_file *files;
  size_t n;
  size_t next;    /* the next file to start */
  size_t emitted; /* files read and released */
  size_t ahead;
  int stop;       /* no more downloads: the run failed or was interrupted */
  struct dp_http *http;
  int needs_token;
};

static void download(struct fetcher *f, struct bulk_file *bf)
{
  if(!(bf->tmp = tmpfile())) {
    bf->got = -2;
    return;
  }
  struct dp_http_request get = {.url = bf->url, .accept = "application/fhir+ndjson",
                                .no_auth = !f->needs_token, .send_token = f->needs_token,
                                .sink = bf->tmp};
  bf->got = dpi_http_do(f->http, &get, &bf->res);
  if(!bf->got && bf->res.status != 200) {
    /* The answer explains the failure (an OperationOutcome, storage's JSON):
     * keep its start in memory, where the diagnosis looks. */
    char chunk[4096];
    size_t n;
    rewind(bf->tmp);
    while(bf->res.body.len < DP_BULK_ERROR_BODY &&
          (n = fread(chunk, 1, sizeof(chunk), bf->tmp)) > 0)
      if(dpi_buf_add(&bf->res.body, chunk, n))
        break;
    bf->res.sink = NULL;
  }
}

static void *fetch_main(void *arg)
{
  struct fetcher *f = arg;
  pthread_mutex_lock(&f->lock);
  for(;;) {
    while(!f->stop && f->next < f->n && f->next >= f->emitted + f->ahead)
      pthread_cond_wait(&f->cv, &f->lock);
    if(f->stop || f->next >= f->n || dpi_interrupted())
      break;
    struct bulk_file *bf = &f->files[f->next++];
    bf->state = FILE_RUNNING;
    pthread_mutex_unlock(&f->lock);
    download(f, bf);
    pthread_mutex_lock(&f->lock);
    bf->state = FILE_DONE;
    pthread_cond_broadcast(&f->cv);
  }
  /* Interrupted: the reader must not wait for files nobody will fetch. */
  f->stop |= dpi_interrupted();
  pthread_cond_broadcast(&f->cv);
  pthread_mutex_unlock(&f->lock);
  return NULL;
}

/* The URL without its query and fragment, whole (never cut: it is the
 * provenance of every record read from the file). */
static char *url_name(const char *url)
{
  size_t n = strcspn(url, "?#");
  char *s = malloc(n + 1);
  if(s) {
    memcpy(s, url, n);
    s[n] = '\0';
  }
  return s;
}

/* A record that failed, belonging to the export's input (not a document of
 * the server's: id is the export's label). */
static struct dp_record *export_record(const char *label, json_object *input, const char *file,
                                       unsigned long line)
{
  struct dp_record *r = dpi_record_new();
  if(!r)
    return NULL;
  dpi_record_set_str(r, "id", label);
  json_object *in = NULL;
  json_object_deep_copy(input, &in, NULL);
  if(!in)
    in = json_object_new_object();
  if(file)
    dpi_json_set_str(in, "file", file);
  if(line)
    json_object_object_add(in, "line", json_object_new_int64((int64_t)line));
  json_object_object_add(r->obj, "_input", in);
  return r;
}

struct reading {
  const char *label;     /* "$export system" */
  json_object *input;    /* _input of the export's input */
  const char *transaction_time;
  struct dp_emitter *out;
  unsigned long resources, deletions, issues;
};

/* An output[] file: every line a resource record. */
static enum dp_status emit_output(struct reading *rd, struct bulk_file *bf)
{
  rewind(bf->tmp);
  struct dp_reader r;
  if(dpi_reader_attach(&r, bf->tmp, DP_MAX_LINE))
    return DP_FATAL;
  const char *line;
  size_t len;
  int too_long;
  enum dp_status rc = DP_OK;
  while(rc != DP_FATAL && dpi_reader_next(&r, &line, &len, &too_long) == 1) {
    if(!too_long && len == 0)
      continue;
    struct dp_record *rec = export_record(rd->label, rd->input, bf->name, r.line);
    if(!rec) {
      rc = DP_FATAL;
      break;
    }
    json_object *obj = NULL;
    char why[256];
    if(too_long) {
      dpi_record_fail(rec, DP_KIND_TOO_LARGE, "%s line %lu is over the line cap", bf->name,
                      r.line);
      rc = dpi_emit_fail(rd->out, rec);
    } else if(dpi_json_parse(line, len, &obj, why, sizeof(why)) ||
              !json_object_is_type(obj, json_type_object)) {
      json_object_put(obj);
      dpi_record_fail(rec, DP_KIND_BAD_JSON, "%s line %lu: %s", bf->name, r.line,
                      obj ? "not a JSON object" : why);
      rc = dpi_emit_fail(rd->out, rec);
    } else {
      json_object *keep = dpi_json_member(rec->obj, "_input");
      json_object_get(keep);
      json_object_put(rec->obj);
      rec->obj = obj;
      json_object_object_add(rec->obj, "_input", keep);
      rc = dpi_emit(rd->out, rec);
      rd->resources++;
    }
  }
  dpi_reader_close(&r);
  return rc;
}

/* "Type/id" of a deleted resource from a request url ("Patient/123",
 * "https://host/r4/Patient/123", ".../Patient/123/_history/2"), or "". */
static void deleted_ref(const char *url, char *out, size_t outlen)
{
  out[0] = '\0';
  if(!url)
    return;
  size_t n = strcspn(url, "?#");
  const char *end = url + n;
  const char *hist = NULL;
  for(const char *p = url; (p = strstr(p, "/_history")) && p < end; p++)
    hist = p;
  if(hist)
    end = hist;
  while(end > url && end[-1] == '/')
    end--;
  const char *id = end;
  while(id > url && id[-1] != '/')
    id--;
  if(id == end || id == url)
    return;
  const char *type = id - 1;
  while(type > url && type[-1] != '/')
    type--;
  if(!(*type >= 'A' && *type <= 'Z'))
    return;
  snprintf(out, outlen, "%.*s", (int)(end - type), type);
}

static enum dp_status emit_deletion(struct reading *rd, struct bulk_file *bf, const char *ref)
{
  struct dp_record *d = dpi_record_new();
  if(!d)
    return DP_FATAL;
  dpi_record_set_str(d, "id", ref);
  json_object_object_add(d->obj, "deleted", json_object_new_boolean(1));
  json_object *src = dpi_record_object(d, "source");
  dpi_json_set_str(src, "url", bf->name);
  dpi_json_set_str(src, "transactionTime", rd->transaction_time);
  rd->deletions++;
  return dpi_emit(rd->out, d);
}

/* A deleted[] file: transaction Bundles whose entries are DELETE requests
 * (Bulk Data IG), one deletion line per resource. */
static enum dp_status emit_deleted(struct reading *rd, struct bulk_file *bf)
{
  rewind(bf->tmp);
  struct dp_reader r;
  if(dpi_reader_attach(&r, bf->tmp, DP_MAX_LINE))
    return DP_FATAL;
  const char *line;
  size_t len;
  int too_long;
  enum dp_status rc = DP_OK;
  while(rc != DP_FATAL && dpi_reader_next(&r, &line, &len, &too_long) == 1) {
    if(!too_long && len == 0)
      continue;
    json_object *obj = NULL;
    char why[256] = "over the line cap";
    size_t found = 0;
    if(!too_long && !dpi_json_parse(line, len, &obj, why, sizeof(why))) {
      const char *type = dpi_json_member_str(obj, "resourceType");
      json_object *entries = dpi_json_member(obj, "entry");
      size_t n = type && !strcmp(type, "Bundle") && entries &&
                         json_object_is_type(entries, json_type_array)
                     ? json_object_array_length(entries) : 0;
      for(size_t i = 0; i < n && rc != DP_FATAL; i++) {
        json_object *e = json_object_array_get_idx(entries, i);
        json_object *req = dpi_json_member(e, "request");
        const char *method = dpi_json_member_str(req, "method");
        char ref[DP_MAX_SHORT / 4];
        deleted_ref(dpi_json_member_str(req, "url"), ref, sizeof(ref));
        if(!ref[0])
          deleted_ref(dpi_json_member_str(e, "fullUrl"), ref, sizeof(ref));
        if(ref[0] && (!method || !strcasecmp(method, "DELETE"))) {
          rc = emit_deletion(rd, bf, ref);
          found++;
        }
      }
      if(type && strcmp(type, "Bundle") && dpi_json_member_str(obj, "id")) {
        /* A server that lists the deleted resources themselves. */
        char ref[DP_MAX_SHORT / 4];
        snprintf(ref, sizeof(ref), "%s/%s", type, dpi_json_member_str(obj, "id"));
        rc = emit_deletion(rd, bf, ref);
        found++;
      }
      snprintf(why, sizeof(why), "no DELETE entry naming a resource");
    }
    json_object_put(obj);
    if(!found && rc != DP_FATAL) {
      struct dp_record *e = export_record(rd->label, rd->input, bf->name, r.line);
      if(!e) {
        rc = DP_FATAL;
        break;
      }
      dpi_record_fail(e, too_long ? DP_KIND_TOO_LARGE : DP_KIND_BAD_JSON,
                      "%s line %lu of the deleted resources: %s", bf->name, r.line, why);
      rc = dpi_emit_fail(rd->out, e);
    }
  }
  dpi_reader_close(&r);
  return rc;
}

/* The kind an OperationOutcome of the export's error[] file stands for. */
static enum dp_kind outcome_kind(const char *codes)
{
  if(has_code(codes, "not-found") || has_code(codes, "deleted"))
    return DP_KIND_NOT_FOUND;
  if(has_code(codes, "forbidden") || has_code(codes, "security") ||
     has_code(codes, "suppressed"))
    return DP_KIND_FORBIDDEN;
  if(has_code(codes, "too-costly") || has_code(codes, "too-long"))
    return DP_KIND_TOO_LARGE;
  if(has_code(codes, "throttled"))
    return DP_KIND_RATE_LIMITED;
  return DP_KIND_SERVER_ERROR;
}

static enum dp_status emit_outcome(struct reading *rd, struct bulk_file *bf, unsigned long line,
                                   json_object *oo, const char *why)
{
  struct dp_record *e = export_record(rd->label, rd->input, bf->name, line);
  if(!e)
    return DP_FATAL;
  if(!oo) {
    dpi_record_fail(e, DP_KIND_BAD_JSON, "%s line %lu of the export's errors: %s", bf->name, line,
                    why);
    return dpi_emit_fail(rd->out, e);
  }
  struct dp_buf text;
  dpi_buf_init(&text, DP_MAX_LINE);
  size_t n = 0;
  const char *s = json_object_to_json_string_length(oo, JSON_C_TO_STRING_PLAIN, &n);
  dpi_buf_add(&text, s, n);
  char diag[1000], codes[256];
  dpi_fhir_outcome(&text, diag, sizeof(diag));
  outcome_codes(&text, codes, sizeof(codes));
  dpi_buf_free(&text);
  rd->issues++;
  dpi_record_fail(e, outcome_kind(codes), "%s: the server could not export: %s%s%s%s", rd->label,
                  diag[0] ? diag : "(an OperationOutcome without diagnostics)",
                  codes[0] ? " (" : "", codes, codes[0] ? ")" : "");
  return dpi_emit_fail(rd->out, e);
}

/* An error[] file: OperationOutcomes one per line, the last line with or
 * without its newline; one pretty-printed over many lines is read whole. */
static enum dp_status emit_errors(struct reading *rd, struct bulk_file *bf)
{
  rewind(bf->tmp);
  struct dp_reader r;
  if(dpi_reader_attach(&r, bf->tmp, DP_MAX_LINE))
    return DP_FATAL;
  const char *line;
  size_t len;
  int too_long, first = 1;
  enum dp_status rc = DP_OK;
  while(rc != DP_FATAL && dpi_reader_next(&r, &line, &len, &too_long) == 1) {
    if(!too_long && len == 0)
      continue;
    json_object *oo = NULL;
    char why[256] = "over the line cap";
    enum dp_json_result jr = too_long ? DP_JSON_INVALID
                                      : dpi_json_parse(line, len, &oo, why, sizeof(why));
    if(jr == DP_JSON_INCOMPLETE && first) {
      struct dp_buf whole;
      dpi_buf_init(&whole, DP_MAX_JSON_FILE);
      dpi_buf_add(&whole, line, len);
      dpi_buf_addc(&whole, '\n');
      unsigned long at = r.line;
      if(!dpi_reader_rest(&r, &whole) &&
         !dpi_json_parse(dpi_buf_str(&whole), whole.len, &oo, why, sizeof(why))) {
        rc = emit_outcome(rd, bf, at, oo, why);
        json_object_put(oo);
        dpi_buf_free(&whole);
        break;
      }
      dpi_buf_free(&whole);
      oo = NULL;
      rc = emit_outcome(rd, bf, at, NULL, why);
      break;
    }
    first = 0;
    if(jr == DP_JSON_OK && !json_object_is_type(oo, json_type_object)) {
      json_object_put(oo);
      oo = NULL;
      snprintf(why, sizeof(why), "not a JSON object");
    }
    rc = emit_outcome(rd, bf, r.line, jr == DP_JSON_OK ? oo : NULL, why);
    json_object_put(oo);
  }
  dpi_reader_close(&r);
  return rc;
}

/* A file whose download failed: one error record naming it. */
static enum dp_status emit_failed_file(struct reading *rd, struct bulk_file *bf,
                                       const struct dp_net *net, int needs_token)
{
  struct dp_record *err = export_record(rd->label, rd->input, bf->name, 0);
  if(!err)
    return DP_FATAL;
  char shown[512], what[600];
  dpi_http_safe_url(bf->url, shown, sizeof(shown));
  snprintf(what, sizeof(what), "GET %s", shown);
  if(bf->got == -2) {
    dpi_record_fail(err, DP_KIND_IO, "%s: no temporary file for the download", what);
  } else {
    export_fail(err, &bf->res, what, bf->type ? bf->type : "export file", 0,
                needs_token && net->base[0] && dpi_http_same_origin(bf->url, net->base) &&
                    dpi_auth_mode(net->auth) != DP_AUTH_NONE);
    if(bf->res.status == 404) /* a file the manifest listed: gone, not hidden by a persona */
      dpi_record_hint(err, "the server no longer has this file of the export (an expired or "
                           "deleted job); run the export again");
  }
  return dpi_emit_fail(rd->out, err);
}

static void release_file(struct bulk_file *bf)
{
  if(bf->tmp)
    fclose(bf->tmp);
  if(bf->state == FILE_DONE && bf->got != -2)
    dpi_http_response_free(&bf->res);
  free(bf->url);
  free(bf->name);
  free(bf->type);
  memset(bf, 0, sizeof(*bf));
}

/* The files of one manifest page, in manifest order: output[], deleted[],
 * error[].  NULL with *n = 0 when it lists none; -1 when out of memory. */
static int page_files(json_object *manifest, struct bulk_file **out, size_t *n)
{
  static const char *const lists[] = {"output", "deleted", "error"};
  *out = NULL;
  *n = 0;
  size_t total = 0;
  for(int l = 0; l < 3; l++) {
    json_object *files = dpi_json_member(manifest, lists[l]);
    if(files && json_object_is_type(files, json_type_array))
      total += json_object_array_length(files);
  }
  if(!total)
    return 0;
  struct bulk_file *fs = calloc(total, sizeof(*fs));
  if(!fs)
    return -1;
  size_t k = 0;
  for(int l = 0; l < 3; l++) {
    json_object *files = dpi_json_member(manifest, lists[l]);
    size_t m = files && json_object_is_type(files, json_type_array)
                   ? json_object_array_length(files) : 0;
    for(size_t i = 0; i < m; i++) {
      json_object *item = json_object_array_get_idx(files, i);
      const char *url = dpi_json_member_str(item, "url");
      const char *type = dpi_json_member_str(item, "type");
      if(!url)
        continue;
      struct bulk_file *bf = &fs[k];
      bf->list = (enum file_list)l;
      bf->url = strdup(url);
      bf->name = url_name(url);
      bf->type = type ? strdup(type) : NULL;
      if(!bf->url || !bf->name || (type && !bf->type)) {
        for(size_t j = 0; j <= k; j++)
          release_file(&fs[j]);
        free(fs);
        return -1;
      }
      k++;
    }
  }
  *out = fs;
  *n = k;
  return 0;
}

/* Download and read the files of one page. */
static enum dp_status read_page(struct dp_stage *st, struct reading *rd, json_object *manifest,
                                const char *page_url)
{
  struct dp_net *net = st->ctx->net;
  json_object *token_flag = dpi_json_member(manifest, "requiresAccessToken");
  struct fetcher f = {.http = net->http,
                      .needs_token = token_flag && json_object_get_boolean(token_flag)};
  if(page_files(manifest, &f.files, &f.n))
    return DP_FATAL;
  if(!f.n)
    return DP_OK;
  (void)page_url;
  size_t outputs = 0;
  for(size_t i = 0; i < f.n; i++)
    outputs += f.files[i].list == LIST_OUTPUT;
  dpi_progress_plan_more_files(st->ctx->progress, outputs);
  unsigned want = net->concurrency ? net->concurrency : 1;
  if(want > DP_BULK_MAX_DOWNLOADS)
    want = DP_BULK_MAX_DOWNLOADS;
  if(want > f.n)
    want = (unsigned)f.n;
  f.ahead = 2 * (size_t)want;
  pthread_mutex_init(&f.lock, NULL);
  pthread_cond_init(&f.cv, NULL);
  pthread_t threads[DP_BULK_MAX_DOWNLOADS];
  unsigned started = 0;
  for(; started < want; started++)
    if(pthread_create(&threads[started], NULL, fetch_main, &f))
      break;

  enum dp_status rc = DP_OK;
  for(size_t k = 0; k < f.n && rc != DP_FATAL; k++) {
    struct bulk_file *bf = &f.files[k];
    if(!started) {
      /* No thread could start: download here, one file at a time. */
      if(dpi_interrupted())
        break;
      download(&f, bf);
      bf->state = FILE_DONE;
    }
    pthread_mutex_lock(&f.lock);
    while(bf->state != FILE_DONE && !(f.stop && bf->state == FILE_WAITING))
      pthread_cond_wait(&f.cv, &f.lock);
    int done = bf->state == FILE_DONE;
    pthread_mutex_unlock(&f.lock);
    if(!done || dpi_interrupted())
      break; /* interrupted: the files in hand were read */
    if(bf->got || bf->res.status != 200) {
      rc = emit_failed_file(rd, bf, net, f.needs_token);
      failed(st->state);
    } else {
      long size = ftell(bf->tmp);
      if(bf->list == LIST_OUTPUT) {
        rc = emit_output(rd, bf);
        dpi_progress_read(st->ctx->progress, size > 0 ? (unsigned long long)size : 0);
        dpi_progress_file_done(st->ctx->progress);
      } else if(bf->list == LIST_DELETED) {
        rc = emit_deleted(rd, bf);
      } else {
        rc = emit_errors(rd, bf);
        failed(st->state);
      }
    }
    pthread_mutex_lock(&f.lock);
    release_file(bf);
    f.emitted = k + 1;
    pthread_cond_broadcast(&f.cv);
    pthread_mutex_unlock(&f.lock);
  }
  pthread_mutex_lock(&f.lock);
  f.stop = 1;
  pthread_cond_broadcast(&f.cv);
  pthread_mutex_unlock(&f.lock);
  for(unsigned i = 0; i < started; i++)
    pthread_join(threads[i], NULL);
  for(size_t k = 0; k < f.n; k++)
    release_file(&f.files[k]);
  free(f.files);
  pthread_cond_destroy(&f.cv);
  pthread_mutex_destroy(&f.lock);
  return rc;
}

/* ---- the stage ---------------------------------------------------------------- */

/* Read every page of the manifest (which this puts), following its "next"
 * links, each one polled like the first.  DP_FATAL, or DP_OK with
 * *page_failed set when a page could not be had (rec failed). */
static enum dp_status read_manifest(struct dp_stage *st, struct dp_record *rec,
                                    struct reading *rd, struct poller *pl, json_object *manifest,
                                    const char *status_url, int *page_failed)
{
  enum dp_status rc = DP_OK;
  char page_url[DP_MAX_STATUS_URL], what[300];
  snprintf(page_url, sizeof(page_url), "%s", status_url);
  *page_failed = 0;
  for(unsigned page = 1; manifest && rc != DP_FATAL; page++) {
    rc = read_page(st, rd, manifest, page_url);
    const char *next = dpi_fhir_next_link(manifest);
    char next_url[DP_MAX_STATUS_URL] = "";
    if(next && dpi_http_resolve_url(page_url, next, next_url, sizeof(next_url)))
      next_url[0] = '\0';
    json_object_put(manifest);
    manifest = NULL;
    if(rc == DP_FATAL || dpi_interrupted() || !next_url[0] || !strcmp(next_url, page_url))
      break;
    if(page >= DP_BULK_MAX_PAGES) {
      dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: the manifest has more than %d pages",
                      rd->label, DP_BULK_MAX_PAGES);
      *page_failed = 1;
      break;
    }
    snprintf(page_url, sizeof(page_url), "%s", next_url);
    snprintf(what, sizeof(what), "%s manifest page %u", rd->label, page + 1);
    if(poll_manifest(pl, rec, page_url, what, &manifest) != DP_OK) {
      *page_failed = 1;
      break;
    }
  }
  json_object_put(manifest);
  return rc;
}

/* How an export whose job is deleted ends: out of memory, interrupted, cut
 * short by a page that could not be had (what was read stays), or done. */
static enum dp_status finish(struct export_state *es, struct dp_record *rec,
                             struct dp_emitter *out, const struct reading *rd, enum dp_status rc,
                             int page_failed)
{
  if(rc == DP_FATAL) {
    dpi_record_free(rec);
    return rc;
  }
  if(dpi_interrupted()) {
    failed(es);
    return dpi_record_fail(rec, DP_KIND_TIMEOUT, "%s: interrupted during the download; %lu "
                                                 "resources were read; the export job was "
                                                 "deleted on the server", rd->label,
                           rd->resources);
  }
  if(page_failed) {
    failed(es);
    dpi_record_hint(rec, "%lu resources of this export were read before the failure; run it "
                         "again to get the rest", rd->resources);
    return dpi_emit_fail(out, rec);
  }
  dpi_record_free(rec);
  return DP_OK;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  struct export_state *es = st->state;
  struct dp_net *net = st->ctx->net;
  const char *level = dpi_record_str(rec, "_arg");
  if(!level)
    level = "";
  char label[128];
  snprintf(label, sizeof(label), "$export %.100s", *level ? level : "system");
  dpi_record_set_str(rec, "id", label);

  char status_url[DP_MAX_STATUS_URL];
  if(kick_off(st, rec, level, label, status_url, sizeof(status_url)) != DP_OK) {
    failed(es);
    return DP_FAIL;
  }

  const char *wait_opt = dpi_opt(st, "wait");
  struct poller pl = {.st = st, .label = label, .started = now_mono()};
  pl.deadline = pl.started + (wait_opt ? atof(wait_opt) : DP_BULK_WAIT);
  char what[300];
  snprintf(what, sizeof(what), "%s status", label);
  json_object *manifest = NULL;
  if(poll_manifest(&pl, rec, status_url, what, &manifest) != DP_OK) {
    delete_job(net, status_url);
    failed(es);
    return DP_FAIL;
  }

  /* Copies: the manifest is freed page by page. */
  char tt[64] = "";
  const char *t = dpi_json_member_str(manifest, "transactionTime");
  if(t)
    snprintf(tt, sizeof(tt), "%s", t);
  if(tt[0])
    dpi_runmark_propose(&es->mark, tt); /* the next _since */
  json_object *input = NULL;
  json_object_deep_copy(dpi_json_member(rec->obj, "_input"), &input, NULL);
  struct reading rd = {label, input, tt[0] ? tt : NULL, out, 0, 0, 0};
  int page_failed;
  enum dp_status rc = read_manifest(st, rec, &rd, &pl, manifest, status_url, &page_failed);
  json_object_put(input);
  delete_job(net, status_url);
  return finish(es, rec, out, &rd, rc, page_failed);
}

/* Read access to each exported type, and to the Patient or Group the
 * export runs on (the arguments, when given on the command line). */
static void export_access(const struct dp_stage *st, const char *const *args, size_t nargs,
                          struct dp_buf *access)
{
  const char *types = dpi_opt(st, "type") ? dpi_opt(st, "type") : "DocumentReference";
  char buf[1024];
  snprintf(buf, sizeof(buf), "%s", types);
  for(char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
    dpi_access_add(access, t, "rs");
  for(size_t i = 0; args && i < nargs; i++) {
    if(!strncmp(args[i], "Group/", 6))
      dpi_access_add(access, "Group", "rs");
    else if(!strcmp(args[i], "Patient"))
      dpi_access_add(access, "Patient", "rs");
  }
}

const struct dp_stage_ops dp_stage_export = {
  .name = "export",
  .summary = "FHIR Bulk Data $export (system, Patient or Group/ID level) to resource records",
  .flags = DP_STAGE_READS_ARGS | DP_STAGE_NO_INPUT | DP_STAGE_NETWORK | DP_STAGE_MAY_DROP,
  .options = export_options,
  .open = export_open,
  .process = process,
  .close = export_close,
  .access = export_access,
};
