/* test_http.c - the network building blocks without a network: the JWT
 * client assertion (verified with OpenSSL), the credentials callback,
 * Retry-After, the backoff schedule, paging links, URL origins, failure
 * diagnosis, merge patch. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "b64.h"
#include "fhir.h"
#include "http.h"
#include "jose.h"
#include "ndjson.h"
#include "testutil.h"

static EVP_PKEY *make_key(int rsa)
{
  return rsa ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
             : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
}

/* Decode one base64url part of a JWS into out. */
static void b64url_decode(const char *s, size_t n, struct dp_buf *out)
{
  CU_ASSERT_EQUAL_FATAL(dpi_b64_decode(s, n, out, NULL), DP_B64_OK);
}

static void check_assertion(int rsa)
{
  EVP_PKEY *key = make_key(rsa);
  CU_ASSERT_PTR_NOT_NULL_FATAL(key);
  CU_ASSERT_STRING_EQUAL(dpi_jwt_alg(key), rsa ? "RS384" : "ES384");
  struct dp_buf jwt;
  dpi_buf_init(&jwt, 1 << 16);
  char why[256];
  long now = 1700000000;
  CU_ASSERT_EQUAL_FATAL(dpi_jwt_assertion(key, "kid-1", "client-7", "https://t.example/token", now,
                                          &jwt, why, sizeof(why)), 0);
  const char *s = jwt.mem;
  const char *d1 = strchr(s, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  CU_ASSERT_PTR_NOT_NULL_FATAL(d2);
  CU_ASSERT_PTR_NULL(strchr(s, '=')); /* base64url without padding */
  struct dp_buf hdr, claims, sig;
  dpi_buf_init(&hdr, 4096);
  dpi_buf_init(&claims, 4096);
  dpi_buf_init(&sig, 4096);
  b64url_decode(s, (size_t)(d1 - s), &hdr);
  b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &claims);
  b64url_decode(d2 + 1, strlen(d2 + 1), &sig);
  json_object *h = json_tokener_parse(hdr.mem), *c = json_tokener_parse(claims.mem);
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(h, "alg"), rsa ? "RS384" : "ES384");
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(h, "kid"), "kid-1");
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(c, "iss"), "client-7");
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(c, "sub"), "client-7");
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(c, "aud"), "https://t.example/token");
  long exp = (long)json_object_get_int64(dpi_json_member(c, "exp"));
  CU_ASSERT(exp > now && exp <= now + 300); /* short, as SMART requires */
  const char *jti = dpi_json_member_str(c, "jti");
  CU_ASSERT(jti && strlen(jti) >= 16);

  /* The signature verifies with the public key over "header.claims". */
  unsigned char der[256];
  const unsigned char *sigbytes = (const unsigned char *)sig.mem;
  size_t siglen = sig.len;
  if(!rsa) {
    CU_ASSERT_EQUAL_FATAL(sig.len, 96); /* r || s, 48 bytes each */
    ECDSA_SIG *es = ECDSA_SIG_new();
    ECDSA_SIG_set0(es, BN_bin2bn(sigbytes, 48, NULL), BN_bin2bn(sigbytes + 48, 48, NULL));
    unsigned char *p = der;
    siglen = (size_t)i2d_ECDSA_SIG(es, &p);
    sigbytes = der;
    ECDSA_SIG_free(es);
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  CU_ASSERT_EQUAL(EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key), 1);
  CU_ASSERT_EQUAL(EVP_DigestVerify(md, sigbytes, siglen, (const unsigned char *)s,
                                   (size_t)(d2 - s)), 1);
  /* ... and not over anything else. */
  EVP_MD_CTX_reset(md);
  EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, key);
  CU_ASSERT_NOT_EQUAL(EVP_DigestVerify(md, sigbytes, siglen, (const unsigned char *)s,
                                       (size_t)(d2 - s) - 1), 1);
  EVP_MD_CTX_free(md);

  /* Two assertions never share a jti. */
  struct dp_buf again;
  dpi_buf_init(&again, 1 << 16);
  dpi_jwt_assertion(key, "kid-1", "client-7", "https://t.example/token", now, &again, why,
                    sizeof(why));
  CU_ASSERT(strcmp(again.mem, jwt.mem) != 0);

  /* The JWKS carries the public half under the kid. */
  struct dp_buf jwks;
  dpi_buf_init(&jwks, 1 << 16);
  CU_ASSERT_EQUAL(dpi_jwks(key, "kid-1", &jwks), 0);
  json_object *set = json_tokener_parse(jwks.mem);
  json_object *k0 = json_object_array_get_idx(dpi_json_member(set, "keys"), 0);
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(k0, "kid"), "kid-1");
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(k0, "kty"), rsa ? "RSA" : "EC");
  CU_ASSERT_PTR_NOT_NULL(dpi_json_member_str(k0, rsa ? "n" : "x"));
  CU_ASSERT_PTR_NULL(dpi_json_member_str(k0, "d")); /* never the private part */

  json_object_put(set);
  json_object_put(h);
  json_object_put(c);
  dpi_buf_free(&jwks);
  dpi_buf_free(&again);
  dpi_buf_free(&hdr);
  dpi_buf_free(&claims);
  dpi_buf_free(&sig);
  dpi_buf_free(&jwt);
  EVP_PKEY_free(key);
}

static void test_jwt_rs384(void)
{
  check_assertion(1);
}

static void test_jwt_es384(void)
{
  check_assertion(0);
}

static void test_weak_keys_refused(void)
{
  EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
  EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  CU_ASSERT_PTR_NULL(dpi_jwt_alg(small));
  CU_ASSERT_PTR_NULL(dpi_jwt_alg(p256));
  EVP_PKEY_free(small);
  EVP_PKEY_free(p256);
}

/* A credentials source that fails, as a token endpoint that keeps answering
 * 429 does (auth.c gives -2 then). */
static int calls;
static int refusing_bearer(void *user, char *out, size_t outlen, char *why, size_t whylen)
{
  (void)user;
  (void)out;
  (void)outlen;
  calls++;
  snprintf(why, whylen, "the token endpoint said no");
  return -2;
}

static void test_credentials(void)
{
  /* The client asks its credentials before a request to the FHIR origin,
   * and stops there when they fail: nothing is sent. */
  struct dp_http_config cfg;
  dpi_http_config_defaults(&cfg);
  cfg.origin = "https://fhir.example/r4/t";
  char why[256];
  struct dp_http *h = dpi_http_new(&cfg, why, sizeof(why));
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  dpi_http_set_credentials(h, (struct dp_http_credentials){refusing_bearer, NULL, NULL});
  struct dp_http_request req = {.url = "https://fhir.example/r4/t/metadata"};
  struct dp_http_response res;
  CU_ASSERT_EQUAL(dpi_http_do(h, &req, &res), -1);
  CU_ASSERT_EQUAL(res.auth_failed, 2);
  CU_ASSERT_STRING_EQUAL(res.error, "the token endpoint said no");
  CU_ASSERT_EQUAL(calls, 1);
  unsigned long requests, limited, retries;
  dpi_http_stats(h, &requests, &limited, &retries);
  CU_ASSERT_EQUAL(requests, 0);
  dpi_http_response_free(&res);
  dpi_http_free(h);

  /* auth.c's credentials: none without a mode, a bearer file's token, read
   * again after a 401 rejected it. */
  struct dp_auth_config ac = {0};
  struct dp_auth *none = dpi_auth_new(&ac, NULL, why, sizeof(why));
  CU_ASSERT_PTR_NOT_NULL_FATAL(none);
  struct dp_http_credentials cred = dpi_auth_credentials(none);
  char token[64];
  CU_ASSERT_EQUAL(cred.bearer(cred.user, token, sizeof(token), why, sizeof(why)), 1);
  dpi_auth_free(none);
  char path[] = "/tmp/docpipe-bearer-XXXXXX";
  int fd = mkstemp(path);
  CU_ASSERT_FATAL(fd >= 0);
  CU_ASSERT_EQUAL(write(fd, "tok-1\n", 6), 6);
  close(fd);
  ac.bearer_file = path;
  struct dp_auth *file = dpi_auth_new(&ac, NULL, why, sizeof(why));
  CU_ASSERT_PTR_NOT_NULL_FATAL(file);
  cred = dpi_auth_credentials(file);
  CU_ASSERT_EQUAL(cred.bearer(cred.user, token, sizeof(token), why, sizeof(why)), 0);
  CU_ASSERT_STRING_EQUAL(token, "tok-1");
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("tok-2\n", f);
  fclose(f);
  CU_ASSERT_EQUAL(cred.bearer(cred.user, token, sizeof(token), why, sizeof(why)), 0);
  CU_ASSERT_STRING_EQUAL(token, "tok-1"); /* kept until refused */
  cred.reject(cred.user, "tok-1");
  CU_ASSERT_EQUAL(cred.bearer(cred.user, token, sizeof(token), why, sizeof(why)), 0);
  CU_ASSERT_STRING_EQUAL(token, "tok-2");
  dpi_auth_free(file);
  unlink(path);
}

static void test_retry_after(void)
{
  long now = 1700000000; /* Tue, 14 Nov 2023 22:13:20 GMT */
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("7", now), 7, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("0", now), 0, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds(" 120 ", now), 120, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("Tue, 14 Nov 2023 22:13:50 GMT", now), 30, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("Tue, 14 Nov 2023 22:00:00 GMT", now), 0, 1e-9);
  CU_ASSERT(dpi_retry_after_seconds("", now) < 0);
  CU_ASSERT(dpi_retry_after_seconds(NULL, now) < 0);
  CU_ASSERT(dpi_retry_after_seconds("soon", now) < 0);
  CU_ASSERT(dpi_retry_after_seconds("-5", now) < 0);
  /* What servers really send: a Unix time (the Bulk Data reference server
   * sends epoch seconds, and milliseconds when a block starts), in the
   * future or already past. */
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("1700000300", now), 300, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("1700000300000", now), 300, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("1700000000", now), 0, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("1600000000", now), 0, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("1796154259", now), 96154259, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("999999999", now), 999999999, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_retry_after_seconds("1.5", now), 1.5, 1e-9);
  /* Garbage is no delay at all: the caller's backoff decides. */
  CU_ASSERT(dpi_retry_after_seconds("1e3", now) < 0);
  CU_ASSERT(dpi_retry_after_seconds("0x10", now) < 0);
  CU_ASSERT(dpi_retry_after_seconds("5 min", now) < 0);
  CU_ASSERT(dpi_retry_after_seconds("12abc", now) < 0);
  CU_ASSERT(dpi_retry_after_seconds("  ", now) < 0);
}

static enum dp_addr_class addr(const char *text)
{
  struct sockaddr_in s4 = {.sin_family = AF_INET};
  struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
  if(inet_pton(AF_INET, text, &s4.sin_addr) == 1)
    return dpi_addr_class((struct sockaddr *)&s4, NULL);
  CU_ASSERT_EQUAL_FATAL(inet_pton(AF_INET6, text, &s6.sin6_addr), 1);
  return dpi_addr_class((struct sockaddr *)&s6, NULL);
}

static void test_address_classes(void)
{
  CU_ASSERT_EQUAL(addr("93.184.216.34"), DP_ADDR_PUBLIC);
  CU_ASSERT_EQUAL(addr("2606:2800:220:1::248"), DP_ADDR_PUBLIC);
  CU_ASSERT_EQUAL(addr("169.254.169.254"), DP_ADDR_METADATA);
  CU_ASSERT_EQUAL(addr("::ffff:169.254.169.254"), DP_ADDR_METADATA);
  CU_ASSERT_EQUAL(addr("64:ff9b::a9fe:a9fe"), DP_ADDR_METADATA);
  CU_ASSERT_EQUAL(addr("fd00:ec2::254"), DP_ADDR_METADATA);
  CU_ASSERT_EQUAL(addr("100.100.100.200"), DP_ADDR_METADATA);
  CU_ASSERT_EQUAL(addr("169.254.10.1"), DP_ADDR_LINK_LOCAL);
  CU_ASSERT_EQUAL(addr("fe80::1"), DP_ADDR_LINK_LOCAL);
  CU_ASSERT_EQUAL(addr("127.0.0.1"), DP_ADDR_LOOPBACK);
  CU_ASSERT_EQUAL(addr("127.9.9.9"), DP_ADDR_LOOPBACK);
  CU_ASSERT_EQUAL(addr("::1"), DP_ADDR_LOOPBACK);
  CU_ASSERT_EQUAL(addr("::ffff:127.0.0.1"), DP_ADDR_LOOPBACK);
  CU_ASSERT_EQUAL(addr("10.1.2.3"), DP_ADDR_PRIVATE);
  CU_ASSERT_EQUAL(addr("172.31.255.255"), DP_ADDR_PRIVATE);
  CU_ASSERT_EQUAL(addr("172.32.0.1"), DP_ADDR_PUBLIC);
  CU_ASSERT_EQUAL(addr("192.168.0.1"), DP_ADDR_PRIVATE);
  CU_ASSERT_EQUAL(addr("100.64.0.1"), DP_ADDR_PRIVATE);
  CU_ASSERT_EQUAL(addr("fc00::5"), DP_ADDR_PRIVATE);
  CU_ASSERT_EQUAL(addr("0.0.0.0"), DP_ADDR_NEVER);
  CU_ASSERT_EQUAL(addr("::"), DP_ADDR_NEVER);
  CU_ASSERT_EQUAL(addr("224.0.0.1"), DP_ADDR_NEVER);
  CU_ASSERT_EQUAL(addr("ff02::1"), DP_ADDR_NEVER);
  CU_ASSERT_EQUAL(addr("255.255.255.255"), DP_ADDR_NEVER);
  /* Who may go where: metadata and link-local never; loopback only on the
   * FHIR server's own host; the intranet only from an intranet server. */
  CU_ASSERT(dpi_addr_allowed(DP_ADDR_PUBLIC, 0, DP_ADDR_PUBLIC));
  CU_ASSERT(!dpi_addr_allowed(DP_ADDR_METADATA, 1, DP_ADDR_LOOPBACK));
  CU_ASSERT(!dpi_addr_allowed(DP_ADDR_LINK_LOCAL, 1, DP_ADDR_PRIVATE));
  CU_ASSERT(!dpi_addr_allowed(DP_ADDR_NEVER, 1, DP_ADDR_LOOPBACK));
  CU_ASSERT(dpi_addr_allowed(DP_ADDR_LOOPBACK, 1, DP_ADDR_LOOPBACK));
  CU_ASSERT(!dpi_addr_allowed(DP_ADDR_LOOPBACK, 0, DP_ADDR_LOOPBACK));
  CU_ASSERT(!dpi_addr_allowed(DP_ADDR_LOOPBACK, 0, DP_ADDR_PRIVATE));
  CU_ASSERT(dpi_addr_allowed(DP_ADDR_PRIVATE, 0, DP_ADDR_PRIVATE));
  CU_ASSERT(dpi_addr_allowed(DP_ADDR_PRIVATE, 0, DP_ADDR_LOOPBACK));
  CU_ASSERT(!dpi_addr_allowed(DP_ADDR_PRIVATE, 0, DP_ADDR_PUBLIC));
  CU_ASSERT(!dpi_addr_allowed(DP_ADDR_PRIVATE, 0, -1));
}

/* A URL literal that leads nowhere allowed is refused before any
 * connection: no socket is ever opened to these addresses. */
static void test_literal_addresses_refused(void)
{
  struct dp_http_config cfg;
  dpi_http_config_defaults(&cfg);
  cfg.origin = "https://fhir.example/r4/t";
  cfg.max_tries = 3;
  cfg.connect_timeout = 1; /* were the guard broken: not a long wait */
  char why[256];
  struct dp_http *h = dpi_http_new(&cfg, why, sizeof(why));
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  static const char *const urls[] = {
    "http://169.254.169.254/latest/meta-data/", "http://2852039166/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/", "http://[fd00:ec2::254]/latest/", "http://10.0.0.7/x",
    "http://127.0.0.1:8080/admin", "http://0.0.0.0:22/", "http://[fe80::1%25eth0]/"};
  for(size_t i = 0; i < sizeof(urls) / sizeof(*urls); i++) {
    struct dp_http_request req = {.url = urls[i]};
    struct dp_http_response res;
    CU_ASSERT_EQUAL(dpi_http_do(h, &req, &res), -1);
    CU_ASSERT(res.refused);
    CU_ASSERT_EQUAL(res.tries, 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.error, "refused: "));
    dpi_http_response_free(&res);
  }
  CU_ASSERT(dpi_http_trusted_origin(h, "https://FHIR.example:443/r4/t/Binary/1"));
  CU_ASSERT(!dpi_http_trusted_origin(h, "https://fhir.example:8443/r4/t/Binary/1"));
  CU_ASSERT(!dpi_http_trusted_origin(h, "http://169.254.169.254/"));
  unsigned long requests, limited, retries;
  dpi_http_stats(h, &requests, &limited, &retries);
  CU_ASSERT_EQUAL(retries, 0);
  dpi_http_free(h);
}

static void test_waits_are_capped(void)
{
  struct dp_http_config cfg;
  dpi_http_config_defaults(&cfg);
  cfg.retry_base = 1;
  cfg.retry_cap = 5;
  char why[256];
  struct dp_http *h = dpi_http_new(&cfg, why, sizeof(why));
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  CU_ASSERT_DOUBLE_EQUAL(dpi_http_wait_cap(h), 5, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_http_wait(h, 2, 1, 0.5), 2, 1e-9);       /* Retry-After wins */
  CU_ASSERT_DOUBLE_EQUAL(dpi_http_wait(h, 96154259, 1, 0.5), 5, 1e-9); /* ... up to the cap */
  CU_ASSERT_DOUBLE_EQUAL(dpi_http_wait(h, 0, 3, 0.5), 0, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_http_wait(h, -1, 1, 0.999999), 1, 1e-5); /* none: backoff */
  CU_ASSERT_DOUBLE_EQUAL(dpi_http_wait(h, -1, 9, 0.999999), 5, 1e-5);
  dpi_http_free(h);
}

static void test_backoff_schedule(void)
{
  /* 1, 2, 4, 8 ... seconds, capped; jitter keeps it in [d/2, d]. */
  CU_ASSERT_DOUBLE_EQUAL(dpi_backoff_delay(1, 1, 60, 0.999999), 1, 1e-5);
  CU_ASSERT_DOUBLE_EQUAL(dpi_backoff_delay(2, 1, 60, 0.999999), 2, 1e-5);
  CU_ASSERT_DOUBLE_EQUAL(dpi_backoff_delay(3, 1, 60, 0.999999), 4, 1e-5);
  CU_ASSERT_DOUBLE_EQUAL(dpi_backoff_delay(4, 1, 60, 0.999999), 8, 1e-5);
  CU_ASSERT_DOUBLE_EQUAL(dpi_backoff_delay(4, 1, 60, 0.0), 4, 1e-9);
  CU_ASSERT_DOUBLE_EQUAL(dpi_backoff_delay(10, 1, 60, 0.999999), 60, 1e-4);
  CU_ASSERT_DOUBLE_EQUAL(dpi_backoff_delay(60, 1, 60, 0.0), 30, 1e-9);
  for(unsigned r = 1; r < 12; r++) {
    double d = dpi_backoff_delay(r, 0.5, 10, 0.37);
    CU_ASSERT(d > 0 && d <= 10);
    CU_ASSERT(d >= dpi_backoff_delay(r > 1 ? r - 1 : 1, 0.5, 10, 0.37) - 1e-12);
  }
}

static void test_paging_and_urls(void)
{
  json_object *b = json_tokener_parse(
      "{\"resourceType\":\"Bundle\",\"link\":[{\"relation\":\"self\",\"url\":\"a\"},"
      "{\"relation\":\"next\",\"url\":\"DocumentReference?_getpages=x&_page=2\"}]}");
  CU_ASSERT_STRING_EQUAL(dpi_fhir_next_link(b), "DocumentReference?_getpages=x&_page=2");
  json_object *last = json_tokener_parse("{\"resourceType\":\"Bundle\",\"link\":[{\"relation\":"
                                         "\"self\",\"url\":\"a\"}]}");
  CU_ASSERT_PTR_NULL(dpi_fhir_next_link(last));
  json_object_put(b);
  json_object_put(last);
  char url[1024];
  CU_ASSERT_EQUAL(dpi_http_resolve_url("https://h.example/r4/t/DocumentReference?patient=1",
                                       "DocumentReference?_getpages=x", url, sizeof(url)), 0);
  CU_ASSERT_STRING_EQUAL(url, "https://h.example/r4/t/DocumentReference?_getpages=x");
  CU_ASSERT(dpi_http_same_origin("https://H.example/a", "https://h.example:443/b"));
  CU_ASSERT(!dpi_http_same_origin("https://h.example/a", "http://h.example/a"));
  CU_ASSERT(!dpi_http_same_origin("https://h.example/a", "https://h.example:8443/a"));
  CU_ASSERT(!dpi_http_same_origin("https://h.example/a", "https://storage.example/a"));
  dpi_http_safe_url("https://s.example/blob/1?sig=SECRET&x=1", url, sizeof(url));
  CU_ASSERT_STRING_EQUAL(url, "https://s.example/blob/1");
  struct dp_net net = {0};
  snprintf(net.base, sizeof(net.base), "https://h.example/r4/t");
  CU_ASSERT_EQUAL(dpi_fhir_url(&net, "Binary/XR-1", url, sizeof(url)), 0);
  CU_ASSERT_STRING_EQUAL(url, "https://h.example/r4/t/Binary/XR-1");
  CU_ASSERT_EQUAL(dpi_fhir_url(&net, "https://other.example/Binary/2", url, sizeof(url)), 0);
  CU_ASSERT_STRING_EQUAL(url, "https://other.example/Binary/2");
}

/* What dpi_fhir_fail makes of a response. */
static enum dp_kind diagnose(long status, const char *www, const char *body,
                             enum dp_fhir_origin origin, char *message, size_t mlen)
{
  struct dp_http_response res;
  memset(&res, 0, sizeof(res));
  dpi_buf_init(&res.body, 1 << 16);
  res.status = status;
  res.tries = 3;
  if(www)
    snprintf(res.www_authenticate, sizeof(res.www_authenticate), "%s", www);
  if(body)
    dpi_buf_adds(&res.body, body);
  snprintf(res.request_id, sizeof(res.request_id), "X-Request-Id: r-1");
  struct dp_record *r = dpi_record_new();
  CU_ASSERT_EQUAL(dpi_fhir_fail(r, &res, "GET Binary/XR-1", "Binary", origin), DP_FAIL);
  enum dp_kind kind = r->err_kind;
  snprintf(message, mlen, "%s | %s", r->err_message, r->err_hint ? r->err_hint : "");
  CU_ASSERT_STRING_EQUAL(dpi_record_str(r, "_requestId"), "X-Request-Id: r-1");
  CU_ASSERT_EQUAL(r->err_status, (int)status);
  dpi_record_free(r);
  dpi_buf_free(&res.body);
  return kind;
}

static void test_diagnosis(void)
{
  char m[2048];
  const char *oo = "{\"resourceType\":\"OperationOutcome\",\"issue\":[{\"severity\":\"error\","
                   "\"code\":\"not-found\",\"diagnostics\":\"Resource not found\"}]}";
  CU_ASSERT_EQUAL(diagnose(404, NULL, oo, DP_FHIR_LISTED, m, sizeof(m)), DP_KIND_NOT_VISIBLE);
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "security persona"));
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "Resource not found"));
  CU_ASSERT_EQUAL(diagnose(404, NULL, oo, DP_FHIR_ASKED, m, sizeof(m)), DP_KIND_NOT_FOUND);
  CU_ASSERT_EQUAL(diagnose(403, "Bearer realm=\"fhir\", error=\"insufficient_scope\", "
                                "scope=\"system/Binary.read\"", NULL, DP_FHIR_LISTED, m,
                           sizeof(m)), DP_KIND_FORBIDDEN);
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "missing scope system/Binary.read"));
  CU_ASSERT_EQUAL(diagnose(401, "Bearer error=\"invalid_token\", error_description=\"The access "
                                "token expired\"", NULL, DP_FHIR_LISTED, m, sizeof(m)),
                  DP_KIND_UNAUTHORIZED);
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "expired"));
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "clock"));
  CU_ASSERT_EQUAL(diagnose(412, NULL, NULL, DP_FHIR_ASKED, m, sizeof(m)),
                  DP_KIND_VERSION_CONFLICT);
  CU_ASSERT_EQUAL(diagnose(409, NULL, NULL, DP_FHIR_ASKED, m, sizeof(m)),
                  DP_KIND_VERSION_CONFLICT);
  CU_ASSERT_EQUAL(diagnose(429, NULL, NULL, DP_FHIR_LISTED, m, sizeof(m)), DP_KIND_RATE_LIMITED);
  /* The server's own words, whatever the body: a plain-text 429 (the Bulk
   * Data reference server), OAuth or object-storage JSON. */
  CU_ASSERT_EQUAL(diagnose(429, NULL, "Too Many Requests. Try again later.\nmore", DP_FHIR_LISTED,
                           m, sizeof(m)), DP_KIND_RATE_LIMITED);
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "HTTP 429: Too Many Requests. Try again later. |"));
  CU_ASSERT_EQUAL(diagnose(500, NULL, "<html><body>Stack trace</body></html>", DP_FHIR_LISTED, m,
                           sizeof(m)), DP_KIND_SERVER_ERROR);
  CU_ASSERT_PTR_NULL(strstr(m, "Stack trace")); /* markup is not a message */
  CU_ASSERT_EQUAL(diagnose(404, NULL, "{\"code\":\"NotAuthorizedOrNotFound\",\"message\":"
                                      "\"Authorization failed\"}", DP_FHIR_LISTED, m, sizeof(m)),
                  DP_KIND_NOT_VISIBLE);
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "HTTP 404: Authorization failed"));
  CU_ASSERT_EQUAL(diagnose(503, NULL, "{\"resourceType\":\"OperationOutcome\",\"issue\":[{"
                                      "\"diagnostics\":\"down for maintenance\"}]}",
                           DP_FHIR_LISTED, m, sizeof(m)), DP_KIND_SERVER_ERROR);
  CU_ASSERT_PTR_NOT_NULL(strstr(m, "HTTP 503: down for maintenance"));
  CU_ASSERT_EQUAL(diagnose(503, NULL, NULL, DP_FHIR_LISTED, m, sizeof(m)), DP_KIND_SERVER_ERROR);
  CU_ASSERT_EQUAL(diagnose(0, NULL, NULL, DP_FHIR_LISTED, m, sizeof(m)), DP_KIND_NETWORK);
}

static void test_merge_patch(void)
{
  /* The examples of RFC 7386 section 3. */
  json_object *target = json_tokener_parse(
      "{\"title\":\"Goodbye!\",\"author\":{\"givenName\":\"John\",\"familyName\":\"Doe\"},"
      "\"tags\":[\"example\",\"sample\"],\"content\":\"This will be unchanged\"}");
  json_object *patch = json_tokener_parse(
      "{\"title\":\"Hello!\",\"phoneNumber\":\"+01-123-456-7890\",\"author\":{\"familyName\":null},"
      "\"tags\":[\"example\"]}");
  json_object *out = dpi_merge_patch(target, patch);
  json_object *want = json_tokener_parse(
      "{\"title\":\"Hello!\",\"author\":{\"givenName\":\"John\"},\"tags\":[\"example\"],"
      "\"content\":\"This will be unchanged\",\"phoneNumber\":\"+01-123-456-7890\"}");
  CU_ASSERT(json_object_equal(out, want));
  /* The target itself is not changed. */
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(target, "title"), "Goodbye!");
  json_object_put(target);
  json_object_put(patch);
  json_object_put(out);
  json_object_put(want);
}

DPT_SUITE(http)
{
  CU_pSuite s = CU_add_suite("http", NULL, NULL);
  CU_add_test(s, "JWT client assertion RS384, verified with OpenSSL", test_jwt_rs384);
  CU_add_test(s, "JWT client assertion ES384, verified with OpenSSL", test_jwt_es384);
  CU_add_test(s, "weak or wrong keys are refused", test_weak_keys_refused);
  CU_add_test(s, "credentials: asked before a request, auth.c's bearer and reject",
              test_credentials);
  CU_add_test(s, "Retry-After: seconds and HTTP dates", test_retry_after);
  CU_add_test(s, "backoff schedule", test_backoff_schedule);
  CU_add_test(s, "every wait is capped by --retry-cap", test_waits_are_capped);
  CU_add_test(s, "address classes and where they may be reached", test_address_classes);
  CU_add_test(s, "address literals refused before connecting", test_literal_addresses_refused);
  CU_add_test(s, "paging links and URL origins", test_paging_and_urls);
  CU_add_test(s, "failure diagnosis", test_diagnosis);
  CU_add_test(s, "JSON merge patch (RFC 7386)", test_merge_patch);
}
