/* check.c - see check.h
 *
 * Every step says what it saw and, when it fails, what to change.  The steps
 * follow the order in which a new integration usually breaks: service root,
 * CapabilityStatement and SMART configuration (both read before any token),
 * what the chosen pipeline needs of this server, the token and its scopes,
 * then one real request of that pipeline: a search and a Binary read in both
 * Accept modes, or a Bulk Data kick-off that is cancelled at once. */
#include "check.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "dplimits.h"
#include "ndjson.h"
#include "pipeline.h"
#include "record.h"
#include "scopes.h"

struct checker {
  const struct dp_context *ctx;
  FILE *out;
  int failed;
};

static void ok(struct checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void ok(struct checker *c, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(c->out, "OK    ");
  vfprintf(c->out, fmt, ap);
  fputc('\n', c->out);
  va_end(ap);
}

static void fail_line(struct checker *c, const char *step, const char *why, const char *fix)
{
  c->failed = 1;
  fprintf(c->out, "FAIL  %s: %s\n", step, why);
  if(fix && *fix)
    fprintf(c->out, "      fix: %s\n", fix);
}

static void skip(struct checker *c, const char *step, const char *why)
{
  fprintf(c->out, "SKIP  %s: %s\n", step, why);
}

/* Run a request and, on failure, print the diagnosis the stages would
 * give.  0 when it answered 2xx (res is then the caller's to free). */
static int exchange(struct checker *c, const char *step, struct dp_http_request *req,
                    enum dp_fhir_origin origin, const char *type, struct dp_http_response *res)
{
  char what[600], shown[512];
  dpi_http_safe_url(req->url, shown, sizeof(shown));
  snprintf(what, sizeof(what), "%s %s", req->method ? req->method : "GET", shown);
  int rc = dpi_http_do(c->ctx->net->http, req, res);
  if(!rc && res->status >= 200 && res->status < 300)
    return 0;
  struct dp_record *r = dpi_record_new();
  dpi_fhir_fail(r, res, what, type, origin);
  char why[1024];
  snprintf(why, sizeof(why), "%s [%s]", r->err_message, dpi_kind_name(r->err_kind));
  fail_line(c, step, why, r->err_hint);
  dpi_record_free(r);
  return -1;
}

static int get(struct checker *c, const char *step, const char *url, const char *accept,
               enum dp_fhir_origin origin, const char *type, struct dp_http_response *res)
{
  struct dp_http_request req = {.url = url, .accept = accept};
  return exchange(c, step, &req, origin, type, res);
}

/* ---- what the CapabilityStatement offers ------------------------------- */

struct offer {
  int read;          /* the CapabilityStatement was read */
  int r4;
  const char *version;
  json_object *doc;
  json_object *resources;
  int export_system, export_patient, export_group;
};

static json_object *resource_of(const struct offer *o, const char *type)
{
  size_t n = o->resources && json_object_is_type(o->resources, json_type_array)
                 ? json_object_array_length(o->resources) : 0;
  for(size_t i = 0; i < n; i++) {
    json_object *r = json_object_array_get_idx(o->resources, i);
    const char *t = dpi_json_member_str(r, "type");
    if(t && !strcmp(t, type))
      return r;
  }
  return NULL;
}

static int has_named(json_object *list, const char *key, const char *value)
{
  size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list)
                                                                 : 0;
  for(size_t i = 0; i < n; i++) {
    const char *v = dpi_json_member_str(json_object_array_get_idx(list, i), key);
    if(v && !strcmp(v, value))
      return 1;
  }
  return 0;
}

static int offers(const struct offer *o, const char *type, const char *interaction)
{
  json_object *r = resource_of(o, type);
  return r && has_named(dpi_json_member(r, "interaction"), "code", interaction);
}

static int export_op(json_object *holder)
{
  return has_named(dpi_json_member(holder, "operation"), "name", "export");
}

static void read_capabilities(struct checker *c, struct offer *o)
{
  char url[DP_MAX_URL];
  struct dp_http_response res;
  snprintf(url, sizeof(url), "%s/metadata", c->ctx->net->base);
  struct dp_http_request req = {.url = url, .accept = "application/fhir+json", .no_auth = 1};
  if(exchange(c, "CapabilityStatement", &req, DP_FHIR_ASKED, "CapabilityStatement", &res)) {
    dpi_http_response_free(&res);
    return;
  }
  char perr[128];
  if(dpi_json_parse(dpi_buf_str(&res.body), res.body.len, &o->doc, perr, sizeof(perr))) {
    fail_line(c, "CapabilityStatement", "not JSON", "point --fhir-base at the FHIR service root");
    dpi_http_response_free(&res);
    return;
  }
  dpi_http_response_free(&res);
  o->read = 1;
  o->version = dpi_json_member_str(o->doc, "fhirVersion");
  o->r4 = o->version && !strncmp(o->version, "4.", 2);
  json_object *rest = dpi_json_member(o->doc, "rest");
  json_object *r0 = rest && json_object_is_type(rest, json_type_array) &&
                            json_object_array_length(rest)
                        ? json_object_array_get_idx(rest, 0) : NULL;
  o->resources = dpi_json_member(r0, "resource");
  o->export_system = export_op(r0);
  o->export_patient = export_op(resource_of(o, "Patient"));
  o->export_group = export_op(resource_of(o, "Group"));
  if(!o->r4) {
    fail_line(c, "CapabilityStatement", o->version ? "not FHIR R4" : "no fhirVersion",
              "docpipe speaks FHIR R4: point --fhir-base at the R4 service root");
    return;
  }
  char exports[64] = "";
  snprintf(exports, sizeof(exports), "%s%s%s", o->export_system ? ", system" : "",
           o->export_patient ? ", Patient" : "", o->export_group ? ", Group" : "");
  ok(c, "CapabilityStatement: FHIR %s; DocumentReference %s, Binary %s; $export %s", o->version,
     offers(o, "DocumentReference", "search-type") ? "search"
     : resource_of(o, "DocumentReference") ? "read only" : "absent",
     offers(o, "Binary", "read") ? "read" : "absent", exports[0] ? exports + 2 : "none");
}

/* ---- the pipeline judged ---------------------------------------------- */

static const struct dp_stage *stage_named(const struct dp_chain *chain, const char *name)
{
  for(size_t i = 0; i < chain->n; i++)
    if(!strcmp(chain->stages[i].ops->name, name))
      return &chain->stages[i];
  return NULL;
}

/* Does the server offer what the chain needs?  Prints a line per need. */
static void judge(struct checker *c, const struct offer *o, const struct dp_chain *chain,
                  const char *pipeline, const char *level)
{
  const struct dp_stage *search = stage_named(chain, "search");
  const struct dp_stage *export = stage_named(chain, "export");
  const struct dp_stage *resolve = stage_named(chain, "resolve");
  if(search) {
    const char *type = dpi_opt(search, "resource") ? dpi_opt(search, "resource")
                                                    : "DocumentReference";
    char step[128];
    snprintf(step, sizeof(step), "%s search", type);
    if(offers(o, type, "search-type"))
      ok(c, "%s: offered (%s searches)", step, pipeline);
    else
      fail_line(c, step, "the CapabilityStatement offers no search of it, which pipeline "
                         "fhir-documents needs",
                o->export_system || o->export_patient || o->export_group
                    ? "this is a Bulk Data server: docpipe check --pipeline bulk-export, and "
                      "docpipe run bulk-export"
                    : "point --fhir-base at the tenant's clinical (ehr) service root");
  }
  if(export) {
    int at = !strncmp(level, "Group/", 6) ? o->export_group
             : !strcmp(level, "Patient") ? o->export_patient : o->export_system;
    if(at)
      ok(c, "$export at %s level: offered", level);
    else
      fail_line(c, "$export", "the CapabilityStatement offers no $export at this level",
                o->export_system || o->export_patient || o->export_group
                    ? "give the level it offers: system, Patient or Group/ID"
                    : "this server has no Bulk Data export: use --pipeline fhir-documents");
    const char *types = dpi_opt(export, "type") ? dpi_opt(export, "type") : "DocumentReference";
    char buf[1024];
    snprintf(buf, sizeof(buf), "%s", types);
    for(char *save = NULL, *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
      if(!resource_of(o, t)) {
        char why[256];
        snprintf(why, sizeof(why), "%s is not among the server's resources", t);
        fail_line(c, "export --type", why, "export only the types the CapabilityStatement lists");
      }
  }
  if(resolve && !offers(o, "Binary", "read"))
    skip(c, "Binary read", "the server offers no Binary: attachments must come inline or as "
                           "URLs of their own (on this origin, or an --allow-origin)");
}

/* Are the access words of the chain granted?  Types the token endpoint
 * refused (left out of the request) are noted, not failed. */
static void judge_scopes(struct checker *c, const char *access, const struct dp_token_info *ti)
{
  char buf[DP_MAX_SCOPES_KEPT];
  snprintf(buf, sizeof(buf), "%s", access ? access : "");
  for(char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
    char *dot = strchr(w, '.');
    if(!dot)
      continue;
    *dot = '\0';
    char dropped[300];
    snprintf(dropped, sizeof(dropped), " %s ", ti->scope_dropped);
    char needle[80];
    snprintf(needle, sizeof(needle), " %s ", w);
    if(strstr(dropped, needle))
      continue;
    for(const char *p = dot + 1; *p; p++) {
      if(*p != 'r' && *p != 's' && *p != 'u')
        continue;
      if(dpi_scope_allows(ti->scope_granted, w, *p))
        continue;
      char msg[2600], fix[512];
      snprintf(msg, sizeof(msg), "granted \"%s\" does not allow %s %s", ti->scope_granted,
               *p == 's' ? "searching" : *p == 'u' ? "writing" : "reading", w);
      snprintf(fix, sizeof(fix), "add system/%s.%s (v2: system/%s.%s) to --scope and to the "
                                 "system account's scopes", w, *p == 'u' ? "write" : "read", w,
               *p == 's' ? "rs" : *p == 'u' ? "u" : "r");
      fail_line(c, "scopes", msg, fix);
      return;
    }
  }
  if(ti->scope_dropped[0])
    ok(c, "scopes granted: %s (not asked for: %s, which the token endpoint refused; what needs "
          "it will fail)", ti->scope_granted, ti->scope_dropped);
  else
    ok(c, "scopes granted: %s", ti->scope_granted);
}

/* ---- the real requests ------------------------------------------------- */

static void try_search(struct checker *c, const struct dp_check_options *opt, const char *type)
{
  struct dp_net *net = c->ctx->net;
  char url[DP_MAX_URL];
  struct dp_http_response res;
  char step[128];
  snprintf(step, sizeof(step), "%s search", type);
  if(!opt->patient) {
    skip(c, step, "give --patient ID to try a search and a Binary read");
    return;
  }
  snprintf(url, sizeof(url), "%s/%s?patient=%s&_count=10", net->base, type, opt->patient);
  const char *binary = NULL;
  json_object *bundle = NULL;
  if(!get(c, step, url, "application/fhir+json", DP_FHIR_ASKED, type, &res)) {
    char perr[128];
    dpi_json_parse(dpi_buf_str(&res.body), res.body.len, &bundle, perr, sizeof(perr));
    json_object *entries = dpi_json_member(bundle, "entry");
    size_t n = entries && json_object_is_type(entries, json_type_array)
                   ? json_object_array_length(entries) : 0;
    for(size_t k = 0; k < n && !binary; k++) {
      json_object *content = dpi_json_member(
          dpi_json_member(json_object_array_get_idx(entries, k), "resource"), "content");
      size_t m = content && json_object_is_type(content, json_type_array)
                     ? json_object_array_length(content) : 0;
      for(size_t j = 0; j < m && !binary; j++)
        binary = dpi_json_member_str(
            dpi_json_member(json_object_array_get_idx(content, j), "attachment"), "url");
    }
    ok(c, "%s for patient %s: %zu on the first page", step, opt->patient, n);
  }
  if(binary) {
    static const char *accepts[] = {"application/fhir+json", "*/*"};
    for(int k = 0; k < 2; k++) {
      struct dp_http_response br;
      char burl[DP_MAX_URL], bstep[128];
      snprintf(bstep, sizeof(bstep), "Binary read (Accept: %s)", accepts[k]);
      if(dpi_fhir_url(net, binary, burl, sizeof(burl)))
        snprintf(burl, sizeof(burl), "%s", binary);
      if(!get(c, bstep, burl, accepts[k], DP_FHIR_LISTED, "Binary", &br))
        ok(c, "%s: %zu bytes, %s", bstep, br.body.len,
           br.content_type[0] ? br.content_type : "no content type");
      dpi_http_response_free(&br);
    }
  } else if(bundle) {
    skip(c, "Binary read", "the search found no attachment url to read");
  }
  json_object_put(bundle);
  dpi_http_response_free(&res);
}

/* The cheapest real test of an export: a kick-off, cancelled at once. */
static void try_export(struct checker *c, const struct dp_stage *export, const char *level)
{
  struct dp_net *net = c->ctx->net;
  char url[DP_MAX_URL];
  const char *types = dpi_opt(export, "type") ? dpi_opt(export, "type") : "DocumentReference";
  if(!strcmp(level, "system"))
    snprintf(url, sizeof(url), "%s/$export?_type=%s", net->base, types);
  else
    snprintf(url, sizeof(url), "%s/%s/$export?_type=%s", net->base, level, types);
  struct dp_http_request req = {.url = url, .accept = "application/fhir+json",
                                .prefer = "respond-async", .no_retry = 1};
  struct dp_http_response res;
  if(exchange(c, "$export kick-off", &req, DP_FHIR_ASKED, "Bulk Data export", &res)) {
    dpi_http_response_free(&res);
    return;
  }
  char status_url[DP_MAX_SERVER_URL] = "";
  if(res.content_location[0])
    dpi_http_resolve_url(url, res.content_location, status_url, sizeof(status_url));
  long st = res.status;
  dpi_http_response_free(&res);
  if(st != 202 || !status_url[0]) {
    char why[128];
    snprintf(why, sizeof(why), "HTTP %ld%s instead of 202 with Content-Location", st,
             status_url[0] ? "" : " without a status URL");
    fail_line(c, "$export kick-off", why, "the server does not follow the Bulk Data kick-off "
                                          "(Prefer: respond-async)");
    return;
  }
  struct dp_http_request del = {.method = "DELETE", .url = status_url, .no_retry = 1};
  int gone = !dpi_http_do(net->http, &del, &res) && res.status >= 200 && res.status < 300;
  ok(c, "$export kick-off at %s level for %s: 202 Accepted; the job %s", level, types,
     gone ? "was cancelled at once" : "could not be cancelled (it expires on the server)");
  dpi_http_response_free(&res);
}

/* ---- the whole check ----------------------------------------------------- */

/* The service root, its CapabilityStatement and its SMART configuration:
 * what the server offers and how it authorizes, read before any token.  sc
 * is the caller's to free. */
static void read_server(struct checker *c, const struct dp_net_config *cfg, struct offer *o,
                        struct dp_smart_config *sc)
{
  struct dp_net *net = c->ctx->net;
  char why[2048];
  ok(c, "service root %s", net->base);
  const char *tenant = strrchr(net->base, '/');
  if(tenant && strlen(tenant) > 1)
    ok(c, "tenant %s (the last part of the service root)", tenant + 1);
  read_capabilities(c, o);
  int found = !dpi_smart_configuration(net->http, net->base, sc, why, sizeof(why));
  if(cfg->token_url)
    ok(c, "token endpoint %s (from --token-url)", cfg->token_url);
  else if(!found)
    fail_line(c, "SMART discovery", why,
              "check --fhir-base (it must be the tenant's service root) or give --token-url");
  else
    ok(c, "token endpoint %s (from %s)", sc->token_url,
       sc->found ? ".well-known/smart-configuration" : "the CapabilityStatement");
  if(sc->found)
    ok(c, "SMART configuration: %zu scopes_supported%s%s%s%s", sc->scopes.nsupported,
       sc->scopes.v1 || sc->scopes.v2 ? ", permissions" : "", sc->scopes.v1 ? " v1" : "",
       sc->scopes.v2 ? " v2" : "", sc->registration[0] ? ", a registration endpoint" : "");
}

/* The pipeline judged: --pipeline, else bulk-export for a Bulk Data server
 * without DocumentReference search, else fhir-documents; *chosen says why. */
static const char *pick_pipeline(const struct offer *o, const struct dp_check_options *opt,
                                 const char **chosen)
{
  *chosen = "--pipeline";
  if(opt->pipeline)
    return opt->pipeline;
  int bulk = o->export_system || o->export_patient || o->export_group;
  const char *pipeline = bulk && !offers(o, "DocumentReference", "search-type")
                             ? "bulk-export" : "fhir-documents";
  *chosen = bulk && !strcmp(pipeline, "bulk-export")
                ? "the server has $export but no DocumentReference search"
                : "the default";
  return pipeline;
}

/* A token for the scopes the chain needs (unless --scope says which), and
 * whether they are granted; 1 when a token was had. */
static int check_token(struct checker *c, const struct dp_net_config *cfg,
                       const struct dp_chain *chain, const char *level)
{
  struct dp_net *net = c->ctx->net;
  struct dp_buf access;
  dpi_buf_init(&access, DP_MAX_SCOPES);
  const char *args[1] = {level};
  dpi_chain_access(chain, args, 1, &access);
  if(!cfg->scope)
    dpi_auth_set_access(net->auth, dpi_buf_str(&access));
  int have_token = 0;
  if(dpi_auth_mode(net->auth) == DP_AUTH_NONE) {
    skip(c, "token", "no credentials given (--private-key, --client-secret-file or "
                     "--bearer-file)");
  } else {
    char token[DP_MAX_SHORT], why[2048];
    if(dpi_auth_bearer(net->auth, token, sizeof(token), why, sizeof(why))) {
      char *hint = strstr(why, ". Hint: ");
      if(hint)
        *hint = '\0';
      fail_line(c, "token", why, hint ? hint + 8 : NULL);
    } else {
      have_token = 1;
      struct dp_token_info ti;
      dpi_auth_info(net->auth, &ti);
      ok(c, "access token (lifetime %.0f s%s) from %s, asked for \"%s\"", ti.lifetime,
         ti.from_cache ? ", from the cache" : "", ti.token_url,
         ti.scope_asked[0] ? ti.scope_asked : "(the cache's)");
      if(dpi_auth_mode(net->auth) != DP_AUTH_BEARER)
        judge_scopes(c, dpi_buf_str(&access), &ti);
    }
    explicit_bzero(token, sizeof(token));
  }
  dpi_buf_free(&access);
  return have_token;
}

/* One real request of the pipeline: a search, or a Bulk kick-off. */
static void try_pipeline(struct checker *c, const struct dp_check_options *opt,
                         const struct dp_chain *chain, const char *level, int have_token)
{
  const struct dp_stage *search = stage_named(chain, "search");
  const struct dp_stage *export = stage_named(chain, "export");
  if(dpi_auth_mode(c->ctx->net->auth) != DP_AUTH_NONE && !have_token)
    skip(c, search ? "search" : "$export kick-off", "no token");
  else if(search)
    try_search(c, opt, dpi_opt(search, "resource") ? dpi_opt(search, "resource")
                                                    : "DocumentReference");
  else if(export)
    try_export(c, export, level);
}

int dpi_check(const struct dp_context *ctx, const struct dp_net_config *cfg,
              const struct dp_check_options *opt, FILE *out)
{
  struct checker c = {ctx, out, 0};
  struct offer o = {0};
  struct dp_smart_config sc;
  read_server(&c, cfg, &o, &sc);
  const char *chosen;
  const char *pipeline = pick_pipeline(&o, opt, &chosen);
  struct dp_chain chain = {0};
  char why[2048];
  if(dpi_pipeline_load(pipeline, ctx, &chain, why, sizeof(why))) {
    fail_line(&c, "pipeline", why, "docpipe pipelines lists them");
  } else {
    const char *level = opt->level ? opt->level : "system";
    ok(&c, "judged for pipeline %s (%s)", pipeline, chosen);
    if(o.read && o.r4)
      judge(&c, &o, &chain, pipeline, level);
    int have_token = check_token(&c, cfg, &chain, level);
    try_pipeline(&c, opt, &chain, level, have_token);
  }
  dpi_chain_free(&chain);
  dpi_smart_config_free(&sc);
  json_object_put(o.doc);
  fprintf(out, c.failed ? "Something blocks the job: fix the FAIL lines above.\n"
                        : "Nothing blocks the job.\n");
  return c.failed ? 1 : 0;
}
