/* b64.c - see b64.h */
#include "b64.h"

#include <b64/cdecode.h>
#include <b64/cencode.h>
#include <string.h>

/* 0..63 for alphabet characters (both alphabets), WS for whitespace, PAD for
 * '=', BAD otherwise. */
enum { B_BAD = 0xff, B_WS = 0xfe, B_PAD = 0xfd };

static unsigned char classify(unsigned char c)
{
  if(c >= 'A' && c <= 'Z')
    return (unsigned char)(c - 'A');
  if(c >= 'a' && c <= 'z')
    return (unsigned char)(c - 'a' + 26);
  if(c >= '0' && c <= '9')
    return (unsigned char)(c - '0' + 52);
  switch(c) {
  case '+': case '-': return 62;
  case '/': case '_': return 63;
  case '=': return B_PAD;
  case ' ': case '\t': case '\r': case '\n': case '\f': case '\v': return B_WS;
  default: return B_BAD;
  }
}

/* Standard-alphabet character for a 6-bit value, so libb64 sees one alphabet. */
static const char std_alphabet[] =
  "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#define CHUNK 65536

enum dp_b64_result dpi_b64_decode(const char *text, size_t len, struct dp_buf *out,
                                  size_t *bad_at)
{
  base64_decodestate st;
  base64_init_decodestate(&st);
  char chunk[CHUNK];
  size_t fill = 0, symbols = 0, pads = 0;
  const unsigned char *p = (const unsigned char *)text;

  for(size_t i = 0; i < len; i++) {
    unsigned char v = classify(p[i]);
    if(v == B_WS)
      continue;
    if(v == B_PAD) {
      pads++;
      if(pads > 2) {
        if(bad_at)
          *bad_at = i;
        return DP_B64_INVALID;
      }
      continue;
    }
    if(v == B_BAD || pads) { /* data after padding is not Base64 */
      if(bad_at)
        *bad_at = i;
      return DP_B64_INVALID;
    }
    chunk[fill++] = std_alphabet[v];
    symbols++;
    if(fill == CHUNK) {
      /* 4 symbols give 3 bytes; libb64 keeps partial groups in its state. */
      char *w = dpi_buf_reserve(out, CHUNK / 4 * 3 + 3);
      if(!w)
        return out->state == DP_BUF_TOO_BIG ? DP_B64_TOO_BIG : DP_B64_NOMEM;
      dpi_buf_commit(out, (size_t)base64_decode_block(chunk, (int)fill, w, &st));
      fill = 0;
    }
  }
  /* One leftover symbol cannot encode a byte; padding must complete a group. */
  if(symbols % 4 == 1 || (pads && (symbols + pads) % 4 != 0)) {
    if(bad_at)
      *bad_at = len;
    return DP_B64_INVALID;
  }
  char *w = dpi_buf_reserve(out, fill / 4 * 3 + 3);
  if(!w)
    return out->state == DP_BUF_TOO_BIG ? DP_B64_TOO_BIG : DP_B64_NOMEM;
  dpi_buf_commit(out, fill ? (size_t)base64_decode_block(chunk, (int)fill, w, &st) : 0);
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
