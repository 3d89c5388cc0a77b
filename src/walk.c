/* walk.c - see walk.h */
#include "walk.h"

#include <errno.h>
#include <fts.h>
#include <string.h>

static int by_name(const FTSENT **a, const FTSENT **b)
{
  return strcmp((*a)->fts_name, (*b)->fts_name);
}

/* What fts says an entry is, in walk.h's terms; -1 for what is not shown
 * (a folder met again after its entries, a folder loop). */
static int type_of(const FTSENT *e)
{
  switch(e->fts_info) {
  case FTS_D:
    return DP_WALK_DIR;
  case FTS_F:
    return DP_WALK_FILE;
  case FTS_SL:
  case FTS_SLNONE:
    return DP_WALK_LINK;
  case FTS_DEFAULT:
    return DP_WALK_OTHER;
  case FTS_DNR:
  case FTS_ERR:
    return DP_WALK_UNREADABLE;
  case FTS_NS:
    return DP_WALK_UNKNOWN;
  default: /* FTS_DP, FTS_DC, FTS_DOT */
    return -1;
  }
}

int dpi_walk(const char *root, dp_walk_fn fn, void *user)
{
  char *roots[] = {(char *)root, NULL};
  /* Paths, not chdir: entries stay valid for the caller to open. */
  FTS *fts = fts_open(roots, FTS_PHYSICAL | FTS_COMFOLLOW | FTS_NOCHDIR, by_name);
  if(!fts)
    return -1;
  int rc = 0;
  FTSENT *e;
  errno = 0;
  while((e = fts_read(fts))) {
    int type = type_of(e);
    if(type < 0)
      continue;
    if(e->fts_level > 0 && e->fts_name[0] == '.') {
      if(type == DP_WALK_DIR)
        fts_set(fts, e, FTS_SKIP);
      continue;
    }
    struct dp_walk_entry we = {e->fts_path, e->fts_name, (int)e->fts_level,
                               (enum dp_walk_type)type, e->fts_errno,
                               type == DP_WALK_UNKNOWN ? NULL : e->fts_statp};
    enum dp_walk_next next = fn(user, &we);
    if(next == DP_WALK_STOP) {
      rc = 1;
      break;
    }
    if(next == DP_WALK_SKIP && type == DP_WALK_DIR)
      fts_set(fts, e, FTS_SKIP);
    errno = 0;
  }
  if(!e && errno)
    rc = -1;
  int saved = errno;
  fts_close(fts);
  errno = saved;
  return rc;
}
