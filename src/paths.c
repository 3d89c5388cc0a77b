/* paths.c - see paths.h
 *
 * CMake defines, for this file only:
 *   DP_BINDIR_TO_PIPELINES  the pipelines folder relative to the install bindir
 *   DP_LIBDIR_TO_PIPELINES  the same relative to the install libdir
 *   DP_LIBDIR_TO_BINDIR     the bindir relative to the libdir
 *   DP_INSTALL_PIPELINES    the pipelines folder of the configured prefix
 *   DP_INSTALL_BINDIR       the bindir of the configured prefix
 *   DP_SOURCE_PIPELINES     the source tree's pipelines/ */
#define _GNU_SOURCE 1 /* dladdr */
#include "paths.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Any object of this file: dladdr names the file it was loaded from. */
static const char anchor;

/* Cut a file name to its folder. */
static int dir_of(const char *file, char *dir, size_t len)
{
  const char *slash = strrchr(file, '/');
  if(!slash || (size_t)(slash - file) >= len)
    return -1;
  memcpy(dir, file, (size_t)(slash - file));
  dir[slash - file] = '\0';
  return 0;
}

static int program_dir(char *dir, size_t len)
{
  char exe[DP_PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if(n <= 0)
    return -1;
  exe[n] = '\0';
  return dir_of(exe, dir, len);
}

/* The folder of the shared library holding this code; the program's own
 * folder when it is linked in statically. */
static int library_dir(char *dir, size_t len)
{
  Dl_info info;
  char real[PATH_MAX];
  if(!dladdr(&anchor, &info) || !info.dli_fname || info.dli_fname[0] != '/' ||
     !realpath(info.dli_fname, real))
    return program_dir(dir, len); /* the main program is not always named */
  return dir_of(real, dir, len);
}

/* base/rel (or base), made canonical when it exists, unless already listed.
 * A leading "../" of rel takes a folder off base (which has no symbolic
 * links: it comes from realpath or /proc/self/exe), so that even a folder
 * that does not exist is named plainly in messages. */
static void add(char dirs[][DP_PATH_MAX], size_t *n, const char *base, const char *rel)
{
  char path[DP_PATH_MAX], real[PATH_MAX];
  if(*n >= DP_PIPELINE_DIRS || !base || !*base)
    return;
  size_t bl = strlen(base);
  while(rel && !strncmp(rel, "../", 3)) {
    const char *slash = bl ? memrchr(base, '/', bl) : NULL;
    if(!slash || slash == base)
      break;
    bl = (size_t)(slash - base);
    rel += 3;
  }
  int w = rel ? snprintf(path, sizeof(path), "%.*s/%s", (int)bl, base, rel)
              : snprintf(path, sizeof(path), "%s", base);
  if(w < 0 || (size_t)w >= sizeof(path))
    return;
  const char *use = realpath(path, real) && strlen(real) < DP_PATH_MAX ? real : path;
  for(size_t i = 0; i < *n; i++)
    if(!strcmp(dirs[i], use))
      return;
  snprintf(dirs[(*n)++], DP_PATH_MAX, "%s", use);
}

size_t dpi_pipeline_dirs(char dirs[][DP_PATH_MAX])
{
  size_t n = 0;
  char base[DP_PATH_MAX];
  add(dirs, &n, getenv("DOCPIPE_PIPELINE_DIR"), NULL);
  if(!program_dir(base, sizeof(base)))
    add(dirs, &n, base, DP_BINDIR_TO_PIPELINES);
  if(!library_dir(base, sizeof(base)))
    add(dirs, &n, base, DP_LIBDIR_TO_PIPELINES);
  add(dirs, &n, DP_INSTALL_PIPELINES, NULL);
  add(dirs, &n, DP_SOURCE_PIPELINES, NULL);
  return n;
}

int dpi_installed_program(char *path, size_t len)
{
  char base[DP_PATH_MAX], cand[2][DP_PATH_MAX], real[PATH_MAX];
  size_t n = 0;
  if(!library_dir(base, sizeof(base)) &&
     (size_t)snprintf(cand[n], DP_PATH_MAX, "%s/%s/docpipe", base, DP_LIBDIR_TO_BINDIR) <
       DP_PATH_MAX)
    n++;
  snprintf(cand[n++], DP_PATH_MAX, "%s/docpipe", DP_INSTALL_BINDIR);
  for(size_t i = 0; i < n; i++) {
    if(access(cand[i], X_OK) || !realpath(cand[i], real) || strlen(real) >= len)
      continue;
    memcpy(path, real, strlen(real) + 1);
    return 0;
  }
  if(snprintf(path, len, "%s%s%s", cand[0], n > 1 ? ", " : "", n > 1 ? cand[1] : "") < 0)
    path[0] = '\0';
  return -1;
}
