/* shard.h - --shard K/N: which documents this run keeps, so that N runs
 * (a Slurm array) split one input between them without talking.
 *
 * A document's identity is what the FHIR code says it is (dpi_fhir_identity:
 * type/id, else id), else the argument or file line it came from.  The text
 * up to '#' is hashed (FNV-1a 64, the same on every machine) and the
 * document is kept when the hash is K modulo N.  Cutting at '#' keeps the
 * attachments and batch messages of one source together, and makes a
 * DocumentReference read as input land where the records made from it land.
 *
 * The engine (engine.h) is handed the policy and asks it; where it asks
 * depends on the chain's first stage (at_input). */
#ifndef DP_SHARD_H
#define DP_SHARD_H

#include "pipeline.h"
#include "record.h"

struct dp_shard {
  unsigned k, n; /* N = 0: every document */
  /* Ask of each input as it is submitted, when inputs name their
   * documents (FHIR resources, records) or are searches, so that a shard
   * fetches nothing for the others; else (a path, a folder, an export: many
   * documents each) of each document the first stage makes. */
  int at_input;
};

/* The policy for shard k of n of a run of chain. */
void dpi_shard_init(struct dp_shard *s, unsigned k, unsigned n, const struct dp_chain *chain);
/* Is rec this shard's? */
int dpi_shard_keeps(const struct dp_shard *s, const struct dp_record *rec);
/* Does this identity belong to shard k of n? (the text up to '#' hashed) */
int dpi_shard_mine(const char *identity, unsigned k, unsigned n);

#endif
