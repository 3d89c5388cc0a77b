/* settings.c - see settings.h */
#include "settings.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "dplimits.h"
#include "ndjson.h"
#include "options.h"
#include "pipeline.h"

enum opt_id {
  O_OUTPUT, O_ERRORS, O_FORMAT, O_INDEX, O_QUIET, O_PROGRESS, O_NO_PROGRESS,
  O_PROGRESS_INTERVAL, O_UNBUFFERED, O_UNORDERED, O_JOBS, O_SHARD, O_MAX_BYTES, O_MAX_TEXT,
  O_MAX_PAGES, O_MAX_LINE, O_ISOLATE, O_MAX_TIME, O_MAX_MEMORY, O_OCR, O_OCR_LANG, O_OCR_DPI,
  O_STATE, O_CONFIG,
  O_FHIR_BASE, O_CLIENT_ID, O_PRIVATE_KEY, O_KEY_ID, O_SCOPE, O_TOKEN_URL, O_CLIENT_SECRET_FILE,
  O_BEARER_FILE, O_TOKEN_CACHE, O_HEADER, O_ALLOW_ORIGIN, O_INSECURE, O_CONCURRENCY, O_RATE,
  O_BURST, O_RETRIES, O_RETRY_BASE, O_RETRY_CAP, O_TIMEOUT,
  O_COUNT
};

/* Grouped for --help: general options first, then the FHIR server ones
 * (from O_FHIR_BASE on).  Indexed by enum opt_id. */
static const struct dp_option_spec gopts[O_COUNT] = {
  [O_OUTPUT] = {"output", "FILE", DP_OPT_SHORT('o'), "DOCPIPE_OUTPUT", "stdout",
    "write records to FILE"},
  [O_ERRORS] = {"errors", "FILE", DP_OPT_SHORT('e'), "DOCPIPE_ERRORS", "stderr",
    "write error records to FILE"},
  [O_FORMAT] = {"format", "FORMAT", DP_OPT_SHORT('f'), "DOCPIPE_FORMAT", "ndjson",
    "ndjson (the records), es-bulk (an Elasticsearch/OpenSearch _bulk body) or jsonl-text "
    "({\"id\", \"text\"} lines)"},
  [O_INDEX] = {"index", "NAME", 0, "DOCPIPE_ES_INDEX", "docpipe", "index named in es-bulk actions"},
  [O_QUIET] = {"quiet", NULL, DP_OPT_SHORT('q') | DP_OPT_FLAG, "DOCPIPE_QUIET", NULL,
    "no progress and no summary line on stderr"},
  [O_PROGRESS] = {"progress", NULL, DP_OPT_FLAG, "DOCPIPE_PROGRESS",
    "on when stderr is a terminal",
    "show progress on stderr: a live line on a terminal, else a line every 10 seconds"},
  [O_NO_PROGRESS] = {"no-progress", NULL, DP_OPT_FLAG, NULL, NULL,
    "no progress line (the summary stays); DOCPIPE_PROGRESS=0 does the same"},
  [O_PROGRESS_INTERVAL] = {"progress-interval", "SECONDS", 0, "DOCPIPE_PROGRESS_INTERVAL",
    "0.25 on a terminal, else 10",
    "time between progress lines"},
  [O_UNBUFFERED] = {"unbuffered", NULL, DP_OPT_FLAG, "DOCPIPE_UNBUFFERED", NULL,
    "flush after every record"},
  [O_UNORDERED] = {"unordered", NULL, DP_OPT_FLAG, "DOCPIPE_UNORDERED", NULL,
    "write records as they are ready, not in input order (fastest; not with --state)"},
  [O_JOBS] = {"jobs", "N", DP_OPT_SHORT('j'), "DOCPIPE_JOBS", "CPUs, or --concurrency if larger",
    "worker threads; output keeps input order whatever N is"},
  [O_SHARD] = {"shard", "K/N", 0, "DOCPIPE_SHARD", "0/1, everything",
    "keep only the documents whose identity hashes to shard K of N (0 <= K < N): N processes or "
    "machines split one input with no coordination"},
  [O_MAX_BYTES] = {"max-bytes", "SIZE", 0, "DOCPIPE_MAX_BYTES", "256M", "largest decoded document"},
  [O_MAX_TEXT] = {"max-text", "SIZE", 0, "DOCPIPE_MAX_TEXT", "64M",
    "largest extracted text of one document"},
  [O_MAX_PAGES] = {"max-pages", "N", 0, "DOCPIPE_MAX_PAGES", "10000",
    "most pages read from one PDF"},
  [O_MAX_LINE] = {"max-line", "SIZE", 0, "DOCPIPE_MAX_LINE", "512M", "longest input line"},
  [O_ISOLATE] = {"isolate", "FORMATS", 0, "DOCPIPE_ISOLATE", "pdf,image",
    "extract these formats (comma list, 'all' or 'none') in helper processes: a crash or a hang "
    "there becomes an error record"},
  [O_MAX_TIME] = {"max-time", "SECONDS", 0, "DOCPIPE_MAX_TIME", "120",
    "wall-clock budget of one isolated extraction"},
  [O_MAX_MEMORY] = {"max-memory", "SIZE", 0, "DOCPIPE_MAX_MEMORY", "4G",
    "address space of one extraction helper"},
  [O_OCR] = {"ocr", "WHEN", 0, "DOCPIPE_OCR", "auto",
    "OCR scans with Tesseract: auto (images, and PDF pages with no text layer or next to none), "
    "always (every PDF page too) or never"},
  [O_OCR_LANG] = {"ocr-lang", "LANGS", 0, "DOCPIPE_OCR_LANG", "eng",
    "languages of the scans, joined by '+' as Tesseract takes them (eng+deu); each needs its "
    "tesseract-ocr-LANG package"},
  [O_OCR_DPI] = {"ocr-dpi", "DPI", 0, "DOCPIPE_OCR_DPI", "300",
    "resolution that PDF pages are rendered at for OCR"},
  [O_STATE] = {"state", "FILE", 0, "DOCPIPE_STATE", NULL,
    "run state: resume an interrupted run exactly once (with -o/-e files), and keep the marks of "
    "incremental search/export runs"},
  [O_CONFIG] = {"config", "FILE", 0, "DOCPIPE_CONFIG", NULL,
    "read options from FILE: one 'name = value' per line, '#' comments"},
  [O_FHIR_BASE] = {"fhir-base", "URL", 0, "DOCPIPE_FHIR_BASE", NULL,
    "FHIR service root, e.g. https://fhir-ehr.cerner.com/r4/<tenant>"},
  [O_CLIENT_ID] = {"client-id", "ID", 0, "DOCPIPE_CLIENT_ID", NULL, "system account client id"},
  [O_PRIVATE_KEY] = {"private-key", "FILE", 0, "DOCPIPE_PRIVATE_KEY", NULL,
    "PEM key for SMART Backend Services (RSA: RS384, EC P-384: ES384)"},
  [O_KEY_ID] = {"key-id", "KID", 0, "DOCPIPE_KEY_ID", NULL,
    "kid of that key in the registered JWKS"},
  [O_SCOPE] = {"scope", "SCOPES", 0, "DOCPIPE_SCOPE", "what the pipeline reads",
    "scopes to request, sent as given (SMART v1 .read or v2 .rs forms); by default made from the "
    "stages that run and export --type, in the SMART version the server's smart-configuration "
    "offers, e.g. system/DocumentReference.read system/Binary.read"},
  [O_TOKEN_URL] = {"token-url", "URL", 0, "DOCPIPE_TOKEN_URL", "discovered",
    "token endpoint (else from /.well-known/smart-configuration)"},
  [O_CLIENT_SECRET_FILE] = {"client-secret-file", "FILE", 0, "DOCPIPE_CLIENT_SECRET_FILE", NULL,
    "client secret for client_secret_basic"},
  [O_BEARER_FILE] = {"bearer-file", "FILE", 0, "DOCPIPE_BEARER_FILE", NULL,
    "a ready access token (re-read when the server refuses it)"},
  [O_TOKEN_CACHE] = {"token-cache", "FILE", 0, "DOCPIPE_TOKEN_CACHE", NULL,
    "keep the access token in FILE (mode 0600) for the next run"},
  [O_HEADER] = {"header", "'NAME: VALUE'", DP_OPT_SHORT('H') | DP_OPT_MULTI, "DOCPIPE_HEADERS",
    NULL,
    "extra header for the FHIR server, e.g. a tenant header (repeatable; the variable takes one "
    "per line)"},
  [O_ALLOW_ORIGIN] = {"allow-origin", "ORIGIN", DP_OPT_MULTI, "DOCPIPE_ALLOW_ORIGINS", NULL,
    "also fetch attachment URLs from this origin (scheme://host[:port]), with no credentials; "
    "without it only the FHIR server's origin is read, and redirects and Bulk files go nowhere "
    "near cloud metadata, link-local or intranet addresses (repeatable; the variable takes one "
    "per line)"},
  [O_INSECURE] = {"insecure", NULL, DP_OPT_FLAG, "DOCPIPE_INSECURE", NULL,
    "do not verify TLS certificates (never in production)"},
  [O_CONCURRENCY] = {"concurrency", "N", 0, "DOCPIPE_CONCURRENCY", "8",
    "requests in flight at most"},
  [O_RATE] = {"rate", "N[/s]", 0, "DOCPIPE_RATE", "no limit until a 429",
    "requests per second at most"},
  [O_BURST] = {"burst", "N", 0, "DOCPIPE_BURST", "1", "requests allowed at once above --rate"},
  [O_RETRIES] = {"retries", "N", 0, "DOCPIPE_RETRIES", "5",
    "retries of a failed GET (429, 5xx, cut connections)"},
  [O_RETRY_BASE] = {"retry-base", "SECONDS", 0, "DOCPIPE_RETRY_BASE", "1",
    "first backoff delay; doubles each retry, with jitter, up to --retry-cap"},
  [O_RETRY_CAP] = {"retry-cap", "SECONDS", 0, "DOCPIPE_RETRY_CAP", "60",
    "longest single wait: a backoff, a Retry-After, an export poll"},
  [O_TIMEOUT] = {"timeout", "SECONDS", 0, "DOCPIPE_TIMEOUT", "none",
    "longest time for one request"},
};

#define NGOPTS (sizeof(gopts) / sizeof(*gopts))

static enum opt_id id_of(const struct dp_option_spec *o)
{
  return (enum opt_id)(o - gopts);
}

static const struct dp_option_spec *by_name(const char *name)
{
  for(size_t k = 0; k < NGOPTS; k++)
    if(!strcmp(gopts[k].name, name))
      return &gopts[k];
  return NULL;
}

void dpi_settings_init(struct dp_settings *s, const struct dp_stage_ops *const *stages)
{
  memset(s, 0, sizeof(*s));
  dpi_context_defaults(&s->ctx, stages);
  s->max_line = DP_MAX_LINE;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  s->jobs = cpus > 0 ? (unsigned)(cpus < 64 ? cpus : 64) : 1;
  s->progress = -1;
  s->net.concurrency = 8;
  s->net.retries = 5;
}

void dpi_settings_free(struct dp_settings *s)
{
  for(size_t i = 0; i < s->nowned; i++)
    free(s->owned[i]);
  free(s->owned);
  curl_slist_free_all(s->net.headers);
  curl_slist_free_all(s->net.allow_origins);
  s->net.allow_origins = NULL;
  s->owned = NULL;
  s->nowned = 0;
  s->net.headers = NULL;
}

static const char *keep(struct dp_settings *s, const char *v, size_t n)
{
  char **m = realloc(s->owned, (s->nowned + 1) * sizeof(*m));
  if(!m)
    return NULL;
  s->owned = m;
  if(!(m[s->nowned] = dpi_memdup(v, n)))
    return NULL;
  return m[s->nowned++];
}

static int parse_double(const char *v, double *out)
{
  char *end;
  errno = 0;
  double d = strtod(v, &end);
  if(errno || end == v || d < 0)
    return -1;
  if(!strcmp(end, "/s"))
    end += 2;
  if(*end)
    return -1;
  *out = d;
  return 0;
}

/* Is `name` an output format: the records as they are (ndjson), or a stage
 * flagged as a format?  *ops gets that stage (NULL for ndjson). */
static int output_format(const struct dp_settings *s, const char *name,
                         const struct dp_stage_ops **ops)
{
  const struct dp_stage_ops *fmt = NULL;
  if(strcmp(name, DP_FORMAT_RECORDS)) {
    fmt = dpi_stage_find(s->ctx.stages, name);
    if(!fmt || !(fmt->flags & DP_STAGE_FORMAT))
      return 0;
  }
  if(ops)
    *ops = fmt;
  return 1;
}

/* --shard K/N: 0 <= K < N.  Non-zero when bad. */
static int parse_shard(struct dp_settings *s, const char *v)
{
  unsigned k, n;
  const char *slash = strchr(v, '/');
  char kbuf[16];
  if(!slash || (size_t)(slash - v) >= sizeof(kbuf))
    return 1;
  memcpy(kbuf, v, (size_t)(slash - v));
  kbuf[slash - v] = '\0';
  if(dpi_parse_uint(kbuf, &k) || dpi_parse_uint(slash + 1, &n) || n == 0 || k >= n)
    return 1;
  s->shard_k = k;
  s->shard_n = n;
  return 0;
}

/* --header: several headers may come in one value, one per line (the
 * variable).  Non-zero when bad. */
static int add_headers(struct dp_settings *s, const char *v)
{
  for(const char *p = v; *p;) {
    size_t n = strcspn(p, "\n");
    const char *h = keep(s, p, n);
    if(n && (!h || !strchr(h, ':')))
      return 1;
    if(n) {
      struct curl_slist *l2 = curl_slist_append(s->net.headers, h);
      if(!l2)
        return 1;
      s->net.headers = l2;
    }
    p += n + (p[n] == '\n');
  }
  return 0;
}

/* --allow-origin, one per line too: kept as "scheme://host:port", the form
 * dpi_http_origin compares.  Non-zero when bad. */
static int add_origins(struct dp_settings *s, const char *v)
{
  int bad = 0;
  for(const char *p = v; *p && !bad;) {
    size_t n = strcspn(p, "\n");
    const char *u = keep(s, p, n);
    char origin[512];
    if(n && (!u || dpi_http_origin(u, origin, sizeof(origin))))
      bad = 1;
    else if(n) {
      struct curl_slist *l2 = curl_slist_append(s->net.allow_origins, origin);
      bad = !l2;
      if(l2)
        s->net.allow_origins = l2;
    }
    p += n + (p[n] == '\n');
  }
  return bad;
}

/* Set one option from a value that outlives the settings. */
static int apply(struct dp_settings *s, const struct dp_option_spec *o, const char *v, char *why,
                 size_t whylen)
{
  int bad = 0;
  long l;
  switch(id_of(o)) {
  case O_OUTPUT: s->output = v; break;
  case O_ERRORS: s->errors = v; break;
  case O_FORMAT:
    bad = !output_format(s, v, NULL);
    s->format = v;
    break;
  case O_INDEX: s->index = v; break;
  case O_QUIET: s->quiet = 1; break;
  case O_PROGRESS:
    /* From a variable or a config file the value may also turn it off. */
    s->progress = !dpi_falsy(v);
    break;
  case O_PROGRESS_INTERVAL:
    bad = parse_double(v, &s->progress_interval) || s->progress_interval <= 0;
    break;
  case O_NO_PROGRESS:
    s->progress = 0;
    s->given[O_PROGRESS] = 1; /* over DOCPIPE_PROGRESS */
    break;
  case O_UNBUFFERED: s->unbuffered = 1; break;
  case O_UNORDERED: s->unordered = 1; break;
  case O_JOBS:
    bad = dpi_parse_uint(v, &s->jobs) || s->jobs == 0 || s->jobs > 1024;
    s->jobs_given = 1;
    break;
  case O_SHARD: bad = parse_shard(s, v); break;
  case O_MAX_BYTES: bad = dpi_parse_size(v, &s->ctx.max_document); break;
  case O_MAX_TEXT: bad = dpi_parse_size(v, &s->ctx.max_text); break;
  case O_MAX_PAGES: bad = dpi_parse_uint(v, &s->ctx.max_pages); break;
  case O_MAX_LINE: bad = dpi_parse_size(v, &s->max_line); break;
  case O_ISOLATE: s->ctx.isolate = v; break;
  case O_MAX_TIME: bad = parse_double(v, &s->ctx.max_time) || s->ctx.max_time <= 0; break;
  case O_MAX_MEMORY: bad = dpi_parse_size(v, &s->ctx.max_memory); break;
  case O_OCR: bad = dpi_ocr_mode_parse(v, &s->ctx.ocr); break;
  case O_OCR_LANG: s->ctx.ocr_lang = v; break;
  case O_OCR_DPI:
    bad = dpi_parse_uint(v, &s->ctx.ocr_dpi) || s->ctx.ocr_dpi < DP_OCR_MIN_DPI ||
          s->ctx.ocr_dpi > DP_OCR_MAX_DPI;
    break;
  case O_STATE: s->state = v; break;
  case O_CONFIG: s->config = v; break;
  case O_FHIR_BASE: s->net.fhir_base = v; break;
  case O_CLIENT_ID: s->net.client_id = v; break;
  case O_PRIVATE_KEY: s->net.private_key = v; break;
  case O_KEY_ID: s->net.key_id = v; break;
  case O_SCOPE: s->net.scope = v; break;
  case O_TOKEN_URL: s->net.token_url = v; break;
  case O_CLIENT_SECRET_FILE: s->net.client_secret_file = v; break;
  case O_BEARER_FILE: s->net.bearer_file = v; break;
  case O_TOKEN_CACHE: s->net.token_cache = v; break;
  case O_HEADER: bad = add_headers(s, v); break;
  case O_ALLOW_ORIGIN: bad = add_origins(s, v); break;
  case O_INSECURE: s->net.insecure = 1; break;
  case O_CONCURRENCY: bad = dpi_parse_uint(v, &s->net.concurrency) || !s->net.concurrency; break;
  case O_RATE: bad = parse_double(v, &s->net.rate); break;
  case O_BURST: bad = parse_double(v, &s->net.burst); break;
  case O_RETRIES: bad = dpi_parse_uint(v, &s->net.retries) || s->net.retries > 100; break;
  case O_RETRY_BASE: bad = parse_double(v, &s->net.retry_base); break;
  case O_RETRY_CAP: bad = parse_double(v, &s->net.retry_cap) || s->net.retry_cap <= 0; break;
  case O_TIMEOUT:
    l = strtol(v, NULL, 10);
    bad = l <= 0;
    s->net.timeout = l;
    break;
  case O_COUNT: break;
  }
  if(bad) {
    snprintf(why, whylen, "bad value for --%s", o->name);
    return -1;
  }
  s->given[id_of(o)] = 1;
  return 0;
}

int dpi_settings_arg(struct dp_settings *s, int argc, char **argv, int *i, char *why,
                     size_t whylen)
{
  const char *a = argv[*i];
  if(a[0] != '-' || !a[1])
    return 0;
  for(size_t k = 0; k < NGOPTS; k++) {
    const struct dp_option_spec *o = &gopts[k];
    const char *value = NULL;
    size_t nl = strlen(o->name);
    int is_long = a[1] == '-' && !strncmp(a + 2, o->name, nl) && (!a[2 + nl] || a[2 + nl] == '=');
    char shrt = dpi_opt_short(o);
    int is_short = shrt && a[1] == shrt && a[1] != '-';
    if(!is_long && !is_short)
      continue;
    if(!o->arg) {
      if((is_long && a[2 + nl]) || (is_short && a[2]))
        continue; /* --quietly, -qx: not this flag */
      return apply(s, o, "1", why, whylen) ? -1 : 1;
    }
    if(is_long && a[2 + nl] == '=')
      value = a + 3 + nl;
    else if(is_short && a[2])
      value = a + 2;
    else if(*i + 1 < argc)
      value = argv[++*i];
    else {
      snprintf(why, whylen, "option --%s needs a value", o->name);
      return -1;
    }
    return apply(s, o, value, why, whylen) ? -1 : 1;
  }
  return 0;
}

int dpi_settings_set(struct dp_settings *s, const char *name, const char *value, char *why,
                     size_t whylen)
{
  const struct dp_option_spec *o = by_name(name);
  if(!o)
    return 0;
  if(o->arg && !value) {
    snprintf(why, whylen, "option --%s needs a value", o->name);
    return -1;
  }
  if(!o->arg) {
    /* A flag is turned on; only --progress may also be turned off. */
    int on = !value || !*value || !strcmp(value, "1") || !strcmp(value, "yes") ||
             !strcmp(value, "on") || !strcmp(value, "true");
    if(!on && id_of(o) != O_PROGRESS) {
      snprintf(why, whylen, "--%s is a flag: it takes no value", o->name);
      return -1;
    }
    value = on ? "1" : value;
  }
  const char *v = keep(s, value, strlen(value));
  if(!v) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  return apply(s, o, v, why, whylen) ? -1 : 1;
}

unsigned dpi_settings_jobs(const struct dp_settings *s)
{
  if(!s->jobs_given && s->ctx.net && s->net.concurrency > s->jobs)
    return s->net.concurrency; /* network stages wait: more workers than CPUs */
  return s->jobs;
}

int dpi_settings_format_chain(const struct dp_settings *s, struct dp_chain *chain)
{
  if(!chain->n)
    return 0;
  const struct dp_stage_ops *fmt = NULL;
  if(s->format && !output_format(s, s->format, &fmt))
    return -1;
  /* An output format is one more stage at the end of the chain. */
  if(fmt && strcmp(chain->stages[chain->n - 1].ops->name, s->format) &&
     dpi_chain_append(chain, fmt))
    return -1;
  return s->index && dpi_chain_set_option(chain, "index", s->index) < 0 ? -1 : 0;
}

void dpi_settings_access(struct dp_settings *s, const struct dp_chain *chain,
                         const char *const *args, size_t nargs)
{
  struct dp_buf b;
  dpi_buf_init(&b, 8192);
  if(chain)
    dpi_chain_access(chain, nargs ? args : NULL, nargs, &b);
  if(!b.len) /* a chain that names nothing (check before it knows): the documents */
    dpi_buf_adds(&b, "DocumentReference.rs Binary.r");
  s->net.access = keep(s, dpi_buf_str(&b), b.len);
  dpi_buf_free(&b);
}

int dpi_settings_open_network(struct dp_settings *s, int needed, char *why, size_t whylen)
{
  if(!needed && !dpi_settings_network(s))
    return 0;
  if(!s->net.fhir_base && needed) {
    snprintf(why, whylen, "this needs a FHIR server: give --fhir-base (or DOCPIPE_FHIR_BASE)");
    return -1;
  }
  return dpi_net_open(&s->ctx.net, &s->net, s->ctx.max_document, why, whylen) ? -1 : 1;
}

static int read_config(struct dp_settings *s, const char *path, const unsigned char *from_env,
                       char *why, size_t whylen)
{
  struct dp_reader r;
  if(dpi_reader_open(&r, path, 65536)) {
    snprintf(why, whylen, "cannot read config %s: %s", path, strerror(errno));
    return -1;
  }
  const char *line;
  size_t len;
  int too_long, rc = 0;
  while(!rc && dpi_reader_next(&r, &line, &len, &too_long) == 1) {
    char buf[4096];
    if(too_long || len >= sizeof(buf)) {
      snprintf(why, whylen, "%s:%lu: line too long", path, r.line);
      rc = -1;
      break;
    }
    memcpy(buf, line, len);
    buf[len] = '\0';
    char *p = buf + strspn(buf, " \t");
    if(!*p || *p == '#')
      continue;
    char *name = p;
    p += strcspn(p, " \t=");
    char *value = p + strspn(p, " \t");
    if(*value == '=')
      value += 1 + strspn(value + 1, " \t");
    *p = '\0';
    size_t vl = strlen(value);
    while(vl && (value[vl - 1] == ' ' || value[vl - 1] == '\t'))
      value[--vl] = '\0';
    const struct dp_option_spec *o = by_name(name);
    if(!o || id_of(o) == O_CONFIG) {
      snprintf(why, whylen, "%s:%lu: unknown option '%s'", path, r.line, name);
      rc = -1;
      break;
    }
    if(s->given[id_of(o)] || from_env[id_of(o)])
      continue; /* the command line and the environment come first */
    if(!o->arg && id_of(o) != O_PROGRESS && dpi_falsy(value))
      continue; /* "quiet = no": off */
    const char *v = o->arg || id_of(o) == O_PROGRESS ? keep(s, value, vl) : "1";
    if(!v || apply(s, o, v, why, whylen)) {
      rc = -1;
      break;
    }
  }
  dpi_reader_close(&r);
  return rc;
}

int dpi_settings_finish(struct dp_settings *s, char *why, size_t whylen)
{
  unsigned char from_env[O_COUNT] = {0};
  for(size_t k = 0; k < NGOPTS; k++) {
    const struct dp_option_spec *o = &gopts[k];
    if(!o->env || s->given[id_of(o)] || id_of(o) == O_CONFIG)
      continue;
    const char *v = getenv(o->env);
    if(!v || !*v)
      continue;
    from_env[id_of(o)] = 1;
    if(!o->arg && id_of(o) != O_PROGRESS && dpi_falsy(v))
      continue; /* DOCPIPE_QUIET=0: off */
    if(apply(s, o, v, why, whylen)) {
      snprintf(why, whylen, "bad value in %s", o->env);
      return -1;
    }
  }
  const char *config = s->config ? s->config : getenv("DOCPIPE_CONFIG");
  if(config && *config && read_config(s, config, from_env, why, whylen))
    return -1;
  return 0;
}

int dpi_settings_network(const struct dp_settings *s)
{
  return s->net.fhir_base || s->net.private_key || s->net.bearer_file ||
         s->net.client_secret_file || s->net.token_url;
}

void dpi_settings_each(void (*fn)(const struct dp_option_spec *o, const char *group, void *user),
                       void *user)
{
  for(size_t k = 0; k < NGOPTS; k++)
    fn(&gopts[k], k < O_FHIR_BASE ? "general" : "FHIR server", user);
}
