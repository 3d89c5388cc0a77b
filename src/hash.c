/* hash.c - see hash.h */
#include "hash.h"

#include <openssl/evp.h>
#include <string.h>

#include "b64.h"
#include "buf.h"

static int digest(const EVP_MD *md, const void *data, size_t len, unsigned char *out,
                  unsigned *outlen)
{
  return EVP_Digest(data, len, out, outlen, md, NULL) == 1 ? 0 : -1;
}

int dpi_sha256_hex(const void *data, size_t len, char hex[65])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if(digest(EVP_sha256(), data, len, md, &n) || n != 32)
    return -1;
  static const char digits[] = "0123456789abcdef";
  for(unsigned i = 0; i < n; i++) {
    hex[2 * i] = digits[md[i] >> 4];
    hex[2 * i + 1] = digits[md[i] & 15];
  }
  hex[64] = '\0';
  return 0;
}

int dpi_sha1_b64(const void *data, size_t len, char b64[29])
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  if(digest(EVP_sha1(), data, len, md, &n) || n != 20)
    return -1;
  struct dp_buf text;
  dpi_buf_init(&text, 64);
  int rc = dpi_b64_encode(md, n, &text) == DP_B64_OK && text.len == 28 ? 0 : -1;
  if(!rc)
    memcpy(b64, text.mem, 29); /* 20 bytes are 28 characters plus the NUL */
  dpi_buf_free(&text);
  return rc;
}
