/* fhir.c - FHIR JSON met where a raw document was expected.
 *
 * A Bundle, DocumentReference, DiagnosticReport or Binary in FHIR JSON, or
 * NDJSON of them (a Bulk Data export file), is not a document: it holds or
 * points at documents, Base64 inside or Binaries elsewhere.  Read as plain
 * text, a Synthea patient Bundle would be one record of JSON "converted"
 * while its hundreds of notes were lost.  Such files are told apart here
 * and given an `unsupported` error whose hint names the pipeline that reads
 * them (resolve.c: fhir-dump, with --binaries for Binaries kept apart).
 * A FHIR Document (a Bundle of type "document": a Composition and what it
 * cites) and resources that hold no attachment (Patient, Observation...)
 * are not claimed: their JSON stays text.
 *
 * The bid reads the top-level members of the first JSON object in the
 * prefix, as a tokenizer that knows strings and nesting and nothing more
 * (no allocation, as a bid must). */
#include <string.h>

#include "ndjson.h"
#include "registry.h"

/* The resource types whose documents the FHIR pipelines resolve. */
static const char *const holders[] = {"Bundle", "DocumentReference", "DiagnosticReport",
                                      "Binary", NULL};

/* What the bid saw of the first object: its resourceType and, for a
 * Bundle, its type (both point into the peek, unterminated), and whether
 * another object follows it (NDJSON). */
struct first_object {
  const char *resource_type, *bundle_type;
  size_t resource_type_len, bundle_type_len;
  int ndjson;
};

static size_t skip_space(const unsigned char *p, size_t n, size_t i)
{
  while(i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
    i++;
  return i;
}

/* p[i] is the opening quote; returns the index after the closing one, or n
 * when the string runs past the prefix. */
static size_t skip_string(const unsigned char *p, size_t n, size_t i)
{
  for(i++; i < n; i++) {
    if(p[i] == '\\')
      i++;
    else if(p[i] == '"')
      return i + 1;
  }
  return n;
}

static int is_member(const unsigned char *p, size_t start, size_t end, const char *name)
{
  size_t len = strlen(name);
  return end - start == len + 2 && !memcmp(p + start + 1, name, len);
}

/* Read the first object's top-level string members; 0 when the prefix
 * does not open with a JSON object. */
static int read_first_object(const unsigned char *p, size_t n, struct first_object *o)
{
  memset(o, 0, sizeof(*o));
  size_t i = dpi_json_start(p, n);
  if(i >= n || p[i] != '{')
    return 0;
  int depth = 0;
  size_t key = 0, key_end = 0; /* the last top-level string, when it may be a key */
  while(i < n) {
    unsigned char c = p[i];
    if(c == '"') {
      size_t end = skip_string(p, n, i);
      if(end >= n)
        break;
      size_t after = skip_space(p, n, end);
      if(depth == 1 && after < n && p[after] == ':') {
        key = i, key_end = end;
      } else if(depth == 1 && key_end) {
        /* a string value of the member named by the last key */
        if(is_member(p, key, key_end, "resourceType") && !o->resource_type)
          o->resource_type = (const char *)p + i + 1, o->resource_type_len = end - i - 2;
        else if(is_member(p, key, key_end, "type") && !o->bundle_type)
          o->bundle_type = (const char *)p + i + 1, o->bundle_type_len = end - i - 2;
        key_end = 0;
      }
      i = end;
      continue;
    }
    if(c == '{' || c == '[') {
      depth++;
      key_end = 0;
    } else if(c == '}' || c == ']') {
      if(--depth == 0) {
        size_t next = skip_space(p, n, i + 1);
        o->ndjson = next < n && p[next] == '{';
        break;
      }
    } else if(c == ',') {
      key_end = 0;
    }
    i++;
  }
  return 1;
}

static int names(const char *s, size_t len, const char *word)
{
  return s && len == strlen(word) && !memcmp(s, word, len);
}

/* A Bundle.type code as FHIR spells them ("transaction", "batch-response"):
 * only such a word from the file goes into a message. */
static int is_code(const char *s, size_t len)
{
  if(!s || !len || len > 32)
    return 0;
  for(size_t i = 0; i < len; i++)
    if(!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '-'))
      return 0;
  return 1;
}

static int holds_documents(const struct first_object *o)
{
  for(size_t i = 0; holders[i]; i++)
    if(names(o->resource_type, o->resource_type_len, holders[i]))
      return i > 0 || !names(o->bundle_type, o->bundle_type_len, "document");
  return 0;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  struct first_object o;
  if(!read_first_object(peek->bytes, peek->len, &o) || !holds_documents(&o))
    return 0;
  if(o.ndjson)
    *mime = "application/fhir+ndjson";
  return 32;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  (void)st, (void)out;
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  struct first_object o;
  /* The whole body, so that an NDJSON line longer than the prefix is known. */
  if(!read_first_object(body, len, &o) || !holds_documents(&o))
    return dpi_record_fail(rec, DP_KIND_UNSUPPORTED, "not FHIR JSON that holds documents");
  int bundle = names(o.resource_type, o.resource_type_len, "Bundle") &&
               is_code(o.bundle_type, o.bundle_type_len);
  dpi_record_hint(rec, "convert its documents with `docpipe run fhir-dump FILE` (Binaries "
                       "it refers to by url: --binaries Binary.ndjson)");
  return dpi_record_fail(rec, DP_KIND_UNSUPPORTED,
                         "FHIR %s (%s%.*s%s%.*s): resources that hold or point at documents, "
                         "not a document itself",
                         o.ndjson ? "NDJSON" : "JSON", o.ndjson ? "its first line a " : "a ",
                         (int)o.resource_type_len, o.resource_type, bundle ? " of type " : "",
                         bundle ? (int)o.bundle_type_len : 0, bundle ? o.bundle_type : "");
}

const struct dp_stage_ops dp_stage_fhir = {
  .name = "fhir",
  .summary = "FHIR JSON/NDJSON of documents (Bundle, DocumentReference...): "
             "told to go through fhir-dump",
  .format = "fhir",
  .mime = "application/fhir+json",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
