/* isolate.c - see isolate.h */
#define _GNU_SOURCE 1 /* posix_spawn_file_actions_addclosefrom_np */
#include "isolate.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "isowire.h"
#include "ndjson.h"
#include "ocr.h"

extern char **environ;

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
  /* The helpers' environment: this process's, with Tesseract's threads
   * capped at one when the user did not say otherwise (ocr.h). */
  char **env;
};

int dpi_isolate_names(const char *isolate, const char *format)
{
  if(!isolate || !format || !strcmp(isolate, "none"))
    return 0;
  if(!strcmp(isolate, "all"))
    return 1;
  /* A comma-separated list of formats. */
  size_t fl = strlen(format);
  for(const char *p = isolate; *p;) {
    size_t n = strcspn(p, ",");
    if(n == fl && !strncmp(p, format, n))
      return 1;
    p += n + (p[n] == ',');
  }
  return 0;
}

int dpi_isolate_wants(const struct dp_context *ctx, const char *format)
{
  return ctx->iso && dpi_isolate_names(ctx->isolate, format);
}

/* environ, plus OMP_THREAD_LIMIT=1 when it has none; NULL when out of
 * memory.  The array is owned, its strings are environ's (or static). */
static char **helper_env(void)
{
  size_t n = 0;
  while(environ[n])
    n++;
  char **env = calloc(n + 2, sizeof(*env));
  if(!env)
    return NULL;
  memcpy(env, environ, n * sizeof(*env));
  if(!getenv(DP_OCR_THREAD_VAR))
    env[n] = DP_OCR_THREAD_VAR "=1";
  return env;
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
  if(!(iso->env = helper_env())) {
    free(iso);
    return NULL;
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
  free(iso->env);
  free(iso);
}

static struct helper *spawn(struct dp_isolate *iso)
{
  int sv[2];
  if(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
    return NULL;
  const struct dp_context *ctx = iso->ctx;
  char text[32], pages[32], bytes[32], mem[32], depth[32], dpi[32];
  snprintf(text, sizeof(text), "%zu", ctx->max_text);
  snprintf(pages, sizeof(pages), "%u", ctx->max_pages);
  snprintf(bytes, sizeof(bytes), "%zu", ctx->max_document);
  snprintf(mem, sizeof(mem), "%zu", ctx->max_memory);
  snprintf(depth, sizeof(depth), "%u", ctx->max_depth);
  snprintf(dpi, sizeof(dpi), "%u", ctx->ocr_dpi);
  /* (posix_spawn takes char *const argv[]; it writes none of them.) */
  char *argv[] = {"docpipe", "__extract-worker", text, pages, bytes, mem, depth,
                  (char *)dpi_ocr_mode_name(ctx->ocr), (char *)ctx->ocr_lang, dpi, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, sv[1], DP_WIRE_FD);
  /* Nothing else of the parent's: a helper that inherited the input (a FIFO,
   * a pipe) or an output file would hold it open behind docpipe's back, even
   * for a moment after docpipe was killed. */
  posix_spawn_file_actions_addclosefrom_np(&fa, DP_WIRE_FD + 1);
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
  int rc = posix_spawn(&pid, iso->exe, &fa, &attr, argv, iso->env);
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

/* Relay the helper's answer frames to out until the end frame: 0, or the
 * wire's -1 (the helper died or broke the protocol) or -2 (the deadline).
 * *produced counts the records and failures relayed, *status what out said
 * of the last one. */
static int relay(struct dp_isolate *iso, struct helper *h, double deadline,
                 struct dp_emitter *out, unsigned long *produced, enum dp_status *status)
{
  for(;;) {
    enum dp_wire_frame type;
    char *payload;
    size_t len;
    int rc = dpi_wire_get_frame(h->fd, iso->ctx->max_text * 2 + (1 << 24), deadline, &type,
                                &payload, &len);
    if(rc || type == DP_WIRE_END)
      return rc;
    json_object *obj = NULL;
    char why[128];
    dpi_json_parse(payload, len, &obj, why, sizeof(why));
    free(payload);
    struct dp_record *r = !obj ? NULL : type == DP_WIRE_FAILED ? dpi_wire_failed_record(obj)
                                                                : dpi_record_parse(obj);
    if(!r)
      return -1;
    (*produced)++;
    *status = type == DP_WIRE_FAILED ? dpi_emit_fail(out, r) : dpi_emit(out, r);
  }
}

enum dp_status dpi_isolate_extract(struct dp_isolate *iso, struct dp_record *rec,
                                   struct dp_emitter *out)
{
  struct helper *h = acquire(iso);
  if(!h)
    return dpi_record_fail(rec, DP_KIND_INTERNAL, "cannot start an extraction helper");
  double deadline = iso->ctx->max_time > 0 ? dpi_wire_now() + iso->ctx->max_time : 0;
  size_t hlen = 0, blen = 0;
  const char *header = json_object_to_json_string_length(rec->obj, JSON_C_TO_STRING_PLAIN, &hlen);
  const unsigned char *body = dpi_record_body(rec, &blen);
  int rc = dpi_wire_send_request(h->fd, header, hlen, body, blen, deadline);
  enum dp_status status = DP_OK;
  unsigned long produced = 0;
  if(!rc)
    rc = relay(iso, h, deadline, out, &produced, &status);
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
