/* files.c - the "files" stage: raw documents on disk become records.
 *
 * Its input is a path.  A file becomes one record whose id is the path as
 * given; a folder is walked as walk.h walks trees: depth-first in name
 * order (so runs are repeatable), skipping hidden entries and never
 * following a link to a folder (no loops); a link to a file is read.
 * Unreadable entries give error records of kind "io"; files over
 * --max-bytes give "too-large".
 *
 * A path becomes a record string through names.h: as it is when it is
 * UTF-8, else escaped reversibly, with its bytes also under
 * source.fileBytes (Base64), so that two names never share an id and the
 * record still leads back to the file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "dplimits.h"
#include "names.h"
#include "progress.h"
#include "registry.h"
#include "walk.h"

static enum dp_status fail_path(struct dp_record *rec, enum dp_kind kind, const char *what,
                                int err)
{
  return dpi_record_fail(rec, kind, "%s: %s", what, strerror(err));
}

/* The path as the record's id and source.file. */
static void name_record(struct dp_record *rec, const char *path)
{
  dpi_json_set_name(rec->obj, "id", path);
  json_object *source = dpi_record_object(rec, "source");
  dpi_json_set_name(source, "file", path);
  size_t n = strlen(path);
  if(!dpi_name_needs_escape(path, n))
    return;
  struct dp_buf b64;
  dpi_buf_init(&b64, n * 2 + 64); /* the encoder reserves room for its line breaks */
  if(dpi_b64_encode(path, n, &b64) == DP_B64_OK)
    json_object_object_add(source, "fileBytes",
                           json_object_new_string_len(dpi_buf_str(&b64), (int)b64.len));
  dpi_buf_free(&b64);
}

static enum dp_status read_file(struct dp_stage *st, const char *path, struct dp_record *rec,
                                struct dp_emitter *out)
{
  name_record(rec, path);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if(fd < 0)
    return fail_path(rec, DP_KIND_IO, "cannot open file", errno);
  struct stat sb;
  if(fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
    close(fd);
    return dpi_record_fail(rec, DP_KIND_IO, "not a regular file");
  }
  if((unsigned long long)sb.st_size > st->ctx->max_document) {
    close(fd);
    dpi_record_hint(rec, "raise --max-bytes to convert it");
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "file of %lld bytes is over the %zu-byte cap",
                           (long long)sb.st_size, st->ctx->max_document);
  }
  struct dp_buf bytes;
  dpi_buf_init(&bytes, st->ctx->max_document);
  for(;;) {
    char *w = dpi_buf_reserve(&bytes, DP_READ_CHUNK);
    if(!w)
      break;
    ssize_t n = read(fd, w, DP_READ_CHUNK);
    if(n < 0 && errno == EINTR)
      continue;
    if(n < 0) {
      int e = errno;
      close(fd);
      dpi_buf_free(&bytes);
      return fail_path(rec, DP_KIND_IO, "read failed", e);
    }
    if(n == 0)
      break;
    dpi_buf_commit(&bytes, (size_t)n);
  }
  close(fd);
  dpi_progress_read(st->ctx->progress, bytes.len);
  if(dpi_buf_failed(&bytes)) {
    dpi_buf_free(&bytes);
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "file grew over the %zu-byte cap",
                           st->ctx->max_document);
  }
  if(dpi_record_set_body(rec, &bytes))
    return dpi_record_fail(rec, DP_KIND_INTERNAL, "cannot hash the file");
  json_object_object_del(rec->obj, "_arg");
  return dpi_emit(out, rec);
}

/* A folder being read: each entry becomes a record derived from the
 * folder's.  rc is what the last entry gave, as the run expects it. */
struct tree {
  struct dp_stage *st;
  const struct dp_record *proto;
  struct dp_emitter *out;
  enum dp_status rc;
};

static enum dp_status read_entry(struct tree *t, const char *path)
{
  struct dp_record *rec = dpi_record_derive(t->proto);
  if(!rec)
    return DP_FATAL;
  enum dp_status rc = read_file(t->st, path, rec, t->out);
  return rc == DP_FAIL ? dpi_emit_fail(t->out, rec) : rc;
}

static enum dp_status folder_error(struct tree *t, const char *path, int err)
{
  struct dp_record *rec = dpi_record_derive(t->proto);
  if(!rec)
    return DP_FATAL;
  dpi_json_set_name(rec->obj, "id", path);
  fail_path(rec, DP_KIND_IO, "cannot read folder", err);
  return dpi_emit_fail(t->out, rec);
}

static enum dp_walk_next visit(void *user, const struct dp_walk_entry *e)
{
  struct tree *t = user;
  struct stat sb;
  switch(e->type) {
  case DP_WALK_DIR:
    t->rc = DP_OK;
    return e->depth > DP_MAX_WALK_DEPTH ? DP_WALK_SKIP : DP_WALK_GO;
  case DP_WALK_UNREADABLE:
    t->rc = folder_error(t, e->path, e->err);
    break;
  case DP_WALK_LINK:
    if(stat(e->path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
      t->rc = DP_OK; /* links to folders are not followed */
      break;
    }
    t->rc = read_entry(t, e->path);
    break;
  default: /* what is not a folder is read as a file, and fails if it is none */
    t->rc = read_entry(t, e->path);
    break;
  }
  return t->rc == DP_FATAL ? DP_WALK_STOP : DP_WALK_GO;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  const char *path = dpi_record_str(rec, "_arg");
  if(!path)
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT, "record names no file (\"_path\")");
  struct stat sb;
  if(stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
    char *dir = strdup(path);
    if(!dir)
      return DP_FATAL;
    json_object_object_del(rec->obj, "_arg");
    struct tree t = {st, rec, out, DP_OK};
    enum dp_status rc = dpi_walk(dir, visit, &t) < 0 ? DP_FATAL : t.rc;
    free(dir);
    dpi_record_free(rec);
    return rc;
  }
  return read_file(st, path, rec, out);
}

const struct dp_stage_ops dp_stage_files = {
  .name = "files",
  .summary = "read raw documents from files and folders (one record per file)",
  .flags = DP_STAGE_READS_ARGS | DP_STAGE_MAY_DROP,
  .process = process,
};
