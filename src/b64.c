/* b64.c - see b64.h */
#include "b64.h"

#include <b64/cencode.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* 0..63 for alphabet characters (both alphabets), WS for whitespace, PAD for
 * '=', BAD otherwise.  One table lookup a character: validation and decoding
 * in a single pass (libb64's decoder skips invalid characters silently, and
 * checking first then decoding with it ran at a quarter of base64 -d). */
enum { B_BAD = 0xff, B_WS = 0xfe, B_PAD = 0xfd };

static unsigned char table[256];

static void build_table(void)
{
  memset(table, B_BAD, sizeof(table));
  for(int i = 0; i < 26; i++) {
    table['A' + i] = (unsigned char)i;
    table['a' + i] = (unsigned char)(26 + i);
  }
  for(int i = 0; i < 10; i++)
    table['0' + i] = (unsigned char)(52 + i);
  table['+'] = table['-'] = 62;
  table['/'] = table['_'] = 63;
  table['='] = B_PAD;
  table[' '] = table['\t'] = table['\r'] = table['\n'] = table['\f'] = table['\v'] = B_WS;
}

static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static unsigned char classify(unsigned char c)
{
  return table[c];
}

/* The fast path: whole groups of four symbols from p[*i], while there is
 * room for three bytes at *w.  Stops at anything else. */
static inline void whole_groups(const unsigned char *p, size_t len, size_t *i, unsigned char **w,
                                const unsigned char *limit, size_t *symbols)
{
  while(*i + 4 <= len && limit - *w >= 3) {
    const unsigned char *q = p + *i;
    unsigned a = table[q[0]], b = table[q[1]], c = table[q[2]], d = table[q[3]];
    if((a | b | c | d) & 0xc0)
      break;
    uint32_t v = a << 18 | b << 12 | c << 6 | d;
    (*w)[0] = (unsigned char)(v >> 16);
    (*w)[1] = (unsigned char)(v >> 8);
    (*w)[2] = (unsigned char)v;
    *w += 3;
    *i += 4;
    *symbols += 4;
  }
}

/* The last group of nacc (2 or 3) symbols: 1 or 2 bytes. */
static enum dp_b64_result last_group(struct dp_buf *out, uint32_t acc, unsigned nacc,
                                     unsigned char **w, const unsigned char *limit)
{
  size_t extra = nacc - 1;
  if((size_t)(limit - *w) < extra) {
    dpi_buf_free(out);
    out->state = DP_BUF_TOO_BIG;
    return DP_B64_TOO_BIG;
  }
  acc <<= 6 * (4 - nacc);
  (*w)[0] = (unsigned char)(acc >> 16);
  if(extra == 2)
    (*w)[1] = (unsigned char)(acc >> 8);
  *w += extra;
  return DP_B64_OK;
}

enum dp_b64_result dpi_b64_decode(const char *text, size_t len, struct dp_buf *out,
                                  size_t *bad_at)
{
  pthread_once(&table_once, build_table);
  const unsigned char *p = (const unsigned char *)text;
  /* Room for everything at once when the cap allows (the usual case);
   * otherwise as much as the cap allows, checked as we go. */
  size_t want = len / 4 * 3 + 3, room = out->max > out->len ? out->max - out->len : 0;
  if(want > room)
    want = room;
  unsigned char *w = (unsigned char *)dpi_buf_reserve(out, want);
  if(!w && want)
    return out->state == DP_BUF_TOO_BIG ? DP_B64_TOO_BIG : DP_B64_NOMEM;
  unsigned char *start = w, *limit = w + want;
  size_t i = 0, symbols = 0, pads = 0;
  uint32_t acc = 0;
  unsigned nacc = 0;
  while(i < len) {
    if(nacc == 0 && !pads) {
      whole_groups(p, len, &i, &w, limit, &symbols);
      if(i >= len)
        break;
    }
    unsigned char v = classify(p[i]);
    if(v == B_WS) {
      i++;
      continue;
    }
    if(v == B_PAD) {
      if(++pads > 2) {
        if(bad_at)
          *bad_at = i;
        return DP_B64_INVALID;
      }
      i++;
      continue;
    }
    if(v == B_BAD || pads) { /* data after padding is not Base64 */
      if(bad_at)
        *bad_at = i;
      return DP_B64_INVALID;
    }
    acc = acc << 6 | v;
    symbols++;
    i++;
    if(++nacc == 4) {
      if(limit - w < 3) {
        dpi_buf_commit(out, (size_t)(w - start));
        dpi_buf_free(out);
        out->state = DP_BUF_TOO_BIG;
        return DP_B64_TOO_BIG;
      }
      w[0] = (unsigned char)(acc >> 16);
      w[1] = (unsigned char)(acc >> 8);
      w[2] = (unsigned char)acc;
      w += 3;
      acc = 0;
      nacc = 0;
    }
  }
  /* One leftover symbol cannot encode a byte; padding must complete a group. */
  if(nacc == 1 || (pads && (symbols + pads) % 4 != 0)) {
    if(bad_at)
      *bad_at = len;
    return DP_B64_INVALID;
  }
  if(nacc && last_group(out, acc, nacc, &w, limit) != DP_B64_OK)
    return DP_B64_TOO_BIG;
  if(start)
    dpi_buf_commit(out, (size_t)(w - start));
  return DP_B64_OK;
}

enum dp_b64_result dpi_b64_encode(const void *data, size_t len, struct dp_buf *out)
{
  base64_encodestate st;
  base64_init_encodestate(&st);
  const char *in = data;
  /* libb64 wraps its output with '\n' every 72 characters; encode a chunk at
   * a time and squeeze the breaks out in place. */
  const size_t step = 48 * 1024;
  for(size_t off = 0;; off += step) {
    size_t n = len - off < step ? len - off : step;
    int last = off + n >= len;
    size_t room = (n + 2) / 3 * 4 + (n / 54 + 2) * 2 + 8;
    char *w = dpi_buf_reserve(out, room);
    if(!w)
      return out->state == DP_BUF_TOO_BIG ? DP_B64_TOO_BIG : DP_B64_NOMEM;
    size_t made = (size_t)base64_encode_block(in + off, (int)n, w, &st);
    if(last)
      made += (size_t)base64_encode_blockend(w + made, &st);
    size_t kept = 0;
    for(size_t i = 0; i < made; i++)
      if(w[i] != '\n')
        w[kept++] = w[i];
    dpi_buf_commit(out, kept);
    if(last)
      break;
  }
  return DP_B64_OK;
}

enum dp_b64_result dpi_b64url_encode(const void *data, size_t len, struct dp_buf *out)
{
  size_t start = out->len;
  enum dp_b64_result rc = dpi_b64_encode(data, len, out);
  if(rc != DP_B64_OK)
    return rc;
  size_t w = start;
  for(size_t i = start; i < out->len; i++) {
    char c = out->mem[i];
    if(c == '=')
      continue;
    out->mem[w++] = c == '+' ? '-' : c == '/' ? '_' : c;
  }
  dpi_buf_truncate(out, w);
  return DP_B64_OK;
}

int dpi_b64_plausible(const void *data, size_t len)
{
  pthread_once(&table_once, build_table);
  const unsigned char *p = data;
  size_t symbols = 0;
  for(size_t i = 0; i < len; i++) {
    unsigned char v = classify(p[i]);
    if(v == B_BAD)
      return 0;
    if(v < 64)
      symbols++;
  }
  return symbols >= 8;
}
