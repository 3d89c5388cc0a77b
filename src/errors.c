/* errors.c - see errors.h */
#include "errors.h"

#include <string.h>

/* Name and one-line meaning of each kind (the man page lists them). */
static const struct {
  const char *name;
  const char *summary;
} kinds[DP_KIND_COUNT] = {
  [DP_KIND_NONE] = {"none", "no error"},
  [DP_KIND_BAD_JSON] = {"bad-json", "the input line is not JSON"},
  [DP_KIND_INVALID_INPUT] = {"invalid-input",
   "JSON, but not a resource or record docpipe can use (no attachment, a reference it cannot "
   "follow)"},
  [DP_KIND_BAD_BASE64] = {"bad-base64", "the attachment data is not valid Base64"},
  [DP_KIND_EMPTY] = {"empty", "the document has no bytes"},
  [DP_KIND_UNSUPPORTED] = {"unsupported",
   "no extractor for these bytes, or a construct refused for safety (XML entity declarations)"},
  [DP_KIND_DAMAGED] = {"damaged", "the bytes claim a format but are broken or truncated"},
  [DP_KIND_ENCRYPTED] = {"encrypted", "an encrypted PDF that needs a password"},
  [DP_KIND_TOO_LARGE] = {"too-large",
   "over a size, page or text limit (--max-bytes, --max-pages, --max-text, --max-line, "
   "--max-memory)"},
  [DP_KIND_TIMEOUT] = {"timeout", "over the wall-clock budget (--max-time), or interrupted"},
  [DP_KIND_EXTRACTOR_CRASH] = {"extractor-crash",
   "the extraction helper process crashed on this document"},
  [DP_KIND_NOT_VISIBLE] = {"not-visible",
   "404 for a resource the server itself listed: the security persona of the API user may not "
   "see it"},
  [DP_KIND_NOT_FOUND] = {"not-found", "404 for something named in the input"},
  [DP_KIND_UNAUTHORIZED] = {"unauthorized",
   "no token, or 401 after a fresh one (clock skew, kid/JWKS mismatch, wrong token URL or "
   "tenant)"},
  [DP_KIND_FORBIDDEN] = {"forbidden", "403: a missing scope (named) or tenant header"},
  [DP_KIND_VERSION_CONFLICT] = {"version-conflict",
   "412 or 409 on update: the resource changed since it was read"},
  [DP_KIND_RATE_LIMITED] = {"rate-limited", "429 after every retry"},
  [DP_KIND_SERVER_ERROR] = {"server-error", "5xx after every retry, or an answer that is not FHIR"},
  [DP_KIND_NETWORK] = {"network", "no answer: DNS, TLS, proxy, connection or timeout"},
  [DP_KIND_EXPIRED] = {"expired",
   "a Bulk export file or job the server no longer keeps (410 Gone): run the export again"},
  [DP_KIND_UNTRUSTED_ORIGIN] = {"untrusted-origin",
   "not fetched: a URL on an origin other than the FHIR server's (--allow-origin trusts one), or"
   " an address such as cloud metadata, link-local or the intranet"},
  [DP_KIND_IO] = {"io", "a local file could not be read or written"},
  [DP_KIND_INTERNAL] = {"internal", "a docpipe bug: a stage lost a record (please report it)"},
};

const char *dpi_kind_name(enum dp_kind kind)
{
  if((int)kind < 0 || kind >= DP_KIND_COUNT)
    return "internal";
  return kinds[kind].name;
}

enum dp_kind dpi_kind_from_name(const char *name)
{
  for(int k = 1; k < DP_KIND_COUNT; k++)
    if(!strcmp(kinds[k].name, name))
      return (enum dp_kind)k;
  return DP_KIND_NONE;
}

const char *dpi_kind_summary(enum dp_kind kind)
{
  if((int)kind < 0 || kind >= DP_KIND_COUNT)
    return "";
  return kinds[kind].summary;
}
