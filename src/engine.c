/* engine.c - see engine.h */
#include "engine.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "dplimits.h"
#include "progress.h"

enum slot_state { SLOT_PENDING, SLOT_EMPTY, SLOT_READY };

/* One place in the output order. */
struct slot {
  struct slot *prev, *next;
  enum slot_state state;
  int is_error;
  int is_deletion; /* a deletion line (record.h), counted apart */
  int no_text;     /* a scan whose OCR found no text (record.h), counted too */
  enum dp_kind kind;
  char *line; /* READY: the NDJSON line, '\n' included */
  size_t len;
  unsigned long input; /* an input's own slot (its last): its number, else 0 */
  struct dp_input_filter *filter; /* what to write (engine.h); owned by the input's slot */
};

struct task {
  struct task *next;
  struct dp_record *rec;
  size_t stage;
  struct slot *slot;
};

struct dp_engine {
  struct dp_chain *chain;
  struct dp_engine_options opt;
  pthread_mutex_t lock;
  pthread_cond_t work_cv;  /* a task is queued, or shutdown */
  pthread_cond_t write_cv; /* a slot became ready, or input ended */
  pthread_cond_t room_cv;  /* the window or the queue has room, the head moved, or
                              a task a waiter may run was queued */
  struct task *qhead, *qtail;
  size_t qlen, max_queue;
  struct slot *head, *tail;
  /* The ordered writer's window (see window_full): live slots, and the
   * ready lines not yet written, held behind a slot still in work. */
  size_t live, max_live;
  size_t held, max_held;
  size_t held_bytes;
  unsigned room_waiters;
  int input_done, shutdown, fatal;
  pthread_t *workers;
  unsigned nworkers;
  pthread_t writer;
  struct dp_counts counts;
  int shard_at_input;           /* shard inputs as they come in (shard.h) */
  struct dp_progress *progress; /* its live line is erased around our lines */
  int to_terminal;              /* records or errors go to a terminal */
  unsigned long submitted;      /* inputs handed in */
  unsigned long inputs_written; /* inputs whose every line is written */
  unsigned long inputs_settled; /* inputs_written when the writer last forced a checkpoint */
};

/* What a stage emits while it runs one task. */
struct task_emitter {
  struct dp_emitter base;
  struct dp_engine *e;
  size_t stage;
  struct slot *parent;
  unsigned long outputs;
};

static void run_task(struct dp_engine *e, struct dp_record *rec, size_t stage, struct slot *slot);
static void slot_settle(struct dp_engine *e, struct slot *s, enum slot_state state, char *line,
                        size_t len, int is_error, enum dp_kind kind);

/* ---- what is kept --------------------------------------------------- */

/* Is rec this shard's?  Pure: callers may hold the lock. */
static int shard_keeps(const struct dp_engine *e, const struct dp_record *rec)
{
  return !e->opt.shard || dpi_shard_keeps(e->opt.shard, rec);
}

/* Callers hold no lock.  A record of another shard still took a slot (s,
 * unless it was refused before it had one), so that inputs are counted
 * alike in every shard (checkpoints, resume). */
static void leave_to_other_shard(struct dp_engine *e, struct slot *s, struct dp_record *rec)
{
  pthread_mutex_lock(&e->lock);
  e->counts.other_shard++;
  pthread_mutex_unlock(&e->lock);
  dpi_record_free(rec);
  if(s)
    slot_settle(e, s, SLOT_EMPTY, NULL, 0, 0, DP_KIND_NONE);
}

/* Does the input's filter (a retry) refuse rec? */
static int filtered_out(const struct slot *s, const struct dp_record *rec)
{
  return s->filter && !s->filter->keeps(s->filter, rec);
}

static void filter_free(struct dp_input_filter *f)
{
  if(f)
    f->free(f);
}

/* ---- slots ------------------------------------------------------------ */

/* Callers hold the lock. */
static struct slot *slot_before(struct dp_engine *e, struct slot *at)
{
  struct slot *s = calloc(1, sizeof(*s));
  if(!s)
    return NULL;
  s->next = at;
  s->prev = at->prev;
  if(at->prev)
    at->prev->next = s;
  else
    e->head = s;
  at->prev = s;
  e->live++;
  return s;
}

static struct slot *slot_append(struct dp_engine *e)
{
  struct slot *s = calloc(1, sizeof(*s));
  if(!s)
    return NULL;
  s->prev = e->tail;
  if(e->tail)
    e->tail->next = s;
  else
    e->head = s;
  e->tail = s;
  e->live++;
  return s;
}

/* Callers hold the lock.  Wake whoever waits for room (the producer, a
 * source stage in wait_for_room): something they wait on changed. */
static void room_changed(struct dp_engine *e)
{
  if(e->room_waiters)
    pthread_cond_broadcast(&e->room_cv);
}

/* Callers hold the lock.  Wait for room_changed. */
static void wait_room(struct dp_engine *e)
{
  e->room_waiters++;
  pthread_cond_wait(&e->room_cv, &e->lock);
  e->room_waiters--;
}

/* Callers hold the lock.  Nothing will be written for s: drop it now rather
 * than when the writer reaches it, so that slots a record left behind on its
 * way through the stages do not fill the window.  An input's own slot stays:
 * the writer counts inputs by it (checkpoints) and it owns the retry filter. */
static void slot_unlink(struct dp_engine *e, struct slot *s)
{
  if(s->prev)
    s->prev->next = s->next;
  else
    e->head = s->next;
  if(s->next)
    s->next->prev = s->prev;
  else
    e->tail = s->prev;
}

static void slot_drop(struct dp_engine *e, struct slot *s)
{
  slot_unlink(e, s);
  e->live--;
  free(s);
  room_changed(e);
}

static void slot_settle(struct dp_engine *e, struct slot *s, enum slot_state state, char *line,
                        size_t len, int is_error, enum dp_kind kind)
{
  pthread_mutex_lock(&e->lock);
  s->state = state;
  s->line = line;
  s->len = len;
  s->is_error = is_error;
  s->kind = kind;
  if(state == SLOT_READY) {
    e->held++;
    e->held_bytes += len;
  }
  if(s == e->head || e->opt.unordered)
    pthread_cond_signal(&e->write_cv);
  if(state == SLOT_EMPTY && !s->input)
    slot_drop(e, s);
  pthread_mutex_unlock(&e->lock);
}

/* Callers hold the lock.  Is the ordered writer's window full?  Lines that
 * are ready but wait for an earlier slot still in work (one slow document)
 * are held in memory: at most max_held of them (derived from -j) and
 * DP_ORDER_WINDOW_BYTES of their text, and at most max_live slots in all
 * (inputs that made nothing to write still hold one each).  Past that, no
 * new work is taken until the writer catches up: memory stays bounded, and
 * what is held is written at once when the slow document is done. */
static int window_full(const struct dp_engine *e)
{
  return e->held >= e->max_held || e->held_bytes >= DP_ORDER_WINDOW_BYTES ||
         e->live >= e->max_live;
}

/* Callers hold the lock.  Queue rec for stage; -1 when there is no memory
 * for the task. */
static int enqueue(struct dp_engine *e, struct dp_record *rec, size_t stage, struct slot *slot)
{
  struct task *t = malloc(sizeof(*t));
  if(!t)
    return -1;
  *t = (struct task){NULL, rec, stage, slot};
  if(e->qtail)
    e->qtail->next = t;
  else
    e->qhead = t;
  e->qtail = t;
  e->qlen++;
  pthread_cond_signal(&e->work_cv);
  if(stage)
    room_changed(e); /* a waiting source may run it (take_later_task) */
  return 0;
}

/* Callers hold the lock.  Unlink the first queued task of a stage after the
 * first, or NULL. */
static struct task *take_later_task(struct dp_engine *e)
{
  for(struct task *t = e->qhead, *prev = NULL; t; prev = t, t = t->next) {
    if(!t->stage)
      continue;
    if(prev)
      prev->next = t->next;
    else
      e->qhead = t->next;
    if(e->qtail == t)
      e->qtail = prev;
    e->qlen--;
    t->next = NULL;
    return t;
  }
  return NULL;
}

static void settle_record(struct dp_engine *e, struct slot *s, struct dp_record *rec)
{
  if(filtered_out(s, rec)) {
    pthread_mutex_lock(&e->lock);
    e->counts.filtered++;
    pthread_mutex_unlock(&e->lock);
    dpi_record_free(rec);
    slot_settle(e, s, SLOT_EMPTY, NULL, 0, 0, DP_KIND_NONE);
    return;
  }
  struct dp_buf b;
  dpi_buf_init(&b, (size_t)4 << 30);
  if(dpi_record_write(rec, &b)) {
    dpi_buf_free(&b);
    dpi_record_fail(rec, DP_KIND_TOO_LARGE, "record too large to write");
    rec->err_stage = "output";
    dpi_buf_init(&b, (size_t)1 << 20);
    dpi_record_write_error(rec, &b);
    size_t len;
    char *line = dpi_buf_take(&b, &len);
    slot_settle(e, s, SLOT_READY, line, len, 1, DP_KIND_TOO_LARGE);
  } else {
    size_t len;
    char *line = dpi_buf_take(&b, &len);
    /* Read by the writer once slot_settle has marked the slot ready, under
     * the lock. */
    s->is_deletion = dpi_record_is_deletion(rec);
    s->no_text = dpi_record_no_text(rec);
    slot_settle(e, s, SLOT_READY, line, len, 0, DP_KIND_NONE);
  }
  dpi_record_free(rec);
}

/* before_shard: rec has not been asked about its shard yet. */
static void settle_error(struct dp_engine *e, struct slot *s, struct dp_record *rec,
                         const char *stage, int before_shard)
{
  if(before_shard && !shard_keeps(e, rec)) {
    leave_to_other_shard(e, s, rec);
    return;
  }
  if(!rec->err_stage)
    rec->err_stage = stage;
  if(rec->err_kind == DP_KIND_NONE)
    rec->err_kind = DP_KIND_INTERNAL;
  struct dp_buf b;
  dpi_buf_init(&b, (size_t)1 << 20);
  dpi_record_write_error(rec, &b);
  size_t len;
  char *line = dpi_buf_take(&b, &len);
  slot_settle(e, s, SLOT_READY, line, len, 1, rec->err_kind);
  dpi_record_free(rec);
}

/* ---- stage output ------------------------------------------------------- */

static struct slot *child_slot(struct task_emitter *em)
{
  pthread_mutex_lock(&em->e->lock);
  struct slot *s = slot_before(em->e, em->parent);
  if(s)
    s->filter = em->parent->filter; /* the input's slot outlives its children's */
  pthread_mutex_unlock(&em->e->lock);
  return s;
}


/* A source stage (stage 0: a folder walk, a search, an export) may make any
 * number of documents from one input, so it waits here while the window is
 * full, as the producer does for inputs.  Deadlock-free: it never waits when
 * its own input's slot is the head (then nothing before it is left to
 * write), later stages never wait, and while it waits it runs their queued
 * tasks itself, so the slot at the head always has a thread working on it
 * even when every worker is a waiting source. */
static void wait_for_room(struct task_emitter *em)
{
  struct dp_engine *e = em->e;
  if(em->stage != 0)
    return;
  pthread_mutex_lock(&e->lock);
  while(window_full(e) && !e->fatal && e->head != em->parent) {
    struct task *t = take_later_task(e);
    if(t) {
      pthread_mutex_unlock(&e->lock);
      run_task(e, t->rec, t->stage, t->slot);
      free(t);
      pthread_mutex_lock(&e->lock);
      continue;
    }
    wait_room(e);
  }
  pthread_mutex_unlock(&e->lock);
}

static enum dp_status em_emit(struct dp_emitter *self, struct dp_record *rec)
{
  struct task_emitter *em = (struct task_emitter *)self;
  struct dp_engine *e = em->e;
  em->outputs++;
  if(em->stage == 0 && !e->shard_at_input && !shard_keeps(e, rec)) {
    leave_to_other_shard(e, NULL, rec);
    return DP_OK;
  }
  wait_for_room(em);
  struct slot *s = child_slot(em);
  if(!s) {
    dpi_record_free(rec);
    return DP_FATAL;
  }
  size_t next = em->stage + 1;
  if(next == e->chain->n) {
    settle_record(e, s, rec);
    return DP_OK;
  }
  pthread_mutex_lock(&e->lock);
  int queued = e->qlen < e->max_queue && !enqueue(e, rec, next, s);
  pthread_mutex_unlock(&e->lock);
  if(queued)
    return DP_OK;
  run_task(e, rec, next, s); /* queue full: go on depth-first in this thread */
  return e->fatal ? DP_FATAL : DP_OK;
}

static enum dp_status em_fail(struct dp_emitter *self, struct dp_record *rec)
{
  struct task_emitter *em = (struct task_emitter *)self;
  em->outputs++;
  wait_for_room(em);
  struct slot *s = child_slot(em);
  if(!s) {
    dpi_record_free(rec);
    return DP_FATAL;
  }
  settle_error(em->e, s, rec, em->e->chain->stages[em->stage].ops->name,
               em->stage == 0 && !em->e->shard_at_input);
  return DP_OK;
}

static void run_task(struct dp_engine *e, struct dp_record *rec, size_t stage, struct slot *slot)
{
  if(stage == e->chain->n) {
    settle_record(e, slot, rec);
    return;
  }
  struct dp_stage *st = &e->chain->stages[stage];
  struct task_emitter em = {{em_emit, em_fail}, e, stage, slot, 0};
  /* Keep the identity so a record a stage loses can still be reported.
   * Copies: once emitted, rec belongs to another thread, and json-c's
   * reference counts are not atomic. */
  json_object *id = NULL, *input = NULL;
  json_object_deep_copy(dpi_json_member(rec->obj, "id"), &id, NULL);
  json_object_deep_copy(dpi_json_member(rec->obj, "_input"), &input, NULL);
  /* A deletion line holds no document: only the stages that know what to
   * do with one see it (the output formats); the others hand it on as it
   * is. */
  int deletion = dpi_record_is_deletion(rec);
  enum dp_status rc = deletion && !(st->ops->flags & DP_STAGE_DELETIONS)
                          ? em_emit(&em.base, rec)
                          : st->ops->process(st, rec, &em.base);
  if(rc == DP_FAIL) {
    settle_error(e, slot, rec, st->ops->name, stage == 0 && !e->shard_at_input);
  } else if(rc == DP_OK && em.outputs == 0 && !(st->ops->flags & DP_STAGE_MAY_DROP) &&
            !deletion) {
    struct dp_record *lost = dpi_record_new();
    if(lost) {
      json_object_object_add(lost->obj, "id", json_object_get(id));
      json_object_object_add(lost->obj, "_input", json_object_get(input));
      dpi_record_fail(lost, DP_KIND_INTERNAL, "stage %s emitted nothing for this record",
                      st->ops->name);
      settle_error(e, slot, lost, st->ops->name, stage == 0 && !e->shard_at_input);
    } else {
      slot_settle(e, slot, SLOT_EMPTY, NULL, 0, 0, DP_KIND_NONE);
    }
  } else {
    if(rc == DP_FATAL) {
      pthread_mutex_lock(&e->lock);
      e->fatal = 1;
      pthread_mutex_unlock(&e->lock);
    }
    pthread_mutex_lock(&e->lock);
    if(rc == DP_OK && em.outputs == 0)
      e->counts.skipped++;
    pthread_mutex_unlock(&e->lock);
    slot_settle(e, slot, SLOT_EMPTY, NULL, 0, 0, DP_KIND_NONE);
  }
  json_object_put(id);
  json_object_put(input);
}

/* ---- the workers ------------------------------------------------------ */

static void *worker_main(void *arg)
{
  struct dp_engine *e = arg;
  pthread_mutex_lock(&e->lock);
  for(;;) {
    while(!e->qhead && !e->shutdown)
      pthread_cond_wait(&e->work_cv, &e->lock);
    if(!e->qhead)
      break;
    struct task *t = e->qhead;
    e->qhead = t->next;
    if(!e->qhead)
      e->qtail = NULL;
    e->qlen--;
    if(e->qlen <= e->max_queue / 2)
      room_changed(e); /* the producer refills the queue */
    pthread_mutex_unlock(&e->lock);
    run_task(e, t->rec, t->stage, t->slot);
    free(t);
    pthread_mutex_lock(&e->lock);
  }
  pthread_mutex_unlock(&e->lock);
  return NULL;
}

/* ---- output: files, or the sink ---------------------------------------- */

/* The text of a slot line by line to the sink (an output format may make
 * several lines of one record).  The text is ours and NUL-terminated: each
 * '\n' becomes its line's end. */
static int sink_lines(struct dp_engine *e, int is_error, char *text, size_t len)
{
  for(char *p = text, *end = text + len; p < end;) {
    char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
    p[n] = '\0';
    if(e->opt.sink(e->opt.sink_user, is_error, p, n))
      return -1;
    p += n + 1;
  }
  return 0;
}

/* Write a ready slot's text: to its FILE, or to the sink. */
static int write_text(struct dp_engine *e, struct slot *s)
{
  if(e->opt.sink)
    return sink_lines(e, s->is_error, s->line, s->len);
  FILE *f = s->is_error ? e->opt.errors : e->opt.out;
  return fwrite(s->line, 1, s->len, f) != s->len || (e->opt.unbuffered && fflush(f));
}

/* Tell the checkpoint how far the output is, when it moved (final: always). */
static void checkpoint(struct dp_engine *e, unsigned long before, int final)
{
  if(e->opt.checkpoint && (final || e->inputs_written != before))
    e->opt.checkpoint(e->opt.checkpoint_user, e->inputs_written, e->counts.failed, final);
}

/* ---- the ordered writer ------------------------------------------------ */

static void write_slot(struct dp_engine *e, struct slot *s)
{
  if(s->state == SLOT_READY) {
    if(!e->fatal && write_text(e, s))
      e->fatal = 1;
    if(s->is_error) {
      e->counts.failed++;
      e->counts.by_kind[s->kind]++;
    } else if(s->is_deletion) {
      e->counts.deleted++;
    } else {
      e->counts.emitted++;
      e->counts.no_text += (unsigned long)s->no_text;
    }
  }
  if(s->input)
    e->inputs_written = s->input;
  if(s->input)
    filter_free(s->filter);
  free(s->line);
  free(s);
}

/* Callers hold the lock.  A slot leaves the window for the writer. */
static void slot_taken(struct dp_engine *e, struct slot *s)
{
  if(s->state == SLOT_READY) {
    e->held--;
    e->held_bytes -= s->len;
  }
}

/* Callers hold the lock.  --unordered: unlink every slot that is done,
 * wherever it is, into a list; an input's own slot that holds a filter
 * stays until its children are written.  Returns how many. */
static size_t take_done(struct dp_engine *e, struct slot **first)
{
  size_t n = 0;
  struct slot *last = NULL;
  *first = NULL;
  for(struct slot *s = e->head, *next; s; s = next) {
    next = s->next;
    if(s->state == SLOT_PENDING || (s->filter && s->input && s != e->head))
      continue;
    slot_taken(e, s);
    slot_unlink(e, s);
    s->next = NULL;
    if(last)
      last->next = s;
    else
      *first = s;
    last = s;
    n++;
  }
  return n;
}

/* Callers hold the lock.  Unlink the run of settled slots at the head.
 * Returns how many. */
static size_t take_head(struct dp_engine *e, struct slot **first)
{
  size_t n = 0;
  struct slot *last = NULL;
  *first = e->head;
  for(struct slot *s = e->head; s && s->state != SLOT_PENDING; s = s->next) {
    slot_taken(e, s);
    last = s;
    n++;
  }
  if(n) {
    e->head = last->next;
    if(e->head)
      e->head->prev = NULL;
    else
      e->tail = NULL;
    last->next = NULL;
  }
  return n;
}

/* Callers hold the lock, which is let go while the slots are written. */
static void write_slots(struct dp_engine *e, struct slot *first, size_t n)
{
  e->live -= n;
  pthread_cond_broadcast(&e->room_cv); /* the head moved, the window has room */
  struct dp_progress *progress = e->to_terminal ? e->progress : NULL;
  pthread_mutex_unlock(&e->lock);
  unsigned long before = e->inputs_written;
  dpi_progress_hold(progress);
  for(struct slot *s = first, *next; s; s = next) {
    next = s->next;
    write_slot(e, s);
  }
  if(progress)
    fflush(e->opt.out); /* before the live line comes back */
  dpi_progress_release(progress);
  checkpoint(e, before, 0);
  pthread_mutex_lock(&e->lock);
  if(e->fatal)
    pthread_cond_broadcast(&e->room_cv);
}

/* Callers hold the lock; nothing is ready to write.  The checkpoint keeps
 * to a few a second, so the last lines written may not be in it: when the
 * output stands still (a slow document, an input that has gone quiet) for
 * DP_CHECKPOINT_IDLE, record them, so that a kill then costs nothing done.
 * 1 when it waited (the caller looks again), 0 when there is nothing to
 * record. */
static int idle_checkpoint(struct dp_engine *e)
{
  if(!e->opt.checkpoint || e->inputs_written == e->inputs_settled)
    return 0;
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_nsec += (long)(DP_CHECKPOINT_IDLE * 1e9);
  until.tv_sec += until.tv_nsec / 1000000000L;
  until.tv_nsec %= 1000000000L;
  if(pthread_cond_timedwait(&e->write_cv, &e->lock, &until) == ETIMEDOUT && !e->head) {
    unsigned long done = e->inputs_written;
    pthread_mutex_unlock(&e->lock);
    e->opt.checkpoint(e->opt.checkpoint_user, done, e->counts.failed, 1);
    pthread_mutex_lock(&e->lock);
    e->inputs_settled = done;
  }
  return 1;
}

static void *writer_main(void *arg)
{
  struct dp_engine *e = arg;
  pthread_mutex_lock(&e->lock);
  for(;;) {
    /* Detach what may be written, then write it without the lock. */
    struct slot *first;
    size_t n = e->opt.unordered ? take_done(e, &first) : take_head(e, &first);
    if(n) {
      write_slots(e, first, n);
      continue;
    }
    if(e->input_done && !e->head)
      break;
    if(idle_checkpoint(e))
      continue;
    pthread_cond_wait(&e->write_cv, &e->lock);
  }
  pthread_mutex_unlock(&e->lock);
  return NULL;
}

struct dp_engine *dpi_engine_start(struct dp_chain *chain, const struct dp_engine_options *opt)
{
  struct dp_engine *e = calloc(1, sizeof(*e));
  if(!e)
    return NULL;
  e->chain = chain;
  e->opt = *opt;
  e->nworkers = opt->jobs ? opt->jobs : 1;
  e->shard_at_input = opt->shard && opt->shard->at_input;
  e->to_terminal = !opt->sink && (isatty(fileno(opt->out)) || isatty(fileno(opt->errors)));
  e->max_queue = (size_t)e->nworkers * 4;
  /* Enough for what the other workers convert while one document takes
   * its whole --max-time, on a few hundred small documents per worker. */
  e->max_held = (size_t)e->nworkers * DP_ORDER_WINDOW_PER_JOB;
  if(e->max_held < DP_ORDER_WINDOW_MIN)
    e->max_held = DP_ORDER_WINDOW_MIN;
  e->max_live = e->max_held * 4;
  e->workers = calloc(e->nworkers, sizeof(*e->workers));
  if(!e->workers) {
    free(e);
    return NULL;
  }
  pthread_mutex_init(&e->lock, NULL);
  pthread_cond_init(&e->work_cv, NULL);
  pthread_cond_init(&e->write_cv, NULL);
  pthread_cond_init(&e->room_cv, NULL);
  unsigned started = 0;
  int ok = pthread_create(&e->writer, NULL, writer_main, e) == 0;
  for(; ok && started < e->nworkers; started++)
    ok = pthread_create(&e->workers[started], NULL, worker_main, e) == 0;
  if(!ok) {
    /* Could not get the threads: stop what started and give up. */
    pthread_mutex_lock(&e->lock);
    e->shutdown = e->input_done = 1;
    pthread_cond_broadcast(&e->work_cv);
    pthread_cond_broadcast(&e->write_cv);
    pthread_mutex_unlock(&e->lock);
    for(unsigned i = 0; i + 1 < started; i++)
      pthread_join(e->workers[i], NULL);
    if(started)
      pthread_join(e->writer, NULL);
    free(e->workers);
    free(e);
    return NULL;
  }
  return e;
}

/* Callers hold the lock.  Wait for room (for_queue: in the task queue too),
 * then give the next input its slot; NULL once the run cannot go on. */
static struct slot *input_slot(struct dp_engine *e, int for_queue)
{
  while((window_full(e) || (for_queue && e->qlen >= e->max_queue)) && !e->fatal)
    wait_room(e);
  struct slot *s = e->fatal ? NULL : slot_append(e);
  if(s)
    s->input = ++e->submitted;
  return s;
}

enum dp_status dpi_engine_submit(struct dp_engine *e, struct dp_record *rec,
                                 struct dp_input_filter *filter)
{
  pthread_mutex_lock(&e->lock);
  /* Inputs wait for room in the window, and for the queue: a queued input
   * holds its whole line (a DocumentReference with inline data). */
  struct slot *s = input_slot(e, 1);
  if(s && e->shard_at_input && !shard_keeps(e, rec)) {
    pthread_mutex_unlock(&e->lock);
    filter_free(filter);
    leave_to_other_shard(e, s, rec);
    return DP_OK;
  }
  if(s)
    s->filter = filter; /* the slot owns it from here on */
  if(!s || enqueue(e, rec, 0, s)) {
    pthread_mutex_unlock(&e->lock);
    dpi_record_free(rec);
    if(s)
      slot_settle(e, s, SLOT_EMPTY, NULL, 0, 0, DP_KIND_NONE);
    else
      filter_free(filter);
    return DP_FATAL;
  }
  pthread_mutex_unlock(&e->lock);
  return DP_OK;
}

enum dp_status dpi_engine_submit_failed(struct dp_engine *e, struct dp_record *rec,
                                        const char *stage)
{
  pthread_mutex_lock(&e->lock);
  struct slot *s = input_slot(e, 0);
  pthread_mutex_unlock(&e->lock);
  if(!s) {
    dpi_record_free(rec);
    return DP_FATAL;
  }
  settle_error(e, s, rec, stage, 1);
  return DP_OK;
}

void dpi_engine_set_progress(struct dp_engine *e, struct dp_progress *progress)
{
  pthread_mutex_lock(&e->lock);
  e->progress = progress;
  pthread_mutex_unlock(&e->lock);
}

void dpi_engine_snapshot(struct dp_engine *e, struct dp_counts *out)
{
  pthread_mutex_lock(&e->lock);
  out->emitted += e->counts.emitted;
  out->no_text += e->counts.no_text;
  out->failed += e->counts.failed;
  out->skipped += e->counts.skipped;
  out->deleted += e->counts.deleted;
  out->filtered += e->counts.filtered;
  out->other_shard += e->counts.other_shard;
  out->held += e->held;
  for(int k = 0; k < DP_KIND_COUNT; k++)
    out->by_kind[k] += e->counts.by_kind[k];
  pthread_mutex_unlock(&e->lock);
}

enum dp_status dpi_engine_finish(struct dp_engine *e, struct dp_counts *counts)
{
  pthread_mutex_lock(&e->lock);
  e->input_done = 1;
  pthread_cond_broadcast(&e->write_cv);
  pthread_mutex_unlock(&e->lock);
  pthread_join(e->writer, NULL);
  pthread_mutex_lock(&e->lock);
  e->shutdown = 1;
  pthread_cond_broadcast(&e->work_cv);
  pthread_mutex_unlock(&e->lock);
  for(unsigned i = 0; i < e->nworkers; i++)
    pthread_join(e->workers[i], NULL);
  checkpoint(e, 0, 1);
  enum dp_status rc = e->fatal ? DP_FATAL : DP_OK;
  dpi_engine_snapshot(e, counts);
  return rc;
}

void dpi_engine_free(struct dp_engine *e)
{
  if(!e)
    return;
  pthread_mutex_destroy(&e->lock);
  pthread_cond_destroy(&e->work_cv);
  pthread_cond_destroy(&e->write_cv);
  pthread_cond_destroy(&e->room_cv);
  free(e->workers);
  free(e);
}
