/* standalone.c - run a fuzz target over files and folders of inputs, without
 * libFuzzer: the seed corpus and every crash ever found are regression
 * tests in every build (under the sanitizers in CI). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Sanitizer builds: unwind every allocation the slow way, so that a leak
 * inside a library built without frame pointers (libgsf) shows the library
 * function that tests/lsan.supp names.  ASAN_OPTIONS still wins. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
  return "fast_unwind_on_malloc=0";
}

static int by_name(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path, unsigned long *count)
{
  FILE *f = fopen(path, "rb");
  if(!f) {
    perror(path);
    return 1;
  }
  size_t cap = 1 << 16, len = 0, n;
  unsigned char *data = malloc(cap);
  while(data && (n = fread(data + len, 1, cap - len, f)) > 0) {
    len += n;
    if(len == cap) {
      unsigned char *m = realloc(data, cap *= 2);
      if(!m)
        break;
      data = m;
    }
  }
  fclose(f);
  if(!data)
    return 1;
  LLVMFuzzerTestOneInput(data, len);
  free(data);
  (*count)++;
  return 0;
}

static int run_path(const char *path, unsigned long *count)
{
  struct stat sb;
  if(stat(path, &sb)) {
    perror(path); /* a seed or crash folder that is not there replays nothing */
    return 1;
  }
  if(!S_ISDIR(sb.st_mode))
    return run_file(path, count);
  DIR *d = opendir(path);
  if(!d)
    return 1;
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  while((e = readdir(d)))
    if(e->d_name[0] != '.') {
      names = realloc(names, (n + 1) * sizeof(*names));
      names[n++] = strdup(e->d_name);
    }
  closedir(d);
  if(n)
    qsort(names, n, sizeof(*names), by_name);
  int rc = 0;
  for(size_t i = 0; i < n; i++) {
    char full[4096];
    snprintf(full, sizeof(full), "%s/%s", path, names[i]);
    rc |= run_path(full, count);
    free(names[i]);
  }
  free(names);
  return rc;
}

int main(int argc, char **argv)
{
  unsigned long count = 0;
  int rc = 0;
  for(int i = 1; i < argc; i++)
    rc |= run_path(argv[i], &count);
  printf("%s: %lu inputs ran\n", argv[0], count);
  if(count == 0) {
    fprintf(stderr, "%s: no input ran\n", argv[0]);
    return 1;
  }
  return rc;
}
