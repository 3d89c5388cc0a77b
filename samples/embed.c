/* embed.c - docpipe inside another program: `docpipe convert` in a page.
 *
 * Converts the files and folders named on the command line (or, with none,
 * one path per line of stdin) with the raw-files pipeline, records to stdout
 * and error records to stderr, and exits like docpipe: 0 when every document
 * converted, 1 when some failed, 2 when the run could not go on.
 *
 * Build against the installed library:
 *
 *     cc embed.c $(pkg-config --cflags --libs docpipe) -o embed
 *     cc embed.c $(pkg-config --cflags --static --libs docpipe) -o embed   # static
 *
 * (PKG_CONFIG_PATH=PREFIX/lib/pkgconfig for a prefix pkg-config does not
 * search; for the static build with the shared library installed beside
 * libdocpipe.a, use -l:libdocpipe.a in place of -ldocpipe.) */
#include <docpipe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Called on docpipe's writer thread, one line at a time, in input order. */
static int print_line(const char *line, size_t len, void *user)
{
  FILE *f = user;
  if(fwrite(line, 1, len, f) != len || putc('\n', f) == EOF)
    return 1; /* output gone: stop the run */
  return 0;
}

int main(int argc, char **argv)
{
  struct docpipe *p = docpipe_new();
  if(!p) {
    fprintf(stderr, "embed: out of memory\n");
    return 2;
  }
  int rc = docpipe_open(p, "raw-files");
  if(!rc)
    rc = docpipe_on_record(p, print_line, stdout);
  if(!rc)
    rc = docpipe_on_error(p, print_line, stderr);
  for(int i = 1; i < argc && !rc; i++)
    rc = docpipe_push_path(p, argv[i]);
  if(argc < 2) {
    char line[4096];
    while(!rc && fgets(line, sizeof(line), stdin))
      rc = docpipe_push(p, line, strcspn(line, "\r\n"));
  }
  struct docpipe_counts counts;
  if(!rc)
    rc = docpipe_finish(p, &counts);
  if(rc) {
    fprintf(stderr, "embed: %s: %s\n", docpipe_strerror(rc), docpipe_last_error(p));
    docpipe_free(p);
    return 2;
  }
  fprintf(stderr, "embed: %lu documents: %lu converted, %lu failed\n", counts.documents,
          counts.converted, counts.failed);
  docpipe_free(p);
  if(fflush(stdout)) {
    fprintf(stderr, "embed: cannot write the records\n");
    return 2;
  }
  return counts.failed ? 1 : 0;
}
