/* micro.c - docpipe's own pieces timed alone (bench/run uses it).
 *
 *   docpipe-micro b64 FILE   decode the Base64 text in FILE; prints bytes and seconds */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64.h"
#include "buf.h"

static double now(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
  if(argc != 3 || strcmp(argv[1], "b64")) {
    fprintf(stderr, "usage: docpipe-micro b64 FILE\n");
    return 2;
  }
  FILE *f = fopen(argv[2], "rb");
  if(!f)
    return 1;
  struct dp_buf text, out;
  dpi_buf_init(&text, (size_t)4 << 30);
  dpi_buf_init(&out, (size_t)4 << 30);
  char chunk[1 << 16];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    dpi_buf_add(&text, chunk, n);
  fclose(f);
  /* Size the output first: the timing is the decoder, not realloc. */
  dpi_buf_reserve(&out, text.len);
  double a = now();
  if(dpi_b64_decode(text.mem, text.len, &out, NULL) != DP_B64_OK)
    return 1;
  double b = now();
  printf("%zu %.6f\n", out.len, b - a);
  dpi_buf_free(&text);
  dpi_buf_free(&out);
  return 0;
}
