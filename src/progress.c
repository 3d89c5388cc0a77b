/* progress.c - see progress.h */
#include "progress.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "dplimits.h"
#include "errors.h"
#include "walk.h"

enum plan { PLAN_NONE, PLAN_BYTES, PLAN_FILES };

struct dp_progress {
  FILE *f;
  int live;
  double interval;
  dp_progress_counts_fn counts;
  void *user;
  struct timespec start;
  pthread_t thread;
  pthread_mutex_t lock; /* guards stop, paths and writing to f */
  pthread_cond_t cv;
  int stop;
  int drawn; /* a live line is on the screen */
  char **paths; /* to measure for PLAN_BYTES */
  size_t npaths;
  atomic_ullong bytes, files_done, total;
  atomic_int plan;
};

/* ---- measuring the input ---------------------------------------------- */

/* Bytes of the regular files under a folder; links are not followed (a
 * link to a file counts nothing) and hidden entries are skipped, as by the
 * files stage (walk.h). */
static enum dp_walk_next add_size(void *user, const struct dp_walk_entry *e)
{
  long long *sum = user;
  if(e->depth == 0 && (e->type == DP_WALK_LINK || e->type == DP_WALK_UNKNOWN)) {
    *sum = -1; /* a root that cannot be known: a missing path, a dead link */
    return DP_WALK_STOP;
  }
  if(e->type == DP_WALK_DIR && e->depth > DP_MAX_WALK_DEPTH)
    return DP_WALK_SKIP;
  if(e->type == DP_WALK_FILE)
    *sum += (long long)e->sb->st_size;
  return DP_WALK_GO;
}

/* Bytes under path; -1 when it cannot be known (stdin, a missing path). */
static long long measure(const char *path)
{
  long long sum = 0;
  if(!strcmp(path, "-") || dpi_walk(path, add_size, &sum) < 0)
    return -1;
  return sum;
}

/* ---- the line --------------------------------------------------------- */

static void human_bytes(char *buf, size_t len, unsigned long long n)
{
  static const char *const units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = (double)n;
  int u = 0;
  while(v >= 1000 && u < 4) {
    v /= 1000;
    u++;
  }
  snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

static void clock_text(char *buf, size_t len, double seconds)
{
  unsigned long s = (unsigned long)(seconds + 0.5);
  snprintf(buf, len, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
}

void dpi_progress_render(char *buf, size_t len, const struct dp_counts *c, double seconds,
                         unsigned long long bytes, double fraction)
{
  struct dp_buf line;
  dpi_buf_init(&line, 4096);
  unsigned long docs = c->emitted + c->failed;
  char size[32];
  human_bytes(size, sizeof(size), bytes);
  double rate = seconds > 0 ? (double)docs / seconds : 0.0;
  dpi_buf_addf(&line, rate < 10 ? "docpipe: %lu docs  %.1f/s  %s" : "docpipe: %lu docs  %.0f/s  %s",
               docs, rate, size);
  if(c->failed) {
    dpi_buf_addf(&line, "  %lu error%s", c->failed, c->failed == 1 ? "" : "s");
    const char *sep = " (";
    int shown = 0;
    for(int k = 0; k < DP_KIND_COUNT; k++) {
      if(!c->by_kind[k])
        continue;
      if(shown++ == 3) {
        dpi_buf_addf(&line, ", ...");
        break;
      }
      dpi_buf_addf(&line, "%s%s %lu", sep, dpi_kind_name((enum dp_kind)k), c->by_kind[k]);
      sep = ", ";
    }
    dpi_buf_addc(&line, ')');
  }
  if(c->other_shard)
    dpi_buf_addf(&line, "  %lu for other shards", c->other_shard);
  /* Converted, but written only after an earlier document still in work:
   * says why the count of docs stands still behind a slow one. */
  if(c->held)
    dpi_buf_addf(&line, "  %lu held back", c->held);
  if(fraction >= 0) {
    if(fraction > 1)
      fraction = 1;
    dpi_buf_addf(&line, "  %.0f%%", fraction * 100);
    if(fraction >= 0.01 && fraction < 1) {
      char eta[32];
      clock_text(eta, sizeof(eta), seconds * (1 - fraction) / fraction);
      dpi_buf_addf(&line, "  ETA %s", eta);
    }
  }
  /* Cut to the caller's buffer. */
  snprintf(buf, len, "%.*s", (int)line.len, line.mem ? line.mem : "");
  dpi_buf_free(&line);
}

static double elapsed(const struct dp_progress *p)
{
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - p->start.tv_sec) + (double)(now.tv_nsec - p->start.tv_nsec) / 1e9;
}

static double fraction(struct dp_progress *p)
{
  unsigned long long total = atomic_load(&p->total);
  switch(atomic_load(&p->plan)) {
  case PLAN_BYTES:
    return total ? (double)atomic_load(&p->bytes) / (double)total : -1;
  case PLAN_FILES:
    return total ? (double)atomic_load(&p->files_done) / (double)total : -1;
  default:
    return -1;
  }
}

/* Callers hold the lock. */
static void draw(struct dp_progress *p)
{
  struct dp_counts c;
  memset(&c, 0, sizeof(c));
  p->counts(p->user, &c);
  char line[256];
  dpi_progress_render(line, sizeof(line), &c, elapsed(p), atomic_load(&p->bytes), fraction(p));
  if(p->live) {
    fprintf(p->f, "\r%s\033[K", line);
    p->drawn = 1;
  } else {
    fprintf(p->f, "%s\n", line);
  }
  fflush(p->f);
}

static void erase(struct dp_progress *p)
{
  if(p->live && p->drawn) {
    fputs("\r\033[K", p->f);
    fflush(p->f);
    p->drawn = 0;
  }
}

static void *progress_main(void *arg)
{
  struct dp_progress *p = arg;
  pthread_mutex_lock(&p->lock);
  while(!p->stop) {
    if(p->npaths) {
      /* Measure the input once, without the lock (stat of a large tree). */
      char **paths = p->paths;
      size_t n = p->npaths;
      p->paths = NULL;
      p->npaths = 0;
      pthread_mutex_unlock(&p->lock);
      long long sum = 0;
      for(size_t i = 0; i < n; i++) {
        long long b = sum >= 0 ? measure(paths[i]) : -1;
        sum = b < 0 ? -1 : sum + b;
        free(paths[i]);
      }
      free(paths);
      if(sum > 0) {
        atomic_store(&p->total, (unsigned long long)sum);
        atomic_store(&p->plan, PLAN_BYTES);
      }
      pthread_mutex_lock(&p->lock);
      continue;
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    double wait = p->interval;
    until.tv_sec += (time_t)wait;
    until.tv_nsec += (long)((wait - (double)(time_t)wait) * 1e9);
    if(until.tv_nsec >= 1000000000L) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000L;
    }
    while(!p->stop && pthread_cond_timedwait(&p->cv, &p->lock, &until) == 0)
      ;
    if(!p->stop)
      draw(p);
  }
  erase(p);
  pthread_mutex_unlock(&p->lock);
  return NULL;
}

struct dp_progress *dpi_progress_start(FILE *f, int live, double interval,
                                       dp_progress_counts_fn counts, void *user)
{
  struct dp_progress *p = calloc(1, sizeof(*p));
  if(!p)
    return NULL;
  p->f = f;
  p->live = live;
  p->interval = interval > 0 ? interval : 1;
  p->counts = counts;
  p->user = user;
  clock_gettime(CLOCK_MONOTONIC, &p->start);
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->cv, NULL);
  atomic_init(&p->bytes, 0);
  atomic_init(&p->files_done, 0);
  atomic_init(&p->total, 0);
  atomic_init(&p->plan, PLAN_NONE);
  if(pthread_create(&p->thread, NULL, progress_main, p)) {
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->lock);
    free(p);
    return NULL;
  }
  return p;
}

void dpi_progress_stop(struct dp_progress *p)
{
  if(!p)
    return;
  pthread_mutex_lock(&p->lock);
  p->stop = 1;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->lock);
  pthread_join(p->thread, NULL);
  for(size_t i = 0; i < p->npaths; i++)
    free(p->paths[i]);
  free(p->paths);
  pthread_cond_destroy(&p->cv);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

void dpi_progress_read(struct dp_progress *p, unsigned long long bytes)
{
  if(p)
    atomic_fetch_add(&p->bytes, bytes);
}

void dpi_progress_plan_paths(struct dp_progress *p, const char *const *paths, size_t n)
{
  if(!p || !n)
    return;
  char **copy = calloc(n, sizeof(*copy));
  if(!copy)
    return;
  for(size_t i = 0; i < n; i++) {
    if(!(copy[i] = strdup(paths[i]))) {
      while(i--)
        free(copy[i]);
      free(copy);
      return;
    }
  }
  pthread_mutex_lock(&p->lock);
  p->paths = copy;
  p->npaths = n;
  pthread_cond_signal(&p->cv);
  pthread_mutex_unlock(&p->lock);
}

void dpi_progress_plan_files(struct dp_progress *p, unsigned long long files)
{
  if(!p)
    return;
  atomic_store(&p->total, files);
  atomic_store(&p->files_done, 0);
  atomic_store(&p->plan, PLAN_FILES);
}

void dpi_progress_plan_more_files(struct dp_progress *p, unsigned long long files)
{
  if(!p)
    return;
  atomic_fetch_add(&p->total, files);
  atomic_store(&p->plan, PLAN_FILES);
}

void dpi_progress_file_done(struct dp_progress *p)
{
  if(p)
    atomic_fetch_add(&p->files_done, 1);
}

void dpi_progress_hold(struct dp_progress *p)
{
  if(!p || !p->live)
    return;
  pthread_mutex_lock(&p->lock);
  erase(p);
}

void dpi_progress_release(struct dp_progress *p)
{
  if(p && p->live)
    pthread_mutex_unlock(&p->lock);
}

void dpi_progress_say(struct dp_progress *p, const char *fmt, ...)
{
  if(!p)
    return; /* no progress line, nowhere to write: the library never prints */
  va_list ap;
  va_start(ap, fmt);
  pthread_mutex_lock(&p->lock);
  erase(p);
  fputs("docpipe: ", p->f);
  vfprintf(p->f, fmt, ap);
  fputc('\n', p->f);
  fflush(p->f);
  pthread_mutex_unlock(&p->lock);
  va_end(ap);
}
