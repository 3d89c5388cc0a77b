/* cli.c - see cli.h
 *
 * A Unix filter in the manner of jq: stdout carries records only, error
 * records go to the errors sink (stderr unless --errors), diagnostics are
 * one line "docpipe: ...", and the exit status says whether every document
 * converted (0), some failed (1), or the run could not go on (2). */
#include "cli.h"

#include <errno.h>
#include <libxml/parser.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dplimits.h"
#include "options.h"
#include "pipeline.h"
#include "registry.h"
#include "runner.h"

struct cli {
  struct dp_context ctx;
  const char *output;
  const char *errors;
  int quiet;
  int unbuffered;
  size_t max_line;
  unsigned jobs;
};

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

static const char general_help[] =
  "Usage: docpipe [OPTIONS] COMMAND [ARGS...]\n"
  "Turn clinical documents (FHIR DocumentReference + Binary, raw PDF, C-CDA,\n"
  "HL7 v2, RTF, HTML, text) into one normalized NDJSON record per document.\n"
  "\n"
  "Commands:\n"
  "  run PIPELINE [OPTIONS] [INPUT...]  run a pipeline file: a path, or a name\n"
  "                                     from the pipelines folder (fhir-dump, raw-files)\n"
  "  convert [OPTIONS] PATH...          convert raw files and folders (the raw-files pipeline)\n"
  "  STAGE [OPTIONS] [INPUT...]         run one stage as an NDJSON filter (stdin to stdout)\n"
  "  stages                             list the stages\n"
  "  help [STAGE]                       this text, or a stage's options\n"
  "\n"
  "INPUT is an NDJSON file (FHIR resources or docpipe records), a JSON Bundle,\n"
  "or '-' for stdin (the default). Stage options may follow a pipeline name and\n"
  "go to every stage of the pipeline that takes them.\n"
  "\n"
  "Options for every command:\n"
  "  -o, --output FILE    write records to FILE (default: stdout)\n"
  "  -e, --errors FILE    write error records to FILE (default: stderr)\n"
  "  -q, --quiet          no summary line on stderr\n"
  "      --unbuffered     flush after every record\n"
  "      --max-bytes SIZE largest decoded document (default 256M)\n"
  "      --max-text SIZE  largest extracted text of one document (default 64M)\n"
  "      --max-pages N    most pages read from one PDF (default 10000)\n"
  "      --max-line SIZE  longest input line (default 512M)\n"
  "  -j, --jobs N         worker threads (default: the number of CPUs); output\n"
  "                       keeps input order whatever N is\n"
  "  -h, --help           show help (after a stage name: that stage's options)\n"
  "  -V, --version        show the version\n"
  "\n"
  "Environment: DOCPIPE_PIPELINE_DIR overrides the pipelines folder.\n"
  "\n"
  "Exit status: 0 every document converted; 1 some documents failed (each has an\n"
  "error record); 2 usage error, or the run could not go on.\n"
  "\n"
  "Examples:\n"
  "  docpipe run fhir-dump --binaries Binary.ndjson DocumentReference.ndjson\n"
  "  docpipe convert ~/scans/ > records.ndjson\n"
  "  docpipe resolve --binaries Binary.ndjson DocumentReference.ndjson | docpipe decode \\\n"
  "    | docpipe sniff | docpipe extract | docpipe normalize\n";

static void list_stages(FILE *f)
{
  fprintf(f, "Stages (extractors also run alone on decoded records):\n");
  for(const struct dp_stage_ops *const *s = dp_stage_registry; *s; s++)
    fprintf(f, "  %-10s %s%s\n", (*s)->name, (*s)->summary ? (*s)->summary : "",
            (*s)->flags & DP_STAGE_EXTRACTOR ? " [extractor]" : "");
}

static void stage_help(const struct dp_stage_ops *ops, FILE *f)
{
  fprintf(f, "Usage: docpipe %s [OPTIONS] [INPUT...]\n%s\n", ops->name,
          ops->summary ? ops->summary : "");
  if(ops->flags & DP_STAGE_READS_PATHS)
    fprintf(f, "INPUT: files and folders; with none, paths are read from stdin.\n");
  else
    fprintf(f, "INPUT: NDJSON files; with none, stdin.\n");
  if(ops->options && ops->options->name) {
    fprintf(f, "\nOptions:\n");
    for(const struct dp_option_spec *o = ops->options; o->name; o++) {
      char left[64];
      snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
      fprintf(f, "  %-24s %s", left, o->help);
      if(o->def)
        fprintf(f, " (default: %s)", o->def);
      if(o->env)
        fprintf(f, " [env %s]", o->env);
      if(o->flags & DP_OPT_MULTI)
        fprintf(f, " (repeatable)");
      fputc('\n', f);
    }
  }
  fprintf(f, "\nThe options for every command (see docpipe --help) apply too.\n");
}

/* Global options; returns 1 if argv[*i] was one (consuming its value),
 * 0 if not, -1 on a usage error. */
static int global_option(struct cli *c, int argc, char **argv, int *i)
{
  const char *a = argv[*i];
  const char *names[] = {"--output", "--errors", "--max-bytes", "--max-text", "--max-pages",
                         "--max-line", "--jobs"};
  const char *shorts[] = {"-o", "-e", NULL, NULL, NULL, NULL, "-j"};
  if(!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
    c->quiet = 1;
    return 1;
  }
  if(!strcmp(a, "--unbuffered")) {
    c->unbuffered = 1;
    return 1;
  }
  for(size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
    size_t nl = strlen(names[k]);
    const char *value = NULL;
    if(!strcmp(a, names[k]) || (shorts[k] && !strcmp(a, shorts[k]))) {
      if(*i + 1 >= argc) {
        usage_error("option %s needs a value", a);
        return -1;
      }
      value = argv[++*i];
    } else if(!strncmp(a, names[k], nl) && a[nl] == '=') {
      value = a + nl + 1;
    } else if(shorts[k] && !strncmp(a, shorts[k], 2) && a[2]) {
      value = a + 2; /* -j4, -oFILE */
    } else {
      continue;
    }
    int bad = 0;
    switch(k) {
    case 0: c->output = value; break;
    case 1: c->errors = value; break;
    case 2: bad = dpi_parse_size(value, &c->ctx.max_document); break;
    case 3: bad = dpi_parse_size(value, &c->ctx.max_text); break;
    case 4: bad = dpi_parse_uint(value, &c->ctx.max_pages); break;
    case 5: bad = dpi_parse_size(value, &c->max_line); break;
    case 6: bad = dpi_parse_uint(value, &c->jobs) || c->jobs == 0 || c->jobs > 1024; break;
    }
    if(bad) {
      usage_error("bad value for %s", names[k]);
      return -1;
    }
    return 1;
  }
  return 0;
}

/* Sort the arguments after the command into options (global or for the
 * chain) and inputs. */
static int parse_args(struct cli *c, struct dp_chain *chain, int argc, char **argv, int first,
                      const char ***inputs, size_t *ninputs, int *want_help)
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
    int g = global_option(c, argc, argv, &i);
    if(g < 0)
      return -1;
    if(g)
      continue;
    if(strncmp(a, "--", 2)) {
      usage_error("unknown option %s", a);
      return -1;
    }
    char name[128];
    const char *eq = strchr(a + 2, '=');
    size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    if(nl >= sizeof(name)) {
      usage_error("unknown option %s", a);
      return -1;
    }
    memcpy(name, a + 2, nl);
    name[nl] = '\0';
    int takes_arg = 0;
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

static int run_chain(struct cli *c, struct dp_chain *chain, const char **inputs, size_t ninputs)
{
  char why[1024];
  if(dpi_chain_open(chain, why, sizeof(why))) {
    fprintf(stderr, "docpipe: %s\n", why);
    return DP_EXIT_FATAL;
  }
  FILE *out = open_sink(c->output, stdout);
  FILE *err = open_sink(c->errors, stderr);
  if(!out || !err) {
    if(out && out != stdout)
      fclose(out);
    if(err && err != stderr)
      fclose(err);
    return DP_EXIT_FATAL;
  }
  static char outbuf[1 << 16];
  if(out == stdout && !c->unbuffered)
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
  struct dp_run_options ro = {out, err, c->max_line, c->jobs, c->unbuffered};
  struct dp_runner *run = dpi_runner_new(chain, &ro);
  if(!run) {
    fprintf(stderr, "docpipe: out of memory\n");
    return DP_EXIT_FATAL;
  }
  enum dp_status rc = DP_OK;
  if(ninputs == 0)
    rc = dpi_runner_feed_stdin(run);
  for(size_t i = 0; i < ninputs && rc != DP_FATAL; i++)
    rc = dpi_runner_feed(run, inputs[i]);
  if(dpi_runner_finish(run) == DP_FATAL)
    rc = DP_FATAL;
  int status = DP_EXIT_OK;
  if(fflush(out) || ferror(out) || (out != stdout && fclose(out))) {
    fprintf(stderr, "docpipe: writing records failed: %s\n", strerror(errno));
    status = DP_EXIT_FATAL;
  }
  if(err != stderr && fclose(err)) {
    fprintf(stderr, "docpipe: writing errors failed: %s\n", strerror(errno));
    status = DP_EXIT_FATAL;
  }
  if(rc == DP_FATAL && status == DP_EXIT_OK) {
    fprintf(stderr, "docpipe: run stopped: %s\n", errno ? strerror(errno) : "fatal error");
    status = DP_EXIT_FATAL;
  }
  if(!c->quiet)
    dpi_runner_summary(run, stderr);
  if(status == DP_EXIT_OK && dpi_runner_counts(run)->failed)
    status = DP_EXIT_FAILURES;
  dpi_runner_free(run);
  return status;
}

int dpi_cli_main(int argc, char **argv)
{
  struct cli c;
  memset(&c, 0, sizeof(c));
  dpi_context_defaults(&c.ctx);
  c.max_line = DP_MAX_LINE;
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  c.jobs = cpus > 0 ? (unsigned)(cpus < 64 ? cpus : 64) : 1;
  xmlInitParser();

  /* Global options may come before the command. */
  int i = 1;
  for(; i < argc && argv[i][0] == '-' && strcmp(argv[i], "-"); i++) {
    if(!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      fputs(general_help, stdout);
      return DP_EXIT_OK;
    }
    if(!strcmp(argv[i], "-V") || !strcmp(argv[i], "--version")) {
      printf("docpipe %s\n", DOCPIPE_VERSION);
      return DP_EXIT_OK;
    }
    int g = global_option(&c, argc, argv, &i);
    if(g <= 0) {
      if(g == 0)
        usage_error("unknown option %s", argv[i]);
      return DP_EXIT_FATAL;
    }
  }
  if(i >= argc) {
    fputs(general_help, stderr);
    return DP_EXIT_FATAL;
  }
  const char *cmd = argv[i++];
  if(!strcmp(cmd, "help")) {
    const struct dp_stage_ops *ops = i < argc ? dpi_stage_find(argv[i]) : NULL;
    if(i < argc && !ops) {
      usage_error("no stage named %s", argv[i]);
      return DP_EXIT_FATAL;
    }
    if(ops)
      stage_help(ops, stdout);
    else
      fputs(general_help, stdout);
    return DP_EXIT_OK;
  }
  if(!strcmp(cmd, "stages")) {
    list_stages(stdout);
    return DP_EXIT_OK;
  }

  struct dp_chain chain;
  char why[1024];
  const struct dp_stage_ops *single = NULL;
  if(!strcmp(cmd, "run") || !strcmp(cmd, "convert")) {
    const char *name = "raw-files";
    if(!strcmp(cmd, "run")) {
      if(i >= argc || argv[i][0] == '-') {
        usage_error("%s needs a pipeline: docpipe run PIPELINE [INPUT...]", "run");
        return DP_EXIT_FATAL;
      }
      name = argv[i++];
    }
    if(dpi_pipeline_load(name, &c.ctx, &chain, why, sizeof(why))) {
      fprintf(stderr, "docpipe: %s\n", why);
      return DP_EXIT_FATAL;
    }
  } else if((single = dpi_stage_find(cmd))) {
    if(dpi_chain_single(single, &c.ctx, &chain)) {
      fprintf(stderr, "docpipe: out of memory\n");
      return DP_EXIT_FATAL;
    }
  } else {
    usage_error("unknown command or stage '%s'", cmd);
    return DP_EXIT_FATAL;
  }

  const char **inputs = NULL;
  size_t ninputs = 0;
  int want_help = 0;
  int status;
  if(parse_args(&c, &chain, argc, argv, i, &inputs, &ninputs, &want_help)) {
    status = DP_EXIT_FATAL;
  } else if(want_help) {
    if(single)
      stage_help(single, stdout);
    else
      fputs(general_help, stdout);
    status = DP_EXIT_OK;
  } else if(!strcmp(cmd, "convert") && ninputs == 0) {
    usage_error("%s needs at least one file or folder", "convert");
    status = DP_EXIT_FATAL;
  } else {
    status = run_chain(&c, &chain, inputs, ninputs);
  }
  free(inputs);
  dpi_chain_free(&chain);
  xmlCleanupParser();
  return status;
}
