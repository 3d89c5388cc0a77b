/* progress.h - how far a run is, on stderr.
 *
 * On a terminal a live line is redrawn four times a second:
 *
 *   docpipe: 1840 docs  231/s  98.2 MB  2 errors (damaged 1, not-visible 1)  42%  ETA 0:31
 *
 * When stderr is not a terminal and progress was asked for, the same line is
 * printed every ten seconds, so a log file shows the run going on.
 *
 * Stages and the runner report what they read; the percentage and ETA come
 * from a plan when the whole of the work is known in advance: the size of
 * the input files and folders, or the number of files of a Bulk export
 * manifest.  All the reporting calls take NULL (no progress) and are safe
 * from any thread. */
#ifndef DP_PROGRESS_H
#define DP_PROGRESS_H

#include <stdio.h>

#include "counts.h"

struct dp_progress;

/* Where the document counts come from: fills *out (called on the progress
 * thread). */
typedef void (*dp_progress_counts_fn)(void *user, struct dp_counts *out);

/* live: redraw one line (a terminal); else print a line every interval
 * seconds.  NULL when the thread cannot start. */
struct dp_progress *dpi_progress_start(FILE *f, int live, double interval,
                                       dp_progress_counts_fn counts, void *user);
/* Stop the thread and clear the live line (the summary comes next). */
void dpi_progress_stop(struct dp_progress *p);

/* Input bytes read (NDJSON lines, raw files, downloaded export files). */
void dpi_progress_read(struct dp_progress *p, unsigned long long bytes);
/* The whole run will read this many bytes (files and folders on disk):
 * the bytes read are the work done.  Folders are measured on the progress
 * thread, so that a large tree does not hold the run back. */
void dpi_progress_plan_paths(struct dp_progress *p, const char *const *paths, size_t n);
/* The whole run is this many files (an export manifest); each
 * dpi_progress_file_done is one of them. */
void dpi_progress_plan_files(struct dp_progress *p, unsigned long long files);
void dpi_progress_file_done(struct dp_progress *p);
/* More files than planned (the next page of a manifest). */
void dpi_progress_plan_more_files(struct dp_progress *p, unsigned long long files);
/* Around writing lines to the terminal the live line is on: erase it and
 * keep it from being redrawn until release. */
void dpi_progress_hold(struct dp_progress *p);
void dpi_progress_release(struct dp_progress *p);
/* A message that must not be overwritten by the live line (the program's
 * status lines): "docpipe: " and the text, on the progress line's FILE.
 * Nothing when p is NULL. */
void dpi_progress_say(struct dp_progress *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Render the line into buf (exposed for the tests). */
void dpi_progress_render(char *buf, size_t len, const struct dp_counts *c, double seconds,
                         unsigned long long bytes, double fraction);

#endif
