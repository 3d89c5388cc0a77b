/* micro.c - docpipe's own pieces timed alone (bench/run uses it).
 *
 *   docpipe-micro b64 FILE   decode the Base64 text in FILE ("-": stdin) as docpipe's
 *                            decode stage does, and write the bytes to stdout: a whole
 *                            process, to be timed like `base64 -d` */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "buf.h"

int main(int argc, char **argv)
{
  if(argc != 3 || strcmp(argv[1], "b64")) {
    fprintf(stderr, "usage: docpipe-micro b64 FILE\n");
    return 2;
  }
  FILE *f = strcmp(argv[2], "-") ? fopen(argv[2], "rb") : stdin;
  if(!f)
    return 1;
  struct dp_buf text, out;
  dpi_buf_init(&text, (size_t)4 << 30);
  dpi_buf_init(&out, (size_t)4 << 30);
  char chunk[1 << 16];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    dpi_buf_add(&text, chunk, n);
  if(f != stdin)
    fclose(f);
  int rc = dpi_b64_decode(text.mem, text.len, &out, NULL) != DP_B64_OK ||
           fwrite(out.mem, 1, out.len, stdout) != out.len;
  dpi_buf_free(&text);
  dpi_buf_free(&out);
  return rc;
}
