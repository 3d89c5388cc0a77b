/* docpipe.c - see docpipe.h
 *
 * The library's front end, as cli.c is the program's: the same settings
 * table, pipeline loader and set-up of the run (setup.h), with the engine's
 * line sink in place of stdout and stderr, and no printing: status lines go
 * to the application's callback, if it sets one. */
#include "docpipe.h"

#include <libxml/parser.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "paths.h"
#include "pipeline.h"
#include "registry.h"
#include "runner.h"
#include "settings.h"
#include "setup.h"

enum phase {
  PHASE_NEW,     /* no pipeline yet */
  PHASE_OPEN,    /* a pipeline; options and callbacks may still change */
  PHASE_RUNNING, /* the first input started the run */
  PHASE_BROKEN,  /* the run could not start: every later call says why */
  PHASE_DONE     /* finished */
};

struct docpipe {
  struct dp_settings s; /* its ctx is the context every stage points at */
  struct dp_chain chain;
  enum phase phase;
  int broken; /* PHASE_BROKEN: the code */
  struct dp_setup su; /* the run, once started */
  docpipe_line_cb on_record, on_error;
  void *record_user, *error_user;
  docpipe_status_cb on_status;
  void *status_user;
  atomic_int stopped;   /* a callback asked to stop (set on the writer thread) */
  unsigned long pushed; /* docpipe_push inputs: their number in error records */
  int fed;              /* any input at all */
  char helper[DP_PATH_MAX]; /* the installed docpipe, or where it was looked for */
  char err[1024];
};

/* The program's own options, which have no meaning here. */
static const char *const program_only[] = {
  "output", "errors", "state", "quiet", "unbuffered", "progress", "no-progress",
  "progress-interval", NULL};

static int fail(struct docpipe *p, int code, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

static int fail(struct docpipe *p, int code, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, sizeof(p->err), fmt, ap);
  va_end(ap);
  return code;
}

const char *docpipe_version(void)
{
  return DOCPIPE_VERSION;
}

const char *docpipe_strerror(int code)
{
  switch(code) {
  case DOCPIPE_OK: return "no error";
  case DOCPIPE_ERR_USAGE: return "bad argument or call out of order";
  case DOCPIPE_ERR_OPTION: return "unknown option or bad value";
  case DOCPIPE_ERR_PIPELINE: return "no such pipeline, bad pipeline text, or a stage cannot start";
  case DOCPIPE_ERR_RUN: return "the run cannot go on";
  case DOCPIPE_ERR_NOMEM: return "out of memory";
  }
  return "unknown error code";
}

struct docpipe *docpipe_new(void)
{
  struct docpipe *p = calloc(1, sizeof(*p));
  if(!p)
    return NULL;
  xmlInitParser(); /* before any worker thread parses XML */
  dpi_settings_init(&p->s, dp_stage_registry);
  p->su.s = &p->s;
  p->su.chain = &p->chain;
  atomic_init(&p->stopped, 0);
  /* Extraction helpers re-run docpipe, which this program is not. */
  if(!dpi_installed_program(p->helper, sizeof(p->helper)))
    p->s.ctx.helper = p->helper;
  else
    p->s.ctx.isolate = "none";
  return p;
}

void docpipe_free(struct docpipe *p)
{
  if(!p)
    return;
  dpi_setup_free(&p->su);
  dpi_chain_free(&p->chain);
  dpi_net_close(p->s.ctx.net);
  dpi_settings_free(&p->s);
  free(p);
}

const char *docpipe_last_error(const struct docpipe *p)
{
  return p ? p->err : "no handle";
}

/* Calls that shape the run come before it starts. */
static int before_run(struct docpipe *p, const char *what)
{
  if(p->phase >= PHASE_RUNNING)
    return fail(p, DOCPIPE_ERR_USAGE, "%s: only before the first input", what);
  return DOCPIPE_OK;
}

static int loaded(struct docpipe *p, int rc, const char *why)
{
  if(rc)
    return fail(p, DOCPIPE_ERR_PIPELINE, "%s", why);
  p->phase = PHASE_OPEN;
  return DOCPIPE_OK;
}

int docpipe_open(struct docpipe *p, const char *pipeline)
{
  if(!p || !pipeline)
    return DOCPIPE_ERR_USAGE;
  if(p->phase != PHASE_NEW)
    return fail(p, DOCPIPE_ERR_USAGE, "docpipe_open: a handle runs one pipeline");
  char why[1024];
  return loaded(p, dpi_pipeline_load(pipeline, &p->s.ctx, &p->chain, why, sizeof(why)),
              why);
}

int docpipe_open_string(struct docpipe *p, const char *text, const char *base_dir)
{
  if(!p || !text)
    return DOCPIPE_ERR_USAGE;
  if(p->phase != PHASE_NEW)
    return fail(p, DOCPIPE_ERR_USAGE, "docpipe_open_string: a handle runs one pipeline");
  char why[1024];
  return loaded(p,
                dpi_pipeline_parse(text, "pipeline text", base_dir, &p->s.ctx, &p->chain, why,
                                   sizeof(why)),
                why);
}

int docpipe_set(struct docpipe *p, const char *name, const char *value)
{
  if(!p || !name)
    return DOCPIPE_ERR_USAGE;
  int rc = before_run(p, "docpipe_set");
  if(rc)
    return rc;
  for(const char *const *o = program_only; *o; o++)
    if(!strcmp(name, *o))
      return fail(p, DOCPIPE_ERR_OPTION, "option %s is the docpipe program's, not the library's",
                  name);
  char why[512];
  int g = dpi_settings_set(&p->s, name, value, why, sizeof(why));
  if(g < 0)
    return fail(p, DOCPIPE_ERR_OPTION, "%s", why);
  if(g > 0)
    return DOCPIPE_OK;
  /* An option of the pipeline's stages, as when it follows `docpipe run NAME`. */
  int takes_arg = 0;
  if(!dpi_chain_knows_option(&p->chain, name, &takes_arg))
    return fail(p, DOCPIPE_ERR_OPTION, "unknown option %s%s", name,
                p->phase == PHASE_NEW ? " (stage options come after docpipe_open)"
                                      : ": no global option and no stage here takes it");
  if(takes_arg && !value)
    return fail(p, DOCPIPE_ERR_OPTION, "option %s needs a value", name);
  if(dpi_chain_set_option(&p->chain, name, value) < 0)
    return fail(p, DOCPIPE_ERR_NOMEM, "out of memory");
  return DOCPIPE_OK;
}

int docpipe_on_record(struct docpipe *p, docpipe_line_cb cb, void *user)
{
  if(!p)
    return DOCPIPE_ERR_USAGE;
  int rc = before_run(p, "docpipe_on_record");
  if(!rc) {
    p->on_record = cb;
    p->record_user = user;
  }
  return rc;
}

int docpipe_on_error(struct docpipe *p, docpipe_line_cb cb, void *user)
{
  if(!p)
    return DOCPIPE_ERR_USAGE;
  int rc = before_run(p, "docpipe_on_error");
  if(!rc) {
    p->on_error = cb;
    p->error_user = user;
  }
  return rc;
}

int docpipe_on_status(struct docpipe *p, docpipe_status_cb cb, void *user)
{
  if(!p)
    return DOCPIPE_ERR_USAGE;
  int rc = before_run(p, "docpipe_on_status");
  if(!rc) {
    p->on_status = cb;
    p->status_user = user;
  }
  return rc;
}

/* ctx->say: the application's status callback. */
static void status_line(void *user, const char *line)
{
  struct docpipe *p = user;
  p->on_status(line, p->status_user);
}

/* The engine's line sink, on the writer thread. */
static int sink(void *user, int is_error, const char *line, size_t len)
{
  struct docpipe *p = user;
  docpipe_line_cb cb = is_error ? p->on_error : p->on_record;
  if(!cb || !cb(line, len, is_error ? p->error_user : p->record_user))
    return 0;
  atomic_store(&p->stopped, 1);
  return -1;
}

/* The run's set-up (setup.h), as the program's but with the library's sink
 * and no status FILE. */
static int set_up(struct docpipe *p)
{
  char why[1024];
  p->su.sink = sink;
  p->su.sink_user = p;
  if(p->on_status) {
    p->s.ctx.say = status_line;
    p->s.ctx.say_user = p;
  }
  switch(dpi_setup_open(&p->su, why, sizeof(why))) {
  case DP_SETUP_OK: break;
  case DP_SETUP_PIPELINE: return fail(p, DOCPIPE_ERR_PIPELINE, "%s", why);
  default: return fail(p, DOCPIPE_ERR_OPTION, "%s", why);
  }
  if(strcmp(p->s.ctx.isolate, "none") && !p->s.ctx.helper)
    return fail(p, DOCPIPE_ERR_OPTION,
                "isolate %s needs the docpipe program for its helper processes and none was "
                "found (looked for %s); set isolate to none",
                p->s.ctx.isolate, p->helper);
  if(dpi_setup_start(&p->su, why, sizeof(why)))
    return fail(p, DOCPIPE_ERR_RUN, "%s", why);
  return DOCPIPE_OK;
}

/* The first input (or docpipe_finish) starts the run, as `docpipe run`
 * would once its command line is read. */
static int start(struct docpipe *p)
{
  switch(p->phase) {
  case PHASE_NEW: return fail(p, DOCPIPE_ERR_USAGE, "no pipeline: docpipe_open comes first");
  case PHASE_RUNNING: return DOCPIPE_OK;
  case PHASE_BROKEN: return p->broken;
  case PHASE_DONE: return fail(p, DOCPIPE_ERR_USAGE, "the run is finished: a handle runs once");
  case PHASE_OPEN: break;
  }
  char why[1024];
  int rc;
  if(dpi_settings_finish(&p->s, why, sizeof(why)))
    rc = fail(p, DOCPIPE_ERR_OPTION, "%s", why);
  else if(dpi_settings_format_chain(&p->s, &p->chain))
    rc = fail(p, DOCPIPE_ERR_NOMEM, "out of memory");
  else
    rc = set_up(p); /* no arguments to look at: a library run's inputs are pushed */
  p->phase = rc ? PHASE_BROKEN : PHASE_RUNNING;
  p->broken = rc;
  return rc;
}

static int fed(struct docpipe *p, enum dp_status st)
{
  p->fed = 1;
  if(st != DP_FATAL)
    return DOCPIPE_OK;
  return fail(p, DOCPIPE_ERR_RUN, "%s",
              atomic_load(&p->stopped) ? "the run was stopped by a callback"
                                       : "the run cannot go on (out of memory?)");
}

int docpipe_push(struct docpipe *p, const char *data, size_t len)
{
  if(!p || (!data && len))
    return DOCPIPE_ERR_USAGE;
  int rc = start(p);
  if(rc)
    return rc;
  return fed(p, dpi_runner_feed_text(p->su.run, data ? data : "", len, ++p->pushed));
}

int docpipe_push_path(struct docpipe *p, const char *path)
{
  if(!p || !path)
    return DOCPIPE_ERR_USAGE;
  int rc = start(p);
  if(rc)
    return rc;
  return fed(p, dpi_runner_feed(p->su.run, path));
}

int docpipe_finish(struct docpipe *p, struct docpipe_counts *counts)
{
  if(counts)
    memset(counts, 0, sizeof(*counts));
  if(!p)
    return DOCPIPE_ERR_USAGE;
  int rc = start(p);
  if(rc)
    return rc;
  enum dp_status st = DP_OK;
  if(!p->fed && (p->chain.stages[0].ops->flags & DP_STAGE_NO_INPUT))
    st = dpi_runner_feed_default(p->su.run); /* a source that needs no input runs once */
  if(dpi_setup_finish(&p->su) == DP_FATAL)
    st = DP_FATAL;
  p->phase = PHASE_DONE;
  const struct dp_counts *c = dpi_runner_counts(p->su.run);
  if(counts)
    *counts = (struct docpipe_counts){c->emitted + c->failed, c->emitted, c->failed, c->inputs,
                                      c->skipped};
  /* The run is over: stages and helpers go now, not at docpipe_free. */
  dpi_chain_close(&p->chain);
  dpi_setup_stop_helpers(&p->su);
  return st == DP_FATAL ? fed(p, st) : DOCPIPE_OK;
}
