/* errors.c - see errors.h */
#include "errors.h"

#include <string.h>

static const char *const kind_names[DP_KIND_COUNT] = {
  [DP_KIND_NONE] = "none",
  [DP_KIND_BAD_JSON] = "bad-json",
  [DP_KIND_INVALID_INPUT] = "invalid-input",
  [DP_KIND_BAD_BASE64] = "bad-base64",
  [DP_KIND_EMPTY] = "empty",
  [DP_KIND_UNSUPPORTED] = "unsupported",
  [DP_KIND_DAMAGED] = "damaged",
  [DP_KIND_ENCRYPTED] = "encrypted",
  [DP_KIND_TOO_LARGE] = "too-large",
  [DP_KIND_TIMEOUT] = "timeout",
  [DP_KIND_EXTRACTOR_CRASH] = "extractor-crash",
  [DP_KIND_NOT_VISIBLE] = "not-visible",
  [DP_KIND_NOT_FOUND] = "not-found",
  [DP_KIND_UNAUTHORIZED] = "unauthorized",
  [DP_KIND_FORBIDDEN] = "forbidden",
  [DP_KIND_VERSION_CONFLICT] = "version-conflict",
  [DP_KIND_RATE_LIMITED] = "rate-limited",
  [DP_KIND_SERVER_ERROR] = "server-error",
  [DP_KIND_NETWORK] = "network",
  [DP_KIND_IO] = "io",
  [DP_KIND_INTERNAL] = "internal",
};

const char *dpi_kind_name(enum dp_kind kind)
{
  if((int)kind < 0 || kind >= DP_KIND_COUNT)
    return "internal";
  return kind_names[kind];
}

enum dp_kind dpi_kind_from_name(const char *name)
{
  for(int k = 1; k < DP_KIND_COUNT; k++)
    if(!strcmp(kind_names[k], name))
      return (enum dp_kind)k;
  return DP_KIND_NONE;
}
