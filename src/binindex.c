/* binindex.c - see binindex.h */
#include "binindex.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/linkhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dplimits.h"
#include "ndjson.h"

struct binary_loc {
  size_t file;
  off_t offset;
  size_t len;
};

struct dp_binindex {
  struct lh_table *index; /* Binary id -> struct binary_loc */
  int *fds;
  char **paths;
  size_t nfiles;
};

/* ---- the id scanner ---------------------------------------------------- */

/* Skip a JSON string starting at s[i] == '"': the index after its closing
 * quote, or n + 1 when the text ends inside it. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
  for(i++; i < n;) {
    const char *q = memchr(s + i, '"', n - i);
    if(!q)
      return n + 1;
    size_t k = (size_t)(q - s), bs = 0;
    while(k > i + bs && s[k - 1 - bs] == '\\')
      bs++;
    i = k + 1;
    if(bs % 2 == 0)
      return i;
  }
  return n + 1;
}

/* The string value at s[i, end) into dst when key is the one dst is for. */
static void take_value(const char *s, size_t i, size_t end, const char *key, size_t keylen,
                       char *type, size_t typecap, char *id, size_t idcap)
{
  char *dst = NULL;
  size_t cap = 0;
  if(keylen == 2 && !memcmp(key, "id", 2))
    dst = id, cap = idcap;
  else if(keylen == 12 && !memcmp(key, "resourceType", 12))
    dst = type, cap = typecap;
  size_t vl = end - i - 2;
  if(dst && vl < cap && !memchr(s + i + 1, '\\', vl)) {
    memcpy(dst, s + i + 1, vl);
    dst[vl] = '\0';
  }
}

int dpi_json_scan_id(const char *s, size_t n, char *type, size_t typecap, char *id,
                     size_t idcap)
{
  id[0] = type[0] = '\0';
  size_t i = 0;
  while(i < n && s[i] != '{')
    i++;
  i++;
  int depth = 1, expect_key = 1;
  const char *key = NULL;
  size_t keylen = 0;
  while(i < n && depth > 0) {
    char c = s[i];
    if(c == '"') {
      size_t end = skip_string(s, n, i);
      if(end > n)
        break; /* cut short inside a string */
      if(depth == 1 && expect_key) {
        key = s + i + 1;
        keylen = end - i - 2;
      } else if(depth == 1 && key) {
        take_value(s, i, end, key, keylen, type, typecap, id, idcap);
        if(id[0] && type[0])
          return 1;
      }
      i = end;
      continue;
    }
    if(c == ':')
      expect_key = 0;
    else if(c == ',')
      expect_key = depth == 1;
    else if(c == '{' || c == '[')
      depth++;
    else if(c == '}' || c == ']')
      depth--;
    i++;
  }
  return id[0] && type[0];
}

/* ---- the index ------------------------------------------------------------ */

static void free_entry(struct lh_entry *e)
{
  free((void *)lh_entry_k(e));
  free(lh_entry_v(e));
}

struct dp_binindex *dpi_binindex_new(void)
{
  struct dp_binindex *bi = calloc(1, sizeof(*bi));
  if(bi && !(bi->index = lh_kchar_table_new(1024, free_entry))) {
    free(bi);
    bi = NULL;
  }
  return bi;
}

void dpi_binindex_free(struct dp_binindex *bi)
{
  if(!bi)
    return;
  if(bi->index)
    lh_table_free(bi->index);
  for(size_t i = 0; i < bi->nfiles; i++) {
    close(bi->fds[i]);
    free(bi->paths[i]);
  }
  free(bi->fds);
  free(bi->paths);
  free(bi);
}

size_t dpi_binindex_files(const struct dp_binindex *bi)
{
  return bi->nfiles;
}

/* Keep the file open for lookups; its number, or -1. */
static int keep_file(struct dp_binindex *bi, const char *path, char *why, size_t whylen)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) {
    snprintf(why, whylen, "cannot open --binaries %s: %s", path, strerror(errno));
    return -1;
  }
  int *fds = realloc(bi->fds, (bi->nfiles + 1) * sizeof(*fds));
  char **paths = fds ? realloc(bi->paths, (bi->nfiles + 1) * sizeof(*paths)) : NULL;
  if(fds)
    bi->fds = fds;
  if(paths)
    bi->paths = paths;
  char *copy = paths ? strdup(path) : NULL;
  if(!copy) {
    close(fd);
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  bi->fds[bi->nfiles] = fd;
  bi->paths[bi->nfiles] = copy;
  return (int)bi->nfiles++;
}

int dpi_binindex_add_file(struct dp_binindex *bi, const char *path, char *why, size_t whylen)
{
  int file = keep_file(bi, path, why, whylen);
  if(file < 0)
    return -1;
  struct dp_reader r;
  if(dpi_reader_open(&r, path, DP_MAX_LINE)) {
    snprintf(why, whylen, "cannot read --binaries %s: %s", path, strerror(errno));
    return -1;
  }
  const char *line;
  size_t len;
  int too_long, rc = 0;
  while(dpi_reader_next(&r, &line, &len, &too_long) == 1) {
    char id[DP_MAX_ID], type[DP_MAX_RESOURCE_TYPE];
    if(too_long || !dpi_json_scan_id(line, len, type, sizeof(type), id, sizeof(id)) ||
       strcmp(type, "Binary"))
      continue;
    if(lh_table_lookup_ex(bi->index, id, NULL))
      continue; /* the first Binary with an id wins */
    struct binary_loc *loc = malloc(sizeof(*loc));
    char *key = strdup(id);
    if(!loc || !key) {
      free(loc);
      free(key);
      snprintf(why, whylen, "out of memory");
      rc = -1;
      break;
    }
    loc->file = (size_t)file;
    loc->offset = r.offset;
    loc->len = len;
    lh_table_insert(bi->index, key, loc);
  }
  if(!rc && r.error) {
    snprintf(why, whylen, "read error in --binaries %s: %s", path, strerror(r.error));
    rc = -1;
  }
  dpi_reader_close(&r);
  return rc;
}

json_object *dpi_binindex_load(const struct dp_binindex *bi, const char *id)
{
  void *v;
  if(!lh_table_lookup_ex(bi->index, id, &v))
    return NULL;
  const struct binary_loc *loc = v;
  char *text = malloc(loc->len + 1);
  if(!text)
    return NULL;
  size_t got = 0;
  while(got < loc->len) {
    ssize_t n = pread(bi->fds[loc->file], text + got, loc->len - got, loc->offset + (off_t)got);
    if(n < 0 && errno == EINTR)
      continue;
    if(n <= 0)
      break;
    got += (size_t)n;
  }
  json_object *obj = NULL;
  char why[256];
  if(got == loc->len)
    dpi_json_parse(text, loc->len, &obj, why, sizeof(why));
  free(text);
  return obj;
}
