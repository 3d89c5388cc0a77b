/* pipeline.c - see pipeline.h */
#include "pipeline.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "ndjson.h"
#include "options.h"
#include "paths.h"

#define MAX_PIPELINE_FILE ((size_t)1 << 20)
#define MAX_TOKENS 64

static int is_file(const char *path)
{
  struct stat sb;
  return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

int dpi_pipeline_find(const char *file, const char *alt, char *path, size_t len, char *looked,
                      size_t lookedlen)
{
  char dirs[DP_PIPELINE_DIRS][DP_PATH_MAX];
  size_t n = dpi_pipeline_dirs(dirs);
  for(size_t i = 0; i < n; i++) {
    const char *names[2] = {file, alt};
    for(int k = 0; k < 2; k++) {
      if(!names[k])
        continue;
      int w = snprintf(path, len, "%s/%s", dirs[i], names[k]);
      if(w > 0 && (size_t)w < len && is_file(path))
        return 0;
    }
  }
  size_t at = 0;
  looked[0] = '\0';
  for(size_t i = 0; i < n && at < lookedlen; i++) {
    int w = snprintf(looked + at, lookedlen - at, "%s%s", i ? ", " : "", dirs[i]);
    if(w < 0)
      break;
    at += (size_t)w;
  }
  return -1;
}

static int add_stage(struct dp_chain *chain, const struct dp_stage_ops *ops,
                     const struct dp_context *ctx)
{
  struct dp_stage *m = realloc(chain->stages, (chain->n + 1) * sizeof(*m));
  if(!m)
    return -1;
  chain->stages = m;
  memset(&m[chain->n], 0, sizeof(m[chain->n]));
  m[chain->n].ops = ops;
  m[chain->n].ctx = ctx;
  chain->n++;
  return 0;
}

/* Split one line into tokens in place: white space separates, "..." quotes
 * (with \" and \\ escapes), '#' outside quotes ends the line.  Returns the
 * count or -1 for an unterminated quote. */
static int tokenize(char *s, char **tok, int max)
{
  int n = 0;
  for(;;) {
    while(*s == ' ' || *s == '\t' || *s == '\r')
      s++;
    if(!*s || *s == '#')
      return n;
    if(n == max)
      return -1;
    char *w = s;
    tok[n++] = w;
    while(*s && *s != ' ' && *s != '\t' && *s != '\r') {
      if(*s == '"') {
        s++;
        while(*s && *s != '"') {
          if(*s == '\\' && (s[1] == '"' || s[1] == '\\'))
            s++;
          *w++ = *s++;
        }
        if(*s != '"')
          return -1;
        s++;
      } else {
        *w++ = *s++;
      }
    }
    int end = !*s;
    *w = '\0';
    if(end)
      return n;
    s++;
  }
}

int dpi_pipeline_parse(const char *text, const char *origin, const char *base_dir,
                       const struct dp_context *ctx, struct dp_chain *chain, char *why,
                       size_t whylen)
{
  memset(chain, 0, sizeof(*chain));
  char *copy = strdup(text);
  if(!copy) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  int lineno = 0;
  for(char *line = copy, *next; line; line = next) {
    lineno++;
    next = strchr(line, '\n');
    if(next)
      *next++ = '\0';
    char *tok[MAX_TOKENS];
    int nt = tokenize(line, tok, MAX_TOKENS);
    if(nt < 0) {
      snprintf(why, whylen, "%s:%d: unterminated quote or too many words", origin, lineno);
      goto fail;
    }
    if(nt == 0)
      continue;
    const struct dp_stage_ops *ops = dpi_stage_find(ctx->stages, tok[0]);
    if(!ops) {
      snprintf(why, whylen, "%s:%d: unknown stage '%s' (docpipe stages lists them)", origin,
               lineno, tok[0]);
      goto fail;
    }
    if(add_stage(chain, ops, ctx))
      goto oom;
    struct dp_stage *st = &chain->stages[chain->n - 1];
    for(int i = 1; i < nt; i++) {
      if(strncmp(tok[i], "--", 2)) {
        snprintf(why, whylen, "%s:%d: '%s' is not an option of stage %s", origin, lineno, tok[i],
                 ops->name);
        goto fail;
      }
      char *name = tok[i] + 2;
      char *value = strchr(name, '=');
      if(value)
        *value++ = '\0';
      const struct dp_option_spec *spec = dpi_opt_spec(ops->options, name);
      if(!spec) {
        snprintf(why, whylen, "%s:%d: stage %s has no option --%s", origin, lineno, ops->name,
                 name);
        goto fail;
      }
      if(spec->flags & DP_OPT_FLAG) {
        if(!value)
          value = "1";
      } else if(!value) {
        if(i + 1 >= nt) {
          snprintf(why, whylen, "%s:%d: option --%s needs a value", origin, lineno, name);
          goto fail;
        }
        value = tok[++i];
      }
      if(dpi_stage_add_opt(st, spec, value, base_dir))
        goto oom;
    }
  }
  free(copy);
  if(chain->n == 0) {
    snprintf(why, whylen, "%s: names no stage", origin);
    return -1;
  }
  return 0;
oom:
  snprintf(why, whylen, "out of memory");
fail:
  free(copy);
  dpi_chain_free(chain);
  return -1;
}

int dpi_pipeline_load(const char *name, const struct dp_context *ctx, struct dp_chain *chain,
                      char *why, size_t whylen)
{
  char path[4096];
  if(is_file(name)) {
    snprintf(path, sizeof(path), "%s", name);
  } else if(!strchr(name, '/')) {
    char alt[512], looked[1024];
    snprintf(alt, sizeof(alt), "%s.pipeline", name);
    if(dpi_pipeline_find(name, alt, path, sizeof(path), looked, sizeof(looked))) {
      snprintf(why, whylen, "no pipeline '%s' (looked in %s)", name, looked);
      return -1;
    }
  } else {
    snprintf(why, whylen, "cannot read pipeline %s: %s", name, strerror(errno ? errno : ENOENT));
    return -1;
  }
  size_t len = 0;
  char *text = dpi_read_small_file(path, MAX_PIPELINE_FILE, &len);
  if(!text) {
    if(errno == EFBIG)
      snprintf(why, whylen, "cannot read pipeline %s: larger than 1 MiB", path);
    else
      snprintf(why, whylen, "cannot read pipeline %s: %s", path, strerror(errno));
    return -1;
  }
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if(slash)
    *slash = '\0';
  else
    snprintf(dir, sizeof(dir), ".");
  const char *base = strrchr(path, '/');
  int rc = dpi_pipeline_parse(text, base ? base + 1 : path, dir, ctx, chain, why, whylen);
  free(text);
  return rc;
}

int dpi_chain_append(struct dp_chain *chain, const struct dp_stage_ops *ops)
{
  return add_stage(chain, ops, chain->n ? chain->stages[0].ctx : NULL);
}

int dpi_chain_single(const struct dp_stage_ops *ops, const struct dp_context *ctx,
                     struct dp_chain *chain)
{
  memset(chain, 0, sizeof(*chain));
  return add_stage(chain, ops, ctx);
}

void dpi_chain_access(const struct dp_chain *chain, const char *const *args, size_t nargs,
                      struct dp_buf *access)
{
  for(size_t i = 0; i < chain->n; i++)
    if(chain->stages[i].ops->access)
      chain->stages[i].ops->access(&chain->stages[i], args, nargs, access);
}

int dpi_chain_needs_network(const struct dp_chain *chain)
{
  for(size_t i = 0; i < chain->n; i++)
    if(chain->stages[i].ops->flags & DP_STAGE_NETWORK)
      return 1;
  return 0;
}

int dpi_chain_arg(struct dp_chain *chain, int argc, char **argv, int *i, char *why,
                  size_t whylen)
{
  const char *a = argv[*i];
  char name[128];
  const char *eq = strchr(a + 2, '=');
  size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
  int takes_arg = 0;
  if(strncmp(a, "--", 2) || nl >= sizeof(name)) {
    snprintf(why, whylen, "unknown option %s", a);
    return -1;
  }
  memcpy(name, a + 2, nl);
  name[nl] = '\0';
  if(!dpi_chain_knows_option(chain, name, &takes_arg)) {
    snprintf(why, whylen, "no stage here takes option %s", a);
    return -1;
  }
  const char *value = eq ? eq + 1 : NULL;
  if(takes_arg && !value) {
    if(*i + 1 >= argc) {
      snprintf(why, whylen, "option %s needs a value", a);
      return -1;
    }
    value = argv[++*i];
  }
  if(dpi_chain_set_option(chain, name, value) < 0) {
    why[0] = '\0'; /* out of memory, as ever without a word */
    return -1;
  }
  return 1;
}

int dpi_chain_knows_option(const struct dp_chain *chain, const char *name, int *takes_arg)
{
  for(size_t i = 0; i < chain->n; i++) {
    const struct dp_option_spec *spec = dpi_opt_spec(chain->stages[i].ops->options, name);
    if(spec) {
      *takes_arg = !(spec->flags & DP_OPT_FLAG);
      return 1;
    }
  }
  return 0;
}

int dpi_chain_set_option(struct dp_chain *chain, const char *name, const char *value)
{
  int took = 0;
  for(size_t i = 0; i < chain->n; i++) {
    struct dp_stage *st = &chain->stages[i];
    const struct dp_option_spec *spec = dpi_opt_spec(st->ops->options, name);
    if(!spec)
      continue;
    /* A single-valued option given on the command line replaces the value
     * from the pipeline file; dpi_opt returns the last one given. */
    if(dpi_stage_add_opt(st, spec, value ? value : "1", NULL))
      return -1;
    took++;
  }
  return took;
}

int dpi_chain_open(struct dp_chain *chain, char *why, size_t whylen)
{
  for(size_t i = 0; i < chain->n; i++) {
    struct dp_stage *st = &chain->stages[i];
    char reason[512] = "cannot start";
    int failed = 0;
    if(dpi_stage_env_defaults(st)) {
      snprintf(reason, sizeof(reason), "out of memory");
      failed = 1;
    } else if(st->ops->open && st->ops->open(st, reason, sizeof(reason)) != DP_OK) {
      failed = 1;
    }
    if(failed) {
      snprintf(why, whylen, "stage %s: %s", st->ops->name, reason);
      for(size_t j = i; j-- > 0;)
        if(chain->stages[j].ops->close)
          chain->stages[j].ops->close(&chain->stages[j]);
      return -1;
    }
  }
  chain->opened = 1;
  return 0;
}

void dpi_chain_close(struct dp_chain *chain)
{
  if(!chain->opened)
    return;
  for(size_t i = 0; i < chain->n; i++)
    if(chain->stages[i].ops->close)
      chain->stages[i].ops->close(&chain->stages[i]);
  chain->opened = 0;
}

void dpi_chain_free(struct dp_chain *chain)
{
  dpi_chain_close(chain);
  for(size_t i = 0; i < chain->n; i++)
    dpi_stage_free_opts(&chain->stages[i]);
  free(chain->stages);
  memset(chain, 0, sizeof(*chain));
}

const struct dp_stage_ops *dpi_stage_find(const struct dp_stage_ops *const *stages,
                                          const char *name)
{
  for(const struct dp_stage_ops *const *s = stages; *s; s++)
    if(!strcmp((*s)->name, name))
      return *s;
  return NULL;
}
