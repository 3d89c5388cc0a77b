/* isolate.c - see isolate.h */
#define _GNU_SOURCE 1 /* pipe2-style flags and PR_SET_PDEATHSIG */
#include "isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "extract.h"
#include "ndjson.h"
#include "options.h"

extern char **environ;

#define WORKER_FD 3
#define MAGIC "DPRQ"

enum frame { FRAME_RECORD = 'R', FRAME_FAILED = 'F', FRAME_END = 'E' };

struct helper {
  pid_t pid;
  int fd;
  struct helper *next;
};

struct dp_isolate {
  const struct dp_context *ctx;
  pthread_mutex_t lock;
  pthread_cond_t cv;
  struct helper *idle;
  unsigned live, max;
  char exe[4096];
};

int dpi_isolate_wants(const struct dp_context *ctx, const char *format)
{
  if(!ctx->iso || !ctx->isolate || !format || !strcmp(ctx->isolate, "none"))
    return 0;
  if(!strcmp(ctx->isolate, "all"))
    return 1;
  /* A comma-separated list of formats. */
  size_t fl = strlen(format);
  for(const char *p = ctx->isolate; *p;) {
    size_t n = strcspn(p, ",");
    if(n == fl && !strncmp(p, format, n))
      return 1;
    p += n + (p[n] == ',');
  }
  return 0;
}

struct dp_isolate *dpi_isolate_new(const struct dp_context *ctx, unsigned max_helpers)
{
  struct dp_isolate *iso = calloc(1, sizeof(*iso));
  if(!iso)
    return NULL;
  if(ctx->helper) {
    if(strlen(ctx->helper) >= sizeof(iso->exe)) {
      free(iso);
      return NULL;
    }
    strcpy(iso->exe, ctx->helper);
  } else {
    ssize_t n = readlink("/proc/self/exe", iso->exe, sizeof(iso->exe) - 1);
    if(n <= 0) {
      free(iso);
      return NULL;
    }
    iso->exe[n] = '\0';
  }
  iso->ctx = ctx;
  iso->max = max_helpers ? max_helpers : 1;
  pthread_mutex_init(&iso->lock, NULL);
  pthread_cond_init(&iso->cv, NULL);
  return iso;
}

static void reap(struct helper *h)
{
  if(h->fd >= 0)
    close(h->fd);
  if(h->pid > 0) {
    kill(h->pid, SIGKILL);
    while(waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
      ;
  }
  free(h);
}

void dpi_isolate_free(struct dp_isolate *iso)
{
  if(!iso)
    return;
  for(struct helper *h = iso->idle, *next; h; h = next) {
    next = h->next;
    /* Closing the socket ends the helper's loop; no need to kill it. */
    close(h->fd);
    h->fd = -1;
    while(waitpid(h->pid, NULL, 0) < 0 && errno == EINTR)
      ;
    free(h);
  }
  pthread_mutex_destroy(&iso->lock);
  pthread_cond_destroy(&iso->cv);
  free(iso);
}

static struct helper *spawn(struct dp_isolate *iso)
{
  int sv[2];
  if(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
    return NULL;
  const struct dp_context *ctx = iso->ctx;
  char text[32], pages[32], bytes[32], mem[32], depth[32];
  snprintf(text, sizeof(text), "%zu", ctx->max_text);
  snprintf(pages, sizeof(pages), "%u", ctx->max_pages);
  snprintf(bytes, sizeof(bytes), "%zu", ctx->max_document);
  snprintf(mem, sizeof(mem), "%zu", ctx->max_memory);
  snprintf(depth, sizeof(depth), "%u", ctx->max_depth);
  char *argv[] = {"docpipe", "__extract-worker", text, pages, bytes, mem, depth, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], WORKER_FD);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  /* A dying library writes to stderr ("terminate called after..."); the
   * error record says it better, and stderr carries docpipe's own output.
   * (Sanitizer builds keep it: their reports are the point.) */
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
#endif
  posix_spawnattr_init(&attr);
  /* Its own process group: Ctrl-C at the terminal reaches docpipe, which
   * finishes the documents in hand, not the helpers doing them. */
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  pid_t pid;
  int rc = posix_spawn(&pid, iso->exe, &fa, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  close(sv[1]);
  struct helper *h = rc ? NULL : calloc(1, sizeof(*h));
  if(!h) {
    close(sv[0]);
    if(!rc) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
    }
    return NULL;
  }
  h->pid = pid;
  h->fd = sv[0];
  return h;
}

static struct helper *acquire(struct dp_isolate *iso)
{
  pthread_mutex_lock(&iso->lock);
  while(!iso->idle && iso->live >= iso->max)
    pthread_cond_wait(&iso->cv, &iso->lock);
  struct helper *h = iso->idle;
  if(h) {
    iso->idle = h->next;
    pthread_mutex_unlock(&iso->lock);
    return h;
  }
  iso->live++;
  pthread_mutex_unlock(&iso->lock);
  h = spawn(iso);
  if(!h) {
    pthread_mutex_lock(&iso->lock);
    iso->live--;
    pthread_cond_signal(&iso->cv);
    pthread_mutex_unlock(&iso->lock);
  }
  return h;
}

static void release(struct dp_isolate *iso, struct helper *h, int healthy)
{
  pthread_mutex_lock(&iso->lock);
  if(healthy) {
    h->next = iso->idle;
    iso->idle = h;
  } else {
    iso->live--;
  }
  pthread_cond_signal(&iso->cv);
  pthread_mutex_unlock(&iso->lock);
  if(!healthy)
    reap(h);
}

/* ---- I/O with a deadline ---------------------------------------------- */

static double now_mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 0 done, -1 the peer is gone, -2 deadline passed.  deadline 0: none. */
static int io_all(int fd, void *buf, size_t len, int writing, double deadline)
{
  char *p = buf;
  while(len) {
    if(deadline > 0) {
      double left = deadline - now_mono();
      if(left <= 0)
        return -2;
      struct pollfd pfd = {fd, writing ? POLLOUT : POLLIN, 0};
      int ms = left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
      int r = poll(&pfd, 1, ms);
      if(r < 0 && errno == EINTR)
        continue;
      if(r == 0)
        return -2;
      if(r < 0)
        return -1;
    }
    ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL) : read(fd, p, len);
    if(n < 0 && errno == EINTR)
      continue;
    if(n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int put_u64(int fd, uint64_t v, double deadline)
{
  unsigned char b[8];
  for(int i = 0; i < 8; i++)
    b[i] = (unsigned char)(v >> (8 * i));
  return io_all(fd, b, 8, 1, deadline);
}

static int get_u64(int fd, uint64_t *v, double deadline)
{
  unsigned char b[8];
  int rc = io_all(fd, b, 8, 0, deadline);
  *v = 0;
  for(int i = 0; i < 8 && !rc; i++)
    *v |= (uint64_t)b[i] << (8 * i);
  return rc;
}

/* ---- the parent's side -------------------------------------------------- */

static const char *signal_name(int sig)
{
  switch(sig) {
  case SIGSEGV: return "SIGSEGV";
  case SIGABRT: return "SIGABRT";
  case SIGBUS: return "SIGBUS";
  case SIGFPE: return "SIGFPE";
  case SIGILL: return "SIGILL";
  case SIGKILL: return "SIGKILL";
  default: return "a signal";
  }
}

/* The helper died mid-document: say how. */
static enum dp_status crashed(struct dp_isolate *iso, struct helper *h, struct dp_record *rec)
{
  int status = 0;
  close(h->fd);
  h->fd = -1;
  pid_t pid = h->pid;
  h->pid = -1;
  while(waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  release(iso, h, 0);
  const char *fmt = dpi_record_str(rec, "format");
  dpi_record_hint(rec, "the document crashed its parser (a library bug or a hostile file); "
                       "the run went on with a new helper. A crash from lack of memory means "
                       "--max-memory is too low for it");
  if(WIFSIGNALED(status))
    return dpi_record_fail(rec, DP_KIND_EXTRACTOR_CRASH, "%s extractor crashed (%s, signal %d)",
                           fmt ? fmt : "the", signal_name(WTERMSIG(status)), WTERMSIG(status));
  return dpi_record_fail(rec, DP_KIND_EXTRACTOR_CRASH,
                         "%s extractor helper failed (exit status %d; short of memory?)",
                         fmt ? fmt : "the", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

static enum dp_status timed_out(struct dp_isolate *iso, struct helper *h, struct dp_record *rec)
{
  release(iso, h, 0); /* kills it */
  dpi_record_hint(rec, "raise --max-time if such documents are expected to take longer");
  return dpi_record_fail(rec, DP_KIND_TIMEOUT, "extraction took longer than %.3g s (--max-time)",
                         iso->ctx->max_time);
}

/* A failure frame: the record's JSON with its error under "_err". */
static struct dp_record *failed_record(json_object *obj)
{
  json_object *err = NULL;
  json_object_object_get_ex(obj, "_err", &err);
  err = json_object_get(err);
  json_object_object_del(obj, "_err");
  struct dp_record *r = dpi_record_parse(obj);
  if(!r) {
    json_object_put(err);
    return NULL;
  }
  const char *kind = dpi_json_member_str(err, "kind");
  const char *msg = dpi_json_member_str(err, "message");
  const char *hint = dpi_json_member_str(err, "hint");
  enum dp_kind k = kind ? dpi_kind_from_name(kind) : DP_KIND_INTERNAL;
  dpi_record_fail(r, k ? k : DP_KIND_INTERNAL, "%s", msg ? msg : "failed");
  if(hint)
    dpi_record_hint(r, "%s", hint);
  json_object_put(err);
  return r;
}

enum dp_status dpi_isolate_extract(struct dp_isolate *iso, struct dp_record *rec,
                                   struct dp_emitter *out)
{
  struct helper *h = acquire(iso);
  if(!h)
    return dpi_record_fail(rec, DP_KIND_INTERNAL, "cannot start an extraction helper");
  double deadline = iso->ctx->max_time > 0 ? now_mono() + iso->ctx->max_time : 0;
  size_t hlen = 0, blen = 0;
  const char *header = json_object_to_json_string_length(rec->obj, JSON_C_TO_STRING_PLAIN, &hlen);
  const unsigned char *body = dpi_record_body(rec, &blen);
  int rc = io_all(h->fd, MAGIC, 4, 1, deadline);
  if(!rc)
    rc = put_u64(h->fd, hlen, deadline);
  if(!rc)
    rc = put_u64(h->fd, blen, deadline);
  if(!rc)
    rc = io_all(h->fd, (void *)header, hlen, 1, deadline);
  if(!rc && blen)
    rc = io_all(h->fd, (void *)body, blen, 1, deadline);
  enum dp_status status = DP_OK;
  unsigned long produced = 0;
  while(!rc) {
    unsigned char type;
    uint64_t len;
    rc = io_all(h->fd, &type, 1, 0, deadline);
    if(!rc && type == FRAME_END)
      break;
    if(!rc)
      rc = get_u64(h->fd, &len, deadline);
    if(!rc && len > (uint64_t)iso->ctx->max_text * 2 + (1 << 24)) {
      rc = -1; /* a frame larger than any result can be: the helper is broken */
      break;
    }
    char *payload = rc ? NULL : malloc((size_t)len + 1);
    if(!rc && !payload) {
      rc = -1;
      break;
    }
    if(!rc)
      rc = io_all(h->fd, payload, (size_t)len, 0, deadline);
    if(rc) {
      free(payload);
      break;
    }
    json_object *obj = NULL;
    char why[128];
    dpi_json_parse(payload, (size_t)len, &obj, why, sizeof(why));
    free(payload);
    struct dp_record *r = !obj ? NULL : type == FRAME_FAILED ? failed_record(obj)
                                                              : dpi_record_parse(obj);
    if(!r) {
      rc = -1;
      break;
    }
    produced++;
    status = type == FRAME_FAILED ? dpi_emit_fail(out, r) : dpi_emit(out, r);
  }
  if(rc == -2) {
    /* Records it already sent stay sent: they are whole. */
    return produced ? (timed_out(iso, h, rec), dpi_emit_fail(out, rec)) : timed_out(iso, h, rec);
  }
  if(rc) {
    enum dp_status c = crashed(iso, h, rec);
    return produced ? dpi_emit_fail(out, rec) : c;
  }
  release(iso, h, 1);
  dpi_record_free(rec);
  return status == DP_FATAL ? DP_FATAL : DP_OK;
}

/* ---- the helper's side ------------------------------------------------- */

struct frame_writer {
  struct dp_emitter base;
  int fd;
  int broken;
};

static void send_frame(struct frame_writer *w, enum frame type, const char *data, size_t len)
{
  unsigned char t = (unsigned char)type;
  if(w->broken || io_all(w->fd, &t, 1, 1, 0) || put_u64(w->fd, len, 0) ||
     io_all(w->fd, (void *)data, len, 1, 0))
    w->broken = 1;
}

static enum dp_status frame_emit(struct dp_emitter *self, struct dp_record *rec)
{
  struct frame_writer *w = (struct frame_writer *)self;
  struct dp_buf line;
  dpi_buf_init(&line, (size_t)4 << 30);
  if(dpi_record_write(rec, &line))
    w->broken = 1;
  else
    send_frame(w, FRAME_RECORD, line.mem, line.len);
  dpi_buf_free(&line);
  dpi_record_free(rec);
  return w->broken ? DP_FATAL : DP_OK;
}

static enum dp_status frame_fail(struct dp_emitter *self, struct dp_record *rec)
{
  struct frame_writer *w = (struct frame_writer *)self;
  json_object *err = json_object_new_object();
  dpi_json_set_str(err, "kind", dpi_kind_name(rec->err_kind));
  dpi_json_set_str(err, "message", rec->err_message);
  if(rec->err_hint)
    dpi_json_set_str(err, "hint", rec->err_hint);
  json_object_object_add(rec->obj, "_err", err);
  dpi_record_drop_body(rec);
  size_t n = 0;
  const char *s = json_object_to_json_string_length(rec->obj, JSON_C_TO_STRING_PLAIN, &n);
  send_frame(w, FRAME_FAILED, s, n);
  dpi_record_free(rec);
  return w->broken ? DP_FATAL : DP_OK;
}

/* Test hooks: make the helper crash or hang on a chosen document, so the
 * tests can prove that the run survives both (a real library crash cannot
 * be summoned on demand). */
static void test_hooks(const struct dp_record *rec)
{
  const char *sha = dpi_record_str(rec, "sha256");
  const char *crash = getenv("DOCPIPE_TEST_CRASH_SHA256");
  const char *hang = getenv("DOCPIPE_TEST_HANG_SHA256");
  if(sha && crash && *crash && !strncmp(sha, crash, strlen(crash)))
    raise(SIGSEGV);
  if(sha && hang && *hang && !strncmp(sha, hang, strlen(hang)))
    for(;;)
      pause();
}

int dpi_isolate_worker_main(int argc, char **argv, const struct dp_stage_ops *const *stages)
{
  if(argc < 7)
    return 2;
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if(getppid() == 1)
    return 0; /* the parent is already gone */
  signal(SIGINT, SIG_IGN);
  struct rlimit core = {0, 0};
  setrlimit(RLIMIT_CORE, &core);
  struct dp_context ctx;
  dpi_context_defaults(&ctx, stages);
  size_t mem = 0;
  if(dpi_parse_size(argv[2], &ctx.max_text) || dpi_parse_uint(argv[3], &ctx.max_pages) ||
     dpi_parse_size(argv[4], &ctx.max_document) || dpi_parse_size(argv[5], &mem) ||
     dpi_parse_uint(argv[6], &ctx.max_depth))
    return 2;
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  /* (The sanitizers reserve terabytes of address space up front.) */
  struct rlimit as = {(rlim_t)mem, (rlim_t)mem};
  if(mem)
    setrlimit(RLIMIT_AS, &as);
#endif
  ctx.iso = NULL; /* in here, everything runs in this process */
  for(;;) {
    char magic[4];
    uint64_t hlen, blen;
    if(io_all(WORKER_FD, magic, 4, 0, 0))
      return 0; /* the parent closed the socket: done */
    if(memcmp(magic, MAGIC, 4) || get_u64(WORKER_FD, &hlen, 0) || get_u64(WORKER_FD, &blen, 0) ||
       hlen > (1u << 30) || blen > ctx.max_document)
      return 3;
    char *header = malloc((size_t)hlen + 1);
    if(!header || io_all(WORKER_FD, header, (size_t)hlen, 0, 0))
      return 3;
    json_object *obj = NULL;
    char why[128];
    dpi_json_parse(header, (size_t)hlen, &obj, why, sizeof(why));
    free(header);
    struct dp_record *rec = obj ? dpi_record_from_json(obj) : NULL;
    if(!rec)
      return 3;
    struct frame_writer fw = {{frame_emit, frame_fail}, WORKER_FD, 0};
    struct dp_buf body;
    dpi_buf_init(&body, ctx.max_document);
    char *w = dpi_buf_reserve(&body, (size_t)blen);
    if(!w) {
      /* No memory for the document under --max-memory: read it away and
       * say so, rather than die. */
      char sink[65536];
      for(uint64_t left = blen; left;) {
        size_t n = left < sizeof(sink) ? (size_t)left : sizeof(sink);
        if(io_all(WORKER_FD, sink, n, 0, 0))
          return 3;
        left -= n;
      }
      dpi_record_hint(rec, "raise --max-memory");
      dpi_record_fail(rec, DP_KIND_TOO_LARGE, "no memory for a %llu-byte document within "
                                              "--max-memory", (unsigned long long)blen);
      frame_fail(&fw.base, rec);
      unsigned char end = FRAME_END;
      if(fw.broken || io_all(WORKER_FD, &end, 1, 1, 0))
        return 0;
      continue;
    }
    if(io_all(WORKER_FD, w, (size_t)blen, 0, 0))
      return 3;
    dpi_buf_commit(&body, (size_t)blen);
    dpi_buf_free(&rec->body);
    rec->body = body;
    rec->has_body = 1;
    test_hooks(rec);
    if(dpi_extract_record(&ctx, rec, &fw.base) == DP_FAIL)
      frame_fail(&fw.base, rec);
    unsigned char end = FRAME_END;
    if(fw.broken || io_all(WORKER_FD, &end, 1, 1, 0))
      return 0;
  }
}
