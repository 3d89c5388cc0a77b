/* testutil.c - see testutil.h */
#include "testutil.h"

#include <archive.h>
#include <archive_entry.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extract.h"
#include "options.h"
#include "registry.h"
#include "textconv.h"

char *dpt_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  if(!f)
    return NULL;
  struct dp_buf b;
  dpi_buf_init(&b, (size_t)1 << 30);
  char chunk[65536];
  size_t n;
  while((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    dpi_buf_add(&b, chunk, n);
  fclose(f);
  return dpi_buf_take(&b, len);
}

const char *dpt_data(const char *rel)
{
  static char path[4096];
  snprintf(path, sizeof(path), "%s/%s", DPT_DATA_DIR, rel);
  return path;
}

const char *dpt_shared(const char *rel)
{
  static char path[4096];
  snprintf(path, sizeof(path), "%s/%s", DPT_SHARED_DIR, rel);
  return path;
}

struct collector {
  struct dp_emitter base;
  struct dpt_result *res;
};

static enum dp_status collect(struct dp_emitter *self, struct dp_record *rec)
{
  struct dpt_result *res = ((struct collector *)self)->res;
  res->recs = realloc(res->recs, (res->n + 1) * sizeof(*res->recs));
  res->recs[res->n++] = rec;
  return DP_OK;
}

static enum dp_status collect_fail(struct dp_emitter *self, struct dp_record *rec)
{
  struct dpt_result *res = ((struct collector *)self)->res;
  res->fails = realloc(res->fails, (res->nfails + 1) * sizeof(*res->fails));
  res->fails[res->nfails++] = rec;
  res->failed = res->fails[0];
  return DP_OK;
}

static struct dp_context test_ctx;
static size_t test_max_document;
static enum dp_ocr_mode test_ocr = DP_OCR_AUTO;

void dpt_set_max_document(size_t max)
{
  test_max_document = max;
}

void dpt_set_ocr(enum dp_ocr_mode mode)
{
  test_ocr = mode;
}

/* The defaults, with the cap a test asked for. */
static void reset_context(void)
{
  dpi_context_defaults(&test_ctx, dp_stage_registry);
  if(test_max_document)
    test_ctx.max_document = test_max_document;
  test_ctx.ocr = test_ocr;
}

void dpt_run_stage(const struct dp_stage_ops *ops, struct dp_record *rec, struct dpt_result *res,
                   ...)
{
  memset(res, 0, sizeof(*res));
  reset_context();
  struct dp_stage st = {.ops = ops, .ctx = &test_ctx};
  va_list ap;
  va_start(ap, res);
  const char *name;
  while((name = va_arg(ap, const char *))) {
    const char *value = va_arg(ap, const char *);
    const struct dp_option_spec *spec = dpi_opt_spec(ops->options, name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(spec);
    dpi_stage_add_opt(&st, spec, value, NULL);
  }
  va_end(ap);
  struct collector c = {{collect, collect_fail}, res};
  char why[512];
  res->status = ops->open ? ops->open(&st, why, sizeof(why)) : DP_OK;
  if(res->status == DP_OK) {
    res->status = ops->process(&st, rec, &c.base);
    if(res->status == DP_FAIL)
      collect_fail(&c.base, rec);
  } else {
    dpi_record_free(rec);
  }
  if(ops->close)
    ops->close(&st);
  dpi_stage_free_opts(&st);
}

struct dp_record *dpt_body_record(const void *bytes, size_t len)
{
  struct dp_record *r = dpi_record_new();
  dpi_record_set_str(r, "id", "test");
  struct dp_buf b;
  dpi_buf_init(&b, (size_t)1 << 30);
  dpi_buf_add(&b, bytes, len);
  dpi_record_set_body(r, &b);
  return r;
}

void dpt_extract(const void *bytes, size_t len, struct dpt_result *res)
{
  memset(res, 0, sizeof(*res));
  reset_context();
  struct collector c = {{collect, collect_fail}, res};
  struct dp_record *rec = dpt_body_record(bytes, len);
  res->status = dpi_extract_record(&test_ctx, rec, &c.base);
  if(res->status == DP_FAIL)
    collect_fail(&c.base, rec);
}

void dpt_result_free(struct dpt_result *res)
{
  for(size_t i = 0; i < res->n; i++)
    dpi_record_free(res->recs[i]);
  free(res->recs);
  for(size_t i = 0; i < res->nfails; i++)
    dpi_record_free(res->fails[i]);
  free(res->fails);
  memset(res, 0, sizeof(*res));
}

const char *dpt_content(const struct dpt_result *res, size_t i)
{
  if(i >= res->n)
    return "";
  const char *c = dpi_record_str(res->recs[i], "content");
  return c ? c : "";
}

const char *dpt_field(const struct dpt_result *res, size_t i, const char *path)
{
  return i < res->n ? dpi_json_path_str(res->recs[i]->obj, path) : NULL;
}

int dpt_contains_squeezed(const char *text, const char *phrase)
{
  struct dp_buf a, b;
  dpi_buf_init(&a, (size_t)1 << 30);
  dpi_buf_init(&b, (size_t)1 << 20);
  dpi_text_squeeze(&a, text, strlen(text));
  dpi_text_squeeze(&b, phrase, strlen(phrase));
  int found = strstr(dpi_buf_str(&a), dpi_buf_str(&b)) != NULL;
  dpi_buf_free(&a);
  dpi_buf_free(&b);
  return found;
}

char *dpt_zip(size_t *len, const char *passphrase, ...)
{
  struct archive *a = archive_write_new();
  size_t cap = (size_t)64 << 20;
  char *mem = malloc(cap);
  CU_ASSERT_PTR_NOT_NULL_FATAL(mem);
  CU_ASSERT_FATAL(archive_write_set_format_zip(a) == ARCHIVE_OK);
  if(passphrase) {
    CU_ASSERT_FATAL(archive_write_set_options(a, "zip:encryption=zipcrypt") == ARCHIVE_OK);
    CU_ASSERT_FATAL(archive_write_set_passphrase(a, passphrase) == ARCHIVE_OK);
  }
  CU_ASSERT_FATAL(archive_write_open_memory(a, mem, cap, len) == ARCHIVE_OK);
  va_list ap;
  va_start(ap, passphrase);
  const char *name;
  while((name = va_arg(ap, const char *))) {
    const char *data = va_arg(ap, const char *);
    size_t n = va_arg(ap, size_t);
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, name);
    archive_entry_set_filetype(e, name[strlen(name) - 1] == '/' ? AE_IFDIR : AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, (la_int64_t)n);
    CU_ASSERT(archive_write_header(a, e) == ARCHIVE_OK);
    if(n)
      CU_ASSERT(archive_write_data(a, data, n) == (la_ssize_t)n);
    archive_entry_free(e);
  }
  va_end(ap);
  CU_ASSERT(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
  return mem;
}
