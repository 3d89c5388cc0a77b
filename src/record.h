/* record.h - the unit that flows through a pipeline.
 *
 * A record is a JSON object (json-c) plus, once decoded, the document's bytes
 * held out of band so that in one process they are never re-encoded.  Between
 * processes the same record travels as one NDJSON line and the bytes travel
 * as Base64 under the private key "_bytes" (see docs/internals/RECORD.md).
 *
 * Keys that start with '_' are private to the pipeline; the normalize stage
 * turns a record into the public shape of RECORD.md and drops them:
 *   data     Base64 text of the attachment as the source gave it (pre-decode)
 *   _bytes   wire form of the decoded document (never present in memory)
 *   _fhir    facts from the FHIR resource that normalize needs (type,
 *            category, date, attachment creation/size/hash)
 *   _doc     facts the extractor found in the document (type, code, date)
 *   _input   {file, line} of the input that produced the record
 *   _raw     text an output format made (es-bulk): written as it is
 *
 * Ownership: a record has exactly one owner at a time; dpi_emit and the
 * runner's error path take it over. */
#ifndef DP_RECORD_H
#define DP_RECORD_H

#include <json-c/json.h>
#include <stddef.h>

#include "buf.h"
#include "errors.h"

struct dp_record {
  json_object *obj;
  struct dp_buf body;
  int has_body;
  int depth; /* 0 for a top-level document, n for one unwrapped n times */
  /* Set together with a DP_FAIL status. */
  enum dp_kind err_kind;
  char *err_message;
  char *err_hint;
  const char *err_stage; /* static: the failing stage's name */
  int err_status;        /* HTTP status, 0 when none */
};

struct dp_record *dpi_record_new(void);
/* Wrap a parsed JSON object (ownership moves to the record). */
struct dp_record *dpi_record_from_json(json_object *obj);
void dpi_record_free(struct dp_record *r);
/* A new record with a deep copy of r's fields (no body, no error). */
struct dp_record *dpi_record_derive(const struct dp_record *r);

/* Top-level string field or NULL (also NULL when not a string). */
const char *dpi_record_str(const struct dp_record *r, const char *key);
/* Set a top-level string field; NULL stores JSON null. */
void dpi_record_set_str(struct dp_record *r, const char *key, const char *value);
void dpi_record_set_strn(struct dp_record *r, const char *key, const char *value, size_t len);
/* Sub-object `key`, created empty when missing or not an object. */
json_object *dpi_record_object(struct dp_record *r, const char *key);
/* Set key in object o to a string (NULL stores JSON null). */
void dpi_json_set_str(json_object *o, const char *key, const char *value);
/* Member `key` of o, or NULL when o is not an object or lacks it. */
json_object *dpi_json_member(json_object *o, const char *key);
/* The same when it is a string, else NULL. */
const char *dpi_json_member_str(json_object *o, const char *key);
/* String at a dotted path ("source.patient") or NULL. */
const char *dpi_json_path_str(json_object *o, const char *path);

/* Is r a deletion line, {"id":"Patient/123","deleted":true,...}: a
 * resource the server reports deleted (a Bulk export's deleted[] files,
 * RECORD.md)?  It holds no document: the engine hands it past every stage
 * but those flagged DP_STAGE_DELETIONS (the output formats), and counts it
 * apart from the documents. */
int dpi_record_is_deletion(const struct dp_record *r);
/* A scan whose OCR found no text at all (meta.ocr names pages OCRed, the
 * content is empty): converted, but counted apart (docs/RECORD.md). */
int dpi_record_no_text(const struct dp_record *r);

/* Take ownership of bytes as the decoded document; records "bytes" and
 * "sha256" and removes "data".  Returns 0, or -1 when hashing failed. */
int dpi_record_set_body(struct dp_record *r, struct dp_buf *bytes);
const unsigned char *dpi_record_body(const struct dp_record *r, size_t *len);
void dpi_record_drop_body(struct dp_record *r);
/* Take ownership of text as the record's "content". */
void dpi_record_set_content(struct dp_record *r, struct dp_buf *text);

/* Mark the record failed; always returns DP_FAIL so a stage can
 * `return dpi_record_fail(...)`.  The message is one line: never put
 * document text, tokens or keys in it. */
enum dp_status dpi_record_fail(struct dp_record *r, enum dp_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dpi_record_hint(struct dp_record *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append a one-line warning to meta.warnings: the document was converted,
 * but something about it is not as it should be (a size that disagrees,
 * a page that gave nothing).  Same rules as messages: no document text. */
void dpi_record_warn(struct dp_record *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Copy the error of `from` onto `to` (for nested documents). */
enum dp_status dpi_record_fail_like(struct dp_record *to, const struct dp_record *from);

/* The record as one NDJSON line (with '\n'), bytes as "_bytes" Base64. */
int dpi_record_write(const struct dp_record *r, struct dp_buf *out);
/* Turn a parsed wire line into a record: "_bytes" becomes the body.  On
 * failure returns a record with its error set (never NULL on OOM-free paths). */
struct dp_record *dpi_record_parse(json_object *obj);
/* The error record of a failed r as one NDJSON line. */
int dpi_record_write_error(const struct dp_record *r, struct dp_buf *out);

#endif
