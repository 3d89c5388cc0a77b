/* extract.c - see extract.h */
#include "extract.h"

#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "isolate.h"
#include "sniff.h"
#include "textconv.h"

enum dp_status dpi_extract_open(struct dp_stage *st, char *why, size_t whylen)
{
  const struct dp_context *ctx = st->ctx;
  if(ctx->ocr != DP_OCR_NEVER && dpi_ocr_check_languages(ctx->ocr_lang, why, whylen))
    return DP_FATAL;
  return DP_OK;
}

enum dp_status dpi_extract_record(const struct dp_context *ctx, struct dp_record *rec,
                                  struct dp_emitter *out)
{
  if(!rec->has_body)
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT,
                           "record has no document bytes (run decode or files first)");
  const char *format = dpi_record_str(rec, "format");
  if(!format) {
    dpi_sniff_record(ctx->stages, rec);
    format = dpi_record_str(rec, "format");
  }
  if(dpi_isolate_wants(ctx, format))
    return dpi_isolate_extract(ctx->iso, rec, out);
  const struct dp_stage_ops *ops = dpi_extractor_for(ctx->stages, format);
  if(!ops) {
    if(rec->body.len == 0)
      return dpi_record_fail(rec, DP_KIND_EMPTY, "document is empty (0 bytes)");
    dpi_record_hint(rec, "docpipe reads PDF, CDA, XML, HL7 v2, RTF, HTML, text, images, "
                         "Office (DOC, XLS, PPT, DOCX, XLSX, PPTX, ODF), mail (EML, MSG), "
                         "ZIP and gzip");
    return dpi_record_fail(rec, DP_KIND_UNSUPPORTED, "format not recognised (%zu bytes)",
                           rec->body.len);
  }
  struct dp_stage st = {.ops = ops, .ctx = ctx};
  return ops->process(&st, rec, out);
}

/* Collects what a nested extraction emits. */
struct collector {
  struct dp_emitter base;
  struct dp_record **recs;
  size_t n, cap;
  struct dp_record *failed;
};

static enum dp_status collect(struct dp_emitter *self, struct dp_record *rec)
{
  struct collector *c = (struct collector *)self;
  if(c->n == c->cap) {
    size_t cap = c->cap ? c->cap * 2 : 4;
    struct dp_record **m = realloc(c->recs, cap * sizeof(*m));
    if(!m) {
      dpi_record_free(rec);
      return DP_FATAL;
    }
    c->recs = m;
    c->cap = cap;
  }
  c->recs[c->n++] = rec;
  return DP_OK;
}

static enum dp_status collect_fail(struct dp_emitter *self, struct dp_record *rec)
{
  struct collector *c = (struct collector *)self;
  if(c->failed)
    dpi_record_free(rec); /* the first failure is the one reported */
  else
    c->failed = rec;
  return DP_OK;
}

static json_object *embedded_list(struct dp_record *parent)
{
  json_object *meta = dpi_record_object(parent, "meta");
  json_object *list;
  if(json_object_object_get_ex(meta, "embedded", &list) &&
     json_object_is_type(list, json_type_array))
    return list;
  list = json_object_new_array();
  json_object_object_add(meta, "embedded", list);
  const char *own = dpi_record_str(parent, "format");
  if(own)
    json_object_array_add(list, json_object_new_string(own));
  return list;
}

enum dp_b64_result dpi_decode_payload(const struct dp_stage_ops *const *stages, const char *text,
                                      size_t len, struct dp_buf *out, size_t *bad_at, int *layers)
{
  *layers = 0;
  enum dp_b64_result rc = dpi_b64_decode(text, len, out, bad_at);
  if(rc != DP_B64_OK)
    return rc;
  *layers = 1;
  while(*layers <= DP_MAX_EMBED_DEPTH && dpi_b64_plausible(out->mem, out->len)) {
    struct dp_buf inner;
    dpi_buf_init(&inner, out->max);
    struct dp_sniff s;
    if(dpi_b64_decode(out->mem, out->len, &inner, NULL) != DP_B64_OK ||
       (dpi_sniff(stages, inner.mem, inner.len, &s), !s.ops)) {
      dpi_buf_free(&inner);
      break;
    }
    dpi_buf_free(out);
    *out = inner;
    (*layers)++;
  }
  return DP_B64_OK;
}

enum dp_status dpi_extract_embedded(const struct dp_stage *st, struct dp_record *parent,
                                    const void *bytes, size_t len, struct dp_buf *text)
{
  return dpi_extract_embedded_as(st, parent, bytes, len, NULL, text);
}

/* The sniff found no markup (nothing, or only the text fallback): take the
 * declared format when there is an extractor for it. */
static void apply_declared(const struct dp_stage_ops *const *stages, struct dp_record *child,
                           const char *declared)
{
  const char *sniffed = dpi_record_str(child, "format");
  if(!declared || (sniffed && strcmp(sniffed, "unknown") && strcmp(sniffed, "text")))
    return;
  const struct dp_stage_ops *ops = dpi_extractor_for(stages, declared);
  if(!ops)
    return;
  dpi_record_set_str(child, "format", ops->format);
  dpi_json_set_str(dpi_record_object(child, "source"), "contentType", ops->mime);
}

enum dp_status dpi_extract_embedded_as(const struct dp_stage *st, struct dp_record *parent,
                                       const void *bytes, size_t len, const char *declared,
                                       struct dp_buf *text)
{
  if((unsigned)parent->depth + 1 > st->ctx->max_depth)
    return dpi_record_fail(parent, DP_KIND_TOO_LARGE,
                           "documents nested more than %u deep", st->ctx->max_depth);
  struct dp_record *child = dpi_record_new();
  if(!child)
    return dpi_record_fail(parent, DP_KIND_INTERNAL, "out of memory");
  child->depth = parent->depth + 1;
  json_object *id;
  if(json_object_object_get_ex(parent->obj, "id", &id))
    json_object_object_add(child->obj, "id", json_object_get(id));
  dpi_buf_init(&child->body, st->ctx->max_document);
  if(dpi_buf_add(&child->body, bytes, len)) {
    dpi_record_free(child);
    return dpi_record_fail(parent, DP_KIND_TOO_LARGE, "embedded document larger than %zu bytes",
                           st->ctx->max_document);
  }
  child->has_body = 1;
  dpi_sniff_record(st->ctx->stages, child);
  apply_declared(st->ctx->stages, child, declared);

  struct collector c = {{collect, collect_fail}, NULL, 0, 0, NULL};
  /* On DP_OK the extractor has already handed child to the collector (or
   * freed it); only a failed record is still ours. */
  enum dp_status rc = dpi_extract_record(st->ctx, child, &c.base);
  if(rc == DP_FAIL)
    collect_fail(&c.base, child);
  if(c.failed) {
    const char *fmt = dpi_record_str(c.failed, "format");
    dpi_record_fail(parent, c.failed->err_kind, "embedded %s: %s", fmt ? fmt : "document",
                    c.failed->err_message ? c.failed->err_message : "failed");
    if(c.failed->err_hint)
      dpi_record_hint(parent, "%s", c.failed->err_hint);
    rc = DP_FAIL;
  } else if(rc == DP_OK) {
    json_object *trail = embedded_list(parent);
    for(size_t i = 0; i < c.n; i++) {
      struct dp_record *r = c.recs[i];
      const char *fmt = dpi_record_str(r, "format");
      json_object *inner = NULL, *meta;
      if(json_object_object_get_ex(r->obj, "meta", &meta))
        json_object_object_get_ex(meta, "embedded", &inner);
      if(inner && json_object_is_type(inner, json_type_array)) {
        size_t k = json_object_array_length(inner);
        for(size_t j = 0; j < k; j++) /* the child's trail starts with its own format */
          json_object_array_add(trail, json_object_get(json_object_array_get_idx(inner, j)));
      } else if(fmt) {
        json_object_array_add(trail, json_object_new_string(fmt));
      }
      const char *content = dpi_record_str(r, "content");
      if(content && *content) {
        if(text->len && text->mem[text->len - 1] != '\n')
          dpi_buf_addc(text, '\n');
        dpi_buf_adds(text, content);
        dpi_buf_addc(text, '\n');
      }
    }
  }
  for(size_t i = 0; i < c.n; i++)
    dpi_record_free(c.recs[i]);
  free(c.recs);
  dpi_record_free(c.failed);
  return rc;
}

/* Hands a member's records on, with the container's trail before theirs. */
struct member_out {
  struct dp_emitter base;
  struct dp_emitter *out;
  json_object *trail; /* the container's meta.embedded */
};

static enum dp_status member_emit(struct dp_emitter *self, struct dp_record *rec)
{
  struct member_out *m = (struct member_out *)self;
  json_object *meta = dpi_record_object(rec, "meta");
  json_object *own = dpi_json_member(meta, "embedded"), *list = json_object_new_array();
  size_t n = json_object_array_length(m->trail);
  for(size_t i = 0; i < n; i++)
    json_object_array_add(list, json_object_get(json_object_array_get_idx(m->trail, i)));
  const char *fmt = dpi_record_str(rec, "format");
  if(own && json_object_is_type(own, json_type_array)) {
    size_t k = json_object_array_length(own);
    for(size_t j = 0; j < k; j++)
      json_object_array_add(list, json_object_get(json_object_array_get_idx(own, j)));
  } else if(fmt) {
    json_object_array_add(list, json_object_new_string(fmt));
  }
  json_object_object_add(meta, "embedded", list);
  return dpi_emit(m->out, rec);
}

static enum dp_status member_fail(struct dp_emitter *self, struct dp_record *rec)
{
  return dpi_emit_fail(((struct member_out *)self)->out, rec);
}

/* The container's trail: its meta.embedded, else its format. */
static json_object *container_trail(const struct dp_record *parent)
{
  json_object *meta = dpi_json_member(parent->obj, "meta");
  json_object *list = dpi_json_member(meta, "embedded");
  if(list && json_object_is_type(list, json_type_array))
    return json_object_get(list);
  list = json_object_new_array();
  const char *own = dpi_record_str(parent, "format");
  if(own)
    json_object_array_add(list, json_object_new_string(own));
  return list;
}

enum dp_status dpi_extract_member(const struct dp_stage *st, const struct dp_record *parent,
                                  const char *id, struct dp_buf *bytes, struct dp_emitter *out)
{
  struct dp_record *child = dpi_record_derive(parent);
  if(!child) {
    dpi_buf_free(bytes);
    return DP_FATAL;
  }
  child->depth = parent->depth + 1;
  if(id)
    dpi_record_set_str(child, "id", id);
  static const char *const drop[] = {"meta", "_doc", "format", "content"};
  for(size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
    json_object_object_del(child->obj, drop[i]);
  if((unsigned)child->depth > st->ctx->max_depth) {
    dpi_buf_free(bytes);
    dpi_record_fail(child, DP_KIND_TOO_LARGE, "documents nested more than %u deep",
                    st->ctx->max_depth);
    return dpi_emit_fail(out, child);
  }
  if(dpi_record_set_body(child, bytes)) {
    dpi_record_fail(child, DP_KIND_INTERNAL, "cannot hash the document");
    return dpi_emit_fail(out, child);
  }
  dpi_sniff_record(st->ctx->stages, child);
  struct member_out m = {{member_emit, member_fail}, out, container_trail(parent)};
  enum dp_status rc = dpi_extract_record(st->ctx, child, &m.base);
  if(rc == DP_FAIL)
    rc = dpi_emit_fail(out, child);
  json_object_put(m.trail);
  return rc;
}

void dpi_doc_fact(struct dp_record *rec, const char *key, const char *value, size_t len)
{
  if(!value || !len)
    return;
  json_object *doc = dpi_record_object(rec, "_doc");
  if(json_object_object_get_ex(doc, key, NULL))
    return; /* the first fact an extractor reports is its best one */
  if(len > DP_MAX_SHORT)
    len = DP_MAX_SHORT;
  json_object_object_add(doc, key, json_object_new_string_len(value, (int)len));
}

void dpi_meta_text(struct dp_record *rec, const char *key, const char *text, size_t len)
{
  json_object *meta = dpi_record_object(rec, "meta");
  if(!text || json_object_object_get_ex(meta, key, NULL))
    return;
  struct dp_buf b;
  dpi_buf_init(&b, DP_MAX_SHORT);
  dpi_text_squeeze(&b, text, len);
  if(b.len && !dpi_buf_failed(&b))
    dpi_json_set_str(meta, key, dpi_buf_str(&b));
  dpi_buf_free(&b);
}

void dpi_text_buf_init(const struct dp_stage *st, struct dp_buf *text)
{
  dpi_buf_init(text, st->ctx->max_text);
}

enum dp_status dpi_extract_finish(const struct dp_stage *st, struct dp_record *rec,
                                  struct dp_buf *text, struct dp_emitter *out)
{
  if(dpi_buf_failed(text)) {
    int too_big = text->state == DP_BUF_TOO_BIG;
    dpi_buf_free(text);
    if(too_big) {
      dpi_record_hint(rec, "raise --max-text to keep more text");
      return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "extracted text exceeds %zu bytes",
                             st->ctx->max_text);
    }
    return dpi_record_fail(rec, DP_KIND_INTERNAL, "out of memory");
  }
  /* The extractor that made the text decides the format: an extractor run
   * by name ("docpipe pdf") has no sniff before it. */
  dpi_record_set_str(rec, "format", st->ops->format);
  json_object *source = dpi_record_object(rec, "source");
  if(!json_object_object_get_ex(source, "contentType", NULL))
    dpi_json_set_str(source, "contentType", st->ops->mime);
  /* Whatever the extractor, content holds no control characters: each stage
   * also runs alone as a filter, without normalize after it. */
  dpi_text_drop_controls(text);
  dpi_record_set_content(rec, text);
  dpi_record_drop_body(rec);
  return dpi_emit(out, rec);
}

enum dp_status dpi_extract_attachment(const struct dp_stage *st, struct dp_record *parent,
                                      const void *bytes, size_t len, const char *declared,
                                      const char *label, struct dp_buf *text)
{
  enum dp_status rc = dpi_extract_embedded_as(st, parent, bytes, len, declared, text);
  if(rc != DP_FAIL)
    return rc;
  /* The message keeps its record; what went wrong is said in it.  The
   * error is the child's, so it names no document text either. */
  dpi_record_warn(parent, "%s not converted (%s): %s", label, dpi_kind_name(parent->err_kind),
                  parent->err_message ? parent->err_message : "failed");
  free(parent->err_message);
  free(parent->err_hint);
  parent->err_message = parent->err_hint = NULL;
  parent->err_kind = DP_KIND_NONE;
  return DP_OK;
}
