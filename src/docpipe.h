/* docpipe.h - libdocpipe: docpipe's pipelines inside another program.
 *
 * The library runs the same pipelines as `docpipe run`: the same pipeline
 * files and text, the same options, the same NDJSON records and error
 * records (docs/RECORD.md), in the same order.  A run goes:
 *
 *     struct docpipe *p = docpipe_new();
 *     docpipe_open(p, "raw-files");             // or docpipe_open_string
 *     docpipe_set(p, "jobs", "4");              // optional, any number
 *     docpipe_on_record(p, print_line, stdout); // optional
 *     docpipe_on_error(p, print_line, stderr);  // optional
 *     docpipe_on_status(p, print_status, NULL); // optional
 *     docpipe_push_path(p, "scans/");           // any number of inputs
 *     struct docpipe_counts c;
 *     docpipe_finish(p, &c);                    // waits for the last record
 *     docpipe_free(p);
 *
 * Errors.  Every function that can fail returns an enum docpipe_code:
 * DOCPIPE_OK (0) or an error; docpipe_last_error() then gives a one-line
 * message about it.  A document that cannot be converted is not an error of
 * the call: it becomes one error record (to the error callback) and the run
 * goes on, as in the docpipe program; docpipe_finish counts them.
 *
 * Threads.  A handle is driven from one thread at a time; separate handles
 * are independent and may run at the same time.  Documents are converted on
 * `jobs` worker threads (default: the CPUs).  The callbacks run on one more
 * thread, docpipe's writer: one call at a time, in input order (records and
 * error records interleaved as `docpipe run` writes them, unless the option
 * "unordered" is set), while docpipe_push_* or docpipe_finish may be waiting
 * in the driving thread.  A callback must not call docpipe functions on the
 * same handle.  docpipe_push_* block while too many documents are in flight,
 * so memory stays bounded when input comes faster than it is converted.
 * OCR (Tesseract) also has OpenMP threads of its own, capped only by the
 * OMP_THREAD_LIMIT variable as the program starts: the extraction helpers
 * get OMP_THREAD_LIMIT=1, but a program that OCRs in its own process
 * (isolate none) should start with it set, or each worker may use every
 * core.
 *
 * Ownership and lifetimes.  Every string given to docpipe is copied or used
 * only during the call.  The line handed to a callback is docpipe's: valid
 * until the callback returns (copy it to keep it).  Strings returned by
 * docpipe_version and docpipe_strerror are static; docpipe_last_error's
 * lives in the handle.
 *
 * Extraction helpers.  The docpipe program extracts PDF in helper processes
 * by default (option "isolate"): a crash or hang in a parser then costs one
 * error record.  Helpers are the docpipe program, so the library uses the one
 * installed with it (bin/docpipe beside its lib/, else the install prefix's
 * bindir).  When it finds none, "isolate" defaults to "none": extraction runs
 * in the embedding process, and a crashing parser takes that process down.
 * Setting "isolate" to something else than "none" then fails at the first
 * input.
 *
 * Pipelines by name ("raw-files") are looked up as the docpipe program does:
 * $DOCPIPE_PIPELINE_DIR, share/docpipe/pipelines beside the program's bin/
 * and the library's lib/, the install prefix, the source tree.
 *
 * The library never prints, never exits and installs no signal handler:
 * what the program would say on stderr as a run goes on reaches the
 * application only through docpipe_on_status.
 * Like the program, it reads DOCPIPE_* environment variables and the config
 * file ($DOCPIPE_CONFIG, option "config") for options not set with
 * docpipe_set.
 *
 * Build:  cc app.c $(pkg-config --cflags --libs docpipe)
 * Static: cc app.c $(pkg-config --cflags --static --libs docpipe)
 *         (with -l:libdocpipe.a for -ldocpipe when the shared library is
 *         installed beside it) */
#ifndef DOCPIPE_H
#define DOCPIPE_H

#include <stddef.h>

#if defined(__GNUC__) && __GNUC__ >= 4
#define DOCPIPE_API __attribute__((visibility("default")))
#else
#define DOCPIPE_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* A pipeline run (opaque). */
struct docpipe;

enum docpipe_code {
  DOCPIPE_OK = 0,
  DOCPIPE_ERR_USAGE,    /* a NULL argument, or a call out of order (see each call) */
  DOCPIPE_ERR_OPTION,   /* unknown option, bad value, or an option the library does
                           not take; also a FHIR server that cannot be set up */
  DOCPIPE_ERR_PIPELINE, /* no such pipeline, bad pipeline text, a stage that cannot
                           start (a missing --binaries file, the LOINC table) */
  DOCPIPE_ERR_RUN,      /* the run cannot go on: a callback stopped it, threads or
                           helpers could not start */
  DOCPIPE_ERR_NOMEM     /* out of memory */
};

/* The counts of a finished run; documents = converted + failed.  Deletion
 * lines (a Bulk export's deleted resources, RECORD.md) also reach the record
 * callback but are not documents, and are not counted here. */
struct docpipe_counts {
  unsigned long documents;
  unsigned long converted; /* records handed to the record callback */
  unsigned long failed;    /* error records handed to the error callback */
  unsigned long inputs;    /* inputs read: JSON values, arguments, files */
  unsigned long skipped;   /* inputs that held no document (an empty Bundle) */
};

/* Called with one NDJSON line: `len` bytes, NUL-terminated, without the
 * newline.  Return 0 to go on; anything else stops the run: no more
 * callbacks, docpipe_finish returns DOCPIPE_ERR_RUN, and so does any
 * docpipe_push_* once the stop has reached it. */
typedef int (*docpipe_line_cb)(const char *line, size_t len, void *user);

/* Called with one status line, NUL-terminated, without "docpipe: " or a
 * newline: what the docpipe program would print on stderr about the run
 * going on ("export: 50% complete" from a Bulk Data server). */
typedef void (*docpipe_status_cb)(const char *line, void *user);

/* The library's version, "0.1.0". */
DOCPIPE_API const char *docpipe_version(void);
/* A short text for a code ("no such pipeline or bad pipeline text"). */
DOCPIPE_API const char *docpipe_strerror(int code);

/* A new handle, or NULL when out of memory.  It runs one pipeline once. */
DOCPIPE_API struct docpipe *docpipe_new(void);
/* Free the handle.  A run not finished is finished first (the callbacks may
 * still be called).  NULL is fine. */
DOCPIPE_API void docpipe_free(struct docpipe *p);
/* A one-line message about the last call on the handle that failed, ""
 * when none did (a later success leaves it); valid until docpipe_free. */
DOCPIPE_API const char *docpipe_last_error(const struct docpipe *p);

/* Load the pipeline: a pipeline file's path, or a name such as "raw-files",
 * "fhir-dump" or "fhir-documents" (see above).  Once per handle. */
DOCPIPE_API int docpipe_open(struct docpipe *p, const char *pipeline);
/* Load a pipeline from text in the pipeline file format (one stage per line
 * with its options, '#' comments; docpipe-pipeline(5)), for example
 * "files\nsniff\nextract\nnormalize\n".  base_dir anchors relative file names
 * in options (NULL: the current directory).  Once per handle. */
DOCPIPE_API int docpipe_open_string(struct docpipe *p, const char *text, const char *base_dir);

/* Set an option by its long name, without "--", as on docpipe's command
 * line: a global option ("jobs", "max-bytes", "max-pages", "isolate",
 * "max-time", "format", "shard", "unordered", "fhir-base", "client-id",
 * "private-key", ...: docpipe --help lists them), else an option of the
 * pipeline's stages ("binaries" of fhir-dump; after docpipe_open).  value is
 * NULL for a flag ("unordered", "insecure").  The program's own options are
 * refused: output, errors, state, quiet, unbuffered, progress, no-progress,
 * progress-interval.  Before the first input. */
DOCPIPE_API int docpipe_set(struct docpipe *p, const char *name, const char *value);

/* Where records and error records go (NULL: dropped, only counted).  Before
 * the first input. */
DOCPIPE_API int docpipe_on_record(struct docpipe *p, docpipe_line_cb cb, void *user);
DOCPIPE_API int docpipe_on_error(struct docpipe *p, docpipe_line_cb cb, void *user);
/* Where status lines go (NULL, the default: nowhere).  It may be called on
 * any worker thread, and from several at once.  Before the first input. */
DOCPIPE_API int docpipe_on_status(struct docpipe *p, docpipe_status_cb cb, void *user);

/* Push one input, as a line of stdin gives it to `docpipe run`: for
 * pipelines that read JSON (fhir-dump) one JSON value, an NDJSON line or a
 * whole document over several lines (a Bundle); for pipelines that read
 * arguments (raw-files: a file or folder path; fhir-documents: a patient id)
 * one argument.  Error records name the input {"file": "-", "line": N}, N
 * counting the pushes.  An error record pushed back retries its input when
 * that can be read again (an argument, a line of a file), else it gives an
 * error record saying so: docpipe keeps no copy of pushed JSON.  The first
 * input starts the run: option and pipeline problems are reported then. */
DOCPIPE_API int docpipe_push(struct docpipe *p, const char *data, size_t len);
/* Push a file, as an INPUT on docpipe's command line: for pipelines that
 * read JSON an NDJSON or JSON file (read to its end), for pipelines that read
 * arguments the path itself (raw-files: a file or folder).  "-" is stdin.  A
 * file that cannot be read gives an error record, not an error. */
DOCPIPE_API int docpipe_push_path(struct docpipe *p, const char *path);

/* End the input and wait until every record and error record has been
 * handed to its callback; fills *counts (NULL: not wanted).  A pipeline
 * whose source needs no input (bulk-export) runs once when nothing was
 * pushed.  DOCPIPE_OK also when documents failed: see counts->failed.  Once
 * per handle. */
DOCPIPE_API int docpipe_finish(struct docpipe *p, struct docpipe_counts *counts);

#ifdef __cplusplus
}
#endif

#endif
