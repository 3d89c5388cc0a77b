/* check.c - see check.h
 *
 * Every step says what it saw and, when it fails, what to change.  The steps
 * follow the order in which a new integration usually breaks: service root,
 * discovery, CapabilityStatement, token, scopes, a search, a Binary in both
 * Accept modes. */
#include "check.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

#include "dplimits.h"
#include "ndjson.h"
#include "record.h"

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

/* Run a GET and, on failure, print the diagnosis the stages would give. */
static json_object *get(struct checker *c, const char *step, const char *url, const char *accept,
                        enum dp_fhir_origin origin, const char *type, struct dp_http_response *res)
{
  struct dp_http_request req = {.url = url, .accept = accept};
  char what[600], shown[512];
  dpi_http_safe_url(url, shown, sizeof(shown));
  snprintf(what, sizeof(what), "GET %s", shown);
  int rc = dpi_http_do(c->ctx->net->http, &req, res);
  if(!rc && res->status >= 200 && res->status < 300)
    return NULL;
  struct dp_record *r = dpi_record_new();
  dpi_fhir_fail(r, res, what, type, origin);
  char why[1024];
  snprintf(why, sizeof(why), "%s [%s]", r->err_message, dpi_kind_name(r->err_kind));
  fail_line(c, step, why, r->err_hint);
  dpi_record_free(r);
  return (json_object *)res; /* a failure marker, never dereferenced */
}

/* Does a granted scope string allow `perm` ('r' read, 's' search) on type?
 * SMART v1: type.read, *.read; v2: type.r / .rs / .cruds, *.rs. */
static int scope_allows(const char *granted, const char *type, char perm)
{
  char buf[2048];
  snprintf(buf, sizeof(buf), "%s", granted ? granted : "");
  for(char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    char *slash = strchr(tok, '/'), *dot = slash ? strchr(slash, '.') : NULL;
    if(!slash || !dot)
      continue;
    size_t tl = (size_t)(dot - slash - 1);
    int type_ok = (tl == 1 && slash[1] == '*') || (tl == strlen(type) && !strncmp(slash + 1, type, tl));
    if(!type_ok)
      continue;
    const char *p = dot + 1;
    if(!strcmp(p, "read") || !strcmp(p, "*"))
      return 1;
    if(strlen(p) <= 5 && strspn(p, "cruds") == strlen(p) && strchr(p, perm))
      return 1;
  }
  return 0;
}

int dpi_check(const struct dp_context *ctx, const struct dp_net_config *cfg,
              const struct dp_check_options *opt, FILE *out)
{
  struct checker c = {ctx, out, 0};
  struct dp_net *net = ctx->net;
  char url[4096], why[2048];

  ok(&c, "service root %s", net->base);
  const char *tenant = strrchr(net->base, '/');
  if(tenant && strlen(tenant) > 1)
    ok(&c, "tenant %s (the last part of the service root)", tenant + 1);

  /* Discovery. */
  char token_url[2048] = "";
  if(cfg->token_url) {
    snprintf(token_url, sizeof(token_url), "%s", cfg->token_url);
    ok(&c, "token endpoint %s (from --token-url)", token_url);
  } else if(dpi_smart_discover(net->http, net->base, token_url, sizeof(token_url), why,
                               sizeof(why))) {
    fail_line(&c, "SMART discovery", why,
              "check --fhir-base (it must be the tenant's service root) or give --token-url");
    token_url[0] = '\0';
  } else {
    ok(&c, "token endpoint %s (from .well-known/smart-configuration)", token_url);
  }

  /* CapabilityStatement. */
  struct dp_http_response res;
  snprintf(url, sizeof(url), "%s/metadata", net->base);
  if(!get(&c, "CapabilityStatement", url, "application/fhir+json", DP_FHIR_ASKED,
          "CapabilityStatement", &res)) {
    json_object *cap = NULL;
    char perr[128];
    dpi_json_parse(dpi_buf_str(&res.body), res.body.len, &cap, perr, sizeof(perr));
    const char *version = dpi_json_member_str(cap, "fhirVersion");
    int has_docref = strstr(dpi_buf_str(&res.body), "\"DocumentReference\"") != NULL;
    int has_binary = strstr(dpi_buf_str(&res.body), "\"Binary\"") != NULL;
    if(!version || strncmp(version, "4.", 2))
      fail_line(&c, "CapabilityStatement", version ? "not FHIR R4" : "no fhirVersion",
                "docpipe speaks FHIR R4: point --fhir-base at the R4 service root");
    else if(!has_docref || !has_binary)
      fail_line(&c, "CapabilityStatement", "DocumentReference or Binary not supported here",
                "use the tenant's clinical (ehr) service root");
    else
      ok(&c, "CapabilityStatement: FHIR %s, DocumentReference and Binary supported", version);
    json_object_put(cap);
  }
  dpi_http_response_free(&res);

  /* Token and scopes. */
  int have_token = 0;
  if(dpi_auth_mode(net->auth) == DP_AUTH_NONE) {
    skip(&c, "token", "no credentials given (--private-key, --client-secret-file or --bearer-file)");
  } else {
    char token[DP_MAX_SHORT];
    if(dpi_auth_bearer(net->auth, token, sizeof(token), why, sizeof(why))) {
      char *hint = strstr(why, ". Hint: ");
      if(hint)
        *hint = '\0';
      fail_line(&c, "token", why, hint ? hint + 8 : NULL);
    } else {
      have_token = 1;
      struct dp_token_info ti;
      dpi_auth_info(net->auth, &ti);
      ok(&c, "access token (lifetime %.0f s%s) from %s", ti.lifetime,
         ti.from_cache ? ", from the cache" : "", ti.token_url);
      static const struct {
        const char *type;
        char perm;
        const char *v1;
      } needed[] = {{"DocumentReference", 's', "system/DocumentReference.read"},
                    {"DocumentReference", 'r', "system/DocumentReference.read"},
                    {"Binary", 'r', "system/Binary.read"}};
      int all = 1;
      for(size_t k = 0; k < sizeof(needed) / sizeof(*needed); k++)
        if(dpi_auth_mode(net->auth) != DP_AUTH_BEARER &&
           !scope_allows(ti.scope_granted, needed[k].type, needed[k].perm)) {
          char msg[2600], fix[512];
          snprintf(msg, sizeof(msg), "granted \"%s\" does not allow %s %s", ti.scope_granted,
                   needed[k].perm == 's' ? "searching" : "reading", needed[k].type);
          snprintf(fix, sizeof(fix), "add %s (v2: system/%s.%s) to --scope and to the "
                                     "system account's scopes", needed[k].v1, needed[k].type,
                   needed[k].perm == 's' ? "rs" : "r");
          fail_line(&c, "scopes", msg, fix);
          all = 0;
          break;
        }
      if(all && dpi_auth_mode(net->auth) != DP_AUTH_BEARER)
        ok(&c, "scopes granted: %s", ti.scope_granted);
    }
    explicit_bzero(token, sizeof(token));
  }

  /* A search and a Binary read. */
  if(!opt->patient) {
    skip(&c, "DocumentReference search", "give --patient ID to try a search and a Binary read");
  } else if(dpi_auth_mode(net->auth) != DP_AUTH_NONE && !have_token) {
    skip(&c, "DocumentReference search", "no token");
  } else {
    snprintf(url, sizeof(url), "%s/DocumentReference?patient=%s&_count=10", net->base,
             opt->patient);
    const char *binary = NULL;
    json_object *bundle = NULL;
    if(!get(&c, "DocumentReference search", url, "application/fhir+json", DP_FHIR_ASKED,
            "DocumentReference", &res)) {
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
      ok(&c, "DocumentReference search for patient %s: %zu on the first page", opt->patient, n);
    }
    if(binary) {
      static const char *accepts[] = {"application/fhir+json", "*/*"};
      for(int k = 0; k < 2; k++) {
        struct dp_http_response br;
        char burl[4096], step[128];
        snprintf(step, sizeof(step), "Binary read (Accept: %s)", accepts[k]);
        if(dpi_fhir_url(net, binary, burl, sizeof(burl)))
          snprintf(burl, sizeof(burl), "%s", binary);
        if(!get(&c, step, burl, accepts[k], DP_FHIR_LISTED, "Binary", &br)) {
          ok(&c, "%s: %zu bytes, %s", step, br.body.len,
             br.content_type[0] ? br.content_type : "no content type");
        }
        dpi_http_response_free(&br);
      }
    } else if(bundle) {
      skip(&c, "Binary read", "the search found no attachment url to read");
    }
    json_object_put(bundle);
    dpi_http_response_free(&res);
  }
  fprintf(out, c.failed ? "Something blocks the job: fix the FAIL lines above.\n"
                        : "Nothing blocks the job.\n");
  return c.failed ? 1 : 0;
}
