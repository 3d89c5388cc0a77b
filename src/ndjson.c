/* ndjson.c - see ndjson.h */
#include "ndjson.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "interrupt.h"

#define READ_CHUNK ((size_t)1 << 20)
/* FHIR resources nest deeper than json-c's default of 32 only in odd cases,
 * but Bundles of resources with contained resources come close. */
#define JSON_DEPTH 128

int dpi_reader_open(struct dp_reader *r, const char *path, size_t max_line)
{
  memset(r, 0, sizeof(*r));
  if(!strcmp(path, "-")) {
    r->f = stdin;
  } else {
    r->f = fopen(path, "rbe");
    if(!r->f)
      return -1;
    r->owns = 1;
  }
  r->max_line = max_line;
  r->cap = READ_CHUNK;
  r->buf = malloc(r->cap);
  if(!r->buf) {
    dpi_reader_close(r);
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

int dpi_reader_attach(struct dp_reader *r, FILE *f, size_t max_line)
{
  memset(r, 0, sizeof(*r));
  r->f = f;
  r->max_line = max_line;
  r->cap = READ_CHUNK;
  r->buf = malloc(r->cap);
  if(!r->buf) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

void dpi_reader_close(struct dp_reader *r)
{
  if(r->owns && r->f)
    fclose(r->f);
  r->f = NULL;
  free(r->buf);
  r->buf = NULL;
}

/* Read more input after buf[end]; grows buf up to max_line + 1. 0 on EOF. */
static size_t fill(struct dp_reader *r)
{
  if(r->eof)
    return 0;
  if(r->start > 0 && r->start == r->end) {
    r->start = r->end = 0;
  } else if(r->start > 0 && r->end == r->cap) {
    memmove(r->buf, r->buf + r->start, r->end - r->start);
    r->end -= r->start;
    r->start = 0;
  }
  if(r->end == r->cap) {
    size_t cap = r->cap * 2;
    char *m = realloc(r->buf, cap);
    if(!m) {
      r->error = ENOMEM;
      return 0;
    }
    r->buf = m;
    r->cap = cap;
  }
  /* read(2), not fread: on a pipe fread waits until the whole megabyte is
   * there, and a slow producer's lines (tail -f, a paced export) would sit
   * unconverted; read returns what has arrived.  (Nothing reads these
   * streams through stdio: a FILE given to dpi_reader_attach is rewound
   * first, which leaves stdio's buffer empty.) */
  ssize_t n;
  do
    n = read(fileno(r->f), r->buf + r->end, r->cap - r->end);
  while(n < 0 && errno == EINTR && !dpi_interrupted());
  if(n < 0 && errno == EINTR) {
    /* Interrupted (SIGINT, SIGTERM): the input ends here, and a line cut
     * short by the stop is no line. */
    r->start = r->end;
    r->eof = 1;
    return 0;
  }
  if(n <= 0) {
    if(n < 0)
      r->error = errno;
    r->eof = 1;
    return 0;
  }
  r->end += (size_t)n;
  return (size_t)n;
}

int dpi_reader_next(struct dp_reader *r, const char **line, size_t *len, int *too_long)
{
  *too_long = 0;
  size_t scanned = 0;
  for(;;) {
    char *nl = memchr(r->buf + r->start + scanned, '\n', r->end - r->start - scanned);
    size_t have = r->end - r->start;
    if(nl || (r->eof && have)) {
      size_t n = nl ? (size_t)(nl - (r->buf + r->start)) : have;
      *line = r->buf + r->start;
      *len = n;
      r->offset = r->consumed;
      r->line++;
      size_t step = n + (nl ? 1 : 0);
      r->start += step;
      r->consumed += (off_t)step;
      if(n && (*line)[n - 1] == '\r')
        (*len)--;
      if(n > r->max_line) { /* whole in the buffer, but over the cap all the same */
        *line = NULL;
        *too_long = 1;
      }
      return 1;
    }
    if(r->eof)
      return r->error ? -1 : 0;
    if(have > r->max_line) {
      /* Over the cap: drop what we hold and skip to the end of the line. */
      size_t total = have;
      r->offset = r->consumed;
      r->consumed += (off_t)have;
      r->start = r->end = 0;
      for(;;) {
        if(!fill(r))
          break;
        char *e = memchr(r->buf, '\n', r->end);
        if(e) {
          size_t part = (size_t)(e - r->buf) + 1;
          total += part - 1;
          r->start = part;
          r->consumed += (off_t)part;
          break;
        }
        total += r->end;
        r->consumed += (off_t)r->end;
        r->start = r->end = 0;
      }
      if(r->error)
        return -1;
      r->line++;
      *line = NULL;
      *len = total;
      *too_long = 1;
      return 1;
    }
    scanned = have; /* fill() keeps unread bytes in order, so this stays valid */
    if(!fill(r) && r->error)
      return -1;
  }
}

size_t dpi_json_start(const void *bytes, size_t len)
{
  const unsigned char *p = bytes;
  size_t i = len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3) ? 3 : 0;
  while(i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
    i++;
  return i;
}

size_t dpi_reader_held(const struct dp_reader *r, const char *line)
{
  return (size_t)(r->buf + r->end - line);
}

int dpi_reader_rest(struct dp_reader *r, struct dp_buf *b)
{
  dpi_buf_add(b, r->buf + r->start, r->end - r->start);
  r->start = r->end = 0;
  while(!dpi_buf_failed(b) && fill(r)) {
    dpi_buf_add(b, r->buf, r->end);
    r->start = r->end = 0;
  }
  if(r->error) {
    errno = r->error;
    return -1;
  }
  if(dpi_buf_failed(b)) {
    errno = b->state == DP_BUF_TOO_BIG ? EFBIG : ENOMEM;
    return -1;
  }
  return 0;
}

char *dpi_read_small_file(const char *path, size_t max, size_t *len)
{
  struct dp_reader r;
  if(dpi_reader_open(&r, path, max))
    return NULL;
  struct dp_buf b;
  dpi_buf_init(&b, max);
  int rc = dpi_reader_rest(&r, &b);
  int err = errno;
  dpi_reader_close(&r);
  if(rc) {
    dpi_buf_free(&b);
    errno = err;
    return NULL;
  }
  return dpi_buf_take(&b, len);
}

enum dp_json_result dpi_json_parse(const char *text, size_t len, json_object **out, char *why,
                                   size_t whylen)
{
  *out = NULL;
  if(len > (size_t)0x7ffffffe) {
    snprintf(why, whylen, "JSON value of %zu bytes is larger than the parser accepts", len);
    return DP_JSON_INVALID;
  }
  json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
  if(!tok) {
    snprintf(why, whylen, "out of memory");
    return DP_JSON_INVALID;
  }
  json_object *obj = json_tokener_parse_ex(tok, text, (int)len);
  enum json_tokener_error err = json_tokener_get_error(tok);
  size_t used = json_tokener_get_parse_end(tok);
  enum dp_json_result rc;
  if(obj) {
    while(used < len && (text[used] == ' ' || text[used] == '\t' || text[used] == '\r' ||
                         text[used] == '\n'))
      used++;
    if(used == len) {
      *out = obj;
      rc = DP_JSON_OK;
    } else {
      json_object_put(obj);
      snprintf(why, whylen, "unexpected data after the JSON value at column %zu", used + 1);
      rc = DP_JSON_INVALID;
    }
  } else if(err == json_tokener_continue) {
    snprintf(why, whylen, "JSON ends early after %zu bytes (truncated line?)", len);
    rc = DP_JSON_INCOMPLETE;
  } else {
    snprintf(why, whylen, "invalid JSON at column %zu: %s", used + 1,
             json_tokener_error_desc(err));
    rc = DP_JSON_INVALID;
  }
  json_tokener_free(tok);
  return rc;
}
