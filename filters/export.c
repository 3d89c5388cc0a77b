/* export.c - the "export" stage: FHIR Bulk Data $export, feeding the same
 * pipeline as a search.
 *
 * Input: the export level ("" or "system", "Patient", "Group/ID"); with no
 * input, a system-level export.  Kick-off with Prefer: respond-async, then
 * poll the status URL honouring Retry-After (X-Progress is shown on stderr),
 * read the manifest, download each NDJSON file (with the token only when
 * the manifest says requiresAccessToken; pre-signed storage URLs get none)
 * to an unlinked temporary file, and emit every resource as a record.
 * Files of the manifest's error list become error records.  The job is
 * deleted on the server when done, and when the run is interrupted.
 * --since (or the mark kept in the run state file, docpipe --state) sends
 * _since; the mark moves to the manifest's transactionTime when the run
 * completes without a failed export. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dplimits.h"
#include "fhir.h"
#include "interrupt.h"
#include "ndjson.h"
#include "progress.h"
#include "registry.h"
#include "runstate.h"
#include "scopes.h"

static const struct dp_option_spec export_options[] = {
  {"type", "TYPES", 0, "DOCPIPE_EXPORT_TYPE", "DocumentReference", "resource types to export (_type)"},
  {"param", "NAME=VALUE", DP_OPT_MULTI, "DOCPIPE_EXPORT_PARAMS", NULL, "an extra kick-off parameter (_typeFilter...)"},
  {"since", "INSTANT", 0, "DOCPIPE_EXPORT_SINCE", NULL,
   "only resources changed since then (_since); default: the mark in --state"},
  {"wait", "SECONDS", 0, "DOCPIPE_EXPORT_WAIT", "86400", "give up polling after this long"},
  {NULL, NULL, 0, NULL, NULL, NULL},
};

struct export_state {
  char since[64];
  int failed;
  pthread_mutex_t lock;
};

static enum dp_status export_open(struct dp_stage *st, char *why, size_t whylen)
{
  struct export_state *es = calloc(1, sizeof(*es));
  if(!es) {
    snprintf(why, whylen, "out of memory");
    return DP_FATAL;
  }
  pthread_mutex_init(&es->lock, NULL);
  const char *since = dpi_opt(st, "since");
  if(!since && st->ctx->state)
    since = dpi_runstate_mark(st->ctx->state, "export");
  if(since)
    snprintf(es->since, sizeof(es->since), "%s", since);
  st->state = es;
  return DP_OK;
}

static void export_close(struct dp_stage *st)
{
  struct export_state *es = st->state;
  if(!es)
    return;
  if(st->ctx->state && es->failed)
    dpi_runstate_withdraw(st->ctx->state, "export");
  pthread_mutex_destroy(&es->lock);
  free(es);
  st->state = NULL;
}

static void failed(struct export_state *es)
{
  pthread_mutex_lock(&es->lock);
  es->failed = 1;
  pthread_mutex_unlock(&es->lock);
}

static void delete_job(struct dp_net *net, const char *status_url)
{
  struct dp_http_request req = {.method = "DELETE", .url = status_url, .no_retry = 1};
  struct dp_http_response res;
  dpi_http_do(net->http, &req, &res);
  dpi_http_response_free(&res);
}

static int kickoff_url(struct dp_stage *st, const char *level, char *out, size_t outlen)
{
  const struct export_state *es = st->state;
  const char *base = st->ctx->net->base;
  struct dp_buf q;
  dpi_buf_init(&q, 8192);
  dpi_buf_addf(&q, "_type=%s", dpi_opt(st, "type") ? dpi_opt(st, "type") : "DocumentReference");
  if(es->since[0])
    dpi_buf_addf(&q, "&_since=%s", es->since);
  const char *p;
  for(size_t i = 0; (p = dpi_opt_nth(st, "param", i)); i++)
    dpi_buf_addf(&q, "&%s", p);
  int n;
  if(!*level || !strcmp(level, "system"))
    n = snprintf(out, outlen, "%s/$export?%s", base, dpi_buf_str(&q));
  else
    n = snprintf(out, outlen, "%s/%s/$export?%s", base, level, dpi_buf_str(&q));
  int bad = dpi_buf_failed(&q);
  dpi_buf_free(&q);
  /* Encode the '+' of time-zone offsets in _since. */
  for(char *c = strchr(out, '+'); c && !bad; c = strchr(c, '+')) {
    size_t len = strlen(out);
    if(len + 3 >= outlen)
      return -1;
    memmove(c + 3, c + 1, strlen(c + 1) + 1);
    memcpy(c, "%2B", 3);
    c += 3;
  }
  return bad || n >= (int)outlen ? -1 : 0;
}

/* Emit every line of a downloaded NDJSON file as a record. */
static enum dp_status emit_file(FILE *f, const char *label, json_object *input,
                                struct dp_emitter *out, unsigned long *count)
{
  rewind(f);
  struct dp_reader r;
  if(dpi_reader_attach(&r, f, DP_MAX_LINE))
    return DP_FATAL;
  const char *line;
  size_t len;
  int too_long;
  enum dp_status rc = DP_OK;
  while(rc != DP_FATAL && dpi_reader_next(&r, &line, &len, &too_long) == 1) {
    if(!too_long && len == 0)
      continue;
    struct dp_record *rec = dpi_record_new();
    if(!rec) {
      rc = DP_FATAL;
      break;
    }
    json_object *in = NULL;
    json_object_deep_copy(input, &in, NULL);
    if(!in)
      in = json_object_new_object();
    dpi_json_set_str(in, "file", label);
    json_object_object_add(in, "line", json_object_new_int64((int64_t)r.line));
    json_object_object_add(rec->obj, "_input", in);
    json_object *obj = NULL;
    char why[256];
    if(too_long) {
      dpi_record_fail(rec, DP_KIND_TOO_LARGE, "%s line %lu is over the line cap", label, r.line);
      rc = dpi_emit_fail(out, rec);
    } else if(dpi_json_parse(line, len, &obj, why, sizeof(why)) ||
              !json_object_is_type(obj, json_type_object)) {
      json_object_put(obj);
      dpi_record_fail(rec, DP_KIND_BAD_JSON, "%s line %lu: %s", label, r.line, why);
      rc = dpi_emit_fail(out, rec);
    } else {
      json_object *keep = dpi_json_member(rec->obj, "_input");
      json_object_get(keep);
      json_object_put(rec->obj);
      rec->obj = obj;
      json_object_object_add(rec->obj, "_input", keep);
      rc = dpi_emit(out, rec);
      (*count)++;
    }
  }
  dpi_reader_close(&r);
  return rc;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  struct export_state *es = st->state;
  struct dp_net *net = st->ctx->net;
  const char *level = dpi_record_str(rec, "_arg");
  if(!level)
    level = "";
  char url[8192];
  if(kickoff_url(st, level, url, sizeof(url)))
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "export request too long");
  char label[128];
  snprintf(label, sizeof(label), "$export %s", *level ? level : "system");
  dpi_record_set_str(rec, "id", label);

  struct dp_http_request req = {.url = url, .accept = "application/fhir+json",
                                .prefer = "respond-async"};
  struct dp_http_response res;
  if(dpi_http_do(net->http, &req, &res) || res.status != 202 || !res.content_location[0]) {
    char what[300];
    snprintf(what, sizeof(what), "%s kick-off", label);
    if(!res.auth_failed && res.status && res.status != 202 && res.status < 400)
      dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: HTTP %ld instead of 202 Accepted", what,
                      res.status);
    else if(res.status == 202)
      dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: 202 without Content-Location", what);
    else
      dpi_fhir_fail(rec, &res, what, "Bulk Data export", DP_FHIR_ASKED);
    dpi_http_response_free(&res);
    failed(es);
    return DP_FAIL;
  }
  char status_url[2048];
  dpi_http_resolve_url(url, res.content_location, status_url, sizeof(status_url));
  dpi_http_response_free(&res);

  /* Poll until the manifest is ready. */
  const char *wait_opt = dpi_opt(st, "wait");
  double deadline = (wait_opt ? atof(wait_opt) : 86400), waited = 0;
  char progress[128] = "";
  json_object *manifest = NULL;
  for(;;) {
    if(dpi_interrupted()) {
      delete_job(net, status_url);
      failed(es);
      return dpi_record_fail(rec, DP_KIND_TIMEOUT, "%s: interrupted; the export job was deleted "
                                                   "on the server", label);
    }
    struct dp_http_request poll = {.url = status_url, .accept = "application/json"};
    if(dpi_http_do(net->http, &poll, &res) || (res.status != 202 && res.status != 200)) {
      char what[300];
      snprintf(what, sizeof(what), "%s status", label);
      dpi_fhir_fail(rec, &res, what, "Bulk Data export", DP_FHIR_ASKED);
      dpi_http_response_free(&res);
      failed(es);
      return DP_FAIL;
    }
    if(res.status == 200) {
      char why[256];
      if(dpi_json_parse(dpi_buf_str(&res.body), res.body.len, &manifest, why, sizeof(why))) {
        dpi_http_response_free(&res);
        delete_job(net, status_url);
        failed(es);
        return dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: the manifest is not JSON (%s)",
                               label, why);
      }
      dpi_http_response_free(&res);
      break;
    }
    if(res.x_progress[0] && strcmp(res.x_progress, progress)) {
      snprintf(progress, sizeof(progress), "%s", res.x_progress);
      dpi_progress_say(st->ctx->progress, "export: %s", progress);
    }
    double after = dpi_retry_after_seconds(res.retry_after, (long)time(NULL));
    dpi_http_response_free(&res);
    if(after < 0)
      after = 2;
    if(after > 120)
      after = 120;
    if(waited + after > deadline) {
      delete_job(net, status_url);
      failed(es);
      return dpi_record_fail(rec, DP_KIND_TIMEOUT, "%s: not ready after %.0f s (--wait); the job "
                                                   "was deleted", label, waited);
    }
    dpi_sleep(after);
    waited += after;
  }

  const char *tt = dpi_json_member_str(manifest, "transactionTime");
  if(tt && st->ctx->state)
    dpi_runstate_propose(st->ctx->state, "export", tt); /* the next _since */
  json_object *token_flag = dpi_json_member(manifest, "requiresAccessToken");
  int needs_token = token_flag && json_object_get_boolean(token_flag);
  json_object *input = dpi_json_member(rec->obj, "_input");
  enum dp_status rc = DP_OK;
  unsigned long count = 0;
  static const char *const lists[] = {"output", "error"};
  json_object *outputs = dpi_json_member(manifest, "output");
  if(outputs && json_object_is_type(outputs, json_type_array))
    dpi_progress_plan_files(st->ctx->progress, json_object_array_length(outputs));
  for(int l = 0; l < 2 && rc != DP_FATAL; l++) {
    json_object *files = dpi_json_member(manifest, lists[l]);
    size_t n = files && json_object_is_type(files, json_type_array)
                   ? json_object_array_length(files) : 0;
    for(size_t i = 0; i < n && rc != DP_FATAL && !dpi_interrupted(); i++) {
      json_object *item = json_object_array_get_idx(files, i);
      const char *furl = dpi_json_member_str(item, "url");
      const char *ftype = dpi_json_member_str(item, "type");
      if(!furl)
        continue;
      char shown[512], what[600];
      dpi_http_safe_url(furl, shown, sizeof(shown));
      snprintf(what, sizeof(what), "GET %s", shown);
      FILE *tmp = tmpfile();
      if(!tmp) {
        rc = DP_FATAL;
        break;
      }
      struct dp_http_request get = {.url = furl, .accept = "application/fhir+ndjson",
                                    .no_auth = !needs_token, .send_token = needs_token,
                                    .sink = tmp};
      struct dp_record *err;
      if(dpi_http_do(net->http, &get, &res) || res.status != 200) {
        err = dpi_record_new();
        dpi_record_set_str(err, "id", label);
        json_object *in = NULL;
        json_object_deep_copy(input, &in, NULL);
        json_object_object_add(err->obj, "_input", in);
        dpi_fhir_fail(err, &res, what, ftype ? ftype : "export file", DP_FHIR_LISTED);
        failed(es);
        rc = dpi_emit_fail(out, err);
      } else if(l == 0) {
        rc = emit_file(tmp, shown, input, out, &count);
      } else {
        /* OperationOutcomes of resources the server could not export. */
        unsigned long issues = 0;
        struct dp_record *marker = dpi_record_new();
        dpi_record_set_str(marker, "id", label);
        dpi_record_fail(marker, DP_KIND_SERVER_ERROR, "%s: the export reported errors "
                                                      "(OperationOutcome file %s)", label, shown);
        rewind(tmp);
        for(int ch; (ch = fgetc(tmp)) != EOF;)
          issues += ch == '\n';
        dpi_record_hint(marker, "%lu issues; fetch the file for details", issues);
        failed(es);
        rc = dpi_emit_fail(out, marker);
      }
      dpi_http_response_free(&res);
      if(l == 0) {
        long size = ftell(tmp);
        dpi_progress_read(st->ctx->progress, size > 0 ? (unsigned long long)size : 0);
        dpi_progress_file_done(st->ctx->progress);
      }
      fclose(tmp);
    }
  }
  json_object_put(manifest);
  delete_job(net, status_url);
  if(dpi_interrupted() && rc != DP_FATAL) {
    failed(es);
    return dpi_record_fail(rec, DP_KIND_TIMEOUT, "%s: interrupted during the download; %lu "
                                                 "resources were read", label, count);
  }
  dpi_record_free(rec);
  return rc;
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
