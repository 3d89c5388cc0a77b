/* buf.h - an owned, growable byte buffer with a hard size cap.
 *
 * Modelled on curl's dynbuf: the cap is set at init, the data is always
 * NUL-terminated, and an append that would pass the cap frees the memory and
 * leaves the buffer in a sticky failed state, so a caller can append freely and
 * check once at the end.  Document bytes, Base64 text and extracted text all
 * travel through it. */
#ifndef DP_BUF_H
#define DP_BUF_H

#include <stdarg.h>
#include <stddef.h>

enum dp_buf_state { DP_BUF_OK = 0, DP_BUF_TOO_BIG, DP_BUF_NOMEM };

struct dp_buf {
  char *mem;
  size_t len;
  size_t alloc;
  size_t max;
  enum dp_buf_state state;
};

void dpi_buf_init(struct dp_buf *b, size_t max);
void dpi_buf_free(struct dp_buf *b);
/* Empty the buffer but keep its memory and clear a failed state. */
void dpi_buf_reset(struct dp_buf *b);
int dpi_buf_add(struct dp_buf *b, const void *data, size_t len);
int dpi_buf_adds(struct dp_buf *b, const char *s);
int dpi_buf_addc(struct dp_buf *b, char c);
int dpi_buf_addf(struct dp_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int dpi_buf_vaddf(struct dp_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Make room for n more bytes; returns the write position or NULL. */
char *dpi_buf_reserve(struct dp_buf *b, size_t n);
/* Account for n bytes written at the position dpi_buf_reserve returned. */
void dpi_buf_commit(struct dp_buf *b, size_t n);
/* Drop trailing bytes so the length is len (len <= current length). */
void dpi_buf_truncate(struct dp_buf *b, size_t len);
/* Hand the memory to the caller (never NULL when the state is OK); the buffer
 * is left empty. */
char *dpi_buf_take(struct dp_buf *b, size_t *len);

/* A NUL-terminated copy of exactly n bytes (s need not be NUL-terminated,
 * unlike what strndup may assume); NULL when out of memory. */
char *dpi_memdup(const void *s, size_t n);

static inline const char *dpi_buf_str(const struct dp_buf *b) { return b->mem ? b->mem : ""; }
/* The bytes from offset off on; safe on an empty buffer, whose memory may be
 * NULL (NULL + 0 is undefined behaviour). */
static inline const char *dpi_buf_at(const struct dp_buf *b, size_t off)
{
  return dpi_buf_str(b) + off;
}
static inline size_t dpi_buf_len(const struct dp_buf *b) { return b->len; }
static inline int dpi_buf_failed(const struct dp_buf *b) { return b->state != DP_BUF_OK; }

#endif
