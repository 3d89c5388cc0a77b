/* fhir.h - FHIR over HTTP: the network context of a run, reference URLs,
 * OperationOutcome, and turning a failed exchange into an error record a
 * person can act on. */
#ifndef DP_FHIR_H
#define DP_FHIR_H

#include <curl/curl.h>

#include "auth.h"
#include "http.h"
#include "record.h"

struct dp_net_config {
  const char *fhir_base;
  const char *client_id, *private_key, *key_id, *token_url;
  const char *scope;  /* --scope when given; NULL: made from access */
  const char *access; /* what the run does on the server (scopes.h, dpi_settings_access) */
  void (*warn)(void *user, const char *msg); /* see dp_auth_config */
  void *warn_user;
  const char *client_secret_file, *bearer_file, *token_cache;
  struct curl_slist *headers; /* "Name: value", for the FHIR server only */
  struct curl_slist *allow_origins; /* --allow-origin, as "scheme://host:port" */
  int insecure;
  unsigned concurrency;
  double rate, burst;
  unsigned retries;
  double retry_base;
  double retry_cap; /* the longest single wait, seconds; 0: the default (60) */
  long timeout;
};

/* What the network stages of one run share. */
struct dp_net {
  struct dp_http *http;
  struct dp_auth *auth;
  char base[2048]; /* service root without a trailing slash, "" when none */
  double retry_cap; /* no wait of the network stages is longer (--retry-cap) */
  /* For stages that retry an exchange on their own (the Bulk export's
   * kick-off and status polls, which tell transient from permanent
   * failures): --retries, --retry-base and --concurrency. */
  unsigned retries;
  double retry_base;
  unsigned concurrency;
};

int dpi_net_open(struct dp_net **out, const struct dp_net_config *cfg, size_t max_document,
                 char *why, size_t whylen);
void dpi_net_close(struct dp_net *net);

/* The URL a reference points to: absolute URLs as they are, relative ones
 * ("Binary/XR-1") under the service root.  -1 when relative and no root. */
int dpi_fhir_url(const struct dp_net *net, const char *ref, char *out, size_t outlen);

/* Append name=value to the query of u, both percent-encoded by libcurl:
 * the one encoder of parameters given by the user (search and export
 * --param), so that a value holding '&', '=', '?', '+' or spaces stays one
 * parameter (_typeFilter=DocumentReference?status=current&type=...).
 * 0, or -1 when curl refuses it. */
int dpi_fhir_add_param(CURLU *u, const char *name, size_t name_len, const char *value);

/* "diagnostics" of an OperationOutcome body (issues joined), one line, or
 * "" when the body is not one. */
void dpi_fhir_outcome(const struct dp_buf *body, char *out, size_t outlen);

/* What the server said about a failure, one line fit for a message: the
 * OperationOutcome's diagnostics, else the "error_description"/"message"
 * of a JSON body (OAuth, object storage), else the first line of a text
 * body that is no markup ("Too Many Requests. Try again later."); "" for a body
 * that is none of these, and for answers below 400 (they may be documents). */
void dpi_fhir_server_says(const struct dp_http_response *res, char *out, size_t outlen);

/* Where the request came from decides what a 404 means. */
enum dp_fhir_origin {
  DP_FHIR_LISTED, /* the server itself listed or referenced the resource */
  DP_FHIR_ASKED   /* the user named it */
};

/* Fail rec for an exchange that did not give what was needed: the kind
 * (not-visible, not-found, unauthorized, forbidden, version-conflict,
 * rate-limited, server-error, network, too-large), a one-line message with
 * `what` ("GET Binary/XR-1") and the server's diagnostics, a hint, the HTTP
 * status and the correlation ids.  resource_type names what was asked for.
 * Returns DP_FAIL. */
enum dp_status dpi_fhir_fail(struct dp_record *rec, const struct dp_http_response *res,
                             const char *what, const char *resource_type,
                             enum dp_fhir_origin origin);

/* The scope a 403 says is missing (WWW-Authenticate scope="..."), or "". */
void dpi_fhir_missing_scope(const struct dp_http_response *res, char *out, size_t outlen);

/* The url of a Bundle's link with relation "next", or NULL. */
const char *dpi_fhir_next_link(json_object *bundle);

/* RFC 7386 JSON merge patch: a new object, target with patch applied
 * (null members delete, objects merge, anything else replaces). */
json_object *dpi_merge_patch(json_object *target, json_object *patch);

/* What a resource is, for --shard (shard.h): "type/id" for a FHIR resource
 * (a DocumentReference, a Binary), else the record's id (a record made from
 * one keeps its source's, as "DocumentReference/x#2").  0, or -1 when rec
 * has no id (out is then ""). */
int dpi_fhir_identity(const struct dp_record *rec, char *out, size_t outlen);

#endif
