/* test_pdf.c - the PDF extractor on real PDFs made by poppler's peers, and
 * on small ones made for one fact each (tests/data/pdf/make-pdfs.py). */
#include <poppler.h>
#include <stdlib.h>
#include <string.h>

#include "pdfuncrop.h"
#include "registry.h"
#include "testutil.h"

static void run_file(const char *path, struct dpt_result *res)
{
  size_t len;
  char *doc = dpt_read_file(path, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  dpt_run_stage(&dp_stage_pdf, dpt_body_record(doc, len), res, NULL);
  free(doc);
}

static void test_text_pages_and_info(void)
{
  struct dpt_result res;
  run_file(dpt_data("../../samples/files/discharge-summary.pdf"), &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  const char *text = dpt_content(&res, 0);
  /* Page 1 then page 2, in reading order, pages a blank line apart. */
  const char *p1 = strstr(text, "Diagnosis: Community-acquired pneumonia, right lower lobe.");
  const char *p2 = strstr(text, "Discharge medications:");
  CU_ASSERT_PTR_NOT_NULL(p1);
  CU_ASSERT_PTR_NOT_NULL(p2);
  CU_ASSERT(p1 && p2 && p1 < p2);
  CU_ASSERT_PTR_NOT_NULL(strstr(text, "stable, afebrile for 48 hours.\n\nDischarge medications:"));
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Discharge Summary - Alex Sample");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.author"), "Dr. Jordan Example");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.date"), "2024-03-14");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "pdf");
  json_object *meta, *pages;
  CU_ASSERT(json_object_object_get_ex(res.recs[0]->obj, "meta", &meta) &&
            json_object_object_get_ex(meta, "pages", &pages) && json_object_get_int(pages) == 2);
  CU_ASSERT(!res.recs[0]->has_body); /* the bytes are released once the text is out */
  dpt_result_free(&res);
}

static void test_corpus_pdf(void)
{
  struct dpt_result res;
  run_file(dpt_shared("corpus/files/21000101.pdf"), &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "Distinguished Encoding Rules (DER) encoding support");
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "pointer to the structure that you want to delete");
  dpt_result_free(&res);
}

static void expect_error(const char *path, enum dp_kind kind, const char *words)
{
  struct dpt_result res;
  run_file(path, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, kind);
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, words));
  dpt_result_free(&res);
}

static void test_broken_files(void)
{
  expect_error(dpt_data("pdf/missing-page.pdf"), DP_KIND_DAMAGED, "page 2 of 2 cannot be read");
  expect_error(dpt_data("pdf/truncated.pdf"), DP_KIND_DAMAGED, "truncated");
  expect_error(dpt_shared("corpus/bad/files/21900101.pdf"), DP_KIND_DAMAGED, "truncated");
  expect_error(dpt_data("pdf/garbage-with-eof.pdf"), DP_KIND_DAMAGED, "cannot be opened");
  expect_error(dpt_data("pdf/encrypted-user-password.pdf"), DP_KIND_ENCRYPTED, "password");
}

static char *content_of(const char *path)
{
  struct dpt_result res;
  run_file(path, &res);
  CU_ASSERT_EQUAL(res.n, 1);
  char *text = strdup(dpt_content(&res, 0));
  dpt_result_free(&res);
  return text;
}

static size_t count(const char *hay, const char *needle)
{
  size_t n = 0;
  for(const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
    n++;
  return n;
}

/* glib's own text of page 1, to show that a fixture has the defect. */
static char *glib_text(const char *path)
{
  gchar *uri = g_filename_to_uri(path, NULL, NULL);
  PopplerDocument *doc = poppler_document_new_from_file(uri, NULL, NULL);
  g_free(uri);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  PopplerPage *page = poppler_document_get_page(doc, 0);
  char *t = poppler_page_get_text(page);
  g_object_unref(page);
  g_object_unref(doc);
  return t;
}

static void test_table_cells_apart(void)
{
  /* The cells of a table row, glued by glib's selection text... */
  char *g = glib_text(dpt_data("pdf/table-rows.pdf"));
  CU_ASSERT_PTR_NOT_NULL(strstr(g, "Subtotal250.00"));
  g_free(g);
  /* ...are blocks of their own, as pdftotext prints them. */
  char *t = content_of(dpt_data("pdf/table-rows.pdf"));
  CU_ASSERT_PTR_NULL(strstr(t, "Subtotal250.00"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "Subtotal\n\n250.00\n\nSales tax 9.25%\n\n23.13"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "Total USD\n\n273.13"));
  free(t);
}

static void test_crop_box(void)
{
  const char *files[] = {"pdf/crop-page.pdf", "pdf/crop-inherited.pdf", "pdf/crop-objstm.pdf",
                         "pdf/crop-twice.pdf"};
  for(size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
    char *g = glib_text(dpt_data(files[i]));
    CU_ASSERT_PTR_NULL(strstr(g, "Outside")); /* glib alone keeps the crop box */
    g_free(g);
    char *t = content_of(dpt_data(files[i]));
    DPT_ASSERT_CONTAINS(t, "Outside the crop box, kept by pdftotext");
    DPT_ASSERT_CONTAINS(t, "Inside the crop box");
    free(t);
  }
  char *t = content_of(dpt_data("pdf/crop-inherited.pdf"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "Inside the crop box\n\nPage two is not cropped"));
  free(t);
}

/* The uncropped copy, as libqpdf writes it: poppler reads it, and its crop
 * box is the media box. */
static void test_uncrop_update(void)
{
  size_t len;
  char *pdf = dpt_read_file(dpt_data("pdf/crop-twice.pdf"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pdf);
  struct dp_buf out;
  dpi_buf_init(&out, len + 65536);
  CU_ASSERT_EQUAL(dpi_pdf_uncrop((const unsigned char *)pdf, len, &out), 1);
  CU_ASSERT(out.len > 0 && !memcmp(out.mem, "%PDF-", 5));
  GBytes *bytes = g_bytes_new_static(out.mem, out.len);
  PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, NULL);
  g_bytes_unref(bytes);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  PopplerPage *page = poppler_document_get_page(doc, 0);
  PopplerRectangle crop;
  poppler_page_get_crop_box(page, &crop);
  CU_ASSERT(crop.x1 == 0 && crop.y1 == 0 && crop.x2 == 612 && crop.y2 == 792);
  g_object_unref(page);
  g_object_unref(doc);
  dpi_buf_free(&out);
  free(pdf);
  /* Nothing to do: no crop box, or one as large as the media box. */
  const char *plain[] = {"../../samples/files/discharge-summary.pdf", "pdf/owner-password-only.pdf",
                         "pdf/table-rows.pdf", "pdf/truncated.pdf", "pdf/garbage-with-eof.pdf"};
  for(size_t i = 0; i < sizeof(plain) / sizeof(*plain); i++) {
    pdf = dpt_read_file(dpt_data(plain[i]), &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pdf);
    dpi_buf_init(&out, len + 65536);
    CU_ASSERT_EQUAL(dpi_pdf_uncrop((const unsigned char *)pdf, len, &out), 0);
    CU_ASSERT_EQUAL(out.len, 0);
    dpi_buf_free(&out);
    free(pdf);
  }
}

static void test_form_values_and_notes(void)
{
  char *t = content_of(dpt_data("pdf/form-fields.pdf"));
  /* A value after its label, a check mark before its label. */
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "Patient name:\n\nJohn Q. Public"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "Short of breath on exertion.\nSleeps on two pillows."));
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "\u2714\n\nDiabetes"));
  CU_ASSERT_EQUAL(count(t, "\u2714"), 1); /* not for Asthma, unchecked */
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "Smoking status:\n\nFormer smoker"));
  CU_ASSERT_PTR_NOT_NULL(strstr(t, "Latex\nSulfa"));
  CU_ASSERT_PTR_NULL(strstr(t, "Penicillin")); /* an option not chosen */
  CU_ASSERT_PTR_NULL(strstr(t, "s3cr3t"));     /* a password field */
  CU_ASSERT_PTR_NULL(strstr(t, "never shown")); /* a hidden field */
  CU_ASSERT_EQUAL(count(t, "MRN-0042"), 1);     /* drawn on the page already */
  DPT_ASSERT_CONTAINS(t, "Call the patient back on Monday");
  DPT_ASSERT_CONTAINS(t, "Reviewed by Dr. Example");
  free(t);
}

static void test_right_to_left(void)
{
  char *g = glib_text(dpt_data("pdf/rtl-words.pdf"));
  CU_ASSERT_STRING_EQUAL(g, ""); /* glib's selection finds none of it */
  g_free(g);
  char *t = content_of(dpt_data("pdf/rtl-words.pdf"));
  /* Nine words (alef = U+05D0 ...), each once, as words. */
  const char *words[] = {"\u05d0\u05d1\u05d2", "\u05d3\u05d4\u05d5", "\u05d6\u05d7\u05d8",
                         "\u05d9\u05d0\u05d1", "\u05d2\u05d3\u05d4", "\u05d5\u05d6\u05d7",
                         "\u05d8\u05d9\u05d0", "\u05d1\u05d2\u05d3", "\u05d4\u05d5\u05d6"};
  for(size_t i = 0; i < sizeof(words) / sizeof(*words); i++)
    CU_ASSERT_EQUAL(count(t, words[i]), 1);
  free(t);
}

/* Cut and padded copies of a real two-page PDF: whatever poppler reads
 * converts, a cut in its objects is damaged. */
static void test_cut_and_padded(void)
{
  size_t len;
  char *pdf = dpt_read_file(dpt_data("../../samples/files/discharge-summary.pdf"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pdf);
  char *whole = content_of(dpt_data("../../samples/files/discharge-summary.pdf"));
  const char *xref = strstr(pdf, "\nxref");
  CU_ASSERT_PTR_NOT_NULL_FATAL(xref);
  /* ... and one in the xref table, before the trailer. */
  size_t cuts[] = {len / 10, len / 4, len / 2, 3 * len / 4, 9 * len / 10,
                   (size_t)(xref - pdf) + 30};
  for(size_t i = 0; i < sizeof(cuts) / sizeof(*cuts); i++) {
    struct dpt_result res;
    dpt_run_stage(&dp_stage_pdf, dpt_body_record(pdf, cuts[i]), &res, NULL);
    CU_ASSERT_EQUAL(res.status, DP_FAIL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
    CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, "truncated"));
    dpt_result_free(&res);
  }
  /* 2 KiB of NULs after %%EOF, junk before the header, no %%EOF at all. */
  char *big = calloc(1, len + 4096);
  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  struct {
    size_t junk, keep, pad;
  } cases[] = {{0, len, 2048}, {300, len, 0}, {0, len - 6, 0}};
  for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    memset(big, 0, len + 4096);
    memset(big, 'x', cases[i].junk);
    memcpy(big + cases[i].junk, pdf, cases[i].keep);
    struct dpt_result res;
    dpt_run_stage(&dp_stage_pdf,
                  dpt_body_record(big, cases[i].junk + cases[i].keep + cases[i].pad), &res, NULL);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), whole);
    dpt_result_free(&res);
  }
  free(big);
  free(whole);
  free(pdf);
}

static void test_owner_password_only_opens(void)
{
  /* Restrictions without a user password do not stop reading the text. */
  struct dpt_result res;
  run_file(dpt_data("pdf/owner-password-only.pdf"), &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "amoxicillin 875 mg by mouth twice daily");
  dpt_result_free(&res);
}

static void test_page_cap(void)
{
  size_t len;
  char *doc = dpt_read_file(dpt_data("../../samples/files/discharge-summary.pdf"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  struct dp_context ctx;
  dpi_context_defaults(&ctx, dp_stage_registry);
  ctx.max_pages = 1;
  struct dp_stage st = {.ops = &dp_stage_pdf, .ctx = &ctx};
  struct dp_record *rec = dpt_body_record(doc, len);
  free(doc);
  CU_ASSERT_EQUAL(dp_stage_pdf.process(&st, rec, NULL), DP_FAIL);
  CU_ASSERT_EQUAL(rec->err_kind, DP_KIND_TOO_LARGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(rec->err_message, "2 pages"));
  dpi_record_free(rec);
}

static void test_bids(void)
{
  struct dp_peek at0 = {(const unsigned char *)"%PDF-1.7\n", 9, "%PDF-1.7\n", 9, 9, NULL};
  struct dp_peek later = {(const unsigned char *)"\r\n\r\n%PDF-1.4", 12, NULL, 0, 12, NULL};
  struct dp_peek not_pdf = {(const unsigned char *)"%PD", 3, NULL, 0, 3, NULL};
  const char *mime = NULL;
  CU_ASSERT_EQUAL(dp_stage_pdf.bid(&at0, &mime), 40);
  CU_ASSERT_EQUAL(dp_stage_pdf.bid(&later, &mime), 30);
  CU_ASSERT_EQUAL(dp_stage_pdf.bid(&not_pdf, &mime), 0);
}

DPT_SUITE(pdf)
{
  CU_pSuite s = CU_add_suite("pdf", NULL, NULL);
  CU_add_test(s, "text of every page, info, date", test_text_pages_and_info);
  CU_add_test(s, "corpus PDF phrases", test_corpus_pdf);
  CU_add_test(s, "truncated, garbage and encrypted files", test_broken_files);
  CU_add_test(s, "owner password only still opens", test_owner_password_only_opens);
  CU_add_test(s, "page cap", test_page_cap);
  CU_add_test(s, "bids", test_bids);
  CU_add_test(s, "table cells apart", test_table_cells_apart);
  CU_add_test(s, "text outside the crop box", test_crop_box);
  CU_add_test(s, "uncropping update", test_uncrop_update);
  CU_add_test(s, "form values and notes", test_form_values_and_notes);
  CU_add_test(s, "right-to-left words", test_right_to_left);
  CU_add_test(s, "cut and padded copies", test_cut_and_padded);
}
