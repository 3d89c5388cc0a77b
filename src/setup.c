/* setup.c - see setup.h */
#include "setup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "buf.h"
#include "interrupt.h"
#include "isolate.h"
#include "progress.h"
#include "runstate.h"

/* The checkpoints of a --state run, on the writer thread. */
struct dp_checkpointer {
  struct dp_runstate *state;
  char *fingerprint;
  FILE *out, *err;
  struct timespec last;
  int failed;
};

/* One "docpipe: ..." line on the program's status FILE. */
static void say(const struct dp_setup *su, const char *fmt, ...)
  __attribute__((format(printf, 2, 3)));

static void say(const struct dp_setup *su, const char *fmt, ...)
{
  if(!su->status)
    return;
  va_list ap;
  va_start(ap, fmt);
  fprintf(su->status, "docpipe: ");
  vfprintf(su->status, fmt, ap);
  fputc('\n', su->status);
  va_end(ap);
}

int dpi_setup_network(struct dp_settings *s, FILE *status, int needed, char *why, size_t whylen)
{
  int rc = dpi_settings_open_network(s, needed, why, whylen);
  if(rc < 0)
    return -1;
  if(rc > 0 && s->net.insecure && status)
    fprintf(status, "docpipe: WARNING: --insecure: TLS certificates are NOT verified; anyone "
                    "on the network path can read and change this traffic, tokens included\n");
  return 0;
}

/* What identifies the inputs of a run, for resuming it: the pipeline and
 * each input with its size and time when it is a file. */
static char *fingerprint(const char *what, const char *const *inputs, size_t n)
{
  struct dp_buf b;
  dpi_buf_init(&b, 1 << 20);
  dpi_buf_adds(&b, what);
  for(size_t i = 0; i < n; i++) {
    struct stat sb;
    dpi_buf_addf(&b, "|%s", inputs[i]);
    if(!stat(inputs[i], &sb) && S_ISREG(sb.st_mode))
      dpi_buf_addf(&b, ":%lld:%lld", (long long)sb.st_size, (long long)sb.st_mtime);
  }
  if(!n)
    dpi_buf_adds(&b, "|-");
  return dpi_buf_take(&b, NULL);
}

/* --state: open it, and see whether this run resumes an interrupted one
 * (1, with how far it got in su), or not (0); -1 with a message in why. */
static int open_state(struct dp_setup *su, long long *out_bytes, long long *err_bytes,
                      char *why, size_t whylen)
{
  struct dp_settings *s = su->s;
  if(s->unordered) {
    snprintf(why, whylen, "--unordered and --state do not go together: a resumable run "
                          "needs its output in input order");
    return -1;
  }
  if(!(s->ctx.state = dpi_runstate_open(s->state, why, whylen)))
    return -1;
  if(!(su->cp = calloc(1, sizeof(*su->cp)))) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  su->cp->state = s->ctx.state;
  su->cp->fingerprint = fingerprint(su->what, su->inputs, su->ninputs);
  return dpi_runstate_resume(s->ctx.state, su->cp->fingerprint, &su->skip, &su->skip_failed,
                             out_bytes, err_bytes, why, whylen);
}

/* The sinks are the program's: their failures are told on status at once,
 * as each file is tried. */
static FILE *open_sink(const struct dp_setup *su, const char *path, FILE *dflt)
{
  if(!path || !strcmp(path, "-"))
    return dflt;
  FILE *f = fopen(path, "we");
  if(!f)
    say(su, "cannot write %s: %s", path, strerror(errno));
  return f;
}

/* An output file for a resumed run: cut back to the checkpoint (a torn
 * line and anything after it go), then appended to. */
static FILE *reopen_at(const struct dp_setup *su, const char *path, long long bytes)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  struct stat sb;
  if(fd < 0 || fstat(fd, &sb) || sb.st_size < bytes || ftruncate(fd, bytes) ||
     lseek(fd, 0, SEEK_END) < 0) {
    say(su, "cannot resume %s: %s", path,
        fd < 0 ? strerror(errno) : "it is shorter than the checkpoint (was it changed?)");
    if(fd >= 0)
      close(fd);
    return NULL;
  }
  return fdopen(fd, "a");
}

/* -o and -e: the files, cut back to the checkpoint when resuming. */
static int open_sinks(struct dp_setup *su, int resuming, long long out_bytes,
                      long long err_bytes)
{
  const struct dp_settings *s = su->s;
  if(resuming) {
    su->out = s->output && strcmp(s->output, "-") && out_bytes >= 0
                ? reopen_at(su, s->output, out_bytes) : open_sink(su, s->output, stdout);
    su->err = s->errors && strcmp(s->errors, "-") && err_bytes >= 0
                ? reopen_at(su, s->errors, err_bytes) : open_sink(su, s->errors, stderr);
    if(!s->quiet)
      say(su, "resuming an interrupted run: %lu inputs were done%s", su->skip,
          su->out == stdout ? " (records go to stdout: lines written after the last checkpoint "
                              "may come again; use -o FILE for exactly once)" : "");
  } else {
    su->out = open_sink(su, s->output, stdout);
    su->err = open_sink(su, s->errors, stderr);
  }
  if(!su->out || !su->err)
    return -1;
  static char outbuf[1 << 16];
  if(su->out == stdout && !s->unbuffered && !isatty(STDOUT_FILENO))
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
  return 0;
}

enum dp_setup_error dpi_setup_open(struct dp_setup *su, char *why, size_t whylen)
{
  struct dp_settings *s = su->s;
  dpi_settings_access(s, su->chain, su->inputs, su->ninputs);
  if(dpi_setup_network(s, su->status, dpi_chain_needs_network(su->chain), why, whylen))
    return DP_SETUP_NETWORK;
  long long out_bytes = -1, err_bytes = -1;
  int resuming = 0;
  if(su->status && s->state &&
     (resuming = open_state(su, &out_bytes, &err_bytes, why, whylen)) < 0)
    return DP_SETUP_STATE;
  if(dpi_chain_open(su->chain, why, whylen))
    return DP_SETUP_PIPELINE;
  if(su->status && open_sinks(su, resuming, out_bytes, err_bytes)) {
    why[0] = '\0'; /* told already */
    return DP_SETUP_OUTPUT;
  }
  return DP_SETUP_OK;
}

/* On the writer thread: record how far the output is, five times a second
 * at most (a later kill only costs redoing those inputs). */
static void on_checkpoint(void *user, unsigned long done, unsigned long failed, int final)
{
  struct dp_checkpointer *c = user;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double since = (double)(now.tv_sec - c->last.tv_sec) +
                 (double)(now.tv_nsec - c->last.tv_nsec) / 1e9;
  if(!final && since < 0.2)
    return;
  c->last = now;
  fflush(c->out);
  fflush(c->err);
  long long o = c->out == stdout ? -1 : (long long)ftello(c->out);
  long long e = c->err == stderr ? -1 : (long long)ftello(c->err);
  if(dpi_runstate_checkpoint(c->state, c->fingerprint, done, failed, o, e))
    c->failed = 1;
}

static void progress_counts(void *user, struct dp_counts *out)
{
  dpi_runner_snapshot(user, out);
}

/* --progress, or by default on a terminal unless --quiet. */
static void start_progress(struct dp_setup *su)
{
  struct dp_settings *s = su->s;
  int tty = isatty(fileno(su->status));
  if(!(s->progress == 1 || (s->progress < 0 && tty && !s->quiet)))
    return;
  double every = s->progress_interval > 0 ? s->progress_interval : tty ? 0.25 : 10;
  s->ctx.progress = dpi_progress_start(su->status, tty, every, progress_counts, su->run);
  dpi_runner_set_progress(su->run, s->ctx.progress);
  /* Files and folders on disk: their size is the whole of the work. */
  unsigned first = su->chain->stages[0].ops->flags;
  if(su->ninputs && !(first & (DP_STAGE_NETWORK | DP_STAGE_NO_INPUT)))
    dpi_progress_plan_paths(s->ctx.progress, su->inputs, su->ninputs);
}

/* What the engine is told: the program's files (and checkpoints), or the
 * library's sink. */
static struct dp_run_options run_options(struct dp_setup *su, unsigned jobs)
{
  const struct dp_settings *s = su->s;
  struct dp_run_options ro = {.engine = {.jobs = jobs, .unordered = s->unordered},
                              .shard_k = s->shard_k,
                              .shard_n = s->shard_n,
                              .max_line = s->max_line};
  if(!su->status) {
    ro.engine.sink = su->sink;
    ro.engine.sink_user = su->sink_user;
    return ro;
  }
  ro.engine.out = su->out;
  ro.engine.errors = su->err;
  ro.engine.unbuffered = s->unbuffered;
  ro.skip = su->skip;
  ro.skip_failed = su->skip_failed;
  if(su->cp) {
    su->cp->out = su->out;
    su->cp->err = su->err;
    ro.engine.checkpoint = on_checkpoint;
    ro.engine.checkpoint_user = su->cp;
  }
  return ro;
}

enum dp_setup_error dpi_setup_start(struct dp_setup *su, char *why, size_t whylen)
{
  struct dp_settings *s = su->s;
  unsigned jobs = dpi_settings_jobs(s);
  if(strcmp(s->ctx.isolate, "none") && !(s->ctx.iso = dpi_isolate_new(&s->ctx, jobs))) {
    snprintf(why, whylen, "cannot set up the extraction helpers");
    return DP_SETUP_HELPERS;
  }
  struct dp_run_options ro = run_options(su, jobs);
  if(!(su->run = dpi_runner_new(su->chain, &ro))) {
    snprintf(why, whylen, "cannot start the worker threads");
    return DP_SETUP_WORKERS;
  }
  if(su->status)
    start_progress(su);
  return DP_SETUP_OK;
}

enum dp_status dpi_setup_finish(struct dp_setup *su)
{
  enum dp_status rc = dpi_runner_finish(su->run);
  dpi_progress_stop(su->s->ctx.progress); /* the stages are done with it */
  su->s->ctx.progress = NULL;
  return rc;
}

static void network_summary(const struct dp_setup *su)
{
  const struct dp_net *net = su->s->ctx.net;
  if(!net)
    return;
  unsigned long requests, limited, retries;
  dpi_http_stats(net->http, &requests, &limited, &retries);
  struct dp_token_info ti;
  dpi_auth_info(net->auth, &ti);
  if(requests)
    say(su, "%lu requests, %lu answered 429, %lu retries, %lu token requests", requests,
        limited, retries, ti.requests);
}

/* Close the program's sinks: DP_EXIT_FATAL when a write failed. */
static int close_sinks(struct dp_setup *su)
{
  int status = DP_EXIT_OK;
  if(fflush(su->out) || ferror(su->out) || (su->out != stdout && fclose(su->out))) {
    say(su, "writing records failed: %s", strerror(errno));
    status = DP_EXIT_FATAL;
  }
  su->out = NULL;
  if(su->err != stderr && fclose(su->err)) {
    say(su, "writing errors failed: %s", strerror(errno));
    status = DP_EXIT_FATAL;
  }
  su->err = NULL;
  return status;
}

int dpi_setup_report(struct dp_setup *su, enum dp_status rc)
{
  struct dp_settings *s = su->s;
  int status = close_sinks(su);
  if(dpi_interrupted() && status == DP_EXIT_OK) {
    say(su, "interrupted: the records in hand were written; the rest of the input was not "
            "read%s", s->ctx.state ? " (run the same command again to go on)" : "");
    status = DP_EXIT_FATAL;
  }
  if(rc == DP_FATAL && status == DP_EXIT_OK) {
    say(su, "run stopped: %s", errno ? strerror(errno) : "fatal error");
    status = DP_EXIT_FATAL;
  }
  if(s->ctx.state && status != DP_EXIT_FATAL) {
    /* Done: stages record their marks as they close, then the state
     * forgets the checkpoint. */
    dpi_chain_close(su->chain);
    if(dpi_runstate_complete(s->ctx.state) || (su->cp && su->cp->failed)) {
      say(su, "cannot write the state file %s", s->state);
      status = DP_EXIT_FATAL;
    }
  }
  if(!s->quiet) {
    dpi_runner_summary(su->run, su->status);
    network_summary(su);
  }
  /* A resumed run answers for the whole run, its earlier attempts included. */
  if(status == DP_EXIT_OK && (dpi_runner_counts(su->run)->failed || su->skip_failed))
    status = DP_EXIT_FAILURES;
  return status;
}

void dpi_setup_stop_helpers(struct dp_setup *su)
{
  dpi_isolate_free(su->s->ctx.iso);
  su->s->ctx.iso = NULL;
}

void dpi_setup_free(struct dp_setup *su)
{
  dpi_runner_free(su->run);
  su->run = NULL;
  dpi_setup_stop_helpers(su);
  if(su->out && su->out != stdout)
    fclose(su->out);
  if(su->err && su->err != stderr)
    fclose(su->err);
  su->out = su->err = NULL;
  if(su->cp)
    free(su->cp->fingerprint);
  free(su->cp);
  su->cp = NULL;
}
