/* shard.c - see shard.h */
#include "shard.h"

#include <stdint.h>
#include <stdio.h>

#include "fhir.h"

void dpi_shard_init(struct dp_shard *s, unsigned k, unsigned n, const struct dp_chain *chain)
{
  unsigned first = chain->n ? chain->stages[0].ops->flags : 0;
  s->k = k;
  s->n = n;
  s->at_input = !(first & DP_STAGE_NO_INPUT) &&
                (!(first & DP_STAGE_READS_ARGS) || (first & DP_STAGE_NETWORK));
}

int dpi_shard_mine(const char *identity, unsigned k, unsigned n)
{
  if(!n)
    return 1;
  uint64_t h = 1469598103934665603ULL;
  for(const unsigned char *p = (const unsigned char *)identity; *p && *p != '#'; p++) {
    h ^= *p;
    h *= 1099511628211ULL;
  }
  return h % n == k;
}

/* The input a record came from names it when nothing else does: the
 * argument, or the file and line. */
static void input_identity(const struct dp_record *rec, char *out, size_t outlen)
{
  json_object *in = dpi_json_member(rec->obj, "_input");
  const char *arg = dpi_record_str(rec, "_arg");
  if(arg)
    snprintf(out, outlen, "%s", arg);
  else if(dpi_json_member_str(in, "arg"))
    snprintf(out, outlen, "%s", dpi_json_member_str(in, "arg"));
  else
    snprintf(out, outlen, "%s:%lld",
             dpi_json_member_str(in, "file") ? dpi_json_member_str(in, "file") : "",
             (long long)json_object_get_int64(dpi_json_member(in, "line")));
}

int dpi_shard_keeps(const struct dp_shard *s, const struct dp_record *rec)
{
  if(!s->n)
    return 1;
  char identity[4200];
  if(dpi_fhir_identity(rec, identity, sizeof(identity)))
    input_identity(rec, identity, sizeof(identity));
  return dpi_shard_mine(identity, s->k, s->n);
}
