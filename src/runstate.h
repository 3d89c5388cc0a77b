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

#include <pthread.h>
#include <stddef.h>

struct dp_runstate;

/* Load (or start) the state in path; NULL with a reason when unreadable. */
struct dp_runstate *dpi_runstate_open(const char *path, char *why, size_t whylen);
void dpi_runstate_free(struct dp_runstate *rs);

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

/* ---- the mark of an incremental stage (search, export) ----------------
 *
 * One per stage instance, shared by its threads: the instant to ask from
 * (the stage's --since, else its committed mark), and what it proposes as
 * the next mark.  A proposal made by an interrupted earlier attempt of the
 * same run is kept (it is older); a stage that failed anywhere in the run
 * withdraws its proposal when it closes, so its mark does not move. */
struct dp_runmark {
  struct dp_runstate *rs; /* NULL: no --state, nothing is kept */
  const char *name;       /* the key of the mark: the stage's name */
  char since[64];         /* "" when there is none */
  int proposed, failed;
  pthread_mutex_t lock;
};

/* since: the stage's --since, or NULL for the committed mark.  legacy: the
 * top-level key under which older state files kept this mark, or NULL. */
void dpi_runmark_open(struct dp_runmark *m, struct dp_runstate *rs, const char *name,
                      const char *since, const char *legacy);
/* Propose value as the next mark; the first proposal of the run wins. */
void dpi_runmark_propose(struct dp_runmark *m, const char *value);
/* Something the mark covers failed: it must not move. */
void dpi_runmark_fail(struct dp_runmark *m);
/* The stage closes: withdraw the proposal if anything failed. */
void dpi_runmark_close(struct dp_runmark *m);

#endif
