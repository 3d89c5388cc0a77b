/* retry.h - retrying the failures of an error file fed back as input.
 *
 * Every error record names the input it came from (RECORD.md): a line of a
 * file, or an argument.  Fed back in (`docpipe convert errors.ndjson`, or
 * the error file on stdin), consecutive error records of one input are
 * gathered: they come in input order, several per input when several of
 * its documents failed.  When the next input begins, the gathered one is
 * read again (the line of the original file, read forward, or the
 * argument) and handed on with a filter (engine.h) that keeps only the
 * documents that failed, by id, or every one when the input failed whole.
 * Documents that converted before are dropped, not written twice.
 *
 * This module reads and decides; it hands what it makes to the functions
 * it is given (the runner's), which count and submit it as any input. */
#ifndef DP_RETRY_H
#define DP_RETRY_H

#include <stddef.h>

#include "engine.h"
#include "record.h"

/* Where a gathered input goes.  submit: rec read again, and the filter of
 * what to keep (NULL: everything), both taken.  fail: rec could not be
 * retried; it holds its error, to write as a failure of stage "input". */
struct dp_retry_out {
  enum dp_status (*submit)(void *user, struct dp_record *rec, struct dp_input_filter *keep);
  enum dp_status (*fail)(void *user, struct dp_record *rec);
  void *user;
};

struct dp_retry;

/* For a chain whose first stage has these flags (stage.h): arguments, or
 * lines of JSON of at most max_line bytes.  NULL when out of memory. */
struct dp_retry *dpi_retry_new(unsigned first_flags, size_t max_line,
                               const struct dp_retry_out *out);
/* Closes the file read back; what is still gathered is dropped (flush
 * first). */
void dpi_retry_free(struct dp_retry *r);

/* Is obj an error record (kind, stage and message, and no resourceType)? */
int dpi_retry_is_error_record(json_object *obj);
/* Is this path argument an error file, to retry rather than convert?  Its
 * first line that is not blank is an error record.  Only for stages whose
 * arguments are paths (a patient id is never opened), and only the file's
 * first DP_MAX_ARG_LINE bytes are looked at: a big document is not read
 * twice. */
int dpi_retry_is_error_file(const struct dp_retry *r, const char *path);

/* Add an error record (dpi_retry_is_error_record; not taken).  When it
 * names another input than the one gathered, that one is handed on
 * first.  DP_FATAL when the run cannot go on. */
enum dp_status dpi_retry_add(struct dp_retry *r, json_object *err);
/* Hand on the input gathered, if any: the next input is no error record,
 * or the input ended. */
enum dp_status dpi_retry_flush(struct dp_retry *r);

#endif
