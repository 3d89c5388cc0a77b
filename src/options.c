/* options.c - see options.h */
#include "options.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dplimits.h"

void dpi_context_defaults(struct dp_context *ctx, const struct dp_stage_ops *const *stages)
{
  ctx->stages = stages;
  ctx->max_document = DP_MAX_DOCUMENT;
  ctx->max_text = DP_MAX_TEXT;
  ctx->max_pages = DP_MAX_PAGES;
  ctx->max_depth = DP_MAX_EMBED_DEPTH;
  ctx->net = NULL;
  ctx->isolate = "pdf,image"; /* poppler, and Tesseract on Leptonica's decoders */
  ctx->ocr = DP_OCR_AUTO;
  ctx->ocr_lang = "eng";
  ctx->ocr_dpi = DP_OCR_DPI;
  ctx->max_time = DP_MAX_TIME;
  ctx->max_memory = DP_MAX_MEMORY;
  ctx->iso = NULL;
  ctx->helper = NULL;
  ctx->state = NULL;
  ctx->progress = NULL;
  ctx->say = NULL;
  ctx->say_user = NULL;
}

void dpi_say(const struct dp_context *ctx, const char *fmt, ...)
{
  if(!ctx->say)
    return;
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  ctx->say(ctx->say_user, line);
}

const struct dp_option_spec *dpi_opt_spec(const struct dp_option_spec *table, const char *name)
{
  for(const struct dp_option_spec *o = table; o && o->name; o++)
    if(!strcmp(o->name, name))
      return o;
  return NULL;
}

int dpi_stage_add_opt(struct dp_stage *st, const struct dp_option_spec *spec, const char *value,
                      const char *base_dir)
{
  struct dp_optval *m = realloc(st->opts, (st->nopts + 1) * sizeof(*m));
  if(!m)
    return -1;
  st->opts = m;
  char *copy;
  if((spec->flags & DP_OPT_PATH) && base_dir && value[0] != '/' && strcmp(value, "-")) {
    size_t n = strlen(base_dir) + strlen(value) + 2;
    copy = malloc(n);
    if(copy) {
      strcpy(copy, base_dir);
      strcat(copy, "/");
      strcat(copy, value);
    }
  } else {
    copy = strdup(value);
  }
  if(!copy)
    return -1;
  st->opts[st->nopts].spec = spec;
  st->opts[st->nopts].value = copy;
  st->nopts++;
  return 0;
}

void dpi_stage_free_opts(struct dp_stage *st)
{
  for(size_t i = 0; i < st->nopts; i++)
    free(st->opts[i].value);
  free(st->opts);
  st->opts = NULL;
  st->nopts = 0;
}

const char *dpi_opt_nth(const struct dp_stage *st, const char *name, size_t n)
{
  for(size_t i = 0; i < st->nopts; i++)
    if(!strcmp(st->opts[i].spec->name, name) && n-- == 0)
      return st->opts[i].value;
  return NULL;
}

const char *dpi_opt(const struct dp_stage *st, const char *name)
{
  const char *last = NULL;
  for(size_t i = 0; i < st->nopts; i++)
    if(!strcmp(st->opts[i].spec->name, name))
      last = st->opts[i].value;
  return last;
}

int dpi_falsy(const char *v)
{
  return !strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "false");
}

int dpi_stage_env_defaults(struct dp_stage *st)
{
  for(const struct dp_option_spec *spec = st->ops->options; spec && spec->name; spec++) {
    const char *env = spec->env ? getenv(spec->env) : NULL;
    if(!env || !*env || dpi_opt_nth(st, spec->name, 0))
      continue;
    if(spec->flags & DP_OPT_FLAG) {
      if(!dpi_falsy(env) && dpi_stage_add_opt(st, spec, "1", NULL))
        return -1;
      continue;
    }
    /* A repeatable option takes one value per line of its variable. */
    for(const char *p = env; *p;) {
      size_t n = spec->flags & DP_OPT_MULTI ? strcspn(p, "\n") : strlen(p);
      char *value = n ? dpi_memdup(p, n) : NULL;
      if(n && (!value || dpi_stage_add_opt(st, spec, value, NULL))) {
        free(value);
        return -1;
      }
      free(value);
      p += n + (p[n] == '\n');
    }
  }
  return 0;
}

int dpi_opt_flag(const struct dp_stage *st, const char *name)
{
  const char *v = dpi_opt(st, name);
  return v && !dpi_falsy(v);
}

int dpi_parse_size(const char *s, size_t *out)
{
  if(!s || !*s)
    return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if(errno || end == s || *s == '-')
    return -1;
  unsigned long long mult = 1;
  switch(*end) {
  case '\0': break;
  case 'k': case 'K': mult = 1024ULL; end++; break;
  case 'm': case 'M': mult = 1024ULL * 1024; end++; break;
  case 'g': case 'G': mult = 1024ULL * 1024 * 1024; end++; break;
  default: return -1;
  }
  if(*end == 'B' || *end == 'b' || (*end == 'i' && end[1] == 'B' && end++))
    end++;
  if(*end || v > (unsigned long long)SIZE_MAX / mult)
    return -1;
  *out = (size_t)(v * mult);
  return 0;
}

int dpi_parse_uint(const char *s, unsigned *out)
{
  if(!s || !*s || *s == '-')
    return -1;
  errno = 0;
  char *end;
  unsigned long v = strtoul(s, &end, 10);
  if(errno || *end || end == s || v > 0xffffffffUL)
    return -1;
  *out = (unsigned)v;
  return 0;
}
