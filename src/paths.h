/* paths.h - where docpipe finds its own files at run time: the pipelines
 * folder, and for the library the docpipe program that runs extraction
 * helpers.
 *
 * An installed tree may have been moved as a whole (cmake --install --prefix,
 * a package unpacked elsewhere), so paths relative to the running program
 * and to the library that holds this code come before the ones compiled in;
 * the source tree comes last, so that a build tree works as it is.  CMake
 * compiles the install layout in (the DP_* definitions of paths.c). */
#ifndef DP_PATHS_H
#define DP_PATHS_H

#include <stddef.h>

#define DP_PATH_MAX 4096
#define DP_PIPELINE_DIRS 5

/* The folders searched for pipelines and their data, in order:
 * $DOCPIPE_PIPELINE_DIR; share/docpipe/pipelines beside the running
 * program's bin/; the same beside the library's lib/; the install datadir;
 * the source tree's pipelines/.  Without duplicates; they need not exist.
 * Returns how many were filled (at most DP_PIPELINE_DIRS). */
size_t dpi_pipeline_dirs(char dirs[][DP_PATH_MAX]);

/* The docpipe program installed with the library (bin/ beside its lib/, else
 * the install bindir), which runs the extraction helpers of a program that
 * embeds the library.  0 and its path, or -1 with the places looked at in
 * path ("A, B"). */
int dpi_installed_program(char *path, size_t len);

#endif
