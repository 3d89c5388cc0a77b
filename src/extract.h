/* extract.h - running extractors, including on documents inside documents.
 *
 * The extract stage and every extractor that unwraps an embedded document
 * (a PDF inside a CDA nonXMLBody, a Base64 PDF in an HL7 OBX of type ED) go
 * through here, so sniffing, depth limits and the meta.embedded trail are
 * handled in one place. */
#ifndef DP_EXTRACT_H
#define DP_EXTRACT_H

#include <stddef.h>

#include "b64.h"
#include "buf.h"
#include "stage.h"

/* The open() of every stage that may OCR (extract, pdf, image): the
 * languages of --ocr-lang must have their data, checked once at the start
 * rather than failing every scan (nothing is checked with --ocr never). */
enum dp_status dpi_extract_open(struct dp_stage *st, char *why, size_t whylen);

/* Run the extractor for rec's "format" (sniffing first when it has none)
 * and hand the result to out.  Same contract as a stage's process(). */
enum dp_status dpi_extract_record(const struct dp_context *ctx, struct dp_record *rec,
                                  struct dp_emitter *out);

/* Extract a document embedded in `parent` and append its text to `text`.
 * The bytes are the decoded document (see dpi_decode_payload); they are
 * sniffed, the nested format is appended to parent's meta.embedded, and the
 * child's own meta is otherwise not copied.  On failure parent gets the child's error
 * (kind and message, prefixed with "embedded <format>: ") and DP_FAIL is
 * returned. */
enum dp_status dpi_extract_embedded(const struct dp_stage *st, struct dp_record *parent,
                                    const void *bytes, size_t len, struct dp_buf *text);
/* The same for a document a container holds as characters with a media type
 * beside it (a CDA nonXMLBody of representation TXT): when the sniff
 * recognises nothing better than plain text in the bytes, `declared` (a
 * format name such as "rtf" or "html", or NULL) chooses the extractor, since
 * the label is all there is to go on.  Decoded binary payloads use
 * dpi_extract_embedded: their bytes decide, never their label. */
enum dp_status dpi_extract_embedded_as(const struct dp_stage *st, struct dp_record *parent,
                                       const void *bytes, size_t len, const char *declared,
                                       struct dp_buf *text);

/* An attachment of a message (mail, Outlook .msg): like
 * dpi_extract_embedded_as, but one that fails to convert does not fail the
 * message: a line of parent's meta.warnings names it (`label`, such as
 * "attachment 2 (report.pdf)", and the child's kind and reason) and DP_OK
 * is returned; DP_FATAL still is. */
enum dp_status dpi_extract_attachment(const struct dp_stage *st, struct dp_record *parent,
                                      const void *bytes, size_t len, const char *declared,
                                      const char *label, struct dp_buf *text);

/* Extract a document that a container holds as a document of its own (a
 * ZIP member, the file inside a gzip): it gets a record of its own, derived
 * from `parent` (source and provenance kept, meta and document facts not),
 * with id `id` (NULL: parent's), bytes, bytes and sha256 its own, depth one
 * more, its format sniffed, and meta.embedded the parent's trail (or its
 * format) followed by its own.  `bytes` is taken over.  Its record or its
 * error record goes to out (a document nested deeper than ctx->max_depth
 * is too-large); returns DP_OK, or DP_FATAL when out says so. */
enum dp_status dpi_extract_member(const struct dp_stage *st, const struct dp_record *parent,
                                  const char *id, struct dp_buf *bytes, struct dp_emitter *out);

/* Record facts that normalize uses when the FHIR resource gives none:
 * key is "type" (a human label), "code" (a LOINC code), "date" (any date
 * form dpi_date_normalize reads). */
void dpi_doc_fact(struct dp_record *rec, const char *key, const char *value, size_t len);

/* Set meta.<key> (title, author...) to text with its white space squeezed,
 * unless it is empty or meta.<key> is already set (the first one wins). */
void dpi_meta_text(struct dp_record *rec, const char *key, const char *text, size_t len);

/* Give a stage's text cap: ctx->max_text. */
void dpi_text_buf_init(const struct dp_stage *st, struct dp_buf *text);
/* When `text` hit its cap, fail rec with too-large and return DP_FAIL;
 * otherwise store it as the record's content, emit rec and return DP_OK. */
enum dp_status dpi_extract_finish(const struct dp_stage *st, struct dp_record *rec,
                                  struct dp_buf *text, struct dp_emitter *out);

/* Decode FHIR Base64 text (see b64.h) into out, then unwrap Base64 of
 * Base64: while the result is itself Base64 whose decoding sniffs as a
 * format of `stages` (ctx->stages), decode again (at most DP_MAX_EMBED_DEPTH times).  *layers gets
 * the number of decodings done. */
enum dp_b64_result dpi_decode_payload(const struct dp_stage_ops *const *stages, const char *text,
                                      size_t len, struct dp_buf *out, size_t *bad_at, int *layers);

#endif
