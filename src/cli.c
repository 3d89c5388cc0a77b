/* cli.c - see cli.h
 *
 * A Unix filter in the manner of jq: stdout carries records only, error
 * records go to the errors sink (stderr unless --errors), diagnostics are
 * one line "docpipe: ...", and the exit status says whether every document
 * converted (0), some failed (1), or the run could not go on (2). */
#include "cli.h"

#include <libxml/parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "fhir.h"
#include "interrupt.h"
#include "isolate.h"
#include "isoworker.h"
#include "jose.h"
#include "manual.h"
#include "pipeline.h"
#include "progress.h"
#include "registry.h"
#include "runstate.h"
#include "runner.h"
#include "settings.h"
#include "setup.h"

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

/* The program's status lines (ctx->say) and the network's warnings: on
 * stderr, above the live progress line when there is one. */
static void status_line(void *user, const char *line)
{
  const struct dp_context *ctx = user;
  if(ctx->progress) {
    dpi_progress_say(ctx->progress, "%s", line);
    return;
  }
  fprintf(stderr, "docpipe: %s\n", line);
  fflush(stderr);
}

/* Where the program's messages go: its stderr writer. */
static void program_output(struct dp_settings *s)
{
  s->net.warn = status_line;
  s->net.warn_user = &s->ctx;
  if(!s->quiet) {
    s->ctx.say = status_line;
    s->ctx.say_user = &s->ctx;
  }
}

static int run_chain(struct dp_settings *s, struct dp_chain *chain, const char *what,
                     const char **inputs, size_t ninputs)
{
  char why[1024];
  struct dp_setup su = {.s = s, .chain = chain, .what = what, .inputs = inputs,
                        .ninputs = ninputs, .status = stderr};
  enum dp_setup_error e = dpi_setup_open(&su, why, sizeof(why));
  if(!e && (e = dpi_setup_start(&su, why, sizeof(why)))) {
    /* The program's own words for what the library says its way. */
    snprintf(why, sizeof(why), "%s", e == DP_SETUP_WORKERS ? "cannot start the workers"
             : "cannot set up extraction helpers (is /proc mounted?); use --isolate none");
  }
  if(e) {
    if(why[0])
      fprintf(stderr, "docpipe: %s\n", why);
    dpi_setup_free(&su);
    return DP_EXIT_FATAL;
  }
  enum dp_status rc = DP_OK;
  dpi_interrupt_install();
  if(ninputs == 0)
    rc = dpi_runner_feed_default(su.run);
  for(size_t i = 0; i < ninputs && rc != DP_FATAL && !dpi_interrupted(); i++)
    rc = dpi_runner_feed(su.run, inputs[i]);
  if(dpi_setup_finish(&su) == DP_FATAL)
    rc = DP_FATAL;
  int status = dpi_setup_report(&su, rc);
  dpi_setup_free(&su);
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

/* What the command line asks for, as it is read. */
struct invocation {
  struct dp_settings s;
  struct dp_chain chain;
  const char *cmd;
  const char *what; /* the pipeline, naming the run in its state */
  const struct dp_stage_ops *single; /* docpipe STAGE */
  int special;      /* check or jwks: no chain */
  const char **inputs;
  size_t ninputs;
  struct dp_check_options check;
  int want_help;
};

/* Global options before the command, and -h, -V.  The exit status when
 * that is all, else -1. */
static int leading_options(struct invocation *v, int argc, char **argv, int *i)
{
  char why[1024];
  for(; *i < argc && argv[*i][0] == '-' && strcmp(argv[*i], "-"); ++*i) {
    if(!strcmp(argv[*i], "-h") || !strcmp(argv[*i], "--help")) {
      dpi_manual_help(stdout);
      return DP_EXIT_OK;
    }
    if(!strcmp(argv[*i], "-V") || !strcmp(argv[*i], "--version")) {
      printf("docpipe %s\n", DOCPIPE_VERSION);
      return DP_EXIT_OK;
    }
    int g = dpi_settings_arg(&v->s, argc, argv, i, why, sizeof(why));
    if(g <= 0) {
      if(g == 0)
        usage_error("unknown option %s", argv[*i]);
      else
        usage_error("%s", why);
      return DP_EXIT_FATAL;
    }
  }
  if(*i >= argc) {
    dpi_manual_help(stderr);
    return DP_EXIT_FATAL;
  }
  return -1;
}

/* run PIPELINE, convert, STAGE: the chain; check and jwks have none.
 * 0, or -1 when told why. */
static int load_chain(struct invocation *v, int argc, char **argv, int *i)
{
  char why[1024];
  const char *cmd = v->cmd;
  v->what = cmd;
  v->special = !strcmp(cmd, "check") || !strcmp(cmd, "jwks");
  if(!strcmp(cmd, "run") || !strcmp(cmd, "convert")) {
    const char *name = "raw-files";
    if(!strcmp(cmd, "run")) {
      if(*i >= argc || argv[*i][0] == '-') {
        usage_error("run needs a pipeline: docpipe run PIPELINE [INPUT...]");
        return -1;
      }
      name = argv[(*i)++];
    }
    v->what = name;
    if(dpi_pipeline_load(name, &v->s.ctx, &v->chain, why, sizeof(why))) {
      fprintf(stderr, "docpipe: %s\n", why);
      return -1;
    }
  } else if((v->single = dpi_stage_find(dp_stage_registry, cmd))) {
    if(dpi_chain_single(v->single, &v->s.ctx, &v->chain)) {
      fprintf(stderr, "docpipe: out of memory\n");
      return -1;
    }
  } else if(!v->special) {
    usage_error("unknown command or stage '%s'", cmd);
    return -1;
  }
  return 0;
}

/* Sort the arguments after the command into options (global, or for the
 * chain) and inputs; check takes --patient, --pipeline and a level instead
 * of inputs, jwks nothing but global options.  0, or -1 when told why. */
static int read_args(struct invocation *v, int argc, char **argv, int i)
{
  if(!(v->inputs = calloc((size_t)argc + 1, sizeof(*v->inputs))))
    return -1;
  int is_check = !strcmp(v->cmd, "check"), only_inputs = 0;
  for(; i < argc; i++) {
    const char *a = argv[i];
    if(is_check && (!strcmp(a, "--patient") || !strcmp(a, "--pipeline"))) {
      if(i + 1 >= argc) {
        usage_error("option %s needs a value", a);
        return -1;
      }
      *(!strcmp(a, "--patient") ? &v->check.patient : &v->check.pipeline) = argv[++i];
    } else if(is_check && a[0] != '-' && !v->check.level) {
      v->check.level = a;
    } else if(!v->special && (only_inputs || a[0] != '-' || !strcmp(a, "-"))) {
      v->inputs[v->ninputs++] = a;
    } else if(!v->special && !strcmp(a, "--")) {
      only_inputs = 1;
    } else if(!strcmp(a, "-h") || !strcmp(a, "--help")) {
      v->want_help = 1;
    } else {
      char why[8192]; /* an unknown option is quoted whole */
      int g = dpi_settings_arg(&v->s, argc, argv, &i, why, sizeof(why));
      if(!g && v->special)
        snprintf(why, sizeof(why), "unexpected argument");
      else if(!g && dpi_chain_arg(&v->chain, argc, argv, &i, why, sizeof(why)) > 0)
        continue;
      if(g <= 0) {
        if(why[0])
          usage_error("%s", why);
        return -1;
      }
    }
  }
  return 0;
}

/* Tesseract's OpenMP threads are capped by a variable that the OpenMP
 * runtime reads only as the program starts (ocr.h).  The helpers get it in
 * their environment (isolate.c); a run that may OCR in this process starts
 * again with it set, before anything is read or opened. */
static void cap_ocr_threads(const struct dp_context *ctx, char **argv)
{
  if(ctx->ocr == DP_OCR_NEVER ||
     (dpi_isolate_names(ctx->isolate, "pdf") && dpi_isolate_names(ctx->isolate, "image")))
    return;
  if(dpi_ocr_limit_threads())
    execv("/proc/self/exe", argv); /* when it fails, Tesseract keeps its own threads */
}

/* The command, its arguments read (argv: the program's, to start again
 * with): the exit status. */
static int dispatch(struct invocation *v, char **argv)
{
  char why[1024];
  if(v->want_help) {
    dpi_manual_command_help(stdout, v->cmd, v->single);
    return DP_EXIT_OK;
  }
  if(dpi_settings_finish(&v->s, why, sizeof(why))) {
    usage_error("%s", why);
    return DP_EXIT_FATAL;
  }
  if(dpi_settings_format_chain(&v->s, &v->chain)) {
    fprintf(stderr, "docpipe: out of memory\n");
    return DP_EXIT_FATAL;
  }
  program_output(&v->s);
  if(!strcmp(v->cmd, "jwks"))
    return print_jwks(&v->s);
  if(!strcmp(v->cmd, "check")) {
    dpi_settings_access(&v->s, NULL, NULL, 0); /* check sets what its pipeline needs */
    if(dpi_setup_network(&v->s, stderr, 1, why, sizeof(why))) {
      fprintf(stderr, "docpipe: %s\n", why);
      return DP_EXIT_FATAL;
    }
    return dpi_check(&v->s.ctx, &v->s.net, &v->check, stdout);
  }
  if(!strcmp(v->cmd, "convert") && v->ninputs == 0) {
    usage_error("convert needs at least one file or folder");
    return DP_EXIT_FATAL;
  }
  cap_ocr_threads(&v->s.ctx, argv);
  return run_chain(&v->s, &v->chain, v->what, v->inputs, v->ninputs);
}

static int cli(struct invocation *v, int argc, char **argv)
{
  int i = 1;
  int status = leading_options(v, argc, argv, &i);
  if(status >= 0)
    return status;
  v->cmd = argv[i++];
  if((status = dpi_manual_command(v->cmd, argc, argv, i)) >= 0)
    return status;
  if(load_chain(v, argc, argv, &i))
    return DP_EXIT_FATAL;
  if(read_args(v, argc, argv, i))
    return DP_EXIT_FATAL;
  return dispatch(v, argv);
}

int dpi_cli_main(int argc, char **argv)
{
  if(argc > 1 && !strcmp(argv[1], "__extract-worker"))
    return dpi_isolate_worker_main(argc, argv, dp_stage_registry);
  if(argc > 1 && !strcmp(argv[1], "__man"))
    return dpi_manual_main(argc, argv);
  struct invocation v;
  memset(&v, 0, sizeof(v));
  dpi_settings_init(&v.s, dp_stage_registry);
  xmlInitParser();
  int status = cli(&v, argc, argv);
  free(v.inputs);
  dpi_chain_free(&v.chain);
  dpi_net_close(v.s.ctx.net);
  dpi_runstate_free(v.s.ctx.state);
  dpi_settings_free(&v.s);
  xmlCleanupParser();
  return status;
}
