/* test_pdf.c - the PDF extractor on real PDFs made by poppler's peers. */
#include <stdlib.h>
#include <string.h>

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
  expect_error(dpt_data("pdf/truncated.pdf"), DP_KIND_DAMAGED, "truncated");
  expect_error(dpt_shared("corpus/bad/files/21900101.pdf"), DP_KIND_DAMAGED, "truncated");
  expect_error(dpt_data("pdf/garbage-with-eof.pdf"), DP_KIND_DAMAGED, "cannot be opened");
  expect_error(dpt_data("pdf/encrypted-user-password.pdf"), DP_KIND_ENCRYPTED, "password");
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
  dpi_context_defaults(&ctx);
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
}
