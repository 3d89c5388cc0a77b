/* http.c - see http.h */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dplimits.h"
#include "interrupt.h"

/* A Retry-After number this large is no delay but a Unix time: 10^9 s is
 * 31 years, and 10^9 as a time is 2001.  10^12 and more is milliseconds
 * (10^12 s would be the year 33658). */
#define DP_RETRY_AFTER_EPOCH 1e9
#define DP_RETRY_AFTER_EPOCH_MS 1e12

void dpi_http_config_defaults(struct dp_http_config *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->user_agent = "docpipe/" DOCPIPE_VERSION;
  cfg->connect_timeout = 15;
  cfg->low_speed_time = 60;
  cfg->timeout = 0;
  cfg->max_response = DP_MAX_RESPONSE;
  cfg->concurrency = 8;
  cfg->burst = 1;
  cfg->max_tries = 6;
  cfg->retry_base = 1;
  cfg->retry_cap = 60;
}

/* ---- time ------------------------------------------------------------- */

static double now_mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sleep_for(double seconds)
{
  return dpi_sleep(seconds);
}

/* ---- pacing ------------------------------------------------------------- */

/* A token bucket whose rate adapts to the server's limit.  Until a 429
 * comes there is no pace (or --rate).  A 429 sets the pace a little under
 * the rate the server was accepting just then (the answers that were not
 * 429 in the last second), which is its limit; each second without a 429
 * the pace rises by 0.5 %, never above --rate, until the next 429 trims it
 * again.  A run at the server's limit so goes at about 0.97 of it with a
 * 429 every few hundred requests.  The request that drew the 429 waits its
 * Retry-After; the others keep the new pace (a global pause would cost a
 * second of nothing for every 429). */
struct pacer {
  pthread_mutex_t lock;
  double limit;  /* --rate, 0 = none */
  double rate;   /* current pace, 0 = unpaced */
  double burst;
  double tokens;
  double last_refill;
  double last_cut;
  double last_raise;
  double ok[DP_PACER_WINDOW]; /* completion times of recent answers that were not 429 */
  unsigned nok;
  double cap; /* no single wait is longer (--retry-cap) */
};

static double accepted_rate(struct pacer *p, double now)
{
  unsigned n = 0, have = p->nok < DP_PACER_WINDOW ? p->nok : DP_PACER_WINDOW;
  for(unsigned i = 0; i < have; i++)
    if(now - p->ok[i] <= 1.0)
      n++;
  return n;
}

static void pacer_wait(struct pacer *p)
{
  pthread_mutex_lock(&p->lock);
  double start = now_mono();
  for(;;) {
    double now = now_mono();
    double wait = 0;
    if(p->rate > 0) {
      if(now - p->last_raise >= 1.0 && now - p->last_cut >= 1.0) {
        p->rate *= 1.005; /* a quiet second: a little faster */
        if(p->limit > 0 && p->rate > p->limit)
          p->rate = p->limit;
        p->last_raise = now;
      }
      p->tokens += (now - p->last_refill) * p->rate;
      if(p->tokens > p->burst)
        p->tokens = p->burst;
      p->last_refill = now;
      if(p->tokens < 1)
        wait = (1 - p->tokens) / p->rate;
    }
    /* No request waits longer than --retry-cap for its turn either: past
     * it, it goes and leaves the debt to the next ones. */
    if(wait <= 0 || now - start >= p->cap) {
      if(p->rate > 0)
        p->tokens -= 1;
      break;
    }
    if(wait > p->cap - (now - start))
      wait = p->cap - (now - start);
    pthread_mutex_unlock(&p->lock);
    /* Interrupted: go on unpaced (the few requests left, such as deleting
     * an export job, must not spin here). */
    if(sleep_for(wait)) {
      pthread_mutex_lock(&p->lock);
      break;
    }
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
}

static void pacer_ok(struct pacer *p)
{
  pthread_mutex_lock(&p->lock);
  p->ok[p->nok++ % DP_PACER_WINDOW] = now_mono();
  pthread_mutex_unlock(&p->lock);
}

static void pacer_429(struct pacer *p)
{
  pthread_mutex_lock(&p->lock);
  double now = now_mono();
  double accepted = accepted_rate(p, now);
  /* Several 429s of one burst answer the same excess: cut once. */
  if(now - p->last_cut >= 0.5 || p->rate <= 0) {
    double pace = accepted * 0.95;
    if(p->rate > 0 && (pace <= 0 || pace >= p->rate))
      pace = p->rate * 0.9; /* the estimate did not help: slow down anyway */
    if(pace < 0.2)
      pace = 0.2;
    p->rate = pace;
    p->last_cut = now;
    p->last_raise = now;
  }
  p->tokens = 0;
  p->last_refill = now;
  pthread_mutex_unlock(&p->lock);
}

/* ---- addresses ------------------------------------------------------------- */

static enum dp_addr_class class_v4(uint32_t a, const char **what)
{
  static const struct {
    uint32_t net, mask;
    enum dp_addr_class cls;
    const char *what;
  } nets[] = {
    {0xA9FEA9FE, 0xFFFFFFFF, DP_ADDR_METADATA, "cloud metadata"},   /* 169.254.169.254 */
    {0xA9FEAA02, 0xFFFFFFFF, DP_ADDR_METADATA, "cloud metadata"},   /* 169.254.170.2 (ECS) */
    {0x646464C8, 0xFFFFFFFF, DP_ADDR_METADATA, "cloud metadata"},   /* 100.100.100.200 */
    {0x00000000, 0xFF000000, DP_ADDR_NEVER, "unspecified"},         /* 0/8 */
    {0x7F000000, 0xFF000000, DP_ADDR_LOOPBACK, "loopback"},         /* 127/8 */
    {0x0A000000, 0xFF000000, DP_ADDR_PRIVATE, "private"},           /* 10/8 */
    {0xAC100000, 0xFFF00000, DP_ADDR_PRIVATE, "private"},           /* 172.16/12 */
    {0xC0A80000, 0xFFFF0000, DP_ADDR_PRIVATE, "private"},           /* 192.168/16 */
    {0x64400000, 0xFFC00000, DP_ADDR_PRIVATE, "shared (carrier-grade NAT)"}, /* 100.64/10 */
    {0xC6120000, 0xFFFE0000, DP_ADDR_PRIVATE, "benchmarking"},      /* 198.18/15 */
    {0xA9FE0000, 0xFFFF0000, DP_ADDR_LINK_LOCAL, "link-local"},     /* 169.254/16 */
    {0xE0000000, 0xF0000000, DP_ADDR_NEVER, "multicast"},           /* 224/4 */
    {0xF0000000, 0xF0000000, DP_ADDR_NEVER, "reserved"},            /* 240/4 */
  };
  for(size_t i = 0; i < sizeof(nets) / sizeof(*nets); i++)
    if((a & nets[i].mask) == nets[i].net) {
      *what = nets[i].what;
      return nets[i].cls;
    }
  *what = "public";
  return DP_ADDR_PUBLIC;
}

enum dp_addr_class dpi_addr_class(const struct sockaddr *sa, const char **what)
{
  const char *dummy;
  if(!what)
    what = &dummy;
  if(sa->sa_family == AF_INET)
    return class_v4(ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr), what);
  if(sa->sa_family != AF_INET6) {
    *what = "not an internet address";
    return DP_ADDR_NEVER;
  }
  const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
  static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  static const unsigned char imds[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0,  /* fd00:ec2::254 */
                                         0,    0,    0,    0,    0, 0, 0x02, 0x54};
  if(!memcmp(b, mapped, 12) || !memcmp(b, nat64, 12)) /* an IPv4 address inside */
    return class_v4((uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15],
                    what);
  static const unsigned char zero[16] = {0};
  if(!memcmp(b, zero, 15) && (b[15] == 0 || b[15] == 1)) {
    *what = b[15] ? "loopback" : "unspecified";
    return b[15] ? DP_ADDR_LOOPBACK : DP_ADDR_NEVER;
  }
  if(!memcmp(b, imds, 16)) {
    *what = "cloud metadata";
    return DP_ADDR_METADATA;
  }
  if(b[0] == 0xff) {
    *what = "multicast";
    return DP_ADDR_NEVER;
  }
  if(b[0] == 0xfe && (b[1] & 0xc0) == 0x80) {
    *what = "link-local";
    return DP_ADDR_LINK_LOCAL;
  }
  if((b[0] & 0xfe) == 0xfc || (b[0] == 0xfe && (b[1] & 0xc0) == 0xc0)) {
    *what = "private";
    return DP_ADDR_PRIVATE;
  }
  *what = "public";
  return DP_ADDR_PUBLIC;
}

int dpi_addr_allowed(enum dp_addr_class cls, int same_host, int base_class)
{
  switch(cls) {
  case DP_ADDR_PUBLIC:
    return 1;
  case DP_ADDR_LOOPBACK:
    return same_host;
  case DP_ADDR_PRIVATE:
    return same_host || base_class == DP_ADDR_PRIVATE || base_class == DP_ADDR_LOOPBACK;
  default:
    return 0;
  }
}

/* The class of a host that is an address literal ("10.0.0.1", "[fe80::1]"),
 * -1 for a name. */
static int literal_class(const char *host, const char **what)
{
  char buf[64];
  size_t n = strlen(host);
  if(n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof(buf)) {
    memcpy(buf, host + 1, n - 2);
    buf[n - 2] = '\0';
    char *zone = strchr(buf, '%');
    if(zone)
      *zone = '\0';
    struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
    if(inet_pton(AF_INET6, buf, &s6.sin6_addr) == 1)
      return (int)dpi_addr_class((struct sockaddr *)&s6, what);
    return -1;
  }
  struct sockaddr_in s4 = {.sin_family = AF_INET};
  if(inet_pton(AF_INET, host, &s4.sin_addr) == 1)
    return (int)dpi_addr_class((struct sockaddr *)&s4, what);
  return -1;
}

/* The host of url, lower case, as curl normalises it (IPv4 in dotted quads,
 * IPv6 in brackets, a trailing dot dropped); "" when unparsable. */
static void url_host(const char *url, char *out, size_t outlen)
{
  out[0] = '\0';
  CURLU *u = curl_url();
  char *host = NULL;
  if(u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
     curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    snprintf(out, outlen, "%s", host);
    for(char *p = out; *p; p++)
      if(*p >= 'A' && *p <= 'Z')
        *p = (char)(*p - 'A' + 'a');
    size_t n = strlen(out);
    if(n > 1 && out[n - 1] == '.')
      out[n - 1] = '\0';
  }
  curl_free(host);
  curl_url_cleanup(u);
}

/* ---- the client ----------------------------------------------------------- */

struct dp_http {
  struct dp_http_config cfg;
  CURLSH *share;
  pthread_mutex_t share_locks[CURL_LOCK_DATA_LAST];
  pthread_mutex_t lock; /* handle pool, permits, stats */
  pthread_cond_t permit_cv;
  unsigned in_flight;
  CURL *pool[DP_HTTP_HANDLE_POOL];
  unsigned npool;
  struct pacer pacer;
  struct dp_http_credentials cred;
  unsigned long requests, rate_limited, retries;
  unsigned seed;
  char base_host[DP_MAX_HOST]; /* host of cfg.origin, lower case, "" when none */
  int base_class;      /* dp_addr_class of the FHIR server's address; -1 until known */
  int proxied;         /* a proxy is set: it resolves names, not docpipe */
};

static void share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *user)
{
  (void)h;
  (void)access;
  struct dp_http *http = user;
  pthread_mutex_lock(&http->share_locks[data]);
}

static void share_unlock(CURL *h, curl_lock_data data, void *user)
{
  (void)h;
  struct dp_http *http = user;
  pthread_mutex_unlock(&http->share_locks[data]);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
  curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

struct dp_http *dpi_http_new(const struct dp_http_config *cfg, char *why, size_t whylen)
{
  pthread_once(&curl_once, curl_init);
  if(curl_init_rc != CURLE_OK) {
    snprintf(why, whylen, "libcurl failed to start: %s", curl_easy_strerror(curl_init_rc));
    return NULL;
  }
  struct dp_http *h = calloc(1, sizeof(*h));
  if(!h) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  h->cfg = *cfg;
  if(!h->cfg.concurrency)
    h->cfg.concurrency = 1;
  if(!h->cfg.max_tries)
    h->cfg.max_tries = 1;
  for(int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_init(&h->share_locks[i], NULL);
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->permit_cv, NULL);
  pthread_mutex_init(&h->pacer.lock, NULL);
  h->pacer.limit = cfg->rate;
  h->pacer.rate = cfg->rate;
  h->pacer.burst = cfg->burst >= 1 ? cfg->burst : 1;
  h->pacer.tokens = h->pacer.burst;
  h->pacer.last_refill = h->pacer.last_raise = now_mono();
  h->pacer.last_cut = -1e9;
  h->pacer.cap = h->cfg.retry_cap > 0 ? h->cfg.retry_cap : 60;
  h->seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)h;
  h->base_class = -1;
  if(h->cfg.origin)
    url_host(h->cfg.origin, h->base_host, sizeof(h->base_host));
  h->base_class = literal_class(h->base_host, NULL);
  static const char *const proxy_vars[] = {"https_proxy", "HTTPS_PROXY", "http_proxy",
                                           "ALL_PROXY", "all_proxy"};
  for(size_t i = 0; i < sizeof(proxy_vars) / sizeof(*proxy_vars); i++)
    if(getenv(proxy_vars[i]) && *getenv(proxy_vars[i]))
      h->proxied = 1;
  h->share = curl_share_init();
  if(!h->share) {
    snprintf(why, whylen, "libcurl share handle unavailable");
    dpi_http_free(h);
    return NULL;
  }
  curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
  curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
  curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
  curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
  curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  return h;
}

void dpi_http_free(struct dp_http *h)
{
  if(!h)
    return;
  for(unsigned i = 0; i < h->npool; i++)
    curl_easy_cleanup(h->pool[i]);
  if(h->share)
    curl_share_cleanup(h->share);
  for(int i = 0; i < CURL_LOCK_DATA_LAST; i++)
    pthread_mutex_destroy(&h->share_locks[i]);
  pthread_mutex_destroy(&h->lock);
  pthread_cond_destroy(&h->permit_cv);
  pthread_mutex_destroy(&h->pacer.lock);
  free(h);
}

void dpi_http_set_credentials(struct dp_http *h, struct dp_http_credentials cred)
{
  h->cred = cred;
}

void dpi_http_stats(struct dp_http *h, unsigned long *requests, unsigned long *rate_limited,
                    unsigned long *retries)
{
  pthread_mutex_lock(&h->lock);
  *requests = h->requests;
  *rate_limited = h->rate_limited;
  *retries = h->retries;
  pthread_mutex_unlock(&h->lock);
}

static CURL *take_handle(struct dp_http *h)
{
  pthread_mutex_lock(&h->lock);
  while(h->in_flight >= h->cfg.concurrency)
    pthread_cond_wait(&h->permit_cv, &h->lock);
  h->in_flight++;
  h->requests++;
  CURL *c = h->npool ? h->pool[--h->npool] : NULL;
  pthread_mutex_unlock(&h->lock);
  if(!c)
    c = curl_easy_init();
  else
    curl_easy_reset(c);
  return c;
}

static void give_handle(struct dp_http *h, CURL *c)
{
  pthread_mutex_lock(&h->lock);
  h->in_flight--;
  if(c && h->npool < DP_HTTP_HANDLE_POOL)
    h->pool[h->npool++] = c;
  else if(c)
    curl_easy_cleanup(c);
  pthread_cond_signal(&h->permit_cv);
  pthread_mutex_unlock(&h->lock);
}

/* ---- URLs ------------------------------------------------------------------- */

int dpi_http_origin(const char *url, char *out, size_t outlen)
{
  CURLU *u = curl_url();
  if(!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
    curl_url_cleanup(u);
    return -1;
  }
  char *scheme = NULL, *host = NULL, *port = NULL;
  int rc = -1;
  if(curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
     curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
     curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    for(char *p = host; *p; p++)
      if(*p >= 'A' && *p <= 'Z')
        *p = (char)(*p - 'A' + 'a');
    rc = snprintf(out, outlen, "%s://%s:%s", scheme, host, port) < (int)outlen ? 0 : -1;
  }
  curl_free(scheme);
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return rc;
}

int dpi_http_same_origin(const char *a, const char *b)
{
  char oa[DP_MAX_ORIGIN], ob[DP_MAX_ORIGIN];
  if(!a || !b || dpi_http_origin(a, oa, sizeof(oa)) || dpi_http_origin(b, ob, sizeof(ob)))
    return 0;
  return !strcmp(oa, ob);
}

int dpi_http_resolve_url(const char *base, const char *ref, char *out, size_t outlen)
{
  CURLU *u = curl_url();
  char *full = NULL;
  int rc = -1;
  if(u && curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
     curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
     curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK)
    rc = snprintf(out, outlen, "%s", full) < (int)outlen ? 0 : -1;
  curl_free(full);
  curl_url_cleanup(u);
  return rc;
}

void dpi_http_safe_url(const char *url, char *out, size_t outlen)
{
  snprintf(out, outlen, "%.*s", (int)strcspn(url, "?#"), url);
  if(outlen > 4 && strlen(out) > DP_SHOWN_URL)
    strcpy(out + DP_SHOWN_URL - 3, "...");
}

/* ---- the guard ---------------------------------------------------------- */

/* Guards one exchange: a URL that is not on a trusted origin may only
 * reach the addresses dpi_addr_allowed lets through.  Names are checked as
 * they resolve, when curl opens the socket, so DNS cannot lead around it. */
struct guard {
  struct dp_http *h;
  int checked;     /* 0: the FHIR server's origin, an --allow-origin, a URL the user gave */
  int base;        /* the FHIR server's origin: learn its address class */
  int same_host;   /* same host as the FHIR server (another port) */
  int refused;
  char host[DP_MAX_HOST];
  char addr[INET6_ADDRSTRLEN];
  const char *what;
};

static int refuse(struct guard *g, const struct sockaddr *sa, int cls, const char *what)
{
  if(!g->checked || (sa && g->h->proxied) || dpi_addr_allowed((enum dp_addr_class)cls, g->same_host,
                                                      __atomic_load_n(&g->h->base_class,
                                                                      __ATOMIC_RELAXED)))
    return 0;
  g->refused = 1;
  g->what = what;
  g->addr[0] = '\0';
  if(sa && sa->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, g->addr, sizeof(g->addr));
  else if(sa && sa->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, g->addr, sizeof(g->addr));
  return 1;
}

static curl_socket_t open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
  struct guard *g = user;
  if(purpose == CURLSOCKTYPE_IPCXN && (a->family == AF_INET || a->family == AF_INET6)) {
    const char *what;
    enum dp_addr_class cls = dpi_addr_class(&a->addr, &what);
    if(g->base && !g->h->proxied)
      __atomic_store_n(&g->h->base_class, (int)cls, __ATOMIC_RELAXED);
    if(refuse(g, &a->addr, (int)cls, what))
      return CURL_SOCKET_BAD;
  }
  return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

int dpi_http_trusted_origin(const struct dp_http *h, const char *url)
{
  char o[DP_MAX_ORIGIN];
  if(dpi_http_origin(url, o, sizeof(o)))
    return 0;
  if(h->cfg.origin && dpi_http_same_origin(url, h->cfg.origin))
    return 1;
  for(const struct curl_slist *x = h->cfg.allow_origins; x; x = x->next)
    if(!strcmp(o, x->data))
      return 1;
  return 0;
}

/* ---- schedule ------------------------------------------------------------------ */

double dpi_retry_after_seconds(const char *value, long now)
{
  if(!value)
    return -1;
  const char *p = value + strspn(value, " \t");
  if(*p >= '0' && *p <= '9') {
    /* Digits: delta-seconds, or a Unix time (see http.h).  Digits with one
     * fraction only: "0x10", "1e3" and "5 min" are garbage. */
    const char *q = p + strspn(p, "0123456789");
    if(*q == '.')
      q += 1 + strspn(q + 1, "0123456789");
    if(q[strspn(q, " \t")])
      return -1;
    double v = strtod(p, NULL);
    if(!isfinite(v))
      return -1;
    if(v < DP_RETRY_AFTER_EPOCH)
      return v;
    double when = v >= DP_RETRY_AFTER_EPOCH_MS ? v / 1000 : v;
    return when > (double)now ? when - (double)now : 0;
  }
  if(!*p)
    return -1;
  time_t when = curl_getdate(p, NULL);
  if(when == (time_t)-1)
    return -1;
  return when > now ? (double)(when - now) : 0;
}

double dpi_http_wait(const struct dp_http *h, double after, unsigned retry, double u)
{
  double cap = h->cfg.retry_cap > 0 ? h->cfg.retry_cap : 60;
  if(after >= 0)
    return after < cap ? after : cap;
  return dpi_backoff_delay(retry, h->cfg.retry_base, cap, u);
}

double dpi_http_wait_cap(const struct dp_http *h)
{
  return h->cfg.retry_cap > 0 ? h->cfg.retry_cap : 60;
}

double dpi_backoff_delay(unsigned retry, double base, double cap, double u)
{
  if(retry == 0)
    retry = 1;
  double d = base;
  for(unsigned i = 1; i < retry && d < cap; i++)
    d *= 2;
  if(d > cap)
    d = cap;
  return d * (0.5 + 0.5 * u);
}

/* ---- one exchange -------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
  struct dp_http_response *res = user;
  if(res->sink)
    return fwrite(data, size, n, res->sink) * size;
  if(dpi_buf_add(&res->body, data, size * n)) {
    res->too_large = 1;
    return 0;
  }
  return size * n;
}

static void keep(char *dst, size_t cap, const char *v, size_t n)
{
  if(n >= cap)
    n = cap - 1;
  memcpy(dst, v, n);
  dst[n] = '\0';
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
  struct dp_http_response *res = user;
  size_t len = size * n;
  if(len >= 5 && !strncmp(data, "HTTP/", 5)) {
    /* A new response (after 100 Continue): forget the previous headers. */
    res->content_type[0] = res->www_authenticate[0] = res->retry_after[0] = '\0';
    res->etag[0] = res->location[0] = res->content_location[0] = res->x_progress[0] = '\0';
    res->request_id[0] = res->date[0] = '\0';
    return len;
  }
  const char *colon = memchr(data, ':', len);
  if(!colon)
    return len;
  size_t nl = (size_t)(colon - data);
  const char *v = colon + 1;
  size_t vl = len - nl - 1;
  while(vl && (*v == ' ' || *v == '\t'))
    v++, vl--;
  while(vl && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' '))
    vl--;
#define FIELD(f) offsetof(struct dp_http_response, f), sizeof(((struct dp_http_response *)0)->f)
  static const struct {
    const char *name;
    size_t off, cap;
  } wanted[] = {
    {"content-type", FIELD(content_type)},
    {"www-authenticate", FIELD(www_authenticate)},
    {"retry-after", FIELD(retry_after)},
    {"etag", FIELD(etag)},
    {"location", FIELD(location)},
    {"content-location", FIELD(content_location)},
    {"x-progress", FIELD(x_progress)},
    {"date", FIELD(date)},
  };
#undef FIELD
  for(size_t i = 0; i < sizeof(wanted) / sizeof(*wanted); i++)
    if(strlen(wanted[i].name) == nl && !strncasecmp(data, wanted[i].name, nl)) {
      keep((char *)res + wanted[i].off, wanted[i].cap, v, vl);
      return len;
    }
  int correlation = (nl == 12 && !strncasecmp(data, "x-request-id", 12)) ||
                    (nl == 14 && !strncasecmp(data, "opc-request-id", 14)) ||
                    (nl > 15 && !strncasecmp(data + nl - 15, "-correlation-id", 15));
  if(correlation) {
    size_t used = strlen(res->request_id);
    snprintf(res->request_id + used, sizeof(res->request_id) - used, "%s%.*s: %.*s",
             used ? ", " : "", (int)nl, data, (int)vl, v);
  }
  return len;
}

static int retryable_transport(CURLcode rc)
{
  switch(rc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_HTTP2:
  case CURLE_PARTIAL_FILE:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_GOT_NOTHING:
  case CURLE_SEND_ERROR:
  case CURLE_RECV_ERROR:
  case CURLE_HTTP2_STREAM:
  case CURLE_SSL_CONNECT_ERROR:
    return 1;
  default:
    return 0;
  }
}

/* Forget what an earlier try of the request left: body, status, and the
 * sink's contents. */
static void reset_response(struct dp_http_response *res)
{
  dpi_buf_reset(&res->body);
  if(res->sink) {
    fflush(res->sink);
    if(ftruncate(fileno(res->sink), 0) == 0)
      rewind(res->sink);
  }
  res->too_large = 0;
  res->status = 0;
}

static const char *article(const char *word)
{
  return strchr("aeiou", word[0]) ? "an" : "a";
}

/* Set up the guard of one exchange; 1 when the URL's host is an address
 * literal it may not reach (res says so, nothing is sent). */
static int guard_refuses_literal(struct guard *g, struct dp_http *h,
                                 const struct dp_http_request *req, const char *url,
                                 int same_origin, struct dp_http_response *res)
{
  *g = (struct guard){.h = h, .base = same_origin};
  g->checked = !req->trusted && !dpi_http_trusted_origin(h, url);
  url_host(url, g->host, sizeof(g->host));
  g->same_host = h->base_host[0] && !strcmp(g->host, h->base_host);
  const char *what = NULL;
  int lit = g->checked ? literal_class(g->host, &what) : -1;
  if(lit < 0 || !refuse(g, NULL, lit, what))
    return 0;
  res->refused = 1;
  snprintf(res->error, sizeof(res->error), "refused: %.200s is %s %s address, and only the "
           "FHIR server's origin or an --allow-origin may lead there", g->host, article(what),
           what);
  snprintf(res->url, sizeof(res->url), "%s", url);
  return 1;
}

/* The request's headers: Accept, the bearer token, the conditions, and the
 * --headers when it goes to the FHIR server's origin. */
static struct curl_slist *request_headers(const struct dp_http *h,
                                          const struct dp_http_request *req, const char *token,
                                          int same_origin)
{
  struct curl_slist *hdrs = NULL;
  char line[DP_MAX_SHORT + 64];
  if(req->accept) {
    snprintf(line, sizeof(line), "Accept: %s", req->accept);
    hdrs = curl_slist_append(hdrs, line);
  }
  if(token) {
    snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
    hdrs = curl_slist_append(hdrs, line);
  }
  if(req->if_match) {
    snprintf(line, sizeof(line), "If-Match: %s", req->if_match);
    hdrs = curl_slist_append(hdrs, line);
  }
  if(req->prefer) {
    snprintf(line, sizeof(line), "Prefer: %s", req->prefer);
    hdrs = curl_slist_append(hdrs, line);
  }
  if(req->content_type) {
    snprintf(line, sizeof(line), "Content-Type: %s", req->content_type);
    hdrs = curl_slist_append(hdrs, line);
  }
  hdrs = curl_slist_append(hdrs, "Expect:");
  for(struct curl_slist *x = same_origin ? h->cfg.headers : NULL; x; x = x->next)
    hdrs = curl_slist_append(hdrs, x->data);
  explicit_bzero(line, sizeof(line)); /* it held the token */
  return hdrs;
}

/* The token lived in the header list: wipe it before freeing. */
static void free_headers(struct curl_slist *hdrs)
{
  for(struct curl_slist *x = hdrs; x; x = x->next)
    if(!strncmp(x->data, "Authorization:", 14))
      explicit_bzero(x->data, strlen(x->data));
  curl_slist_free_all(hdrs);
}

/* Everything the client does the same for every request: the shared
 * connections, timeouts, TLS, no redirects of curl's own, the guard. */
static void set_transfer(CURL *c, struct dp_http *h, struct guard *g,
                         struct dp_http_response *res, char *errbuf)
{
  curl_easy_setopt(c, CURLOPT_SHARE, h->share);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, h->cfg.user_agent);
  curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, h->cfg.connect_timeout);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->cfg.low_speed_time);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, h->cfg.timeout);
  if(!res->sink) /* a Bulk file goes to disk: only memory needs the cap */
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)h->cfg.max_response);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, h->cfg.insecure ? 0L : 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, h->cfg.insecure ? 0L : 2L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, g);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, res);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, res);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
}

/* What this request asks: URL, headers, Basic credentials, method, body. */
static void set_request(CURL *c, const struct dp_http_request *req, const char *url,
                        struct curl_slist *hdrs)
{
  curl_easy_setopt(c, CURLOPT_URL, url);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
  if(req->basic_user) {
    curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
    curl_easy_setopt(c, CURLOPT_USERNAME, req->basic_user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, req->basic_password ? req->basic_password : "");
  }
  const char *method = req->method ? req->method : "GET";
  if(req->body) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
  }
  if(strcmp(method, "GET") && strcmp(method, "POST"))
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  else if(!strcmp(method, "POST") && !req->body)
    curl_easy_setopt(c, CURLOPT_POST, 1L);
}

/* The outcome of curl_easy_perform in res: status, the URL that answered,
 * and for a failure what went wrong (the guard's refusal, or curl's text). */
static void note_outcome(struct dp_http_response *res, CURL *c, CURLcode rc, const char *url,
                         const struct guard *g, const char *errbuf)
{
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  res->status = rc == CURLE_OK ? status : 0;
  snprintf(res->url, sizeof(res->url), "%s", url);
  if(rc != CURLE_OK && g->refused) {
    res->transport_error = (int)rc;
    res->refused = 1;
    snprintf(res->error, sizeof(res->error), "refused: %.200s resolves to %s, %s %s address, and "
             "only the FHIR server's origin or an --allow-origin may lead there", g->host,
             g->addr, article(g->what), g->what);
  } else if(rc != CURLE_OK) {
    res->transport_error = (int)rc;
    snprintf(res->error, sizeof(res->error), "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    /* curl's message may quote the URL: keep queries out. */
    char *q = strchr(res->error, '?');
    if(q)
      *q = '\0';
  }
}

/* One try of a request, on a pooled handle under a concurrency permit. */
static CURLcode exchange(struct dp_http *h, const struct dp_http_request *req, const char *url,
                         const char *token, int same_origin, struct dp_http_response *res)
{
  CURL *c = take_handle(h);
  if(!c) {
    give_handle(h, NULL);
    return CURLE_OUT_OF_MEMORY;
  }
  reset_response(res);
  struct guard g;
  if(guard_refuses_literal(&g, h, req, url, same_origin, res)) {
    give_handle(h, c);
    return CURLE_COULDNT_CONNECT;
  }
  char errbuf[CURL_ERROR_SIZE] = "";
  struct curl_slist *hdrs = request_headers(h, req, token, same_origin);
  set_transfer(c, h, &g, res, errbuf);
  set_request(c, req, url, hdrs);
  CURLcode rc = curl_easy_perform(c);
  note_outcome(res, c, rc, url, &g, errbuf);
  free_headers(hdrs);
  give_handle(h, c);
  return rc;
}

/* Requests retried after a 5xx or a broken connection.  A PUT is left out
 * although HTTP calls it idempotent: the first try may have been applied,
 * and a version-aware update must say so rather than guess.  Any request is
 * retried after a 429, which the server answers before doing anything. */
static int idempotent(const char *method)
{
  return !method || !strcmp(method, "GET") || !strcmp(method, "HEAD") ||
         !strcmp(method, "DELETE");
}

static int is_redirect(long status)
{
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

static double jitter(struct dp_http *h)
{
  pthread_mutex_lock(&h->lock);
  h->seed = h->seed * 1103515245u + 12345u;
  unsigned r = (h->seed >> 8) & 0xffff;
  pthread_mutex_unlock(&h->lock);
  return (double)r / 65536.0;
}

static void count(struct dp_http *h, unsigned long *counter)
{
  pthread_mutex_lock(&h->lock);
  (*counter)++;
  pthread_mutex_unlock(&h->lock);
}

/* Wait before a retry; 0 when the run was interrupted (before or during the
 * wait): then the last answer stands and nothing is retried any more. */
static int wait_to_retry(struct dp_http *h, double seconds)
{
  if(dpi_interrupted() || sleep_for(seconds))
    return 0;
  count(h, &h->retries);
  return 1;
}

/* The bearer token for this try, in token, when the URL is one that gets
 * it: on the FHIR server's origin, or on a send_token URL's own origin (not
 * on where that redirects).  0 with *bearer NULL when there is none, -1
 * when none could be had (res says why). */
static int get_bearer(struct dp_http *h, const struct dp_http_request *cur, const char *url,
                      int same, const char *token_origin, char *token, size_t tokenlen,
                      const char **bearer, struct dp_http_response *res)
{
  *bearer = NULL;
  if(!h->cred.bearer || cur->no_auth ||
     !(same || (token_origin[0] && dpi_http_same_origin(url, token_origin))))
    return 0;
  char why[512];
  int arc = h->cred.bearer(h->cred.user, token, tokenlen, why, sizeof(why));
  if(arc < 0) {
    res->auth_failed = arc == -2 ? 2 : 1;
    snprintf(res->error, sizeof(res->error), "%s", why);
    return -1;
  }
  if(arc == 0)
    *bearer = token;
  return 0;
}

/* Where a redirect leads, in url; a 303, or a 301 or 302 answering a POST,
 * makes the request a GET without a body.  -1 for an unusable Location. */
static int follow(struct dp_http_request *cur, char *url, size_t urlsize,
                  const struct dp_http_response *res)
{
  char next[DP_MAX_URL];
  if(dpi_http_resolve_url(url, res->location, next, sizeof(next)))
    return -1;
  snprintf(url, urlsize, "%s", next);
  long st = res->status;
  if(st == 303 || ((st == 301 || st == 302) && cur->method && !strcmp(cur->method, "POST"))) {
    cur->method = "GET";
    cur->body = NULL;
    cur->body_len = 0;
    cur->content_type = NULL;
  }
  return 0;
}

/* After a try that got no HTTP answer: 1 when it was waited for and is
 * worth another (a broken connection or a timeout, on an idempotent
 * request). */
static int retry_transport(struct dp_http *h, const struct dp_http_request *cur, CURLcode rc,
                           const struct dp_http_response *res, unsigned max_tries)
{
  if(res->too_large || res->refused)
    return 0;
  return retryable_transport(rc) && idempotent(cur->method) && res->tries < max_tries &&
         wait_to_retry(h, dpi_http_wait(h, -1, res->tries, jitter(h)));
}

/* After an HTTP answer: the pacer learns from it, and 1 when it was
 * transient (429, or a 5xx to an idempotent request) and has been waited
 * for (Retry-After, else the backoff): try again. */
static int retry_answer(struct dp_http *h, const struct dp_http_request *cur,
                        const struct dp_http_response *res, unsigned max_tries)
{
  long st = res->status;
  if(st != 429)
    pacer_ok(&h->pacer);
  double after = dpi_retry_after_seconds(res->retry_after, (long)time(NULL));
  if(st == 429) {
    count(h, &h->rate_limited);
    pacer_429(&h->pacer);
  }
  int transient = st == 429 || ((st == 500 || st == 502 || st == 503 || st == 504) &&
                                idempotent(cur->method));
  return transient && res->tries < max_tries &&
         wait_to_retry(h, dpi_http_wait(h, after, res->tries, jitter(h)));
}

int dpi_http_do(struct dp_http *h, const struct dp_http_request *req,
                struct dp_http_response *res)
{
  memset(res, 0, sizeof(*res));
  dpi_buf_init(&res->body, h->cfg.max_response);
  res->sink = req->sink;
  char url[DP_MAX_URL];
  snprintf(url, sizeof(url), "%s", req->url);
  struct dp_http_request cur = *req;
  int redirects = 0, reauthed = 0;
  /* A Bulk file URL whose manifest says requiresAccessToken gets the token
   * on its own origin too. */
  char token_origin[DP_MAX_ORIGIN] = "";
  if(req->send_token && dpi_http_origin(req->url, token_origin, sizeof(token_origin)))
    token_origin[0] = '\0';
  unsigned max_redirects = req->max_redirects ? (unsigned)req->max_redirects : DP_MAX_REDIRECTS;
  unsigned max_tries = req->no_retry ? 1 : h->cfg.max_tries;
  for(;;) {
    res->tries++;
    int same = h->cfg.origin && dpi_http_same_origin(url, h->cfg.origin);
    char token[DP_MAX_SHORT];
    const char *bearer;
    if(get_bearer(h, &cur, url, same, token_origin, token, sizeof(token), &bearer, res))
      return -1;
    pacer_wait(&h->pacer);
    CURLcode rc = exchange(h, &cur, url, bearer, same, res);
    /* A refused token (expired early, revoked): one fresh token and one
     * more try, never a loop. */
    int reauth = rc == CURLE_OK && res->status == 401 && bearer && !reauthed && h->cred.reject;
    if(reauth)
      h->cred.reject(h->cred.user, token);
    if(bearer)
      explicit_bzero(token, sizeof(token));
    if(rc != CURLE_OK) {
      if(retry_transport(h, &cur, rc, res, max_tries))
        continue;
      return -1;
    }
    if(is_redirect(res->status) && res->location[0] && (int)redirects < (int)max_redirects) {
      if(follow(&cur, url, sizeof(url), res))
        return 0; /* an unusable Location: the 3xx is the answer */
      redirects++;
      res->tries--; /* a redirect is not a retry */
      continue;
    }
    if(reauth) {
      reauthed = 1;
      res->tries--;
      continue;
    }
    if(retry_answer(h, &cur, res, max_tries))
      continue;
    return 0;
  }
}

void dpi_http_response_free(struct dp_http_response *res)
{
  dpi_buf_free(&res->body);
}
