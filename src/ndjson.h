/* ndjson.h - reading input line by line with a cap, and parsing JSON lines.
 *
 * Input never goes through an unbounded getline: a line longer than the cap
 * is skipped to its end and reported, so one bad line cannot exhaust memory
 * and the lines after it are still read. */
#ifndef DP_NDJSON_H
#define DP_NDJSON_H

#include <json-c/json.h>
#include <stdio.h>
#include <sys/types.h>

#include "buf.h"

struct dp_reader {
  FILE *f;
  int owns;
  char *buf;
  size_t cap, start, end; /* buf[start, end) holds unread bytes */
  size_t max_line;
  unsigned long line;     /* number of the line last returned (1-based) */
  off_t offset;           /* file offset of the line last returned */
  off_t consumed;         /* file offset of buf[start] */
  int eof, error;
};

/* path "-" means stdin.  Returns 0, or -1 with errno set. */
int dpi_reader_open(struct dp_reader *r, const char *path, size_t max_line);
/* Read lines from an open file the caller keeps owning. */
int dpi_reader_attach(struct dp_reader *r, FILE *f, size_t max_line);
void dpi_reader_close(struct dp_reader *r);
/* Next line without its "\n" (and "\r").  Returns 1 and sets *line, *len
 * (valid until the next call); 0 at end of input; -1 on a read error.
 * A line over the cap is returned with *too_long = 1 and *len = its true
 * length but no data (*line = NULL). */
int dpi_reader_next(struct dp_reader *r, const char **line, size_t *len, int *too_long);
/* How many bytes the reader holds from `line` (the line dpi_reader_next
 * returned last) on: the line and what follows it, read ahead. */
size_t dpi_reader_held(const struct dp_reader *r, const char *line);
/* Append everything not yet returned to b, up to b's cap: for an input that
 * turns out to be one pretty-printed JSON document.  The reader's buffer is
 * refilled, so the line dpi_reader_next returned last is gone: copy it
 * first.  Returns 0, or -1 on a read error (errno) or when b reached its cap
 * (errno EFBIG). */
int dpi_reader_rest(struct dp_reader *r, struct dp_buf *b);
/* A whole small file (a pipeline, a state file, a token cache) in a new
 * NUL-terminated buffer; NULL with errno set when it cannot be read, or
 * EFBIG when it is larger than max. */
char *dpi_read_small_file(const char *path, size_t max, size_t *len);

/* Where JSON text starts in bytes: past a UTF-8 byte order mark and JSON
 * white space (len when there is nothing else). */
size_t dpi_json_start(const void *bytes, size_t len);

enum dp_json_result {
  DP_JSON_OK,
  DP_JSON_INCOMPLETE, /* valid so far but ends early: a cut-off line */
  DP_JSON_INVALID
};

/* Parse exactly one JSON value from text (surrounding white space allowed).
 * On failure, why gets a one-line reason naming the column, never the text. */
enum dp_json_result dpi_json_parse(const char *text, size_t len, json_object **out, char *why,
                                   size_t whylen);

#endif
