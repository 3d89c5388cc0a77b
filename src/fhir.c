/* fhir.c - see fhir.h */
#include "fhir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ndjson.h"

int dpi_net_open(struct dp_net **out, const struct dp_net_config *cfg, size_t max_document,
                 char *why, size_t whylen)
{
  *out = NULL;
  struct dp_net *net = calloc(1, sizeof(*net));
  if(!net) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  if(cfg->fhir_base) {
    snprintf(net->base, sizeof(net->base), "%s", cfg->fhir_base);
    size_t n = strlen(net->base);
    while(n && net->base[n - 1] == '/')
      net->base[--n] = '\0';
  }
  struct dp_http_config hc;
  dpi_http_config_defaults(&hc);
  hc.max_response = max_document / 3 * 4 + (1 << 20); /* Base64 plus the JSON around it */
  hc.insecure = cfg->insecure;
  if(cfg->concurrency)
    hc.concurrency = cfg->concurrency;
  hc.rate = cfg->rate;
  if(cfg->burst >= 1)
    hc.burst = cfg->burst;
  hc.max_tries = cfg->retries + 1;
  if(cfg->retry_base > 0)
    hc.retry_base = cfg->retry_base;
  if(cfg->retry_cap > 0)
    hc.retry_cap = cfg->retry_cap;
  net->retry_cap = hc.retry_cap;
  net->retries = cfg->retries;
  net->retry_base = hc.retry_base;
  net->concurrency = hc.concurrency;
  hc.timeout = cfg->timeout;
  hc.headers = cfg->headers;
  hc.allow_origins = cfg->allow_origins;
  char origin[512];
  if(net->base[0] && !dpi_http_origin(net->base, origin, sizeof(origin)))
    hc.origin = net->base;
  if(!(net->http = dpi_http_new(&hc, why, whylen))) {
    free(net);
    return -1;
  }
  struct dp_auth_config ac = {.fhir_base = net->base[0] ? net->base : NULL,
                              .token_url = cfg->token_url,
                              .client_id = cfg->client_id,
                              .private_key = cfg->private_key,
                              .key_id = cfg->key_id,
                              .client_secret_file = cfg->client_secret_file,
                              .bearer_file = cfg->bearer_file,
                              .scope = cfg->scope,
                              .access = cfg->access,
                              .token_cache = cfg->token_cache,
                              .warn = cfg->warn,
                              .warn_user = cfg->warn_user};
  if(!(net->auth = dpi_auth_new(&ac, net->http, why, whylen))) {
    dpi_net_close(net);
    return -1;
  }
  dpi_http_set_credentials(net->http, dpi_auth_credentials(net->auth));
  *out = net;
  return 0;
}

void dpi_net_close(struct dp_net *net)
{
  if(!net)
    return;
  dpi_auth_free(net->auth);
  dpi_http_free(net->http);
  free(net);
}

int dpi_fhir_url(const struct dp_net *net, const char *ref, char *out, size_t outlen)
{
  if(strstr(ref, "://"))
    return snprintf(out, outlen, "%s", ref) < (int)outlen ? 0 : -1;
  if(!net->base[0])
    return -1;
  while(*ref == '/')
    ref++;
  return snprintf(out, outlen, "%s/%s", net->base, ref) < (int)outlen ? 0 : -1;
}

int dpi_fhir_add_param(CURLU *u, const char *name, size_t name_len, const char *value)
{
  size_t vl = strlen(value);
  char *pair = malloc(name_len + vl + 2);
  if(!pair)
    return -1;
  memcpy(pair, name, name_len);
  pair[name_len] = '=';
  memcpy(pair + name_len + 1, value, vl + 1);
  /* With both flags curl encodes the name and the value, and keeps the
   * first '=' as the separator. */
  CURLUcode rc = curl_url_set(u, CURLUPART_QUERY, pair, CURLU_APPENDQUERY | CURLU_URLENCODE);
  free(pair);
  return rc == CURLUE_OK ? 0 : -1;
}

void dpi_fhir_outcome(const struct dp_buf *body, char *out, size_t outlen)
{
  out[0] = '\0';
  json_object *o = NULL;
  char why[128];
  if(!body->len || dpi_json_parse(dpi_buf_str(body), body->len, &o, why, sizeof(why)))
    return;
  const char *type = dpi_json_member_str(o, "resourceType");
  json_object *issues = dpi_json_member(o, "issue");
  size_t n = type && !strcmp(type, "OperationOutcome") && issues &&
                     json_object_is_type(issues, json_type_array)
                 ? json_object_array_length(issues) : 0;
  size_t used = 0;
  for(size_t i = 0; i < n && i < 3; i++) {
    json_object *issue = json_object_array_get_idx(issues, i);
    const char *d = dpi_json_member_str(issue, "diagnostics");
    if(!d)
      d = dpi_json_member_str(dpi_json_member(issue, "details"), "text");
    if(!d)
      d = dpi_json_member_str(issue, "code");
    if(d && used + 3 < outlen)
      used += (size_t)snprintf(out + used, outlen - used, "%s%s", used ? "; " : "", d);
    if(used >= outlen)
      used = outlen - 1;
  }
  for(char *p = out; *p; p++)
    if(*p == '\n' || *p == '\r' || *p == '\t')
      *p = ' ';
  json_object_put(o);
}

void dpi_fhir_server_says(const struct dp_http_response *res, char *out, size_t outlen)
{
  out[0] = '\0';
  if(res->status < 400 || !res->body.len || !outlen)
    return;
  dpi_fhir_outcome(&res->body, out, outlen);
  if(out[0])
    return;
  const char *body = dpi_buf_str(&res->body);
  json_object *o = NULL;
  char why[64];
  if(!dpi_json_parse(body, res->body.len, &o, why, sizeof(why))) {
    /* OAuth errors, object storage ({"code","message"}), other JSON. */
    static const char *const keys[] = {"error_description", "message", "error", "diagnostics"};
    for(size_t i = 0; i < sizeof(keys) / sizeof(*keys) && !out[0]; i++) {
      const char *v = dpi_json_member_str(o, keys[i]);
      if(v)
        snprintf(out, outlen, "%.200s", v);
    }
    json_object_put(o);
  } else if(!res->content_type[0] || !strncasecmp(res->content_type, "text/", 5)) {
    /* A throttling proxy or a small server: "Too Many Requests. Try again
     * later." (Express sends it as text/html).  The first line only, and
     * only if it is text, not markup. */
    size_t n = strcspn(body, "\r\n");
    if(n > 200)
      n = 200;
    if(memchr(body, '\0', n) || memchr(body, '<', n))
      return;
    snprintf(out, outlen, "%.*s", (int)n, body);
  }
  for(unsigned char *p = (unsigned char *)out; *p; p++)
    if(*p < ' ' || *p == 0x7f)
      *p = ' ';
  size_t len = strlen(out);
  while(len && out[len - 1] == ' ')
    out[--len] = '\0';
}

static const char *find_ci(const char *hay, const char *needle)
{
  size_t n = strlen(needle);
  for(; *hay; hay++)
    if(!strncasecmp(hay, needle, n))
      return hay;
  return NULL;
}

/* A quoted parameter of a WWW-Authenticate header: error="...", scope="..." */
static void auth_param(const char *header, const char *name, char *out, size_t outlen)
{
  out[0] = '\0';
  size_t nl = strlen(name);
  for(const char *p = header; (p = find_ci(p, name)); p += nl) {
    if(p != header && p[-1] != ' ' && p[-1] != ',')
      continue;
    const char *v = p + nl;
    while(*v == ' ')
      v++;
    if(*v != '=')
      continue;
    v++;
    while(*v == ' ')
      v++;
    if(*v == '"') {
      v++;
      snprintf(out, outlen, "%.*s", (int)strcspn(v, "\""), v);
    } else {
      snprintf(out, outlen, "%.*s", (int)strcspn(v, ", "), v);
    }
    return;
  }
}

void dpi_fhir_missing_scope(const struct dp_http_response *res, char *out, size_t outlen)
{
  auth_param(res->www_authenticate, "scope", out, outlen);
}

/* An exchange without an HTTP answer to judge: no token, a refused
 * origin, an answer over the cap, a transfer cut short, no connection. */
static enum dp_status fail_unanswered(struct dp_record *rec, const struct dp_http_response *res,
                                      const char *what)
{
  if(res->auth_failed) {
    /* The reason already ends with a hint from the token endpoint's answer. */
    const char *hint = strstr(res->error, ". Hint: ");
    if(hint)
      dpi_record_hint(rec, "%s", hint + 8);
    return dpi_record_fail(rec, res->auth_failed == 2 ? DP_KIND_RATE_LIMITED
                                                      : DP_KIND_UNAUTHORIZED,
                           "%s: no access token: %.*s", what,
                           hint ? (int)(hint - res->error) : (int)strlen(res->error), res->error);
  }
  if(res->refused) {
    char where[512], shown[512];
    if(dpi_http_origin(res->url, where, sizeof(where)))
      snprintf(where, sizeof(where), "ORIGIN");
    dpi_http_safe_url(res->url, shown, sizeof(shown));
    dpi_record_hint(rec, "docpipe follows the FHIR server's redirects and Bulk file URLs to "
                         "public addresses only; if %s is to be trusted, give --allow-origin %s",
                    where, where);
    int moved = !strstr(what, shown); /* a redirect led there */
    return dpi_record_fail(rec, DP_KIND_UNTRUSTED_ORIGIN, "%s: %s%s%s%s", what,
                           moved ? "redirected to " : "", moved ? shown : "", moved ? ", " : "",
                           res->error);
  }
  if(res->too_large)
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "%s: response over the size cap "
                                                   "(--max-bytes)", what);
  if(res->transport_error == CURLE_PARTIAL_FILE) {
    /* The server said how long the answer is and sent less, every try. */
    dpi_record_hint(rec, "the transfer was cut short %u times; try again later",
                    res->tries ? res->tries : 1);
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "%s: the answer was cut short (%s)", what,
                           res->error);
  }
  dpi_record_hint(rec, "check the network path to the server, proxy settings (https_proxy, "
                       "no_proxy) and TLS trust; the request was retried %u times",
                  res->tries ? res->tries - 1 : 0);
  return dpi_record_fail(rec, DP_KIND_NETWORK, "%s: %s", what, res->error);
}

/* 401 and 403: the token was refused, or lacks a scope or a header.
 * sep and diag: what the server said, to append. */
static enum dp_status fail_denied(struct dp_record *rec, const struct dp_http_response *res,
                                  const char *what, const char *sep, const char *diag)
{
  if(res->status == 401) {
    char err[128], desc[256];
    auth_param(res->www_authenticate, "error", err, sizeof(err));
    auth_param(res->www_authenticate, "error_description", desc, sizeof(desc));
    dpi_record_hint(rec, "the server refused a fresh token too: check this machine's clock "
                         "(skew), that --fhir-base and the token URL belong to the same tenant, "
                         "and that the client's JWKS holds the key used (kid)");
    return dpi_record_fail(rec, DP_KIND_UNAUTHORIZED, "%s: HTTP 401%s%s%s%s%s%s", what,
                           err[0] ? " " : "", err, desc[0] ? ": " : "", desc, sep, diag);
  }
  char scope[256];
  dpi_fhir_missing_scope(res, scope, sizeof(scope));
  if(scope[0]) {
    dpi_record_hint(rec, "add %s to --scope (SMART v2 spells it with .r/.rs) and have it "
                         "granted to the system account",
                    scope);
    return dpi_record_fail(rec, DP_KIND_FORBIDDEN, "%s: HTTP 403: missing scope %s%s%s", what,
                           scope, sep, diag);
  }
  dpi_record_hint(rec, "the token lacks a scope or the request a header the tenant needs "
                       "(see --scope and --header)");
  return dpi_record_fail(rec, DP_KIND_FORBIDDEN, "%s: HTTP 403%s%s", what, sep, diag);
}

/* 404 and 410: where the request came from says whether the resource is
 * hidden from this API user or simply not there. */
static enum dp_status fail_missing(struct dp_record *rec, const struct dp_http_response *res,
                                   const char *what, const char *type, enum dp_fhir_origin origin,
                                   const char *sep, const char *diag)
{
  if(origin == DP_FHIR_LISTED) {
    dpi_record_hint(rec, "the server listed or referenced this %s but will not show it: the "
                         "API user's security persona probably lacks access to %s resources "
                         "of this kind (for XR- PDFs, the reporting solution may not be "
                         "installed); ask the EHR administrator to review the system "
                         "account's roles",
                    type, type);
    return dpi_record_fail(rec, DP_KIND_NOT_VISIBLE, "%s: HTTP %ld%s%s", what, res->status, sep,
                           diag);
  }
  return dpi_record_fail(rec, DP_KIND_NOT_FOUND, "%s: HTTP %ld%s%s", what, res->status, sep,
                         diag);
}

/* 429 after every retry: how long the server asked to wait, and that the
 * waits were capped. */
static enum dp_status fail_throttled(struct dp_record *rec, const struct dp_http_response *res,
                                     const char *what, const char *sep, const char *diag)
{
  double after = dpi_retry_after_seconds(res->retry_after, (long)time(NULL));
  char asked[160] = "";
  if(after >= 0)
    snprintf(asked, sizeof(asked), "; it asked to wait %.0f s (Retry-After: %.40s), and each "
             "wait was cut to --retry-cap", after, res->retry_after);
  dpi_record_hint(rec, "the server kept answering 429 after %u tries%s: lower --rate or "
                       "--concurrency, or try again later",
                  res->tries, asked);
  return dpi_record_fail(rec, DP_KIND_RATE_LIMITED, "%s: HTTP 429%s%s", what, sep, diag);
}

enum dp_status dpi_fhir_fail(struct dp_record *rec, const struct dp_http_response *res,
                             const char *what, const char *resource_type,
                             enum dp_fhir_origin origin)
{
  char diag[600];
  dpi_fhir_server_says(res, diag, sizeof(diag));
  const char *sep = diag[0] ? ": " : "";
  long st = res->status;
  rec->err_status = (int)st;
  if(res->request_id[0])
    dpi_record_set_str(rec, "_requestId", res->request_id);
  const char *type = resource_type ? resource_type : "resource";

  if(res->auth_failed || res->refused || res->too_large || st == 0)
    return fail_unanswered(rec, res, what);
  if(st == 404 || st == 410)
    return fail_missing(rec, res, what, type, origin, sep, diag);
  if(st == 401 || st == 403)
    return fail_denied(rec, res, what, sep, diag);
  if(st == 409 || st == 412)
    return dpi_record_fail(rec, DP_KIND_VERSION_CONFLICT, "%s: HTTP %ld%s%s", what, st, sep, diag);
  if(st == 429)
    return fail_throttled(rec, res, what, sep, diag);
  if(st >= 500) {
    dpi_record_hint(rec, "the server failed %u times; try again later or report the request id",
                    res->tries);
    return dpi_record_fail(rec, DP_KIND_SERVER_ERROR, "%s: HTTP %ld%s%s", what, st, sep, diag);
  }
  return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "%s: HTTP %ld%s%s", what, st, sep, diag);
}

json_object *dpi_merge_patch(json_object *target, json_object *patch)
{
  json_object *out = NULL;
  if(!json_object_is_type(patch, json_type_object)) {
    json_object_deep_copy(patch, &out, NULL);
    return out;
  }
  if(target && json_object_is_type(target, json_type_object))
    json_object_deep_copy(target, &out, NULL);
  if(!out)
    out = json_object_new_object();
  json_object_object_foreach(patch, key, value)
  {
    if(!value) {
      json_object_object_del(out, key);
      continue;
    }
    json_object *merged = dpi_merge_patch(dpi_json_member(out, key), value);
    json_object_object_add(out, key, merged);
  }
  return out;
}

const char *dpi_fhir_next_link(json_object *bundle)
{
  json_object *links = dpi_json_member(bundle, "link");
  size_t n = links && json_object_is_type(links, json_type_array) ? json_object_array_length(links)
                                                                   : 0;
  for(size_t i = 0; i < n; i++) {
    json_object *l = json_object_array_get_idx(links, i);
    const char *rel = dpi_json_member_str(l, "relation");
    if(rel && !strcmp(rel, "next"))
      return dpi_json_member_str(l, "url");
  }
  return NULL;
}

int dpi_fhir_identity(const struct dp_record *rec, char *out, size_t outlen)
{
  const char *type = dpi_record_str(rec, "resourceType"), *id = dpi_record_str(rec, "id");
  if(type && id)
    snprintf(out, outlen, "%s/%s", type, id);
  else if(id)
    snprintf(out, outlen, "%s", id);
  else if(outlen)
    out[0] = '\0';
  return id ? 0 : -1;
}
