/* auth.h - SMART on FHIR authorization for system accounts.
 *
 * Modes, chosen from the options given: SMART Backend Services
 * (client_credentials with a private_key_jwt assertion signed RS384 or
 * ES384, made by jose.c), client_secret_basic, a static bearer token from a
 * file, or none.  The token endpoint comes from --token-url or the server's
 * /.well-known/smart-configuration (then its CapabilityStatement).
 *
 * One access token serves every request until shortly before it expires:
 * the margin is a fifth of its lifetime (room for requests in flight), at
 * most a minute, so a five-second test token and Oracle Health's
 * ~570-second ones both refresh about once per lifetime.  However many
 * requests are in flight, exactly one refresh happens (the others wait for
 * it).  A token the server refuses is replaced once.  With a cache file
 * the token survives to the next run (mode 0600).  Tokens, keys and secrets
 * are never written to messages. */
#ifndef DP_AUTH_H
#define DP_AUTH_H

#include <stddef.h>

#include "buf.h"
#include "dplimits.h"
#include "http.h"
#include "scopes.h"

struct dp_auth_config {
  const char *fhir_base;
  const char *token_url;          /* NULL: discover */
  const char *client_id;
  const char *private_key;        /* PEM file: JWT assertion */
  const char *key_id;             /* kid of that key in the registered JWKS */
  const char *client_secret_file; /* client_secret_basic */
  const char *bearer_file;        /* a token obtained elsewhere */
  const char *scope;              /* explicit --scope, sent as it is; NULL: from access */
  const char *access;             /* what the run does on the server (scopes.h) */
  const char *token_cache;        /* file, or NULL */
  /* Warnings for the person running docpipe (a scope dropped after a
   * refusal); NULL: none.  Library code never prints. */
  void (*warn)(void *user, const char *msg);
  void *warn_user;
};

enum dp_auth_mode { DP_AUTH_NONE, DP_AUTH_BEARER, DP_AUTH_SECRET, DP_AUTH_JWT };

struct dp_auth;

/* NULL with a reason when the configuration cannot work (unreadable key,
 * a key that is neither RSA nor EC P-384, missing client id). */
struct dp_auth *dpi_auth_new(const struct dp_auth_config *cfg, struct dp_http *http, char *why,
                             size_t whylen);
void dpi_auth_free(struct dp_auth *a);
enum dp_auth_mode dpi_auth_mode(const struct dp_auth *a);

/* A valid access token in out; refreshes when needed.  -1 with a reason a
 * person can act on when none can be had, -2 when the token endpoint kept
 * answering 429. */
int dpi_auth_bearer(struct dp_auth *a, char *out, size_t outlen, char *why, size_t whylen);
/* The server refused this token: the next dpi_auth_bearer gets a new one
 * (unless another thread already did). */
void dpi_auth_reject(struct dp_auth *a, const char *token);
/* The two above as the HTTP client's credentials (http.h), for
 * dpi_http_set_credentials; in mode none they give no token. */
struct dp_http_credentials dpi_auth_credentials(struct dp_auth *a);

struct dp_token_info {
  char token_url[DP_MAX_SERVER_URL];
  char scope_granted[DP_MAX_SCOPES_KEPT];
  char scope_asked[DP_MAX_SCOPES_KEPT];
  char scope_dropped[DP_MAX_DROPPED]; /* types left out after an invalid_scope refusal */
  double lifetime;           /* seconds */
  unsigned long requests;    /* token requests made */
  int from_cache;
};
void dpi_auth_info(struct dp_auth *a, struct dp_token_info *info);

/* What the run does on the server (scopes.h), before the first token: the
 * scopes asked for follow it unless --scope was given. */
void dpi_auth_set_access(struct dp_auth *a, const char *access);

/* A server's SMART configuration: /.well-known/smart-configuration, and
 * for the token endpoint (and the registration endpoint) the
 * CapabilityStatement's oauth-uris when it has none. */
struct dp_smart_config {
  char token_url[DP_MAX_SERVER_URL];    /* "" when none was found */
  char registration[DP_MAX_SERVER_URL]; /* registration_endpoint, "" when none */
  struct dp_smart_scopes scopes;
  int found;               /* .well-known/smart-configuration answered JSON */
};
/* 0 when a token endpoint was found; -1 with a reason (out is filled as far
 * as it could be, and must be freed either way). */
int dpi_smart_configuration(struct dp_http *http, const char *fhir_base,
                            struct dp_smart_config *out, char *why, size_t whylen);
void dpi_smart_config_free(struct dp_smart_config *c);
/* Find the token endpoint of a FHIR server; 0 or -1 with a reason. */
int dpi_smart_discover(struct dp_http *http, const char *fhir_base, char *out, size_t outlen,
                       char *why, size_t whylen);

#endif
