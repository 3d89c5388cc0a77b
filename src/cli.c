/* cli.c - see cli.h
 *
 * A Unix filter in the manner of jq: stdout carries records only, error
 * records go to the errors sink (stderr unless --errors), diagnostics are
 * one line "docpipe: ...", and the exit status says whether every document
 * converted (0), some failed (1), or the run could not go on (2). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <libxml/parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "check.h"
#include "dplimits.h"
#include "fhir.h"
#include "interrupt.h"
#include "isolate.h"
#include "isoworker.h"
#include "jose.h"
#include "manual.h"
#include "options.h"
#include "pipeline.h"
#include "progress.h"
#include "registry.h"
#include "runstate.h"
#include "runner.h"
#include "settings.h"

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "docpipe: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\nTry 'docpipe --help'.\n");
  va_end(ap);
}

/* Sort the arguments after the command into options (global or for the
 * chain) and inputs. */
static int parse_args(struct dp_settings *s, struct dp_chain *chain, int argc, char **argv,
                      int first, const char ***inputs, size_t *ninputs, int *want_help)
{
  *inputs = calloc((size_t)argc + 1, sizeof(**inputs));
  *ninputs = 0;
  if(!*inputs)
    return -1;
  int only_inputs = 0;
  for(int i = first; i < argc; i++) {
    const char *a = argv[i];
    if(only_inputs || a[0] != '-' || !strcmp(a, "-")) {
      (*inputs)[(*ninputs)++] = a;
      continue;
    }
    if(!strcmp(a, "--")) {
      only_inputs = 1;
      continue;
    }
    if(!strcmp(a, "-h") || !strcmp(a, "--help")) {
      *want_help = 1;
      continue;
    }
    char why[256];
    int g = dpi_settings_arg(s, argc, argv, &i, why, sizeof(why));
    if(g < 0) {
      usage_error("%s", why);
      return -1;
    }
    if(g)
      continue;
    char name[128];
    const char *eq = strchr(a + 2, '=');
    size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    int takes_arg = 0;
    if(strncmp(a, "--", 2) || nl >= sizeof(name) || !chain) {
      usage_error("unknown option %s", a);
      return -1;
    }
    memcpy(name, a + 2, nl);
    name[nl] = '\0';
    if(!dpi_chain_knows_option(chain, name, &takes_arg)) {
      usage_error("no stage here takes option %s", a);
      return -1;
    }
    const char *value = eq ? eq + 1 : NULL;
    if(takes_arg && !value) {
      if(i + 1 >= argc) {
        usage_error("option %s needs a value", a);
        return -1;
      }
      value = argv[++i];
    }
    if(dpi_chain_set_option(chain, name, value) < 0)
      return -1;
  }
  return 0;
}

static FILE *open_sink(const char *path, FILE *dflt)
{
  if(!path || !strcmp(path, "-"))
    return dflt;
  FILE *f = fopen(path, "w");
  if(!f)
    fprintf(stderr, "docpipe: cannot write %s: %s\n", path, strerror(errno));
  return f;
}

/* Warnings of the network code (a scope dropped after a refusal), on the
 * status path: above the live progress line when there is one. */
static void net_warning(void *user, const char *msg)
{
  const struct dp_context *ctx = user;
  dpi_progress_say(ctx->progress, "%s", msg);
}

/* The FHIR server connection, when the run talks to one. */
static int open_network(struct dp_settings *s, int needed)
{
  char why[1024];
  s->net.warn = net_warning;
  s->net.warn_user = &s->ctx;
  int rc = dpi_settings_open_network(s, needed, why, sizeof(why));
  if(rc < 0) {
    fprintf(stderr, "docpipe: %s\n", why);
    return -1;
  }
  if(rc > 0 && s->net.insecure)
    fprintf(stderr, "docpipe: WARNING: --insecure: TLS certificates are NOT verified; anyone "
                    "on the network path can read and change this traffic, tokens included\n");
  return 0;
}

static void network_summary(const struct dp_settings *s)
{
  if(!s->ctx.net)
    return;
  unsigned long requests, limited, retries;
  dpi_http_stats(s->ctx.net->http, &requests, &limited, &retries);
  struct dp_token_info ti;
  dpi_auth_info(s->ctx.net->auth, &ti);
  if(requests)
    fprintf(stderr, "docpipe: %lu requests, %lu answered 429, %lu retries, %lu token requests\n",
            requests, limited, retries, ti.requests);
}

/* What identifies the inputs of a run, for resuming it: the pipeline and
 * each input with its size and time when it is a file. */
static char *fingerprint(const char *what, const char **inputs, size_t n)
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

/* An output file for a resumed run: cut back to the checkpoint (a torn
 * line and anything after it go), then appended to. */
static FILE *reopen_at(const char *path, long long bytes)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  struct stat sb;
  if(fd < 0 || fstat(fd, &sb) || sb.st_size < bytes || ftruncate(fd, bytes) ||
     lseek(fd, 0, SEEK_END) < 0) {
    fprintf(stderr, "docpipe: cannot resume %s: %s\n", path,
            fd < 0 ? strerror(errno) : "it is shorter than the checkpoint (was it changed?)");
    if(fd >= 0)
      close(fd);
    return NULL;
  }
  return fdopen(fd, "a");
}

struct checkpointer {
  struct dp_runstate *state;
  const char *fingerprint;
  FILE *out, *err;
  struct timespec last;
  int failed;
};

/* On the writer thread: record how far the output is, five times a second
 * at most (a later kill only costs redoing those inputs). */
static void on_checkpoint(void *user, unsigned long done, unsigned long failed, int final)
{
  struct checkpointer *c = user;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double since = (double)(now.tv_sec - c->last.tv_sec) + (double)(now.tv_nsec - c->last.tv_nsec) / 1e9;
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
static void start_progress(struct dp_settings *s, const struct dp_chain *chain,
                           struct dp_runner *run, const char **inputs, size_t ninputs)
{
  int tty = isatty(STDERR_FILENO);
  if(!(s->progress == 1 || (s->progress < 0 && tty && !s->quiet)))
    return;
  double every = s->progress_interval > 0 ? s->progress_interval : tty ? 0.25 : 10;
  s->ctx.progress = dpi_progress_start(stderr, tty, every, progress_counts, run);
  dpi_runner_set_progress(run, s->ctx.progress);
  /* Files and folders on disk: their size is the whole of the work. */
  unsigned first = chain->stages[0].ops->flags;
  if(ninputs && !(first & (DP_STAGE_NETWORK | DP_STAGE_NO_INPUT)))
    dpi_progress_plan_paths(s->ctx.progress, inputs, ninputs);
}

static int run_chain(struct dp_settings *s, struct dp_chain *chain, const char *what,
                     const char **inputs, size_t ninputs)
{
  char why[1024];
  dpi_settings_access(s, chain, inputs, ninputs);
  if(open_network(s, dpi_chain_needs_network(chain)))
    return DP_EXIT_FATAL;
  struct checkpointer cp = {0};
  unsigned long skip = 0, skip_failed = 0;
  long long out_bytes = -1, err_bytes = -1;
  int resuming = 0;
  char *fp = NULL;
  if(s->state && s->unordered) {
    fprintf(stderr, "docpipe: --unordered and --state do not go together: a resumable run "
                    "needs its output in input order\n");
    return DP_EXIT_FATAL;
  }
  if(s->state) {
    if(!(s->ctx.state = dpi_runstate_open(s->state, why, sizeof(why)))) {
      fprintf(stderr, "docpipe: %s\n", why);
      return DP_EXIT_FATAL;
    }
    fp = fingerprint(what, inputs, ninputs);
    resuming = dpi_runstate_resume(s->ctx.state, fp, &skip, &skip_failed, &out_bytes, &err_bytes,
                                   why, sizeof(why));
    if(resuming < 0) {
      fprintf(stderr, "docpipe: %s\n", why);
      free(fp);
      return DP_EXIT_FATAL;
    }
  }
  if(dpi_chain_open(chain, why, sizeof(why))) {
    fprintf(stderr, "docpipe: %s\n", why);
    free(fp);
    return DP_EXIT_FATAL;
  }
  FILE *out, *err;
  if(resuming) {
    out = s->output && strcmp(s->output, "-") && out_bytes >= 0 ? reopen_at(s->output, out_bytes)
                                                                  : open_sink(s->output, stdout);
    err = s->errors && strcmp(s->errors, "-") && err_bytes >= 0 ? reopen_at(s->errors, err_bytes)
                                                                  : open_sink(s->errors, stderr);
    if(!s->quiet)
      fprintf(stderr, "docpipe: resuming an interrupted run: %lu inputs were done%s\n", skip,
              out == stdout ? " (records go to stdout: lines written after the last checkpoint "
                              "may come again; use -o FILE for exactly once)" : "");
  } else {
    out = open_sink(s->output, stdout);
    err = open_sink(s->errors, stderr);
  }
  if(!out || !err) {
    if(out && out != stdout)
      fclose(out);
    if(err && err != stderr)
      fclose(err);
    free(fp);
    return DP_EXIT_FATAL;
  }
  static char outbuf[1 << 16];
  if(out == stdout && !s->unbuffered && !isatty(STDOUT_FILENO))
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
  unsigned jobs = dpi_settings_jobs(s);
  if(strcmp(s->ctx.isolate, "none") && !(s->ctx.iso = dpi_isolate_new(&s->ctx, jobs))) {
    fprintf(stderr, "docpipe: cannot set up extraction helpers (is /proc mounted?); use "
                    "--isolate none\n");
    free(fp);
    return DP_EXIT_FATAL;
  }
  cp = (struct checkpointer){s->ctx.state, fp, out, err, {0, 0}, 0};
  struct dp_run_options ro = {.out = out,
                              .errors = err,
                              .max_line = s->max_line,
                              .jobs = jobs,
                              .unbuffered = s->unbuffered,
                              .unordered = s->unordered,
                              .shard_k = s->shard_k,
                              .shard_n = s->shard_n,
                              .skip = skip,
                              .skip_failed = skip_failed,
                              .checkpoint = s->ctx.state ? on_checkpoint : NULL,
                              .checkpoint_user = &cp};
  struct dp_runner *run = dpi_runner_new(chain, &ro);
  if(!run) {
    fprintf(stderr, "docpipe: cannot start the workers\n");
    free(fp);
    return DP_EXIT_FATAL;
  }
  start_progress(s, chain, run, inputs, ninputs);
  enum dp_status rc = DP_OK;
  dpi_interrupt_install();
  if(ninputs == 0)
    rc = dpi_runner_feed_default(run);
  for(size_t i = 0; i < ninputs && rc != DP_FATAL && !dpi_interrupted(); i++)
    rc = dpi_runner_feed(run, inputs[i]);
  if(dpi_runner_finish(run) == DP_FATAL)
    rc = DP_FATAL;
  dpi_progress_stop(s->ctx.progress); /* the stages are done with it */
  s->ctx.progress = NULL;
  int status = DP_EXIT_OK;
  if(fflush(out) || ferror(out) || (out != stdout && fclose(out))) {
    fprintf(stderr, "docpipe: writing records failed: %s\n", strerror(errno));
    status = DP_EXIT_FATAL;
  }
  if(err != stderr && fclose(err)) {
    fprintf(stderr, "docpipe: writing errors failed: %s\n", strerror(errno));
    status = DP_EXIT_FATAL;
  }
  if(dpi_interrupted() && status == DP_EXIT_OK) {
    fprintf(stderr, "docpipe: interrupted: the records in hand were written; the rest of the "
                    "input was not read%s\n",
            s->ctx.state ? " (run the same command again to go on)" : "");
    status = DP_EXIT_FATAL;
  }
  if(rc == DP_FATAL && status == DP_EXIT_OK) {
    fprintf(stderr, "docpipe: run stopped: %s\n", errno ? strerror(errno) : "fatal error");
    status = DP_EXIT_FATAL;
  }
  if(s->ctx.state && status != DP_EXIT_FATAL) {
    /* Done: stages record their marks as they close, then the state
     * forgets the checkpoint. */
    dpi_chain_close(chain);
    if(dpi_runstate_complete(s->ctx.state) || cp.failed) {
      fprintf(stderr, "docpipe: cannot write the state file %s\n", s->state);
      status = DP_EXIT_FATAL;
    }
  }
  if(!s->quiet) {
    dpi_runner_summary(run, stderr);
    network_summary(s);
  }
  /* A resumed run answers for the whole run, its earlier attempts included. */
  if(status == DP_EXIT_OK && (dpi_runner_counts(run)->failed || skip_failed))
    status = DP_EXIT_FAILURES;
  dpi_runner_free(run);
  dpi_isolate_free(s->ctx.iso);
  s->ctx.iso = NULL;
  free(fp);
  return status;
}

static int print_jwks(const struct dp_settings *s)
{
  if(!s->net.private_key) {
    usage_error("jwks needs --private-key (and --key-id)");
    return DP_EXIT_FATAL;
  }
  char why[512];
  EVP_PKEY *key = dpi_load_private_key(s->net.private_key, why, sizeof(why));
  if(!key) {
    fprintf(stderr, "docpipe: %s\n", why);
    return DP_EXIT_FATAL;
  }
  struct dp_buf out;
  dpi_buf_init(&out, 1 << 20);
  int rc = dpi_jwks(key, s->net.key_id, &out);
  EVP_PKEY_free(key);
  if(rc) {
    fprintf(stderr, "docpipe: the key must be RSA (2048 bits or more) or EC P-384\n");
    dpi_buf_free(&out);
    return DP_EXIT_FATAL;
  }
  printf("%s\n", dpi_buf_str(&out));
  dpi_buf_free(&out);
  return DP_EXIT_OK;
}

int dpi_cli_main(int argc, char **argv)
{
  if(argc > 1 && !strcmp(argv[1], "__extract-worker"))
    return dpi_isolate_worker_main(argc, argv);
  if(argc > 1 && !strcmp(argv[1], "__man"))
    return dpi_manual_main(argc, argv);
  struct dp_settings s;
  dpi_settings_init(&s);
  xmlInitParser();
  int status = DP_EXIT_FATAL;
  struct dp_chain chain = {0};
  const char **inputs = NULL;
  size_t ninputs = 0;
  char why[1024];

  /* Global options may come before the command. */
  int i = 1;
  for(; i < argc && argv[i][0] == '-' && strcmp(argv[i], "-"); i++) {
    if(!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      dpi_manual_help(stdout);
      status = DP_EXIT_OK;
      goto done;
    }
    if(!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
      printf("docpipe %s\n", DOCPIPE_VERSION);
      status = DP_EXIT_OK;
      goto done;
    }
    int g = dpi_settings_arg(&s, argc, argv, &i, why, sizeof(why));
    if(g <= 0) {
      if(g == 0)
        usage_error("unknown option %s", argv[i]);
      else
        usage_error("%s", why);
      goto done;
    }
  }
  if(i >= argc) {
    dpi_manual_help(stderr);
    goto done;
  }
  const char *cmd = argv[i++];
  if(!strcmp(cmd, "help")) {
    if(i < argc && !strcmp(argv[i], "check")) {
      dpi_manual_check_help(stdout);
      status = DP_EXIT_OK;
      goto done;
    }
    const struct dp_stage_ops *ops = i < argc ? dpi_stage_find(argv[i]) : NULL;
    if(i < argc && !ops) {
      usage_error("no stage named %s", argv[i]);
      goto done;
    }
    if(ops)
      dpi_manual_stage_help(stdout, ops);
    else
      dpi_manual_help(stdout);
    status = DP_EXIT_OK;
    goto done;
  }
  if(!strcmp(cmd, "pipelines")) {
    dpi_manual_list_pipelines(stdout);
    status = DP_EXIT_OK;
    goto done;
  }
  if(!strcmp(cmd, "stages")) {
    dpi_manual_list_stages(stdout);
    status = DP_EXIT_OK;
    goto done;
  }

  const struct dp_stage_ops *single = NULL;
  const char *what = cmd;
  int special = !strcmp(cmd, "check") || !strcmp(cmd, "jwks");
  if(!strcmp(cmd, "run") || !strcmp(cmd, "convert")) {
    const char *name = "raw-files";
    if(!strcmp(cmd, "run")) {
      if(i >= argc || argv[i][0] == '-') {
        usage_error("run needs a pipeline: docpipe run PIPELINE [INPUT...]");
        goto done;
      }
      name = argv[i++];
    }
    what = name;
    if(dpi_pipeline_load(name, &s.ctx, &chain, why, sizeof(why))) {
      fprintf(stderr, "docpipe: %s\n", why);
      goto done;
    }
  } else if((single = dpi_stage_find(cmd))) {
    if(dpi_chain_single(single, &s.ctx, &chain)) {
      fprintf(stderr, "docpipe: out of memory\n");
      goto done;
    }
  } else if(!special) {
    usage_error("unknown command or stage '%s'", cmd);
    goto done;
  }

  int want_help = 0;
  struct dp_check_options check = {0};
  if(special) {
    /* check takes --patient, --pipeline and a level; everything else is a
     * global option. */
    for(; i < argc; i++) {
      int is_check = !strcmp(cmd, "check");
      if(is_check && (!strcmp(argv[i], "--patient") || !strcmp(argv[i], "--pipeline"))) {
        if(i + 1 >= argc) {
          usage_error("option %s needs a value", argv[i]);
          goto done;
        }
        *(!strcmp(argv[i], "--patient") ? &check.patient : &check.pipeline) = argv[i + 1];
        i++;
        continue;
      }
      if(is_check && argv[i][0] != '-' && !check.level) {
        check.level = argv[i];
        continue;
      }
      if(!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
        want_help = 1;
        continue;
      }
      int g = dpi_settings_arg(&s, argc, argv, &i, why, sizeof(why));
      if(g <= 0) {
        usage_error("%s", g < 0 ? why : "unexpected argument");
        goto done;
      }
    }
  } else if(parse_args(&s, &chain, argc, argv, i, &inputs, &ninputs, &want_help)) {
    goto done;
  }
  if(want_help) {
    if(single)
      dpi_manual_stage_help(stdout, single);
    else if(!strcmp(cmd, "check"))
      dpi_manual_check_help(stdout);
    else
      dpi_manual_help(stdout);
    status = DP_EXIT_OK;
    goto done;
  }
  if(dpi_settings_finish(&s, why, sizeof(why))) {
    usage_error("%s", why);
    goto done;
  }
  if(dpi_settings_format_chain(&s, &chain)) {
    fprintf(stderr, "docpipe: out of memory\n");
    goto done;
  }
  if(!strcmp(cmd, "jwks")) {
    status = print_jwks(&s);
  } else if(!strcmp(cmd, "check")) {
    dpi_settings_access(&s, NULL, NULL, 0); /* check sets what its pipeline needs */
    status = open_network(&s, 1) ? DP_EXIT_FATAL : dpi_check(&s.ctx, &s.net, &check, stdout);
  } else if(!strcmp(cmd, "convert") && ninputs == 0) {
    usage_error("convert needs at least one file or folder");
  } else {
    status = run_chain(&s, &chain, what, inputs, ninputs);
  }
done:
  free(inputs);
  dpi_chain_free(&chain);
  dpi_net_close(s.ctx.net);
  dpi_runstate_free(s.ctx.state);
  dpi_settings_free(&s);
  xmlCleanupParser();
  return status;
}
