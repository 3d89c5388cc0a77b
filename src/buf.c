/* buf.c - see buf.h */
#include "buf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dpi_buf_init(struct dp_buf *b, size_t max)
{
  b->mem = NULL;
  b->len = 0;
  b->alloc = 0;
  b->max = max;
  b->state = DP_BUF_OK;
}

void dpi_buf_free(struct dp_buf *b)
{
  free(b->mem);
  b->mem = NULL;
  b->len = 0;
  b->alloc = 0;
}

void dpi_buf_reset(struct dp_buf *b)
{
  b->len = 0;
  b->state = DP_BUF_OK;
  if(b->mem)
    b->mem[0] = '\0';
}

static int fail(struct dp_buf *b, enum dp_buf_state why)
{
  dpi_buf_free(b);
  b->state = why;
  return -1;
}

char *dpi_buf_reserve(struct dp_buf *b, size_t n)
{
  if(b->state != DP_BUF_OK)
    return NULL;
  if(n > b->max || b->len > b->max - n) {
    fail(b, DP_BUF_TOO_BIG);
    return NULL;
  }
  size_t need = b->len + n + 1; /* room for the terminating NUL */
  if(need > b->alloc) {
    size_t grow = b->alloc ? b->alloc : 64;
    while(grow < need)
      grow = grow > ((size_t)-1) / 2 ? need : grow * 2;
    if(grow > b->max + 1)
      grow = b->max + 1;
    char *m = realloc(b->mem, grow);
    if(!m) {
      fail(b, DP_BUF_NOMEM);
      return NULL;
    }
    b->mem = m;
    b->alloc = grow;
  }
  return b->mem + b->len;
}

void dpi_buf_commit(struct dp_buf *b, size_t n)
{
  if(b->state != DP_BUF_OK || !b->mem)
    return;
  b->len += n;
  b->mem[b->len] = '\0';
}

int dpi_buf_add(struct dp_buf *b, const void *data, size_t len)
{
  char *w = dpi_buf_reserve(b, len);
  if(!w)
    return -1;
  if(len)
    memcpy(w, data, len);
  dpi_buf_commit(b, len);
  return 0;
}

int dpi_buf_adds(struct dp_buf *b, const char *s)
{
  return dpi_buf_add(b, s, strlen(s));
}

int dpi_buf_addc(struct dp_buf *b, char c)
{
  return dpi_buf_add(b, &c, 1);
}

int dpi_buf_vaddf(struct dp_buf *b, const char *fmt, va_list ap)
{
  va_list again;
  va_copy(again, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  if(n < 0) {
    va_end(again);
    return -1;
  }
  char *w = dpi_buf_reserve(b, (size_t)n);
  if(!w) {
    va_end(again);
    return -1;
  }
  vsnprintf(w, (size_t)n + 1, fmt, again);
  va_end(again);
  dpi_buf_commit(b, (size_t)n);
  return 0;
}

int dpi_buf_addf(struct dp_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int rc = dpi_buf_vaddf(b, fmt, ap);
  va_end(ap);
  return rc;
}

void dpi_buf_truncate(struct dp_buf *b, size_t len)
{
  if(b->mem && len < b->len) {
    b->len = len;
    b->mem[len] = '\0';
  }
}

char *dpi_buf_take(struct dp_buf *b, size_t *len)
{
  if(b->state != DP_BUF_OK)
    return NULL;
  if(!b->mem && !dpi_buf_reserve(b, 0))
    return NULL;
  char *m = b->mem;
  if(len)
    *len = b->len;
  b->mem = NULL;
  b->len = 0;
  b->alloc = 0;
  return m;
}

char *dpi_memdup(const void *s, size_t n)
{
  char *m = malloc(n + 1);
  if(m) {
    if(n)
      memcpy(m, s, n);
    m[n] = '\0';
  }
  return m;
}
