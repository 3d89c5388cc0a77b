/* runstate.h - the run state file (--state FILE): resumable, exactly-once
 * runs and the high-water marks of incremental ones.
 *
 * While a run goes, the writer records after each batch of written lines
 * how many inputs are completely written and how long the output and error
 * files are at that point.  A run killed at any moment (SIGKILL included)
 * and started again with the same inputs truncates both files back to the
 * last checkpoint (dropping a torn line and any record written after it),
 * skips the inputs already done, and goes on: in the end each record is
 * there exactly once.  A run that completes clears the checkpoint and
 * commits the marks that search and export proposed (the time to ask
 * _lastUpdated / _since from next time); an interrupted run keeps the old
 * marks, and the proposals of its first attempt.
 *
 * The file is JSON, written with mode 0600 through a temporary file and
 * rename, so it is never half-written. */
#ifndef DP_RUNSTATE_H
#define DP_RUNSTATE_H

#include <stddef.h>

struct dp_runstate;

/* Load (or start) the state in path; NULL with a reason when unreadable. */
struct dp_runstate *dpi_runstate_open(const char *path, char *why, size_t whylen);
void dpi_runstate_free(struct dp_runstate *rs);

/* The committed mark of a stage ("search", "export"), or NULL. */
const char *dpi_runstate_mark(struct dp_runstate *rs, const char *name);
/* Propose the mark to commit when the run completes; a proposal made by an
 * interrupted earlier attempt of the same run is kept (it is older). */
void dpi_runstate_propose(struct dp_runstate *rs, const char *name, const char *value);

/* The stage failed somewhere this run: its mark must not move. */
void dpi_runstate_withdraw(struct dp_runstate *rs, const char *name);

/* Resuming: fingerprint identifies the inputs.  Returns 1 and the
 * checkpoint when an unfinished run over the same inputs is recorded, 0
 * for a fresh start, -1 with a reason when the recorded run had other
 * inputs. */
int dpi_runstate_resume(struct dp_runstate *rs, const char *fingerprint, unsigned long *done,
                        unsigned long *failed, long long *out_bytes, long long *err_bytes,
                        char *why, size_t whylen);
/* Record a checkpoint (writes the file).  -1 when it cannot be written. */
int dpi_runstate_checkpoint(struct dp_runstate *rs, const char *fingerprint, unsigned long done,
                            unsigned long failed, long long out_bytes, long long err_bytes);
/* The run completed: commit proposals, forget the checkpoint, write. */
int dpi_runstate_complete(struct dp_runstate *rs);

#endif
