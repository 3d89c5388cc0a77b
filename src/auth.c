/* auth.c - see auth.h */
#include "auth.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "dplimits.h"
#include "fhir.h"
#include "http.h"
#include "interrupt.h"
#include "jose.h"
#include "ndjson.h"
#include "record.h"
#include "scopes.h"


struct dp_auth {
  enum dp_auth_mode mode;
  struct dp_http *http;
  char *client_id, *key_id, *scope, *bearer_file, *token_cache, *fhir_base;
  char *secret;
  EVP_PKEY *key;
  pthread_mutex_t lock;
  pthread_cond_t cv;
  int refreshing;
  char token[DP_MAX_SHORT];
  double refresh_at; /* wall clock: get a new token from then on */
  double expires_at;
  double lifetime;
  char token_url[DP_MAX_SERVER_URL];
  char scope_granted[DP_MAX_SCOPES_KEPT];
  unsigned long requests;
  int from_cache;
  int cache_checked;
  int token_url_given; /* --token-url: the user's, any address */
  /* Scopes: an explicit --scope is sent as it is; otherwise they are made
   * from the access words (scopes.h) once the SMART configuration is read.
   * scope_key is what they were before any refused type was dropped (the
   * token cache's key), dropped the types left out after a refusal. */
  int scope_explicit;
  char *access;
  char *scope_key;
  char dropped[DP_MAX_DROPPED];
  int scope_retried;
  int smart_read;
  struct dp_smart_scopes smart;
  void (*warn)(void *user, const char *msg);
  void *warn_user;
};

static double wall(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *read_secret_file(const char *path, char *why, size_t whylen, const char *what)
{
  struct dp_reader r;
  if(dpi_reader_open(&r, path, DP_MAX_SHORT)) {
    snprintf(why, whylen, "cannot read %s file %s: %s", what, path, strerror(errno));
    return NULL;
  }
  const char *line;
  size_t len;
  int too_long;
  char *value = NULL;
  if(dpi_reader_next(&r, &line, &len, &too_long) == 1 && !too_long) {
    while(len && (line[len - 1] == ' ' || line[len - 1] == '\t'))
      len--;
    value = dpi_memdup(line, len);
  }
  dpi_reader_close(&r);
  if(!value || !*value) {
    free(value);
    snprintf(why, whylen, "%s file %s is empty", what, path);
    return NULL;
  }
  return value;
}

/* ---- discovery ----------------------------------------------------------- */

static void join(const char *base, const char *tail, char *out, size_t outlen)
{
  size_t bl = strlen(base);
  while(bl && base[bl - 1] == '/')
    bl--;
  snprintf(out, outlen, "%.*s/%s", (int)bl, base, tail);
}

static json_object *get_json(struct dp_http *http, const char *url, long *status, char *why,
                             size_t whylen)
{
  struct dp_http_request req = {.url = url, .accept = "application/json", .no_auth = 1};
  struct dp_http_response res;
  json_object *obj = NULL;
  char shown[512];
  dpi_http_safe_url(url, shown, sizeof(shown));
  *status = 0;
  if(dpi_http_do(http, &req, &res)) {
    snprintf(why, whylen, "GET %s: %s", shown, res.error);
  } else {
    *status = res.status;
    char perr[256];
    if(res.status != 200)
      snprintf(why, whylen, "GET %s: HTTP %ld", shown, res.status);
    else if(dpi_json_parse(dpi_buf_str(&res.body), res.body.len, &obj, perr, sizeof(perr)))
      snprintf(why, whylen, "GET %s: not JSON (%s)", shown, perr);
  }
  dpi_http_response_free(&res);
  return obj;
}

static char *dup_or_null(const char *s);

/* The string array member name of o, copied; NULL when absent. */
static char **string_list(json_object *o, const char *name, size_t *n)
{
  json_object *arr = dpi_json_member(o, name);
  *n = 0;
  if(!arr || !json_object_is_type(arr, json_type_array))
    return NULL;
  size_t len = json_object_array_length(arr);
  char **out = calloc(len + 1, sizeof(*out));
  for(size_t i = 0; out && i < len; i++) {
    json_object *v = json_object_array_get_idx(arr, i);
    if(json_object_is_type(v, json_type_string) && (out[*n] = strdup(json_object_get_string(v))))
      (*n)++;
  }
  return out;
}

void dpi_smart_config_free(struct dp_smart_config *c)
{
  dpi_smart_scopes_free(&c->scopes);
}

int dpi_smart_configuration(struct dp_http *http, const char *fhir_base,
                            struct dp_smart_config *out, char *why, size_t whylen)
{
  memset(out, 0, sizeof(*out));
  char url[DP_MAX_SERVER_URL];
  long status;
  join(fhir_base, ".well-known/smart-configuration", url, sizeof(url));
  json_object *conf = get_json(http, url, &status, why, whylen);
  if(conf) {
    out->found = 1;
    const char *ep = dpi_json_member_str(conf, "token_endpoint");
    const char *reg = dpi_json_member_str(conf, "registration_endpoint");
    if(ep && strlen(ep) < sizeof(out->token_url))
      snprintf(out->token_url, sizeof(out->token_url), "%s", ep);
    if(reg && strlen(reg) < sizeof(out->registration))
      snprintf(out->registration, sizeof(out->registration), "%s", reg);
    out->scopes.supported = string_list(conf, "scopes_supported", &out->scopes.nsupported);
    size_t ncap = 0;
    char **caps = string_list(conf, "capabilities", &ncap);
    for(size_t i = 0; i < ncap; i++) {
      out->scopes.v1 |= !strcmp(caps[i], "permission-v1");
      out->scopes.v2 |= !strcmp(caps[i], "permission-v2");
      free(caps[i]);
    }
    free(caps);
    json_object_put(conf);
    if(out->token_url[0])
      return 0;
    snprintf(why, whylen, "GET %s: no token_endpoint", url);
  }
  /* Older servers publish it in the CapabilityStatement's security
   * extension (oauth-uris). */
  char first[512];
  snprintf(first, sizeof(first), "%s", why);
  join(fhir_base, "metadata", url, sizeof(url));
  json_object *cap = get_json(http, url, &status, why, whylen);
  json_object *rest = dpi_json_member(cap, "rest");
  json_object *r0 = rest && json_object_is_type(rest, json_type_array)
                        ? json_object_array_get_idx(rest, 0) : NULL;
  json_object *exts = dpi_json_member(dpi_json_member(r0, "security"), "extension");
  size_t n = exts && json_object_is_type(exts, json_type_array) ? json_object_array_length(exts)
                                                                 : 0;
  for(size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(exts, i);
    const char *u = dpi_json_member_str(e, "url");
    if(!u || !strstr(u, "oauth-uris"))
      continue;
    json_object *inner = dpi_json_member(e, "extension");
    size_t m = inner && json_object_is_type(inner, json_type_array)
                   ? json_object_array_length(inner) : 0;
    for(size_t j = 0; j < m; j++) {
      json_object *x = json_object_array_get_idx(inner, j);
      const char *name = dpi_json_member_str(x, "url"), *v = dpi_json_member_str(x, "valueUri");
      if(name && v && !strcmp(name, "register") && strlen(v) < sizeof(out->registration) &&
         !out->registration[0])
        snprintf(out->registration, sizeof(out->registration), "%s", v);
      if(name && v && !strcmp(name, "token") && strlen(v) < sizeof(out->token_url))
        snprintf(out->token_url, sizeof(out->token_url), "%s", v);
    }
  }
  json_object_put(cap);
  if(out->token_url[0])
    return 0;
  snprintf(why, whylen, "no token endpoint found (%s; and no oauth-uris in the "
                        "CapabilityStatement): give --token-url", first);
  return -1;
}

int dpi_smart_discover(struct dp_http *http, const char *fhir_base, char *out, size_t outlen,
                       char *why, size_t whylen)
{
  struct dp_smart_config c;
  int rc = dpi_smart_configuration(http, fhir_base, &c, why, whylen);
  if(!rc && snprintf(out, outlen, "%s", c.token_url) >= (int)outlen)
    rc = -1;
  dpi_smart_config_free(&c);
  return rc;
}

/* ---- tokens ------------------------------------------------------------------ */

/* name=value appended to a form body.  libcurl encodes the value
 * (curl_easy_escape: all but RFC 3986's unreserved characters become %XX, a
 * space too), as it encodes the query parameters of search and export
 * (dpi_fhir_add_param): docpipe has no percent-encoder of its own. */
static void form_add(struct dp_buf *b, const char *name, const char *value)
{
  char *enc = curl_easy_escape(NULL, value, 0);
  if(!enc)
    return;
  if(b->len)
    dpi_buf_addc(b, '&');
  dpi_buf_addf(b, "%s=%s", name, enc);
  explicit_bzero(enc, strlen(enc)); /* a client assertion is a credential */
  curl_free(enc);
}

/* What a person should check for a refusal from the token endpoint.  desc
 * is error_description and the error code of error_uri (Oracle Health puts
 * the precise reason there: ...:client-assertion:jwt-bearer:invalid-signature). */
static const char *token_hint(const char *error, const char *desc)
{
  const char *d = desc ? desc : "";
  if(strstr(d, "kid") || strstr(d, "jwks") || strstr(d, "JWKS") || strstr(d, "signature"))
    return "the assertion's key is not the one registered: check --key-id against the kid in "
           "the JWKS registered for this client, and that the JWKS holds this key's public half "
           "(docpipe jwks prints it)";
  if(strstr(d, "expired") || strstr(d, "clock") || strstr(d, "iat") || strstr(d, "nbf") ||
     strstr(d, "exp"))
    return "the assertion's time was refused: check this machine's clock (NTP); assertions "
           "live 240 seconds";
  if(strstr(d, "aud"))
    return "the assertion's aud must be the token URL exactly: check --token-url (or the "
           "tenant in --fhir-base, from which it is discovered)";
  if(error && !strcmp(error, "invalid_scope"))
    return "the client is not allowed these scopes: compare --scope with the scopes granted to "
           "the system account";
  if(error && !strcmp(error, "invalid_client"))
    return "check --client-id, that the client is registered for this tenant, and the token "
           "URL";
  return "check the client registration, --token-url and the tenant";
}

static void save_cache(struct dp_auth *a)
{
  if(!a->token_cache)
    return;
  json_object *o = json_object_new_object();
  dpi_json_set_str(o, "tokenUrl", a->token_url);
  dpi_json_set_str(o, "clientId", a->client_id);
  dpi_json_set_str(o, "scope", a->scope_key ? a->scope_key : a->scope);
  dpi_json_set_str(o, "scopeGranted", a->scope_granted);
  dpi_json_set_str(o, "accessToken", a->token);
  json_object_object_add(o, "expiresAt", json_object_new_double(a->expires_at));
  json_object_object_add(o, "lifetime", json_object_new_double(a->lifetime));
  const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
  char tmp[PATH_MAX];
  snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", a->token_cache, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if(fd >= 0) {
    size_t n = strlen(s);
    int ok = fchmod(fd, 0600) == 0 && write(fd, s, n) == (ssize_t)n && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if(!ok || rename(tmp, a->token_cache))
      unlink(tmp);
  }
  /* The serialized copy inside o held the token. */
  explicit_bzero((char *)s, strlen(s));
  json_object_put(o);
}

static void load_cache(struct dp_auth *a)
{
  if(!a->token_cache)
    return;
  struct stat sb;
  if(stat(a->token_cache, &sb) || (sb.st_mode & 077))
    return; /* missing, or readable by others: not trusted */
  size_t len = 0;
  char *text = dpi_read_small_file(a->token_cache, DP_TOKEN_CACHE_MAX, &len);
  json_object *o = NULL;
  char why[256];
  if(text && !dpi_json_parse(text, len, &o, why, sizeof(why))) {
    const char *url = dpi_json_member_str(o, "tokenUrl");
    const char *id = dpi_json_member_str(o, "clientId");
    const char *scope = dpi_json_member_str(o, "scope");
    const char *tok = dpi_json_member_str(o, "accessToken");
    const char *granted = dpi_json_member_str(o, "scopeGranted");
    double exp = json_object_get_double(dpi_json_member(o, "expiresAt"));
    double life = json_object_get_double(dpi_json_member(o, "lifetime"));
    double margin = life / 5 > 60 ? 60 : life / 5;
    if(url && id && tok && !strcmp(url, a->token_url) && !strcmp(id, a->client_id) &&
       !strcmp(scope ? scope : "", a->scope_key ? a->scope_key : a->scope ? a->scope : "") &&
       strlen(tok) < sizeof(a->token) &&
       wall() < exp - margin) {
      pthread_mutex_lock(&a->lock);
      snprintf(a->token, sizeof(a->token), "%s", tok);
      snprintf(a->scope_granted, sizeof(a->scope_granted), "%s", granted ? granted : "");
      a->expires_at = exp;
      a->lifetime = life;
      a->refresh_at = exp - margin;
      a->from_cache = 1;
      pthread_mutex_unlock(&a->lock);
    }
  }
  if(text) {
    explicit_bzero(text, len);
    free(text);
  }
  json_object_put(o);
}

/* The scopes to ask for, from the access words, the server's SMART
 * configuration and the types dropped after a refusal. */
static void build_scope(struct dp_auth *a)
{
  struct dp_buf b;
  dpi_buf_init(&b, DP_MAX_SCOPES);
  dpi_scopes_build(a->access, &a->smart, a->dropped, &b);
  free(a->scope);
  a->scope = dup_or_null(dpi_buf_str(&b));
  if(!a->scope_key)
    a->scope_key = dup_or_null(a->scope);
  dpi_buf_free(&b);
}

/* An invalid_scope refusal that names types the server does not have (the
 * SMART Bulk Data reference server: Resources of type "Binary" do not
 * exist), or, when it names none, the types its scopes_supported lacks:
 * drop them and ask once more, with a warning.  1 when worth asking again. */
static int drop_refused_types(struct dp_auth *a, const char *desc)
{
  if(a->scope_explicit || a->scope_retried)
    return 0;
  a->scope_retried = 1;
  struct dp_buf named;
  dpi_buf_init(&named, DP_MAX_REFUSED);
  if(!dpi_access_named(a->access, desc, &named))
    dpi_access_unlisted(a->access, &a->smart, &named);
  size_t dl = strlen(a->dropped);
  int ok = named.len && dl + named.len + 2 < sizeof(a->dropped);
  if(ok) {
    char *before = a->scope;
    a->scope = NULL;
    snprintf(a->dropped + dl, sizeof(a->dropped) - dl, "%s%s", dl ? " " : "",
             dpi_buf_str(&named));
    build_scope(a);
    if(!a->scope) { /* nothing left to ask for: the refusal stands */
      a->scope = before;
      a->dropped[dl] = '\0';
      ok = 0;
    } else {
      if(a->warn) {
        char msg[1536];
        snprintf(msg, sizeof(msg), "warning: the token endpoint refused the scopes for %s "
                 "(%.300s); asking for \"%.400s\" instead: documents that need %s will fail",
                 dpi_buf_str(&named), desc && *desc ? desc : "invalid_scope", a->scope,
                 dpi_buf_str(&named));
        a->warn(a->warn_user, msg);
      }
      free(before);
    }
  }
  dpi_buf_free(&named);
  return ok;
}

/* The token endpoint, and how this server spells scopes: its SMART
 * configuration, read once (not needed with --token-url and --scope); then
 * the scopes to ask for. */
static int prepare(struct dp_auth *a, char *why, size_t whylen)
{
  if(!a->smart_read && a->fhir_base && (!a->token_url[0] || !a->scope_explicit)) {
    struct dp_smart_config c;
    char dwhy[1024];
    int rc = dpi_smart_configuration(a->http, a->fhir_base, &c, dwhy, sizeof(dwhy));
    if(!a->token_url[0]) {
      if(rc) {
        snprintf(why, whylen, "%s", dwhy);
        dpi_smart_config_free(&c);
        return -1;
      }
      snprintf(a->token_url, sizeof(a->token_url), "%s", c.token_url);
    }
    a->smart = c.scopes; /* moved */
    a->smart_read = 1;
  } else if(!a->token_url[0]) {
    snprintf(why, whylen, "--token-url or --fhir-base is needed to get a token");
    return -1;
  }
  if(!a->scope_explicit && !a->scope)
    build_scope(a);
  return 0;
}

/* A fresh client assertion (it lives 240 s, and its jti is used once) in
 * the form. */
static int add_assertion(struct dp_auth *a, struct dp_buf *form, char *why, size_t whylen)
{
  struct dp_buf jwt;
  dpi_buf_init(&jwt, DP_TOKEN_FORM_MAX);
  int rc = dpi_jwt_assertion(a->key, a->key_id, a->client_id, a->token_url, (long)wall(), &jwt,
                             why, whylen);
  if(!rc) {
    form_add(form, "client_assertion_type",
             "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    form_add(form, "client_assertion", dpi_buf_str(&jwt));
  }
  dpi_buf_free(&jwt);
  return rc;
}

/* One POST to the token endpoint.  dpi_http_do's result (res is then the
 * caller's to free), or 1 when no request could be made (why says why). */
static int post_token_request(struct dp_auth *a, struct dp_http_response *res, char *why,
                              size_t whylen)
{
  struct dp_buf form;
  dpi_buf_init(&form, DP_TOKEN_FORM_MAX);
  form_add(&form, "grant_type", "client_credentials");
  if(a->scope)
    form_add(&form, "scope", a->scope);
  if(a->mode == DP_AUTH_JWT && add_assertion(a, &form, why, whylen)) {
    dpi_buf_free(&form);
    return 1;
  }
  struct dp_http_request req = {.method = "POST",
                                .url = a->token_url,
                                .accept = "application/json",
                                .content_type = "application/x-www-form-urlencoded",
                                .body = form.mem,
                                .body_len = form.len,
                                .no_auth = 1,
                                .no_retry = 1,
                                .trusted = a->token_url_given};
  if(a->mode == DP_AUTH_SECRET) {
    req.basic_user = a->client_id;
    req.basic_password = a->secret;
  }
  int rc = dpi_http_do(a->http, &req, res);
  __atomic_add_fetch(&a->requests, 1, __ATOMIC_RELAXED);
  explicit_bzero(form.mem, form.len);
  dpi_buf_free(&form);
  return rc;
}

/* The error code of an error_uri, as Oracle Health writes it
 * (https://.../urn%3Acerner%3Aerror%3A...%3Ainvalid-signature/INSTANCE?...):
 * the urn with its colons, without the instance part and its query; "" when
 * there is no urn. */
static void error_uri_code(const char *uri, char *code, size_t cap)
{
  const char *urn = uri ? strstr(uri, "urn%3A") : NULL;
  size_t k = 0;
  for(const char *p = urn; p && *p && *p != '/' && *p != '?' && k + 1 < cap; p++) {
    if(!strncmp(p, "%3A", 3)) {
      code[k++] = ':';
      p += 2;
    } else {
      code[k++] = *p;
    }
  }
  code[k] = '\0';
}

/* A token endpoint's refusal (not 200, or no access_token in o) as a
 * message with a hint; 1 instead when it is an invalid_scope refusal worth
 * asking again without the refused types. */
static int refusal(struct dp_auth *a, const struct dp_http_response *res, json_object *o,
                   const char *shown, char *why, size_t whylen)
{
  const char *err = dpi_json_member_str(o, "error");
  const char *desc = dpi_json_member_str(o, "error_description");
  char code[256];
  error_uri_code(dpi_json_member_str(o, "error_uri"), code, sizeof(code));
  if(res->status == 400 && err && !strcmp(err, "invalid_scope") && drop_refused_types(a, desc))
    return 1;
  char reason[768];
  snprintf(reason, sizeof(reason), "%s%s%s", desc ? desc : "", desc && code[0] ? " " : "",
           code);
  snprintf(why, whylen, "token endpoint %s refused: HTTP %ld%s%s%s%s. Hint: %s", shown,
           res->status, err ? " " : "", err ? err : "", reason[0] ? ": " : "", reason,
           token_hint(err, reason));
  return -1;
}

/* The access token of a 200 answer (o), kept until a fifth of its lifetime
 * (at most a minute) before it expires. */
static void keep_token(struct dp_auth *a, json_object *o, const char *tok)
{
  double life = 0;
  json_object *exp = dpi_json_member(o, "expires_in");
  if(exp)
    life = json_object_get_double(exp);
  if(life <= 0)
    life = 300; /* no lifetime given: assume a short one */
  double margin = life / 5 > 60 ? 60 : life / 5;
  pthread_mutex_lock(&a->lock);
  snprintf(a->token, sizeof(a->token), "%s", tok);
  const char *granted = dpi_json_member_str(o, "scope");
  snprintf(a->scope_granted, sizeof(a->scope_granted), "%s",
           granted ? granted : a->scope ? a->scope : "");
  a->lifetime = life;
  a->expires_at = wall() + life;
  a->refresh_at = a->expires_at - margin;
  a->from_cache = 0;
  pthread_mutex_unlock(&a->lock);
}

/* What the token endpoint's last answer (or rc, dpi_http_do's failure)
 * means, once no more waiting is in order: 0 a token was kept, 1 ask again
 * (with fewer scopes), -1 refused or unreachable, -2 still 429 after
 * `attempt` tries.  res stays the caller's to free. */
static int take_answer(struct dp_auth *a, int rc, struct dp_http_response *res,
                       const char *shown, int attempt, char *why, size_t whylen)
{
  if(rc) {
    snprintf(why, whylen, "token request to %s failed: %s", shown, res->error);
    return -1;
  }
  if(res->status == 429) {
    char said[300];
    dpi_fhir_server_says(res, said, sizeof(said));
    snprintf(why, whylen, "token endpoint %s answered 429 %d times%s%s. Hint: the token "
             "endpoint limits this client: lower --rate and --concurrency, keep tokens with "
             "--token-cache, and try again later", shown, attempt, said[0] ? ": " : "", said);
    return -2;
  }
  json_object *o = NULL;
  char perr[256];
  dpi_json_parse(dpi_buf_str(&res->body), res->body.len, &o, perr, sizeof(perr));
  const char *tok = dpi_json_member_str(o, "access_token");
  int out = 0;
  if(res->status != 200 || !tok)
    out = refusal(a, res, o, shown, why, whylen);
  else
    keep_token(a, o, tok);
  if(!out)
    explicit_bzero(res->body.mem, res->body.len); /* it held the token */
  json_object_put(o);
  return out;
}

/* One token; fills a->token.  Called with refreshing set, without the
 * lock.  A 429, a 5xx or no answer is asked again up to DP_TOKEN_TRIES times
 * in all, after the endpoint's own Retry-After or a backoff, capped like
 * every wait (--retry-cap); an interrupt ends the tries. */
static int fetch_token(struct dp_auth *a, char *why, size_t whylen)
{
  if(prepare(a, why, whylen))
    return -1;
  if(!a->cache_checked) {
    /* A token left by an earlier run for the same client, scope and
     * endpoint is as good as a new one (and spares the endpoint). */
    a->cache_checked = 1;
    load_cache(a);
    if(a->from_cache)
      return 0;
  }
  char shown[512];
  dpi_http_safe_url(a->token_url, shown, sizeof(shown));
  for(int attempt = 1;; attempt++) {
    struct dp_http_response res;
    int rc = post_token_request(a, &res, why, whylen);
    if(rc == 1)
      return -1;
    int transient = rc ? 1 : res.status == 429 || res.status >= 500;
    if(transient && attempt < DP_TOKEN_TRIES && !dpi_interrupted()) {
      double after = dpi_retry_after_seconds(res.retry_after, (long)wall());
      dpi_http_response_free(&res);
      if(!dpi_sleep(dpi_http_wait(a->http, after >= 0 ? after : attempt, attempt, 1)))
        continue;
      snprintf(why, whylen, "token request to %s: interrupted", shown);
      return -1;
    }
    int out = take_answer(a, rc, &res, shown, attempt, why, whylen);
    dpi_http_response_free(&res);
    if(out == 0)
      save_cache(a);
    if(out != 1)
      return out;
  }
}

int dpi_auth_bearer(struct dp_auth *a, char *out, size_t outlen, char *why, size_t whylen)
{
  pthread_mutex_lock(&a->lock);
  for(;;) {
    if(a->token[0] && (a->mode == DP_AUTH_BEARER || wall() < a->refresh_at)) {
      int fits = snprintf(out, outlen, "%s", a->token) < (int)outlen;
      pthread_mutex_unlock(&a->lock);
      if(!fits)
        snprintf(why, whylen, "access token too long");
      return fits ? 0 : -1;
    }
    if(!a->refreshing)
      break;
    pthread_cond_wait(&a->cv, &a->lock);
  }
  a->refreshing = 1;
  pthread_mutex_unlock(&a->lock);
  int rc;
  if(a->mode == DP_AUTH_BEARER) {
    char *tok = read_secret_file(a->bearer_file, why, whylen, "bearer token");
    rc = tok ? 0 : -1;
    pthread_mutex_lock(&a->lock);
    if(tok && strlen(tok) < sizeof(a->token))
      snprintf(a->token, sizeof(a->token), "%s", tok);
    else if(tok)
      rc = -1, snprintf(why, whylen, "bearer token too long");
    pthread_mutex_unlock(&a->lock);
    if(tok) {
      explicit_bzero(tok, strlen(tok));
      free(tok);
    }
  } else {
    rc = fetch_token(a, why, whylen);
  }
  pthread_mutex_lock(&a->lock);
  a->refreshing = 0;
  pthread_cond_broadcast(&a->cv);
  pthread_mutex_unlock(&a->lock);
  return rc ? rc : dpi_auth_bearer(a, out, outlen, why, whylen);
}

void dpi_auth_reject(struct dp_auth *a, const char *token)
{
  pthread_mutex_lock(&a->lock);
  if(!strcmp(a->token, token)) { /* not yet replaced by another thread */
    explicit_bzero(a->token, sizeof(a->token));
    a->refresh_at = 0;
  }
  pthread_mutex_unlock(&a->lock);
}

static int credentials_bearer(void *user, char *out, size_t outlen, char *why, size_t whylen)
{
  struct dp_auth *a = user;
  if(a->mode == DP_AUTH_NONE)
    return 1;
  return dpi_auth_bearer(a, out, outlen, why, whylen);
}

static void credentials_reject(void *user, const char *token)
{
  dpi_auth_reject(user, token);
}

struct dp_http_credentials dpi_auth_credentials(struct dp_auth *a)
{
  return (struct dp_http_credentials){credentials_bearer, credentials_reject, a};
}

enum dp_auth_mode dpi_auth_mode(const struct dp_auth *a)
{
  return a->mode;
}

void dpi_auth_info(struct dp_auth *a, struct dp_token_info *info)
{
  pthread_mutex_lock(&a->lock);
  snprintf(info->token_url, sizeof(info->token_url), "%s", a->token_url);
  snprintf(info->scope_granted, sizeof(info->scope_granted), "%s", a->scope_granted);
  snprintf(info->scope_asked, sizeof(info->scope_asked), "%s", a->scope ? a->scope : "");
  snprintf(info->scope_dropped, sizeof(info->scope_dropped), "%s", a->dropped);
  info->lifetime = a->lifetime;
  info->from_cache = a->from_cache;
  pthread_mutex_unlock(&a->lock);
  info->requests = __atomic_load_n(&a->requests, __ATOMIC_RELAXED);
}

static char *dup_or_null(const char *s)
{
  return s && *s ? strdup(s) : NULL;
}

void dpi_auth_set_access(struct dp_auth *a, const char *access)
{
  pthread_mutex_lock(&a->lock);
  free(a->access);
  a->access = dup_or_null(access);
  if(!a->scope_explicit) {
    free(a->scope);
    free(a->scope_key);
    a->scope = a->scope_key = NULL;
  }
  pthread_mutex_unlock(&a->lock);
}

struct dp_auth *dpi_auth_new(const struct dp_auth_config *cfg, struct dp_http *http, char *why,
                             size_t whylen)
{
  struct dp_auth *a = calloc(1, sizeof(*a));
  if(!a) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&a->lock, NULL);
  pthread_cond_init(&a->cv, NULL);
  a->http = http;
  a->client_id = dup_or_null(cfg->client_id);
  a->key_id = dup_or_null(cfg->key_id);
  a->scope = dup_or_null(cfg->scope);
  a->scope_explicit = a->scope != NULL;
  a->access = dup_or_null(cfg->access);
  a->warn = cfg->warn;
  a->warn_user = cfg->warn_user;
  a->bearer_file = dup_or_null(cfg->bearer_file);
  a->token_cache = dup_or_null(cfg->token_cache);
  a->fhir_base = dup_or_null(cfg->fhir_base);
  if(cfg->token_url) {
    snprintf(a->token_url, sizeof(a->token_url), "%s", cfg->token_url);
    a->token_url_given = 1;
  }
  if(cfg->bearer_file) {
    a->mode = DP_AUTH_BEARER;
  } else if(cfg->private_key) {
    a->mode = DP_AUTH_JWT;
    if(!(a->key = dpi_load_private_key(cfg->private_key, why, whylen)))
      goto fail;
    if(!dpi_jwt_alg(a->key)) {
      snprintf(why, whylen, "private key %s is neither RSA of 2048+ bits (RS384) nor EC P-384 "
                            "(ES384)", cfg->private_key);
      goto fail;
    }
  } else if(cfg->client_secret_file) {
    a->mode = DP_AUTH_SECRET;
    if(!(a->secret = read_secret_file(cfg->client_secret_file, why, whylen, "client secret")))
      goto fail;
  } else {
    a->mode = DP_AUTH_NONE;
    return a;
  }
  if(a->mode != DP_AUTH_BEARER && !a->client_id) {
    snprintf(why, whylen, "--client-id is needed with --private-key or --client-secret-file");
    goto fail;
  }
  if(a->mode != DP_AUTH_BEARER && !a->token_url[0] && !a->fhir_base) {
    snprintf(why, whylen, "--token-url or --fhir-base is needed to get a token");
    goto fail;
  }
  return a;
fail:
  dpi_auth_free(a);
  return NULL;
}

void dpi_auth_free(struct dp_auth *a)
{
  if(!a)
    return;
  explicit_bzero(a->token, sizeof(a->token));
  if(a->secret) {
    explicit_bzero(a->secret, strlen(a->secret));
    free(a->secret);
  }
  EVP_PKEY_free(a->key);
  free(a->client_id);
  free(a->key_id);
  free(a->scope);
  free(a->scope_key);
  free(a->access);
  dpi_smart_scopes_free(&a->smart);
  free(a->bearer_file);
  free(a->token_cache);
  free(a->fhir_base);
  pthread_mutex_destroy(&a->lock);
  pthread_cond_destroy(&a->cv);
  free(a);
}
