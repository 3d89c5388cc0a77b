/* files.c - the "files" stage: raw documents on disk become records.
 *
 * Its input is a path.  A file becomes one record whose id is the path as
 * given; a folder is walked depth-first in name order (so runs are
 * repeatable), skipping hidden entries and never following a link to a
 * folder (no loops).  Unreadable entries give error records of kind "io";
 * files over --max-bytes give "too-large".
 *
 * A path becomes a record string through names.h: as it is when it is
 * UTF-8, else escaped reversibly, with its bytes also under
 * source.fileBytes (Base64), so that two names never share an id and the
 * record still leads back to the file. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b64.h"
#include "names.h"
#include "progress.h"
#include "registry.h"

#define MAX_WALK_DEPTH 64

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
    char *w = dpi_buf_reserve(&bytes, 1 << 16);
    if(!w)
      break;
    ssize_t n = read(fd, w, 1 << 16);
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

static int by_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static enum dp_status walk(struct dp_stage *st, const char *dir, const struct dp_record *proto,
                           int depth, struct dp_emitter *out);

/* One entry of a folder: a new record derived from the folder's. */
static enum dp_status visit(struct dp_stage *st, const char *path, const struct dp_record *proto,
                            int depth, struct dp_emitter *out)
{
  struct stat sb;
  if(lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode) && stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
    return DP_OK; /* links to folders are not followed */
  int is_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
  if(is_dir)
    return walk(st, path, proto, depth + 1, out);
  struct dp_record *rec = dpi_record_derive(proto);
  if(!rec)
    return DP_FATAL;
  enum dp_status rc = read_file(st, path, rec, out);
  return rc == DP_FAIL ? dpi_emit_fail(out, rec) : rc;
}

static enum dp_status walk(struct dp_stage *st, const char *dir, const struct dp_record *proto,
                           int depth, struct dp_emitter *out)
{
  if(depth > MAX_WALK_DEPTH)
    return DP_OK;
  DIR *d = opendir(dir);
  if(!d) {
    struct dp_record *rec = dpi_record_derive(proto);
    if(!rec)
      return DP_FATAL;
    dpi_json_set_name(rec->obj, "id", dir);
    fail_path(rec, DP_KIND_IO, "cannot read folder", errno);
    return dpi_emit_fail(out, rec);
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  while((e = readdir(d))) {
    if(e->d_name[0] == '.')
      continue;
    if(n == cap) {
      cap = cap ? cap * 2 : 32;
      char **m = realloc(names, cap * sizeof(*m));
      if(!m)
        break;
      names = m;
    }
    if(!(names[n] = strdup(e->d_name)))
      break;
    n++;
  }
  closedir(d);
  if(n)
    qsort(names, n, sizeof(*names), by_name);
  enum dp_status rc = DP_OK;
  size_t dl = strlen(dir);
  int slash = dl && dir[dl - 1] == '/';
  for(size_t i = 0; i < n; i++) {
    if(rc != DP_FATAL) {
      char *path = malloc(dl + strlen(names[i]) + 2);
      if(!path) {
        rc = DP_FATAL;
      } else {
        sprintf(path, "%s%s%s", dir, slash ? "" : "/", names[i]);
        rc = visit(st, path, proto, depth, out);
        free(path);
      }
    }
    free(names[i]);
  }
  free(names);
  return rc;
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
    enum dp_status rc = walk(st, dir, rec, 0, out);
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
