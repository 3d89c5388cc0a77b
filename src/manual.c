/* manual.c - see manual.h */
#include "manual.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dplimits.h"
#include "errors.h"
#include "ndjson.h"
#include "paths.h"
#include "pipeline.h"
#include "registry.h"
#include "settings.h"
#include "walk.h"

#define HELP_WIDTH 79
#define HELP_INDENT 30

/* ---- rendering -------------------------------------------------------- */

/* Words of text from column col, wrapped at HELP_WIDTH with indent. */
static void wrap(FILE *f, const char *text, size_t col, size_t indent)
{
  const char *p = text;
  for(int first = 1; *p; first = 0) {
    while(*p == ' ')
      p++;
    size_t n = strcspn(p, " ");
    if(!n)
      break;
    if(!first && col + 1 + n > HELP_WIDTH) {
      fprintf(f, "\n%*s", (int)indent, "");
      col = indent;
    } else if(!first) {
      fputc(' ', f);
      col++;
    }
    fwrite(p, 1, n, f);
    col += n;
    p += n;
  }
}

/* Text for roff: backslashes escaped, '-' as \- so commands copy as typed,
 * and no line starting with a control character. */
static void roff(FILE *f, const char *text)
{
  int line_start = 1;
  for(const char *p = text; *p; p++) {
    if(line_start && (*p == '.' || *p == '\''))
      fputs("\\&", f);
    line_start = *p == '\n';
    if(*p == '\\')
      fputs("\\e", f);
    else if(*p == '-')
      fputs("\\-", f);
    else
      fputc(*p, f);
  }
}

void dpi_doc_option(FILE *f, enum dp_doc_style style, const struct dp_option_spec *o)
{
  char shrt = dpi_opt_short(o);
  int repeatable = (o->flags & DP_OPT_MULTI) != 0;
  struct dp_buf body;
  dpi_buf_init(&body, 4096);
  dpi_buf_adds(&body, o->help);
  if(o->def)
    dpi_buf_addf(&body, " (default: %s)", o->def);
  if(repeatable)
    dpi_buf_adds(&body, " (repeatable)");
  if(style == DP_DOC_TEXT) {
    if(o->env)
      dpi_buf_addf(&body, repeatable ? " [%s, one per line]" : " [%s]", o->env);
    char left[96];
    snprintf(left, sizeof(left), "%c%c%s--%s%s%s", shrt ? '-' : ' ', shrt ? shrt : ' ',
             shrt ? ", " : "  ", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
    fprintf(f, "  %s", left);
    size_t col = 2 + strlen(left);
    if(col + 2 > HELP_INDENT) {
      fprintf(f, "\n%*s", HELP_INDENT, "");
      col = HELP_INDENT;
    } else {
      fprintf(f, "%*s", (int)(HELP_INDENT - col), "");
      col = HELP_INDENT;
    }
    wrap(f, dpi_buf_str(&body), col, HELP_INDENT);
    fputc('\n', f);
  } else {
    fputs(".TP\n", f);
    if(shrt)
      fprintf(f, "\\fB\\-%c\\fR, ", shrt);
    fputs("\\fB", f);
    roff(f, "--");
    roff(f, o->name);
    fputs("\\fR", f);
    if(o->arg) {
      fputs(" \\fI", f);
      roff(f, o->arg);
      fputs("\\fR", f);
    }
    fputc('\n', f);
    roff(f, dpi_buf_str(&body));
    if(o->env) {
      fputs("\nEnvironment: \\fB", f);
      roff(f, o->env);
      fputs(repeatable ? "\\fR, one value per line." : "\\fR.", f);
    }
    fputc('\n', f);
  }
  dpi_buf_free(&body);
}

void dpi_doc_heading(FILE *f, enum dp_doc_style style, const char *title)
{
  if(style == DP_DOC_TEXT) {
    fprintf(f, "\n%s:\n", title);
  } else {
    fputs(".SS \"", f);
    roff(f, title);
    fputs("\"\n", f);
  }
}

/* ---- the terminal help ------------------------------------------------ */

static const char help_head[] =
  "Usage: docpipe [OPTIONS] COMMAND [ARGS...]\n"
  "Turn clinical documents (FHIR DocumentReference + Binary, raw PDF, C-CDA,\n"
  "HL7 v2, RTF, HTML, text) into one normalized NDJSON record per document.\n"
  "\n"
  "Commands:\n"
  "  run PIPELINE [OPTIONS] [INPUT...]  run a pipeline file: a path, or a name\n"
  "                                     (docpipe pipelines lists them)\n"
  "  convert [OPTIONS] PATH...          convert raw files and folders (raw-files)\n"
  "  STAGE [OPTIONS] [INPUT...]         run one stage as an NDJSON filter\n"
  "  check [--pipeline NAME] [--patient ID] [LEVEL]\n"
  "                                     preflight against the FHIR server for a\n"
  "                                     pipeline (docpipe check --help)\n"
  "  jwks                               print the public JWKS of --private-key to\n"
  "                                     register the client with the EHR\n"
  "  pipelines                          list the ready pipelines\n"
  "  stages                             list the stages\n"
  "  help [STAGE]                       this text, or a stage's options\n"
  "\n"
  "INPUT is an NDJSON file (FHIR resources or docpipe records), a JSON Bundle,\n"
  "or '-' for stdin (the default); stages that read arguments (files, search,\n"
  "export) take paths, patient ids or query strings instead. Stage options may\n"
  "follow a pipeline name and go to every stage of the pipeline that takes them.\n"
  "Every option also reads the DOCPIPE_* variable shown, or the config file.\n";

static const char help_tail[] =
  "\n"
  "Exit status: 0 every document converted; 1 some documents failed (each has an\n"
  "error record); 2 usage error, or the run could not go on.\n"
  "\n"
  "Examples:\n"
  "  docpipe convert samples/files                   # raw files to records\n"
  "  docpipe run fhir-dump --binaries Binary.ndjson DocumentReference.ndjson\n"
  "  docpipe resolve --binaries Binary.ndjson DocumentReference.ndjson \\\n"
  "    | docpipe decode | docpipe sniff | docpipe extract | docpipe normalize\n"
  "  echo 12724066 | docpipe --fhir-base $BASE --client-id $ID \\\n"
  "    --private-key key.pem --key-id k1 run fhir-documents > records.ndjson\n"
  "  docpipe -f es-bulk --index notes convert docs/ | curl -s -H 'Content-Type: \\\n"
  "    application/x-ndjson' --data-binary @- http://localhost:9200/_bulk\n"
  "  docpipe --shard 2/8 -o part-2.ndjson run fhir-dump --binaries B.ndjson \\\n"
  "    D.ndjson                                      # one machine of eight\n"
  "  docpipe -o records.ndjson -e errors.ndjson --state run.state convert docs/\n"
  "  docpipe -e retry.ndjson convert errors.ndjson  # retry only the failures\n"
  "\n"
  "More: docpipe STAGE --help, man docpipe, man docpipe-pipeline.\n";

/* ---- docpipe check ------------------------------------------------------ */

static const char check_about[] =
  "Preflight against the FHIR server given by --fhir-base: each step prints OK, "
  "SKIP or FAIL with the fix, and the exit status is 1 when something blocks "
  "the job. The CapabilityStatement (/metadata) and "
  ".well-known/smart-configuration are read before any token; then what the "
  "pipeline needs of the server is judged (a DocumentReference search for "
  "fhir-documents; $export at the level, and the --type resources, for "
  "bulk-export), a token is asked for with that pipeline's scopes and the "
  "granted ones compared, and one real request is made: a search and a Binary "
  "read in both Accept modes (with --patient), or a Bulk Data kick-off that is "
  "cancelled at once.";

static const struct dp_option_spec check_options[] = {
  {"pipeline", "NAME", 0, NULL,
   "bulk-export when the server has $export but no DocumentReference search, else "
   "fhir-documents",
   "the pipeline to judge the server for (a name or a file)"},
  {"patient", "ID", 0, NULL, NULL, "a patient for the search and Binary read steps"},
};

static const char check_level[] =
  "LEVEL is the export level that bulk-export is judged at: system (the default), "
  "Patient, or Group/ID. Stage options such as export --type come from the "
  "pipeline file (or a copy of it given to --pipeline).";

static void check_text(FILE *f, enum dp_doc_style style)
{
  for(size_t i = 0; i < sizeof(check_options) / sizeof(*check_options); i++)
    dpi_doc_option(f, style, &check_options[i]);
}

void dpi_manual_check_help(FILE *f)
{
  fprintf(f, "Usage: docpipe [OPTIONS] check [--pipeline NAME] [--patient ID] [LEVEL]\n");
  wrap(f, check_about, 0, 0);
  fputc('\n', f);
  dpi_doc_heading(f, DP_DOC_TEXT, "Options");
  check_text(f, DP_DOC_TEXT);
  fputc('\n', f);
  wrap(f, check_level, 0, 0);
  fprintf(f, "\n\nThe options for every command (see docpipe --help) apply too.\n");
}

struct help_walk {
  FILE *f;
  enum dp_doc_style style;
  const char *group;
};

static void help_option(const struct dp_option_spec *o, const char *group, void *user)
{
  struct help_walk *w = user;
  if(!w->group || strcmp(w->group, group)) {
    char title[128];
    snprintf(title, sizeof(title), "%c%s options", group[0] - (group[0] >= 'a' ? 32 : 0),
             group + 1);
    if(!strcmp(group, "FHIR server"))
      snprintf(title, sizeof(title), "FHIR server options (search, export, update, check; "
                                     "resolve online)");
    dpi_doc_heading(w->f, w->style, title);
    w->group = group;
  }
  dpi_doc_option(w->f, w->style, o);
}

void dpi_manual_help(FILE *f)
{
  fputs(help_head, f);
  struct help_walk w = {f, DP_DOC_TEXT, NULL};
  dpi_settings_each(help_option, &w);
  fputs(help_tail, f);
}

static void stage_options(FILE *f, enum dp_doc_style style, const struct dp_stage_ops *ops)
{
  for(const struct dp_option_spec *o = ops->options; o && o->name; o++)
    dpi_doc_option(f, style, o);
}

static const char *stage_input(const struct dp_stage_ops *ops)
{
  if(ops->flags & DP_STAGE_NO_INPUT)
    return "Input: optional arguments; with none it runs once.";
  if(ops->flags & DP_STAGE_READS_ARGS)
    return "Input: arguments; with none, one per line from stdin.";
  return "Input: NDJSON files; with none, stdin.";
}

void dpi_manual_stage_help(FILE *f, const struct dp_stage_ops *ops)
{
  fprintf(f, "Usage: docpipe %s [OPTIONS] [INPUT...]\n%s\n%s\n", ops->name,
          ops->summary ? ops->summary : "", stage_input(ops));
  if(ops->flags & DP_STAGE_NETWORK)
    fprintf(f, "Talks to the FHIR server given by --fhir-base (see docpipe --help).\n");
  if(ops->options && ops->options->name) {
    dpi_doc_heading(f, DP_DOC_TEXT, "Options");
    stage_options(f, DP_DOC_TEXT, ops);
  }
  fprintf(f, "\nThe options for every command (see docpipe --help) apply too.\n");
}

void dpi_manual_list_stages(FILE *f)
{
  fprintf(f, "Stages (extractors also run alone on decoded records):\n");
  for(const struct dp_stage_ops *const *s = dp_stage_registry; *s; s++)
    fprintf(f, "  %-10s %s%s\n", (*s)->name, (*s)->summary ? (*s)->summary : "",
            (*s)->flags & DP_STAGE_EXTRACTOR ? " [extractor]" : "");
}

/* The first comment line of a pipeline file says what it is for:
 * "# fhir-dump: a FHIR Bulk Data dump ..." gives "a FHIR Bulk Data dump ...". */
static void pipeline_purpose(const char *path, const char *name, char *out, size_t len)
{
  out[0] = '\0';
  FILE *f = fopen(path, "re");
  if(!f)
    return;
  char line[512];
  if(fgets(line, sizeof(line), f) && line[0] == '#') {
    const char *p = line + 1 + strspn(line + 1, " ");
    size_t nl = strlen(name);
    if(!strncmp(p, name, nl) && p[nl] == ':')
      p += nl + 1 + strspn(p + nl + 1, " ");
    snprintf(out, len, "%.*s", (int)strcspn(p, "\n"), p);
  }
  fclose(f);
}

static int by_string(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The pipeline names of the folders listed so far; a name met again in a
 * later folder is hidden by the first. */
struct pipeline_names {
  char *seen[DP_MAX_LISTED_PIPELINES];
  size_t n;
};

static enum dp_walk_next pipeline_name(void *user, const struct dp_walk_entry *e)
{
  struct pipeline_names *pn = user;
  if(e->depth == 0)
    return e->type == DP_WALK_DIR ? DP_WALK_GO : DP_WALK_STOP;
  if(pn->n >= sizeof(pn->seen) / sizeof(*pn->seen))
    return DP_WALK_STOP;
  size_t len = strlen(e->name);
  if(len <= 9 || strcmp(e->name + len - 9, ".pipeline"))
    return DP_WALK_SKIP;
  int dup = 0;
  for(size_t i = 0; i < pn->n && !dup; i++)
    dup = !strncmp(pn->seen[i], e->name, len - 9) && !pn->seen[i][len - 9];
  if(!dup && (pn->seen[pn->n] = dpi_memdup(e->name, len - 9)))
    pn->n++;
  return DP_WALK_SKIP;
}

void dpi_manual_list_pipelines(FILE *f)
{
  char dirs[DP_PIPELINE_DIRS][DP_PATH_MAX];
  size_t ndirs = dpi_pipeline_dirs(dirs);
  struct pipeline_names pn = {.n = 0};
  char **seen = pn.seen;
  fprintf(f, "Pipelines (docpipe run NAME; the first folder that has a name wins):\n");
  for(size_t d = 0; d < ndirs; d++) {
    size_t first = pn.n;
    dpi_walk(dirs[d], pipeline_name, &pn); /* a folder that cannot be read lists nothing */
    size_t n = pn.n;
    if(n > first)
      qsort(seen + first, n - first, sizeof(*seen), by_string);
    for(size_t i = first; i < n; i++) {
      char path[DP_PATH_MAX + 300], purpose[512];
      snprintf(path, sizeof(path), "%s/%s.pipeline", dirs[d], seen[i]);
      pipeline_purpose(path, seen[i], purpose, sizeof(purpose));
      fprintf(f, "  %-16s %s\n", seen[i], purpose);
    }
    if(n > first)
      fprintf(f, "  (in %s)\n", dirs[d]);
  }
  for(size_t i = 0; i < pn.n; i++)
    free(seen[i]);
}

/* ---- the commands of the manual ----------------------------------------- */

int dpi_manual_command(const char *cmd, int argc, char **argv, int i)
{
  if(!strcmp(cmd, "help")) {
    if(i < argc && !strcmp(argv[i], "check")) {
      dpi_manual_check_help(stdout);
      return DP_EXIT_OK;
    }
    const struct dp_stage_ops *ops = i < argc ? dpi_stage_find(dp_stage_registry, argv[i])
                                              : NULL;
    if(i < argc && !ops) {
      fprintf(stderr, "docpipe: no stage named %s\nTry 'docpipe --help'.\n", argv[i]);
      return DP_EXIT_FATAL;
    }
    if(ops)
      dpi_manual_stage_help(stdout, ops);
    else
      dpi_manual_help(stdout);
    return DP_EXIT_OK;
  }
  if(!strcmp(cmd, "pipelines")) {
    dpi_manual_list_pipelines(stdout);
    return DP_EXIT_OK;
  }
  if(!strcmp(cmd, "stages")) {
    dpi_manual_list_stages(stdout);
    return DP_EXIT_OK;
  }
  return -1;
}

void dpi_manual_command_help(FILE *f, const char *cmd, const struct dp_stage_ops *single)
{
  if(single)
    dpi_manual_stage_help(f, single);
  else if(!strcmp(cmd, "check"))
    dpi_manual_check_help(f);
  else
    dpi_manual_help(f);
}

/* ---- man pages -------------------------------------------------------- */

static void man_stages(FILE *f)
{
  for(const struct dp_stage_ops *const *s = dp_stage_registry; *s; s++) {
    const struct dp_stage_ops *ops = *s;
    fputs(".TP\n\\fB", f);
    roff(f, ops->name);
    fputs("\\fR", f);
    if(ops->flags & DP_STAGE_EXTRACTOR) {
      fputs(" (extractor: ", f);
      roff(f, ops->format ? ops->format : "");
      fputs(")", f);
    }
    fputc('\n', f);
    roff(f, ops->summary ? ops->summary : "");
    fputs(".\n", f);
    roff(f, stage_input(ops));
    if(ops->flags & DP_STAGE_NETWORK)
      fputs(" Talks to the FHIR server.", f);
    fputc('\n', f);
    if(ops->options && ops->options->name) {
      fputs(".RS\n", f);
      stage_options(f, DP_DOC_ROFF, ops);
      fputs(".RE\n", f);
    }
  }
}

static void env_option(const struct dp_option_spec *o, const char *group, void *user)
{
  (void)group;
  FILE *f = user;
  if(!o->env)
    return;
  fputs(".TP\n\\fB", f);
  roff(f, o->env);
  fputs("\\fR\n", f);
  fputs("Default of \\fB", f);
  roff(f, "--");
  roff(f, o->name);
  fputs("\\fR.\n", f);
}

static void man_environment(FILE *f)
{
  dpi_settings_each(env_option, f);
  for(const struct dp_stage_ops *const *s = dp_stage_registry; *s; s++)
    for(const struct dp_option_spec *o = (*s)->options; o && o->name; o++) {
      if(!o->env)
        continue;
      fputs(".TP\n\\fB", f);
      roff(f, o->env);
      fputs("\\fR\nDefault of \\fB", f);
      roff(f, "--");
      roff(f, o->name);
      fputs("\\fR of the \\fB", f);
      roff(f, (*s)->name);
      fputs("\\fR stage.\n", f);
    }
}

static void man_error_kinds(FILE *f)
{
  for(int k = 1; k < DP_KIND_COUNT; k++) {
    fputs(".TP\n\\fB", f);
    roff(f, dpi_kind_name((enum dp_kind)k));
    fputs("\\fR\n", f);
    roff(f, dpi_kind_summary((enum dp_kind)k));
    fputc('\n', f);
  }
}

int dpi_manual_main(int argc, char **argv)
{
  if(argc < 3) {
    fprintf(stderr, "usage: docpipe __man TEMPLATE [OUTPUT]\n");
    return DP_EXIT_FATAL;
  }
  size_t len = 0;
  char *text = dpi_read_small_file(argv[2], 1 << 20, &len);
  if(!text) {
    fprintf(stderr, "docpipe: cannot read %s: %s\n", argv[2], strerror(errno));
    return DP_EXIT_FATAL;
  }
  FILE *out = argc > 3 ? fopen(argv[3], "we") : stdout;
  if(!out) {
    fprintf(stderr, "docpipe: cannot write %s: %s\n", argv[3], strerror(errno));
    free(text);
    return DP_EXIT_FATAL;
  }
  for(const char *p = text; *p;) {
    const char *at = strchr(p, '@');
    const char *end = at ? strchr(at + 1, '@') : NULL;
    if(!at || !end) {
      fputs(p, out);
      break;
    }
    fwrite(p, 1, (size_t)(at - p), out);
    size_t n = (size_t)(end - at - 1);
    if(n == 7 && !memcmp(at + 1, "VERSION", n)) {
      fputs(DOCPIPE_VERSION, out);
    } else if(n == 7 && !memcmp(at + 1, "OPTIONS", n)) {
      struct help_walk w = {out, DP_DOC_ROFF, NULL};
      dpi_settings_each(help_option, &w);
    } else if(n == 6 && !memcmp(at + 1, "STAGES", n)) {
      man_stages(out);
    } else if(n == 11 && !memcmp(at + 1, "ENVIRONMENT", n)) {
      man_environment(out);
    } else if(n == 11 && !memcmp(at + 1, "ERROR_KINDS", n)) {
      man_error_kinds(out);
    } else if(n == 5 && !memcmp(at + 1, "CHECK", n)) {
      roff(out, check_about);
      fputc(' ', out);
      roff(out, check_level);
      fputs("\n.RS\n", out);
      check_text(out, DP_DOC_ROFF);
      fputs(".RE\n", out);
    } else {
      fputc('@', out); /* not a placeholder (an address in the text) */
      p = at + 1;
      continue;
    }
    p = end + 1;
  }
  free(text);
  int bad = ferror(out) | (out != stdout && fclose(out));
  return bad ? DP_EXIT_FATAL : DP_EXIT_OK;
}
