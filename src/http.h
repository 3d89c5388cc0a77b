/* http.h - the HTTP client every network stage shares (libcurl).
 *
 * One client per run: connections, DNS and TLS sessions are shared between
 * threads (a curl share handle), so requests reuse keep-alive connections
 * and HTTP/2 where the server offers it.  TLS is always verified unless the
 * user says --insecure.  The client paces requests (--rate, adaptive after a
 * 429), caps requests in flight (--concurrency), retries what is safe to
 * retry with exponential backoff and jitter, honours Retry-After, follows
 * redirects itself so that credentials never go to another origin, and keeps
 * the server's correlation ids for error records. */
#ifndef DP_HTTP_H
#define DP_HTTP_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdio.h>

#include "buf.h"
#include "dplimits.h"

struct dp_http_config {
  const char *user_agent;
  long connect_timeout;  /* seconds */
  long low_speed_time;   /* abort a transfer slower than 1 byte/s for this long */
  long timeout;          /* whole request, seconds; 0 = none */
  size_t max_response;   /* bytes */
  int insecure;          /* skip TLS verification (warned about loudly) */
  unsigned concurrency;  /* requests in flight at most */
  double rate;           /* requests per second; 0 = no limit until a 429 */
  double burst;          /* requests allowed at once above the rate */
  unsigned max_tries;    /* attempts per request, first one included */
  double retry_base;     /* first backoff delay, seconds (1) */
  double retry_cap;      /* longest backoff delay, seconds (60) */
  struct curl_slist *headers; /* extra headers for the FHIR server (tenant...) */
  const char *origin;    /* scheme://host:port of the FHIR server: credentials
                            and extra headers go there only */
  struct curl_slist *allow_origins; /* "scheme://host:port" also trusted (--allow-origin) */
};

void dpi_http_config_defaults(struct dp_http_config *cfg);

struct dp_http_request {
  const char *method;        /* NULL: GET */
  const char *url;
  const char *accept;        /* NULL: no Accept header */
  const char *content_type;  /* of body */
  const void *body;
  size_t body_len;
  const char *if_match;      /* W/"3" */
  const char *prefer;        /* respond-async */
  int no_auth;               /* never send the bearer token */
  int send_token;            /* send it to this URL's origin too, not only the FHIR
                                server's (a Bulk manifest's requiresAccessToken) */
  int trusted;               /* the user gave this URL (--token-url): any address */
  const char *basic_user;    /* HTTP Basic credentials (token endpoint) */
  const char *basic_password;
  int no_retry;              /* one attempt only */
  int max_redirects;         /* 0: DP_MAX_REDIRECTS */
  FILE *sink;                /* write the body here instead of memory (Bulk files);
                                emptied again before each retry */
};

struct dp_http_response {
  long status;              /* 0 when no HTTP answer came */
  struct dp_buf body;
  char content_type[DP_MAX_HEADER_TYPE];
  char request_id[DP_MAX_REQUEST_IDS]; /* X-Request-Id, opc-request-id, *-Correlation-Id */
  char www_authenticate[DP_MAX_CHALLENGE];
  char retry_after[DP_MAX_HEADER_SHORT];
  char etag[DP_MAX_HEADER_SHORT];
  char location[DP_MAX_SERVER_URL];
  char content_location[DP_MAX_SERVER_URL];
  char x_progress[DP_MAX_HEADER_TYPE];
  char date[DP_MAX_HEADER_SHORT];
  char url[DP_MAX_URL];     /* the URL that answered (after redirects) */
  int transport_error;      /* CURLcode when status is 0 */
  char error[512];          /* transport error text */
  unsigned tries;           /* attempts made */
  int too_large;            /* the body passed max_response */
  int refused;              /* not sent: an address the URL may not reach (error says
                               which); never retried */
  int auth_failed;          /* no token could be obtained (error says why);
                               2: the token endpoint kept answering 429 */
  FILE *sink;               /* from the request */
};

struct dp_http;
struct sockaddr;

struct dp_http *dpi_http_new(const struct dp_http_config *cfg, char *why, size_t whylen);
void dpi_http_free(struct dp_http *h);
/* Where the bearer token of a request comes from.  The client asks for it
 * before each request to the FHIR server's origin (and to a send_token
 * URL's), so an authorization scheme (SMART, auth.c) plugs in from outside
 * and the client knows nothing of it.
 * bearer: the token to send as "Authorization: Bearer" in out; 0, 1 when
 *   there is none (the request goes without), -1 when none could be had
 *   (why says so for a person; res->auth_failed 1), -2 the same because the
 *   source is rate limited (res->auth_failed 2).  Called from any thread.
 * reject: the server answered 401 to this token: drop it, so that the next
 *   bearer gets a fresh one.  The request is then tried once more (once per
 *   request; NULL: the 401 is the answer). */
struct dp_http_credentials {
  int (*bearer)(void *user, char *out, size_t outlen, char *why, size_t whylen);
  void (*reject)(void *user, const char *token);
  void *user;
};
/* Credentials for requests to the FHIR origin (bearer NULL: none, the
 * default).  Set before the first request. */
void dpi_http_set_credentials(struct dp_http *h, struct dp_http_credentials cred);

/* Perform a request with retries.  Returns 0 when an HTTP answer arrived
 * (any status; look at res->status), -1 when none did (res->error says why).
 * res must be released with dpi_http_response_free. */
int dpi_http_do(struct dp_http *h, const struct dp_http_request *req,
                struct dp_http_response *res);
void dpi_http_response_free(struct dp_http_response *res);

/* Same origin (scheme, host, port)?  Unparsable URLs are never the same. */
int dpi_http_same_origin(const char *a, const char *b);
/* "scheme://host[:port]" of url into out; 0 or -1. */
int dpi_http_origin(const char *url, char *out, size_t outlen);
/* Resolve a possibly relative reference against base into out. */
int dpi_http_resolve_url(const char *base, const char *ref, char *out, size_t outlen);
/* url without its query and fragment, fit for messages (pre-signed URLs
 * carry credentials in the query). */
void dpi_http_safe_url(const char *url, char *out, size_t outlen);

/* Retry-After as seconds from now (now is the current Unix time), not yet
 * capped.  RFC 9110 allows delta-seconds or an HTTP-date; servers also send
 * an absolute Unix time (the SMART Bulk Data reference server sends epoch
 * seconds, and epoch milliseconds when a block starts): a number of 10^9 or
 * more is read as a Unix time, 10^12 or more as one in milliseconds, and a
 * time already past means 0.  -1 when absent or garbage ("soon", "-5",
 * "1e3"): the caller then uses its backoff. */
double dpi_retry_after_seconds(const char *value, long now);
/* How long to wait before retry number `retry`: the server's Retry-After
 * (`after`, from dpi_retry_after_seconds) when it gave one, else the
 * backoff with jitter u; never more than the client's retry cap
 * (--retry-cap).  Every wait of the network stages is bounded by it. */
double dpi_http_wait(const struct dp_http *h, double after, unsigned retry, double u);
/* The retry cap in seconds (--retry-cap, default 60). */
double dpi_http_wait_cap(const struct dp_http *h);
/* Backoff before retry number `retry` (1 for the first retry): an
 * exponential delay base * 2^(retry-1), capped, with jitter u in [0, 1)
 * spreading it over [delay/2, delay]. */
double dpi_backoff_delay(unsigned retry, double base, double cap, double u);

/* Where an address leads.  URLs on the FHIR server's origin, on an
 * --allow-origin, or given by the user go anywhere; the others (redirect
 * targets, Bulk file URLs, a token endpoint found by discovery) may reach
 * public addresses, loopback only on the FHIR server's own host, private
 * ones only when the FHIR server is private (or loopback) itself, and never
 * link-local, cloud metadata (169.254.169.254, fd00:ec2::254, 100.100.100.200),
 * unspecified, multicast or reserved addresses.  IPv4 inside IPv6 (mapped,
 * NAT64) counts as IPv4.  Behind a proxy (https_proxy...) the proxy resolves
 * names: only address literals are checked then. */
enum dp_addr_class {
  DP_ADDR_PUBLIC,
  DP_ADDR_LOOPBACK,
  DP_ADDR_PRIVATE,    /* RFC 1918, carrier-grade NAT, IPv6 unique local */
  DP_ADDR_LINK_LOCAL,
  DP_ADDR_METADATA,
  DP_ADDR_NEVER       /* unspecified, multicast, reserved */
};
/* The class of an address; *what (may be NULL) names it for messages. */
enum dp_addr_class dpi_addr_class(const struct sockaddr *sa, const char **what);
/* May a URL that is not on a trusted origin reach this address?  same_host:
 * its host is the FHIR server's; base_class: the FHIR server's address
 * class, -1 when not known yet. */
int dpi_addr_allowed(enum dp_addr_class cls, int same_host, int base_class);
/* Is url on the FHIR server's origin or on an --allow-origin? */
int dpi_http_trusted_origin(const struct dp_http *h, const char *url);

/* Total requests, 429s seen and retries made so far (for the summary). */
void dpi_http_stats(struct dp_http *h, unsigned long *requests, unsigned long *rate_limited,
                    unsigned long *retries);

#endif
