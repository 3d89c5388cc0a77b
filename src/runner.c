/* runner.c - see runner.h */
#include "runner.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "binindex.h"
#include "buf.h"
#include "engine.h"
#include "interrupt.h"
#include "dplimits.h"
#include "names.h"
#include "ndjson.h"
#include "progress.h"
#include "record.h"
#include "retry.h"
#include "shard.h"
#include "sniff.h"

struct dp_runner {
  pthread_mutex_t lock; /* engine, while a snapshot reads it */
  struct dp_chain *chain;
  struct dp_run_options opt;
  struct dp_progress *progress; /* told the bytes of input read, or NULL */
  struct dp_engine *engine;
  struct dp_counts counts;
  int fatal;
  unsigned long seen; /* inputs met so far, skipped ones included */
  struct dp_shard shard;   /* --shard, handed to the engine */
  struct dp_retry *retry;  /* error records fed back in */
};

static void checkpoint(void *user, unsigned long written, unsigned long failed, int final)
{
  struct dp_runner *run = user;
  run->opt.engine.checkpoint(run->opt.engine.checkpoint_user, run->opt.skip + written,
                             run->opt.skip_failed + failed, final);
}

static enum dp_status push(struct dp_runner *run, struct dp_record *rec,
                           struct dp_input_filter *keep);
static enum dp_status write_error(struct dp_runner *run, struct dp_record *rec,
                                  const char *stage);

/* What retry.h hands on comes back as any input. */
static enum dp_status retry_submit(void *user, struct dp_record *rec,
                                   struct dp_input_filter *keep)
{
  return push(user, rec, keep);
}

static enum dp_status retry_fail(void *user, struct dp_record *rec)
{
  return write_error(user, rec, "input");
}

struct dp_runner *dpi_runner_new(struct dp_chain *chain, const struct dp_run_options *opt)
{
  struct dp_runner *run = calloc(1, sizeof(*run));
  if(!run)
    return NULL;
  pthread_mutex_init(&run->lock, NULL);
  run->chain = chain;
  run->opt = *opt;
  if(!run->opt.max_line)
    run->opt.max_line = DP_MAX_LINE;
  struct dp_engine_options eo = opt->engine;
  eo.shard = &run->shard;
  eo.checkpoint = opt->engine.checkpoint ? checkpoint : NULL;
  eo.checkpoint_user = run;
  dpi_shard_init(&run->shard, opt->shard_k, opt->shard_n, chain);
  struct dp_retry_out ro = {retry_submit, retry_fail, run};
  run->retry = dpi_retry_new(chain->n ? chain->stages[0].ops->flags : 0, run->opt.max_line, &ro);
  run->engine = run->retry ? dpi_engine_start(chain, &eo) : NULL;
  if(!run->engine) {
    dpi_retry_free(run->retry);
    pthread_mutex_destroy(&run->lock);
    free(run);
    return NULL;
  }
  return run;
}

enum dp_status dpi_runner_finish(struct dp_runner *run)
{
  if(!run->engine)
    return run->fatal ? DP_FATAL : DP_OK;
  if(dpi_retry_flush(run->retry) == DP_FATAL)
    run->fatal = 1;
  if(dpi_engine_finish(run->engine, &run->counts) == DP_FATAL)
    run->fatal = 1;
  pthread_mutex_lock(&run->lock);
  dpi_engine_free(run->engine);
  run->engine = NULL;
  pthread_mutex_unlock(&run->lock);
  dpi_retry_free(run->retry);
  run->retry = NULL;
  return run->fatal ? DP_FATAL : DP_OK;
}

void dpi_runner_free(struct dp_runner *run)
{
  if(!run)
    return;
  dpi_runner_finish(run);
  pthread_mutex_destroy(&run->lock);
  free(run);
}

const struct dp_counts *dpi_runner_counts(const struct dp_runner *run)
{
  return &run->counts;
}

void dpi_runner_snapshot(struct dp_runner *run, struct dp_counts *out)
{
  memset(out, 0, sizeof(*out));
  pthread_mutex_lock(&run->lock);
  if(run->engine)
    dpi_engine_snapshot(run->engine, out);
  pthread_mutex_unlock(&run->lock);
}

void dpi_runner_set_progress(struct dp_runner *run, struct dp_progress *progress)
{
  run->progress = progress;
  dpi_engine_set_progress(run->engine, progress);
}

/* Every input ends here or in write_error, exactly once: this is where
 * inputs are counted, and where a resumed run skips those already done. */
static int resumed(struct dp_runner *run)
{
  if(run->seen++ < run->opt.skip) {
    run->counts.resumed++;
    return 1;
  }
  run->counts.inputs++;
  return 0;
}

/* keep: which of rec's records to write (a retry, retry.h), or NULL. */
static enum dp_status push(struct dp_runner *run, struct dp_record *rec,
                           struct dp_input_filter *keep)
{
  if(resumed(run)) {
    dpi_record_free(rec);
    if(keep)
      keep->free(keep);
    return DP_OK;
  }
  enum dp_status rc = dpi_engine_submit(run->engine, rec, keep);
  if(rc == DP_FATAL)
    run->fatal = 1;
  return rc;
}

static enum dp_status write_error(struct dp_runner *run, struct dp_record *rec, const char *stage)
{
  if(resumed(run)) {
    dpi_record_free(rec);
    return DP_OK;
  }
  enum dp_status rc = dpi_engine_submit_failed(run->engine, rec, stage);
  if(rc == DP_FATAL)
    run->fatal = 1;
  return rc;
}

/* Where an input came from, for error records: file is a path, written in
 * its record form (names.h) so the error file is UTF-8 and still names it. */
static json_object *input_ref(const char *file, unsigned long line)
{
  json_object *in = json_object_new_object();
  dpi_json_set_name(in, "file", file);
  if(line)
    json_object_object_add(in, "line", json_object_new_int64((int64_t)line));
  return in;
}

/* For an input that could not be parsed: the resourceType and id near
 * the start of the raw text, so the error names the document when it can. */
static void salvage_id(const char *text, size_t len, struct dp_record *rec)
{
  char type[DP_MAX_RESOURCE_TYPE], id[DP_SALVAGE_ID];
  if(dpi_json_scan_id(text, len < DP_SALVAGE_SCAN ? len : DP_SALVAGE_SCAN, type, sizeof(type), id,
                      sizeof(id))) {
    char full[sizeof(type) + sizeof(id) + 1];
    snprintf(full, sizeof(full), "%s/%s", type, id);
    dpi_record_set_str(rec, "id", full);
  }
}

static enum dp_status input_error_hint(struct dp_runner *run, const char *file,
                                       unsigned long line, const char *text, size_t len,
                                       enum dp_kind kind, const char *why, const char *hint)
{
  struct dp_record *rec = dpi_record_new();
  if(!rec)
    return DP_FATAL;
  if(text)
    salvage_id(text, len, rec);
  json_object_object_add(rec->obj, "_input", input_ref(file, line));
  if(hint)
    dpi_record_hint(rec, "%s", hint);
  dpi_record_fail(rec, kind, "%s", why);
  return write_error(run, rec, "input");
}

static enum dp_status input_error(struct dp_runner *run, const char *file, unsigned long line,
                                  const char *text, size_t len, enum dp_kind kind,
                                  const char *why)
{
  return input_error_hint(run, file, line, text, len, kind, why, NULL);
}

static enum dp_status push_json(struct dp_runner *run, json_object *obj, const char *file,
                                unsigned long line)
{
  if(json_object_is_type(obj, json_type_object) && dpi_retry_is_error_record(obj)) {
    enum dp_status rc = dpi_retry_add(run->retry, obj);
    json_object_put(obj);
    return rc;
  }
  if(dpi_retry_flush(run->retry) == DP_FATAL) {
    json_object_put(obj);
    return DP_FATAL;
  }
  if(!json_object_is_type(obj, json_type_object)) {
    json_object_put(obj);
    return input_error(run, file, line, NULL, 0, DP_KIND_INVALID_INPUT,
                       "input is JSON but not an object");
  }
  struct dp_record *rec = dpi_record_parse(obj);
  if(!rec)
    return DP_FATAL;
  /* A deletion line stays as it is (record.h): it cannot fail, and a pipe of
   * stages must write it as one process does. */
  if(!json_object_object_get_ex(rec->obj, "_input", NULL) && !dpi_record_is_deletion(rec))
    json_object_object_add(rec->obj, "_input", input_ref(file, line));
  if(rec->err_kind != DP_KIND_NONE)
    return write_error(run, rec, "input");
  return push(run, rec, NULL);
}

/* One NDJSON line (not blank, not over the cap). */
static enum dp_status feed_line(struct dp_runner *run, const char *name, unsigned long lineno,
                                const char *text, size_t len)
{
  char why[512];
  json_object *obj;
  if(dpi_json_parse(text, len, &obj, why, sizeof(why)) == DP_JSON_OK)
    return push_json(run, obj, name, lineno);
  return input_error(run, name, lineno, text, len, DP_KIND_BAD_JSON, why);
}

static int blank(const char *text, size_t len)
{
  for(size_t k = 0; k < len; k++)
    if(text[k] != ' ' && text[k] != '\t' && text[k] != '\r' && text[k] != '\n')
      return 0;
  return 1;
}

static int is_json_object(const char *text, size_t len)
{
  json_object *obj;
  char why[64];
  int yes = dpi_json_parse(text, len, &obj, why, sizeof(why)) == DP_JSON_OK &&
            json_object_is_type(obj, json_type_object);
  json_object_put(obj);
  return yes;
}

/* Line and column (1-based) of byte `at` of text. */
static void line_of(const char *text, size_t at, unsigned long first, unsigned long *line,
                    size_t *col)
{
  *line = first;
  size_t start = 0;
  for(size_t i = 0; i < at; i++)
    if(text[i] == '\n') {
      (*line)++;
      start = i + 1;
    }
  *col = at - start + 1;
}

/* One JSON document over many lines (a saved Bundle, pretty-printed), held
 * whole: one value, or, when it does not parse, one error naming where it
 * breaks.  Its lines are fragments, so reading them one by one would only
 * make an error per line.  Unless some lines are whole objects: then it was
 * NDJSON after all, damaged, and each line is its own input. */
static enum dp_status feed_whole(struct dp_runner *run, const char *name, unsigned long first,
                                 struct dp_buf *whole)
{
  json_object *obj;
  char why[512];
  if(dpi_json_parse(whole->mem, whole->len, &obj, why, sizeof(why)) == DP_JSON_OK)
    return push_json(run, obj, name, first);
  size_t objects = 0;
  const char *p = dpi_buf_str(whole), *end = p + whole->len;
  for(const char *q = p; q < end;) {
    const char *nl = memchr(q, '\n', (size_t)(end - q));
    size_t n = nl ? (size_t)(nl - q) : (size_t)(end - q);
    objects += !blank(q, n) && is_json_object(q, n);
    q += n + 1;
  }
  if(!objects) {
    json_tokener *tok = json_tokener_new_ex(128);
    size_t at = whole->len;
    if(tok) {
      json_tokener_parse_ex(tok, whole->mem, (int)whole->len);
      at = json_tokener_get_parse_end(tok);
      json_tokener_free(tok);
    }
    unsigned long line;
    size_t col;
    line_of(whole->mem, at, first, &line, &col);
    char msg[640];
    snprintf(msg, sizeof(msg), "JSON document of %zu bytes (lines %lu-) is not valid at line %lu "
             "column %zu: %s", whole->len, first, line, col, why);
    return input_error(run, name, first, NULL, 0, DP_KIND_BAD_JSON, msg);
  }
  enum dp_status rc = DP_OK;
  unsigned long lineno = first;
  for(const char *q = p; q < end && rc != DP_FATAL; lineno++) {
    const char *nl = memchr(q, '\n', (size_t)(end - q));
    size_t n = nl ? (size_t)(nl - q) : (size_t)(end - q);
    size_t shown = n && q[n - 1] == '\r' ? n - 1 : n;
    if(!blank(q, shown))
      rc = feed_line(run, name, lineno, q, shown);
    q += n + 1;
  }
  return rc;
}

/* The first line is not a whole JSON value: either the input is one JSON
 * document over many lines, or its first NDJSON line is cut off.  The next
 * line that is not blank tells: in NDJSON it is a whole object of its own,
 * in a pretty-printed document it is never one.  The first line is copied
 * before anything else is read: the reader refills the buffer it points
 * into.  *consumed is set when the whole input was read here. */
static enum dp_status feed_first_incomplete(struct dp_runner *run, const char *name,
                                            struct dp_reader *r, const char *text, size_t len,
                                            const char *why, int *consumed)
{
  unsigned long first = r->line;
  struct dp_buf whole;
  dpi_buf_init(&whole, run->opt.max_line < DP_MAX_JSON_FILE ? run->opt.max_line
                                                            : DP_MAX_JSON_FILE);
  dpi_buf_add(&whole, text, len);
  dpi_buf_addc(&whole, '\n');
  const char *line;
  size_t n;
  int too_long, got;
  while((got = dpi_reader_next(r, &line, &n, &too_long)) == 1 && !too_long && blank(line, n))
    dpi_buf_addc(&whole, '\n');
  *consumed = 0;
  if(got == 1 && (too_long || is_json_object(line, n))) {
    /* NDJSON: the first line was cut; the one just read is the next input. */
    enum dp_status rc = input_error(run, name, first, whole.mem, len, DP_KIND_BAD_JSON, why);
    dpi_buf_free(&whole);
    if(rc == DP_FATAL)
      return rc;
    if(too_long) {
      char msg[512];
      snprintf(msg, sizeof(msg), "line of %zu bytes is over the --max-line cap of %zu", n,
               run->opt.max_line);
      return input_error(run, name, r->line, NULL, 0, DP_KIND_TOO_LARGE, msg);
    }
    return feed_line(run, name, r->line, line, n);
  }
  if(got == 1) {
    dpi_buf_add(&whole, line, n);
    dpi_buf_addc(&whole, '\n');
  }
  *consumed = 1;
  if((got == 1 && dpi_reader_rest(r, &whole)) || dpi_buf_failed(&whole) || got < 0) {
    int err = dpi_buf_failed(&whole) ? EFBIG : errno;
    size_t cap = whole.max;
    dpi_buf_free(&whole);
    char msg[512];
    if(err == EFBIG)
      snprintf(msg, sizeof(msg), "JSON document over the --max-line cap of %zu bytes", cap);
    else
      snprintf(msg, sizeof(msg), "read error in a JSON document: %s", strerror(err));
    return input_error(run, name, first, NULL, 0, err == EFBIG ? DP_KIND_TOO_LARGE : DP_KIND_IO,
                       msg);
  }
  enum dp_status rc = feed_whole(run, name, first, &whole);
  dpi_buf_free(&whole);
  return rc;
}

/* An input whose first line is not JSON and whose bytes are a document (a
 * PDF, an image, a Word file, HL7 v2...) was given where NDJSON belongs: it
 * is one error for the whole input, naming what it is, not an error for
 * every "line" of its bytes (thousands for a PDF).  Text is left to the
 * line-by-line reading: a stray first line may head real NDJSON.  Returns 1
 * when the input was told off this way. */
static int not_json_input(struct dp_runner *run, const char *path, const struct dp_reader *r,
                          const char *first, enum dp_status *rc)
{
  size_t held = dpi_reader_held(r, first), i = dpi_json_start(first, held);
  const unsigned char *p = (const unsigned char *)first;
  if(i < held && (p[i] == '{' || p[i] == '['))
    return 0;
  struct dp_sniff s;
  dpi_sniff(run->chain->stages[0].ctx->stages, p, held, &s);
  if(s.ops && !strcmp(s.format, "text"))
    return 0;
  char why[256];
  if(s.ops)
    snprintf(why, sizeof(why), "input is not NDJSON or JSON: its bytes are a document of "
             "format %s (%s)", s.format, s.mime);
  else
    snprintf(why, sizeof(why), "input is not NDJSON or JSON: its bytes are binary data");
  *rc = input_error_hint(run, path, r->line, NULL, 0, DP_KIND_BAD_JSON, why,
                         "raw documents are converted with `docpipe convert FILE` "
                         "(the raw-files pipeline)");
  return 1;
}

static enum dp_status feed_ndjson(struct dp_runner *run, const char *path)
{
  struct dp_reader r;
  if(dpi_reader_open(&r, path, run->opt.max_line)) {
    char why[512];
    snprintf(why, sizeof(why), "cannot open input: %s", strerror(errno));
    return input_error(run, path, 0, NULL, 0, DP_KIND_IO, why);
  }
  const char *text;
  size_t len;
  int too_long, first = 1;
  enum dp_status rc = DP_OK;
  while(rc != DP_FATAL && !dpi_interrupted() && dpi_reader_next(&r, &text, &len, &too_long) == 1) {
    dpi_progress_read(run->progress, len + 1);
    if(too_long) {
      char why[512];
      snprintf(why, sizeof(why), "line of %zu bytes is over the --max-line cap of %zu", len,
               run->opt.max_line);
      rc = input_error(run, path, r.line, NULL, 0, DP_KIND_TOO_LARGE, why);
      first = 0;
      continue;
    }
    if(blank(text, len))
      continue;
    if(!first) {
      rc = feed_line(run, path, r.line, text, len);
      continue;
    }
    first = 0;
    json_object *obj;
    char why[512];
    enum dp_json_result jr = dpi_json_parse(text, len, &obj, why, sizeof(why));
    if(jr == DP_JSON_INVALID && not_json_input(run, path, &r, text, &rc))
      break;
    if(jr == DP_JSON_INCOMPLETE) {
      int consumed;
      rc = feed_first_incomplete(run, path, &r, text, len, why, &consumed);
      if(consumed)
        break;
      continue;
    }
    rc = jr == DP_JSON_OK ? push_json(run, obj, path, r.line)
                          : input_error(run, path, r.line, text, len, DP_KIND_BAD_JSON, why);
  }
  if(rc != DP_FATAL && r.error) {
    char why[512];
    snprintf(why, sizeof(why), "read error after line %lu: %s", r.line, strerror(r.error));
    rc = input_error(run, path, r.line, NULL, 0, DP_KIND_IO, why);
  }
  dpi_reader_close(&r);
  return rc;
}

/* An argument (a path, a patient id) for a stage that reads arguments;
 * line is its line on stdin, 0 when it came from the command line. */
static enum dp_status feed_arg(struct dp_runner *run, const char *arg, unsigned long line)
{
  struct dp_record *rec = dpi_record_new();
  if(!rec)
    return DP_FATAL;
  dpi_record_set_str(rec, "_arg", arg);
  json_object *in = json_object_new_object();
  dpi_json_set_name(in, "arg", arg); /* error records are UTF-8 (names.h) */
  if(line)
    json_object_object_add(in, "line", json_object_new_int64((int64_t)line));
  json_object_object_add(rec->obj, "_input", in);
  return push(run, rec, NULL);
}

static enum dp_status feed_arg_lines(struct dp_runner *run, const char *path);

enum dp_status dpi_runner_feed(struct dp_runner *run, const char *input)
{
  if(run->fatal)
    return DP_FATAL;
  if(run->chain->stages[0].ops->flags & DP_STAGE_READS_ARGS) {
    if(!strcmp(input, "-"))
      return dpi_runner_feed_stdin(run);
    /* `docpipe convert errors.ndjson` retries, as the error file on stdin
     * or `docpipe run fhir-dump errors.ndjson` does. */
    if(dpi_retry_is_error_file(run->retry, input))
      return feed_arg_lines(run, input);
    return feed_arg(run, input, 0);
  }
  return feed_ndjson(run, input);
}

/* Arguments may also be an error file's lines, to retry. */
static enum dp_status feed_arg_line(struct dp_runner *run, const char *text, size_t len,
                                    unsigned long line)
{
  json_object *obj = NULL;
  char why[256];
  if(len && text[0] == '{' && dpi_json_parse(text, len, &obj, why, sizeof(why)) == DP_JSON_OK &&
     dpi_retry_is_error_record(obj)) {
    enum dp_status rc = dpi_retry_add(run->retry, obj);
    json_object_put(obj);
    return rc;
  }
  json_object_put(obj);
  if(dpi_retry_flush(run->retry) == DP_FATAL)
    return DP_FATAL;
  char *arg = dpi_memdup(text, len);
  if(!arg)
    return DP_FATAL;
  enum dp_status rc = feed_arg(run, arg, line);
  free(arg);
  return rc;
}

enum dp_status dpi_runner_feed_default(struct dp_runner *run)
{
  if(run->chain->stages[0].ops->flags & DP_STAGE_NO_INPUT)
    return feed_arg(run, "", 0);
  return dpi_runner_feed_stdin(run);
}

enum dp_status dpi_runner_feed_text(struct dp_runner *run, const char *text, size_t len,
                                    unsigned long line)
{
  if(run->fatal)
    return DP_FATAL;
  int args = run->chain->stages[0].ops->flags & DP_STAGE_READS_ARGS;
  dpi_progress_read(run->progress, len + 1);
  if(len > (args ? DP_MAX_ARG_LINE : run->opt.max_line)) {
    char why[512];
    if(args)
      snprintf(why, sizeof(why), "line is too long");
    else
      snprintf(why, sizeof(why), "line of %zu bytes is over the --max-line cap of %zu", len,
               run->opt.max_line);
    return input_error(run, "-", line, NULL, 0, DP_KIND_TOO_LARGE, why);
  }
  if(blank(text, len))
    return DP_OK;
  return args ? feed_arg_line(run, text, len, line) : feed_line(run, "-", line, text, len);
}

enum dp_status dpi_runner_feed_stdin(struct dp_runner *run)
{
  if(!(run->chain->stages[0].ops->flags & DP_STAGE_READS_ARGS))
    return feed_ndjson(run, "-");
  return feed_arg_lines(run, "-");
}

/* One argument per line, as find(1) prints paths (or error records). */
static enum dp_status feed_arg_lines(struct dp_runner *run, const char *path)
{
  struct dp_reader r;
  if(dpi_reader_open(&r, path, DP_MAX_ARG_LINE)) {
    if(!strcmp(path, "-"))
      return DP_FATAL;
    char why[512];
    snprintf(why, sizeof(why), "cannot open input: %s", strerror(errno));
    return input_error(run, path, 0, NULL, 0, DP_KIND_IO, why);
  }
  const char *text;
  size_t len;
  int too_long;
  enum dp_status rc = DP_OK;
  while(rc != DP_FATAL && !dpi_interrupted() &&
        dpi_reader_next(&r, &text, &len, &too_long) == 1) {
    if(too_long) {
      rc = input_error(run, path, r.line, NULL, 0, DP_KIND_TOO_LARGE, "line is too long");
      continue;
    }
    if(blank(text, len))
      continue;
    rc = feed_arg_line(run, text, len, r.line);
  }
  dpi_reader_close(&r);
  return rc;
}

void dpi_runner_summary(const struct dp_runner *run, FILE *f)
{
  const struct dp_counts *c = &run->counts;
  fprintf(f, "docpipe: %lu documents from %lu inputs: %lu converted", c->emitted + c->failed,
          c->inputs, c->emitted);
  if(c->no_text)
    fprintf(f, " (%lu without text: scans whose OCR found none)", c->no_text);
  fprintf(f, ", %lu failed", c->failed);
  if(c->failed) {
    const char *sep = " (";
    for(int k = 0; k < DP_KIND_COUNT; k++)
      if(c->by_kind[k]) {
        fprintf(f, "%s%s %lu", sep, dpi_kind_name((enum dp_kind)k), c->by_kind[k]);
        sep = ", ";
      }
    fputc(')', f);
  }
  if(c->skipped)
    fprintf(f, "; %lu inputs held no document", c->skipped);
  if(c->deleted)
    fprintf(f, "; %lu deleted resources", c->deleted);
  if(c->resumed)
    fprintf(f, "; %lu inputs done before the interruption", c->resumed);
  if(c->filtered)
    fprintf(f, "; %lu records of retried inputs had converted before", c->filtered);
  if(c->other_shard)
    fprintf(f, "; %lu left to the other shards", c->other_shard);
  fputc('\n', f);
}
