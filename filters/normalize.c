/* normalize.c - the "normalize" stage: the public record of RECORD.md.
 *
 * Builds the record in the contract's field order, cleans the text (valid
 * UTF-8, "\n" line endings, no stray controls or blank runs), and derives:
 *   documentType  DocumentReference.type LOINC codes through the table in
 *                 pipelines/loinc-document-types.tsv, else a slug of
 *                 type.text, a type coding's display, the category, then the
 *                 document's own code (mapped, e.g. a CDA code) or label
 *                 (HL7 TXA-2 / OBR-4); else null.
 *   createdDate   DocumentReference.date, attachment.creation, then the
 *                 document's own date (CDA effectiveTime, HL7 TXA-4 / OBR-7
 *                 / MSH-7, PDF creation date); else null, never invented.
 * Private fields (_fhir, _doc, _input, data) are dropped. */
#include <errno.h>
#include <json-c/linkhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "buf.h"
#include "dplimits.h"
#include "ndjson.h"
#include "pipeline.h"
#include "registry.h"
#include "textconv.h"

#define LOINC_SYSTEM "http://loinc.org"
#define MAX_SLUG 64

static const struct dp_option_spec normalize_options[] = {
  {"loinc", "FILE", DP_OPT_PATH, "DOCPIPE_LOINC_MAP",
   "loinc-document-types.tsv in the pipelines folder",
   "LOINC code to documentType table (TSV: code, documentType)"},
  {NULL, NULL, 0, NULL, NULL, NULL},
};

static void free_entry(struct lh_entry *e)
{
  free((void *)lh_entry_k(e));
  free(lh_entry_v(e));
}

static enum dp_status normalize_open(struct dp_stage *st, char *why, size_t whylen)
{
  char dflt[4096], looked[1024];
  const char *path = dpi_opt(st, "loinc");
  if(!path) {
    if(dpi_pipeline_find("loinc-document-types.tsv", NULL, dflt, sizeof(dflt), looked,
                         sizeof(looked))) {
      snprintf(why, whylen, "cannot find the LOINC table loinc-document-types.tsv (looked in %s)",
               looked);
      return DP_FATAL;
    }
    path = dflt;
  }
  struct dp_reader r;
  if(dpi_reader_open(&r, path, 4096)) {
    snprintf(why, whylen, "cannot read LOINC table %s: %s", path, strerror(errno));
    return DP_FATAL;
  }
  struct lh_table *map = lh_kchar_table_new(256, free_entry);
  const char *line;
  size_t len;
  int too_long;
  while(map && dpi_reader_next(&r, &line, &len, &too_long) == 1) {
    if(too_long || !len || line[0] == '#')
      continue;
    const char *tab = memchr(line, '\t', len);
    if(!tab)
      continue;
    const char *type = tab + 1;
    size_t tl = strcspn(type, "\t");
    if(type + tl > line + len)
      tl = (size_t)(line + len - type);
    char *code = dpi_memdup(line, (size_t)(tab - line));
    char *value = dpi_memdup(type, tl);
    if(!code || !value || !tl) {
      free(code);
      free(value);
      continue;
    }
    if(lh_table_lookup_ex(map, code, NULL)) {
      free(code);
      free(value);
      continue;
    }
    lh_table_insert(map, code, value);
  }
  dpi_reader_close(&r);
  if(!map) {
    snprintf(why, whylen, "out of memory");
    return DP_FATAL;
  }
  st->state = map;
  return DP_OK;
}

static void normalize_close(struct dp_stage *st)
{
  if(st->state)
    lh_table_free(st->state);
  st->state = NULL;
}

/* kebab-case ASCII: "History & Physical" -> "history-physical". */
static int slug(const char *text, char out[MAX_SLUG + 1])
{
  size_t n = 0;
  int dash = 0;
  for(const unsigned char *p = (const unsigned char *)text; *p && n < MAX_SLUG; p++) {
    unsigned char c = *p;
    if(c >= 'A' && c <= 'Z')
      c = (unsigned char)(c - 'A' + 'a');
    if((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      if(dash && n)
        out[n++] = '-';
      if(n < MAX_SLUG)
        out[n++] = (char)c;
      dash = 0;
    } else {
      dash = 1;
    }
  }
  out[n] = '\0';
  return n > 0;
}

static const char *map_loinc(struct lh_table *map, const char *code)
{
  void *v;
  return code && lh_table_lookup_ex(map, code, &v) ? v : NULL;
}

/* The document type, or NULL; writes slugs into buf. */
static const char *document_type(struct lh_table *map, json_object *fhir, json_object *doc,
                                 char buf[MAX_SLUG + 1])
{
  json_object *type = dpi_json_member(fhir, "type");
  json_object *codings = dpi_json_member(type, "coding");
  size_t n = codings && json_object_is_type(codings, json_type_array)
                 ? json_object_array_length(codings) : 0;
  for(size_t i = 0; i < n; i++) {
    json_object *c = json_object_array_get_idx(codings, i);
    const char *system = dpi_json_member_str(c, "system");
    const char *mapped;
    if(system && !strcmp(system, LOINC_SYSTEM) &&
       (mapped = map_loinc(map, dpi_json_member_str(c, "code"))))
      return mapped;
  }
  const char *text = dpi_json_member_str(type, "text");
  if(text && slug(text, buf))
    return buf;
  for(size_t i = 0; i < n; i++) {
    const char *display = dpi_json_member_str(json_object_array_get_idx(codings, i), "display");
    if(display && slug(display, buf))
      return buf;
  }
  json_object *cats = dpi_json_member(fhir, "category");
  size_t nc = cats && json_object_is_type(cats, json_type_array) ? json_object_array_length(cats)
                                                                 : 0;
  for(size_t i = 0; i < nc; i++) {
    json_object *cat = json_object_array_get_idx(cats, i);
    json_object *cc = dpi_json_member(cat, "coding");
    json_object *first = cc && json_object_is_type(cc, json_type_array)
                             ? json_object_array_get_idx(cc, 0) : NULL;
    const char *candidates[] = {dpi_json_member_str(cat, "text"),
                                dpi_json_member_str(first, "display"),
                                dpi_json_member_str(first, "code")};
    for(size_t k = 0; k < 3; k++)
      if(candidates[k] && slug(candidates[k], buf))
        return buf;
  }
  const char *mapped = map_loinc(map, dpi_json_member_str(doc, "code"));
  if(mapped)
    return mapped;
  const char *label = dpi_json_member_str(doc, "type");
  if(label && slug(label, buf))
    return buf;
  return NULL;
}

static const char *created_date(json_object *fhir, json_object *doc, char out[11])
{
  const char *candidates[] = {dpi_json_member_str(fhir, "date"),
                              dpi_json_member_str(fhir, "creation"),
                              dpi_json_member_str(doc, "date")};
  for(size_t i = 0; i < 3; i++)
    if(candidates[i] && !dpi_date_normalize(candidates[i], out))
      return out;
  return NULL;
}

static void put(json_object *o, const char *key, json_object *from, const char *fromkey)
{
  json_object *v = dpi_json_member(from, fromkey);
  json_object_object_add(o, key, v ? json_object_get(v) : NULL);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  json_object *content;
  if(!json_object_object_get_ex(rec->obj, "content", &content) ||
     !json_object_is_type(content, json_type_string))
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT,
                           "record has no extracted content (run extract first)");
  json_object *fhir = dpi_json_member(rec->obj, "_fhir"), *doc = dpi_json_member(rec->obj, "_doc");
  json_object *src = dpi_json_member(rec->obj, "source");

  struct dp_buf text;
  dpi_buf_init(&text, st->ctx->max_text);
  if(dpi_text_clean(&text, json_object_get_string(content),
                    (size_t)json_object_get_string_len(content))) {
    dpi_buf_free(&text);
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "extracted text exceeds %zu bytes",
                           st->ctx->max_text);
  }

  char type_buf[MAX_SLUG + 1], date_buf[11];
  const char *type = document_type(st->state, fhir, doc, type_buf);
  const char *date = created_date(fhir, doc, date_buf);

  json_object *o = json_object_new_object();
  put(o, "id", rec->obj, "id");
  dpi_json_set_str(o, "documentType", type);
  const char *format = dpi_record_str(rec, "format");
  dpi_json_set_str(o, "format", format ? format : "unknown");
  json_object_object_add(o, "content", json_object_new_string_len(dpi_buf_str(&text),
                                                                  (int)text.len));
  dpi_buf_free(&text);
  dpi_json_set_str(o, "createdDate", date);
  json_object *s = json_object_new_object();
  static const char *const source_keys[] = {"documentReference", "attachment", "binary",
                                            "declaredContentType", "contentType", "patient",
                                            "title", "url", "file"};
  for(size_t i = 0; i < sizeof(source_keys) / sizeof(*source_keys); i++)
    put(s, source_keys[i], src, source_keys[i]);
  if(dpi_json_member(src, "diagnosticReport"))
    put(s, "diagnosticReport", src, "diagnosticReport");
  if(dpi_json_member(src, "fileBytes")) /* a file name that had to be escaped (names.h) */
    put(s, "fileBytes", src, "fileBytes");
  json_object_object_add(o, "source", s);
  put(o, "bytes", rec->obj, "bytes");
  put(o, "sha256", rec->obj, "sha256");
  json_object *meta = dpi_json_member(rec->obj, "meta");
  if(meta && json_object_object_length(meta) > 0)
    json_object_object_add(o, "meta", json_object_get(meta));

  json_object_put(rec->obj);
  rec->obj = o;
  dpi_json_clean_strings(o); /* titles, ids, types: whatever the input carried */
  dpi_record_drop_body(rec);
  return dpi_emit(out, rec);
}

const struct dp_stage_ops dp_stage_normalize = {
  .name = "normalize",
  .summary = "shape records as in RECORD.md: documentType, createdDate, clean text, provenance",
  .options = normalize_options,
  .open = normalize_open,
  .process = process,
  .close = normalize_close,
};
