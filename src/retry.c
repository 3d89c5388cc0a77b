/* retry.c - see retry.h */
#include "retry.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dplimits.h"
#include "names.h"
#include "ndjson.h"
#include "stage.h"

struct dp_retry {
  struct dp_retry_out out;
  unsigned flags; /* of the chain's first stage */
  size_t max_line;
  /* The input being gathered. */
  int active;
  char *file, *arg;
  unsigned long line;
  json_object *only; /* ids of the failed documents */
  int unfiltered;    /* the whole input failed: keep everything */
  /* The file a retried input is read back from, forward. */
  struct dp_reader source;
  char *source_name;
};

/* The filter handed to the engine: the ids to keep. */
struct keep_ids {
  struct dp_input_filter base;
  json_object *only; /* read, never changed, by the worker threads */
};

static int keep_ids_keeps(const struct dp_input_filter *self, const struct dp_record *rec)
{
  const struct keep_ids *k = (const struct keep_ids *)self;
  const char *id = dpi_record_str(rec, "id");
  size_t n = json_object_array_length(k->only);
  for(size_t i = 0; i < n && id; i++) {
    const char *want = json_object_get_string(json_object_array_get_idx(k->only, i));
    if(want && !strcmp(want, id))
      return 1;
  }
  return 0;
}

static void keep_ids_free(struct dp_input_filter *self)
{
  struct keep_ids *k = (struct keep_ids *)self;
  json_object_put(k->only);
  free(k);
}

/* A filter keeping the ids of only (taken), or NULL when out of memory. */
static struct dp_input_filter *keep_ids_new(json_object *only)
{
  struct keep_ids *k = malloc(sizeof(*k));
  if(!k) {
    json_object_put(only);
    return NULL;
  }
  *k = (struct keep_ids){{keep_ids_keeps, keep_ids_free}, only};
  return &k->base;
}

struct dp_retry *dpi_retry_new(unsigned first_flags, size_t max_line,
                               const struct dp_retry_out *out)
{
  struct dp_retry *r = calloc(1, sizeof(*r));
  if(!r)
    return NULL;
  r->out = *out;
  r->flags = first_flags;
  r->max_line = max_line;
  return r;
}

static void clear(struct dp_retry *r)
{
  free(r->file);
  free(r->arg);
  json_object_put(r->only);
  r->active = r->unfiltered = 0;
  r->file = r->arg = NULL;
  r->line = 0;
  r->only = NULL;
}

void dpi_retry_free(struct dp_retry *r)
{
  if(!r)
    return;
  clear(r);
  if(r->source.f)
    dpi_reader_close(&r->source);
  free(r->source_name);
  free(r);
}

int dpi_retry_is_error_record(json_object *obj)
{
  return dpi_json_member_str(obj, "kind") && dpi_json_member_str(obj, "stage") &&
         dpi_json_member_str(obj, "message") && !dpi_json_member(obj, "resourceType");
}

int dpi_retry_is_error_file(const struct dp_retry *r, const char *path)
{
  if(r->flags & (DP_STAGE_NETWORK | DP_STAGE_NO_INPUT))
    return 0;
  FILE *f = fopen(path, "rbe");
  struct stat sb;
  if(!f)
    return 0;
  char *head = NULL;
  size_t n = 0;
  if(!fstat(fileno(f), &sb) && S_ISREG(sb.st_mode) && (head = malloc(DP_MAX_ARG_LINE)))
    n = fread(head, 1, DP_MAX_ARG_LINE, f);
  fclose(f);
  if(!head)
    return 0;
  const char *p = head, *end = head + n;
  while(p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
    p++;
  const char *nl = p < end && *p == '{' ? memchr(p, '\n', (size_t)(end - p)) : NULL;
  int found = 0;
  if(nl || (p < end && *p == '{' && (off_t)n == sb.st_size)) {
    size_t len = (size_t)((nl ? nl : end) - p);
    json_object *obj = NULL;
    char why[64];
    found = dpi_json_parse(p, len, &obj, why, sizeof(why)) == DP_JSON_OK &&
            json_object_is_type(obj, json_type_object) && dpi_retry_is_error_record(obj);
    json_object_put(obj);
  }
  free(head);
  return found;
}

/* Where an input came from, from a path already in its record form (an
 * error file's). */
static json_object *input_ref_named(const char *file, unsigned long line)
{
  json_object *in = json_object_new_object();
  dpi_json_set_str(in, "file", file);
  if(line)
    json_object_object_add(in, "line", json_object_new_int64((int64_t)line));
  return in;
}

/* Line `line` of file (its record form, names.h), read again (forward from
 * where the last one was). */
static char *read_back(struct dp_retry *r, const char *file, unsigned long line, size_t *len)
{
  /* Stdin (or a library's pushed input) is gone: reading "-" would take
   * whatever comes on stdin now. */
  if(!strcmp(file, "-"))
    return NULL;
  if(!r->source_name || strcmp(r->source_name, file) || r->source.line >= line) {
    if(r->source.f)
      dpi_reader_close(&r->source);
    free(r->source_name);
    r->source_name = strdup(file);
    char *path = dpi_name_bytes(file);
    int failed = !r->source_name || !path || dpi_reader_open(&r->source, path, r->max_line);
    free(path);
    if(failed)
      return NULL;
  }
  const char *text;
  int too_long;
  while(dpi_reader_next(&r->source, &text, len, &too_long) == 1)
    if(r->source.line == line)
      return too_long ? NULL : dpi_memdup(text, *len);
  return NULL;
}

static void filter_drop(struct dp_input_filter *keep)
{
  if(keep)
    keep->free(keep);
}

/* The argument again: the error named it in its record form, the stage
 * opens the bytes. */
static enum dp_status again_arg(struct dp_retry *r, struct dp_record *rec,
                                struct dp_input_filter *keep)
{
  char *arg = dpi_name_bytes(r->arg);
  if(!arg) {
    dpi_record_free(rec);
    filter_drop(keep);
    return DP_FATAL;
  }
  dpi_record_set_str(rec, "_arg", arg);
  free(arg);
  json_object *in = json_object_new_object();
  dpi_json_set_str(in, "arg", r->arg);
  json_object_object_add(rec->obj, "_input", in);
  return r->out.submit(r->out.user, rec, keep);
}

/* The line of the file again, or the error that it cannot be read. */
static enum dp_status again_line(struct dp_retry *r, struct dp_record *rec,
                                 struct dp_input_filter *keep)
{
  size_t len = 0;
  char *text = read_back(r, r->file, r->line, &len);
  json_object *obj = NULL;
  char why[256];
  enum dp_status rc;
  if(text && dpi_json_parse(text, len, &obj, why, sizeof(why)) == DP_JSON_OK &&
     json_object_is_type(obj, json_type_object)) {
    dpi_record_free(rec);
    rec = dpi_record_parse(obj);
    if(rec)
      json_object_object_add(rec->obj, "_input", input_ref_named(r->file, r->line));
    else
      filter_drop(keep);
    rc = rec ? r->out.submit(r->out.user, rec, keep) : DP_FATAL;
  } else {
    json_object_object_add(rec->obj, "_input", input_ref_named(r->file, r->line));
    dpi_record_fail(rec, text ? DP_KIND_BAD_JSON : DP_KIND_IO,
                    "cannot read line %lu of %s again to retry it", r->line, r->file);
    filter_drop(keep);
    rc = r->out.fail(r->out.user, rec);
    json_object_put(obj);
  }
  free(text);
  return rc;
}

enum dp_status dpi_retry_flush(struct dp_retry *r)
{
  if(!r->active)
    return DP_OK;
  struct dp_record *rec = dpi_record_new();
  struct dp_input_filter *keep = NULL;
  if(rec && !r->unfiltered) {
    /* The filter takes the ids: the engine's threads read them from now on. */
    keep = keep_ids_new(r->only);
    r->only = NULL;
    if(!keep) {
      dpi_record_free(rec);
      rec = NULL;
    }
  }
  if(!rec) {
    clear(r);
    return DP_FATAL;
  }
  int reads_args = r->flags & DP_STAGE_READS_ARGS;
  enum dp_status rc;
  if(r->arg && reads_args) {
    rc = again_arg(r, rec, keep);
  } else if(r->file && r->line && !reads_args) {
    rc = again_line(r, rec, keep);
  } else {
    dpi_record_fail(rec, DP_KIND_INVALID_INPUT,
                    r->arg || r->file ? "this error came from another kind of input: retry it "
                                        "with the pipeline that made it"
                                      : "error record without an input to retry");
    filter_drop(keep);
    rc = r->out.fail(r->out.user, rec);
  }
  clear(r);
  return rc;
}

enum dp_status dpi_retry_add(struct dp_retry *r, json_object *err)
{
  json_object *in = dpi_json_member(err, "input");
  const char *ifile = dpi_json_member_str(in, "file"), *iarg = dpi_json_member_str(in, "arg");
  unsigned long iline = (unsigned long)json_object_get_int64(dpi_json_member(in, "line"));
  int same = r->active && ((iarg && r->arg && !strcmp(iarg, r->arg)) ||
                           (ifile && r->file && !strcmp(ifile, r->file) && iline == r->line));
  if(!same) {
    if(dpi_retry_flush(r) == DP_FATAL)
      return DP_FATAL;
    r->active = 1;
    r->file = ifile ? strdup(ifile) : NULL;
    r->arg = iarg ? strdup(iarg) : NULL;
    r->line = iline;
    r->only = json_object_new_array();
  }
  json_object *id = dpi_json_member(err, "id");
  if(id && json_object_is_type(id, json_type_string))
    json_object_array_add(r->only, json_object_new_string(json_object_get_string(id)));
  else
    r->unfiltered = 1; /* the whole input failed: retry all of it */
  return DP_OK;
}
