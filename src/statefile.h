/* statefile.h - the high-water mark of incremental runs (--state FILE).
 *
 * A nightly job fetches only what changed since the last good run: search
 * passes it as _lastUpdated=ge..., export as _since.  The file is written
 * (mode 0600, atomically) only when the run had no failure, so a failed
 * night is fetched again. */
#ifndef DP_STATEFILE_H
#define DP_STATEFILE_H

#include <stddef.h>

/* The "since" instant stored in path into out; 0, or -1 when absent. */
int dpi_state_read(const char *path, char *out, size_t outlen);
/* Store since (an ISO 8601 instant); 0 or -1. */
int dpi_state_write(const char *path, const char *since);
/* Now, or the instant of an HTTP Date header, as ISO 8601 UTC. */
void dpi_iso_now(const char *http_date, char out[32]);

#endif
