/* pdf.c - the PDF extractor (poppler-glib).
 *
 * Text of every page in reading order (poppler's text layout, as pdftotext
 * without -layout), pages separated by a blank line; page count, title and
 * author from the document information, its creation date as a date fact.
 * Encrypted and damaged files give error records.  A file cut short is
 * damaged even when poppler could rebuild part of it: without %%EOF near the
 * end (Acrobat's rule: in the last 1024 bytes) the text would silently be
 * incomplete. */
#include <poppler.h>
#include <pthread.h>
#include <string.h>

#include "extract.h"
#include "registry.h"

#define EOF_WINDOW 1024

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  if(peek->len >= 5 && !memcmp(peek->bytes, "%PDF-", 5))
    return 40;
  /* The header may follow some junk (mail gateways, BOMs) within 1 KiB. */
  size_t window = peek->len < 1024 ? peek->len : 1024;
  for(size_t i = 1; i + 5 <= window; i++)
    if(peek->bytes[i] == '%' && !memcmp(peek->bytes + i, "%PDF-", 5))
      return 30;
  return 0;
}

static int has_eof_marker(const unsigned char *p, size_t len)
{
  size_t from = len > EOF_WINDOW ? len - EOF_WINDOW : 0;
  for(size_t i = len >= 5 ? len - 5 + 1 : 0; i-- > from;)
    if(!memcmp(p + i, "%%EOF", 5))
      return 1;
  return 0;
}

/* Takes ownership of a string poppler allocated. */
static void set_meta_string(struct dp_record *rec, const char *key, gchar *value)
{
  if(value)
    dpi_meta_text(rec, key, value, strlen(value));
  g_free(value);
}

/* Poppler sets up some process-wide state (colour management profiles)
 * lazily, on the first document whose text it lays out; two threads doing
 * that first layout at once race.  So the first layout happens once, alone,
 * on a one-page document of our own. */
static const char warm_up_pdf[] =
  "%PDF-1.4\n"
  "1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
  "2 0 obj<</Type/Pages/Count 1/Kids[3 0 R]>>endobj\n"
  "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 99 99]/Contents 4 0 R"
  "/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
  "4 0 obj<</Length 28>>stream\nBT /F1 9 Tf 9 9 Td (w) Tj ET\nendstream endobj\n"
  "5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
  "trailer<</Root 1 0 R>>\n%%EOF\n";

static void warm_up(void)
{
  GBytes *bytes = g_bytes_new_static(warm_up_pdf, sizeof(warm_up_pdf) - 1);
  PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, NULL);
  g_bytes_unref(bytes);
  PopplerPage *page = doc ? poppler_document_get_page(doc, 0) : NULL;
  if(page) {
    g_free(poppler_page_get_text(page));
    g_object_unref(page);
  }
  if(doc)
    g_object_unref(doc);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  static pthread_once_t warmed = PTHREAD_ONCE_INIT;
  pthread_once(&warmed, warm_up);
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  if(!body || len == 0)
    return dpi_record_fail(rec, DP_KIND_EMPTY, "PDF is empty");
  if(!has_eof_marker(body, len))
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "PDF is truncated: no %%%%EOF marker in its last %d bytes (%zu bytes)",
                           EOF_WINDOW, len);

  GBytes *bytes = g_bytes_new_static(body, len);
  GError *err = NULL;
  PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &err);
  g_bytes_unref(bytes);
  if(!doc) {
    enum dp_status rc;
    if(err && err->domain == POPPLER_ERROR && err->code == POPPLER_ERROR_ENCRYPTED) {
      dpi_record_hint(rec, "ask the source system for an unprotected copy");
      rc = dpi_record_fail(rec, DP_KIND_ENCRYPTED, "PDF is encrypted and needs a password");
    } else {
      rc = dpi_record_fail(rec, DP_KIND_DAMAGED, "PDF cannot be opened: %s",
                           err && err->message ? err->message : "unknown error");
    }
    if(err)
      g_error_free(err);
    return rc;
  }

  int pages = poppler_document_get_n_pages(doc);
  if(pages < 0 || (unsigned)pages > st->ctx->max_pages) {
    g_object_unref(doc);
    dpi_record_hint(rec, "raise --max-pages to convert it");
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "PDF has %d pages, over the cap of %u", pages,
                           st->ctx->max_pages);
  }
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  for(int i = 0; i < pages && !dpi_buf_failed(&text); i++) {
    PopplerPage *page = poppler_document_get_page(doc, i);
    if(!page)
      continue;
    gchar *t = poppler_page_get_text(page);
    if(t && *t) {
      if(text.len)
        dpi_buf_adds(&text, "\n\n");
      dpi_buf_adds(&text, t);
    }
    g_free(t);
    g_object_unref(page);
  }

  json_object *meta = dpi_record_object(rec, "meta");
  json_object_object_add(meta, "pages", json_object_new_int(pages));
  set_meta_string(rec, "title", poppler_document_get_title(doc));
  set_meta_string(rec, "author", poppler_document_get_author(doc));
  GDateTime *created = poppler_document_get_creation_date_time(doc);
  if(created) {
    gchar *iso = g_date_time_format(created, "%Y-%m-%d");
    if(iso)
      dpi_doc_fact(rec, "date", iso, strlen(iso));
    g_free(iso);
    g_date_time_unref(created);
  }
  g_object_unref(doc);
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_pdf = {
  .name = "pdf",
  .summary = "PDF text of every page, page count, title, author (poppler)",
  .format = "pdf",
  .mime = "application/pdf",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
