/* stage.h - the stage interface: every filter and extractor is one of these.
 *
 * A stage is a const ops table (libarchive's bidders, curl's handler tables).
 * For each record it either emits zero or more records downstream, or fails
 * the record with an error kind.  Extractors also bid on a document's first
 * bytes; the sniff stage gives the document to the highest bid (a tie goes to
 * the stage registered first, see filters/registry.c).
 *
 * Stages keep no global state: everything they open lives in st->state and
 * is read-only while records flow, so a worker pool can share an instance. */
#ifndef DP_STAGE_H
#define DP_STAGE_H

#include <stddef.h>

#include "errors.h"
#include "ocr.h"
#include "record.h"

struct dp_net;
struct dp_runstate;
struct dp_progress;

/* What every stage of a run shares (global options). */
struct dp_context {
  size_t max_document; /* --max-bytes: decoded document size */
  size_t max_text;     /* --max-text: extracted text per document */
  unsigned max_pages;  /* --max-pages: PDF pages */
  unsigned max_depth;  /* nesting of embedded documents */
  struct dp_net *net;  /* the FHIR server, when one was configured (fhir.h) */
  /* Crash isolation (isolate.h): which formats go to helper processes
   * ("pdf", "all", "none"), their wall-clock budget per document and their
   * memory limit; iso is the helper pool, NULL inside a helper. */
  const char *isolate;
  double max_time;
  size_t max_memory;
  struct dp_isolate *iso;
  /* The docpipe program that runs as helper; NULL: this program
   * (/proc/self/exe).  A program embedding the library sets the installed
   * docpipe (paths.h), since it cannot serve as helper itself. */
  const char *helper;
  struct dp_runstate *state; /* --state: marks of incremental runs (runstate.h) */
  struct dp_progress *progress; /* what was read, for the progress line (progress.h) */
  int quiet; /* no status lines on stderr (-q; the library never prints) */
  /* OCR of scans (ocr.h): which pages (--ocr), in which languages
   * (--ocr-lang, Tesseract's "eng+deu"), PDF pages rendered at --ocr-dpi. */
  enum dp_ocr_mode ocr;
  const char *ocr_lang;
  unsigned ocr_dpi;
};

void dpi_context_defaults(struct dp_context *ctx);

/* What a bidder sees: a capped prefix of the document's bytes; a longer view
 * of it as UTF-8 text for markup bidders, which may have to read past long
 * comments to find the root element (BOM removed, UTF-16 converted, so XML
 * and HTML bidders need not know about either); and the whole document, for
 * bidders that must judge more than the start (is it text all through?). */
struct dp_peek {
  const unsigned char *bytes; /* the first len bytes (DP_SNIFF_PREFIX at most) */
  size_t len;
  const char *text;           /* DP_SNIFF_MARKUP bytes at most */
  size_t text_len;
  size_t total;               /* length of the whole document */
  const unsigned char *all;   /* the whole document; NULL: only the prefix is known */
};

enum dp_opt_flags {
  DP_OPT_FLAG = 1,   /* takes no argument */
  DP_OPT_PATH = 2,   /* a file name: relative to the pipeline file when set there */
  DP_OPT_MULTI = 4   /* may be given more than once */
};

struct dp_option_spec {
  const char *name; /* without the leading "--" */
  const char *arg;  /* argument name for --help, NULL for flags */
  unsigned flags;
  const char *env;  /* environment variable that supplies a default, or NULL */
  const char *def;  /* default shown in --help, or NULL */
  const char *help;
};

struct dp_optval {
  const struct dp_option_spec *spec;
  char *value; /* "1" for flags */
};

struct dp_buf;
struct dp_emitter;
struct dp_stage;

struct dp_stage_ops {
  const char *name;
  const char *summary;
  /* Extractors: the format they produce ("pdf") and its MIME type. */
  const char *format;
  const char *mime;
  unsigned flags;
  const struct dp_option_spec *options; /* terminated by a NULL name, or NULL */
  /* Pure: no allocation, no I/O.  Returns 0 for "not mine", else a score
   * (roughly the number of bits checked); may set *mime to a static string
   * that refines ops->mime.  Reading peek->all is allowed but costs: keep
   * it to samples. */
  int (*bid)(const struct dp_peek *peek, const char **mime);
  /* Prepare st->state from the options; on failure write a one-line reason
   * into why and return DP_FATAL. */
  enum dp_status (*open)(struct dp_stage *st, char *why, size_t whylen);
  /* Own `rec`: pass it (or records derived from it) to dpi_emit, or free it,
   * and return DP_OK; or set its error with dpi_record_fail and return
   * DP_FAIL, leaving it to the caller. */
  enum dp_status (*process)(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out);
  void (*close)(struct dp_stage *st);
  /* What the stage does on the FHIR server, for the default --scope
   * (scopes.h): append "Type.perms" words with dpi_access_add, from its
   * options and the run's arguments (args NULL when they come on stdin).
   * NULL: nothing. */
  void (*access)(const struct dp_stage *st, const char *const *args, size_t nargs,
                 struct dp_buf *access);
};

enum dp_stage_flags {
  DP_STAGE_READS_ARGS = 1,  /* its inputs are arguments (paths, patient ids) given
                               on the command line or one per line on stdin,
                               not NDJSON; each comes as "_arg" */
  DP_STAGE_EXTRACTOR = 2,   /* bids on bytes and turns them into text */
  DP_STAGE_MAY_DROP = 4,    /* may emit nothing for an input that holds no
                               document (an empty Bundle); the runner counts
                               it as skipped.  Any other stage that emits
                               nothing has lost a record: the runner reports
                               that as an internal error. */
  DP_STAGE_NETWORK = 8,     /* needs the FHIR server (ctx->net) */
  DP_STAGE_NO_INPUT = 16,   /* a source that needs no input: run once with an
                               empty argument when none is given */
  DP_STAGE_DELETIONS = 32   /* is given deletion lines (record.h) too, and may
                               drop them; every other stage has them passed on
                               untouched by the engine */
};

struct dp_stage {
  const struct dp_stage_ops *ops;
  const struct dp_context *ctx;
  struct dp_optval *opts;
  size_t nopts;
  void *state;
};

/* Where a stage hands its output.  Both calls take ownership of rec. */
struct dp_emitter {
  enum dp_status (*emit)(struct dp_emitter *self, struct dp_record *rec);
  /* rec failed (its error is set): report it and go on. */
  enum dp_status (*fail)(struct dp_emitter *self, struct dp_record *rec);
};

static inline enum dp_status dpi_emit(struct dp_emitter *out, struct dp_record *rec)
{
  return out->emit(out, rec);
}

static inline enum dp_status dpi_emit_fail(struct dp_emitter *out, struct dp_record *rec)
{
  return out->fail(out, rec);
}

/* Option values of a stage instance: the last value given, else (once the
 * chain is open) the environment variable, else NULL. */
const char *dpi_opt(const struct dp_stage *st, const char *name);
int dpi_opt_flag(const struct dp_stage *st, const char *name);
/* The n-th value of a repeatable option, or NULL past the end. */
const char *dpi_opt_nth(const struct dp_stage *st, const char *name, size_t n);

#endif
