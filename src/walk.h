/* walk.h - the one walker of folder trees (fts(3)), for every part of
 * docpipe that reads a folder: the files stage, progress (measuring the
 * work ahead), resolve --binaries folders and the listing of pipeline
 * folders.
 *
 * What they must agree on lives here, so no comment has to keep them in
 * step: a folder's entries come in name order (strcmp: runs repeat), depth
 * first; entries below the root whose name starts with '.' are skipped,
 * hidden folders not entered; symbolic links below the root are reported
 * as links and never followed (no loops), while the root itself is
 * followed.  What to do with an entry, and how deep to go, is the caller's:
 * it answers DP_WALK_SKIP for a folder it will not enter. */
#ifndef DP_WALK_H
#define DP_WALK_H

#include <sys/stat.h>

enum dp_walk_type {
  DP_WALK_DIR,        /* a folder, met before its entries */
  DP_WALK_FILE,       /* a regular file */
  DP_WALK_LINK,       /* a symbolic link (at the root: one that leads nowhere) */
  DP_WALK_OTHER,      /* a FIFO, socket or device */
  DP_WALK_UNREADABLE, /* a folder met before whose entries cannot be read (err) */
  DP_WALK_UNKNOWN     /* stat failed (err): gone, or not allowed */
};

struct dp_walk_entry {
  const char *path; /* the root as given, then "/name" for each level */
  const char *name; /* the last part of path */
  int depth;        /* 0: the root */
  enum dp_walk_type type;
  int err;                /* errno, for DP_WALK_UNREADABLE and DP_WALK_UNKNOWN */
  const struct stat *sb;  /* lstat below the root, stat at it; NULL for UNKNOWN */
};

enum dp_walk_next {
  DP_WALK_GO,   /* on (into the folder, for DP_WALK_DIR) */
  DP_WALK_SKIP, /* a folder: do not enter it */
  DP_WALK_STOP  /* end the walk */
};

typedef enum dp_walk_next (*dp_walk_fn)(void *user, const struct dp_walk_entry *e);

/* Call fn for root and for every entry below it, as described above.
 * 0 when the walk is done, 1 when fn stopped it, -1 when it could not go
 * on (errno: out of memory; ENOENT for an empty root). */
int dpi_walk(const char *root, dp_walk_fn fn, void *user);

#endif
