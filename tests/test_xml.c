/* test_xml.c - the generic XML extractor: element text lines, CDATA, title,
 * broken and hostile documents, bids. */
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testutil.h"

static void run_xml_file(const char *rel, struct dpt_result *res)
{
  size_t len;
  char *doc = dpt_read_file(dpt_data(rel), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  dpt_run_stage(&dp_stage_xml, dpt_body_record(doc, len), res, NULL);
  free(doc);
}

static int bid(const char *s)
{
  size_t n = strlen(s);
  struct dp_peek peek = {(const unsigned char *)s, n, s, n, n, NULL};
  const char *mime = NULL;
  return dp_stage_xml.bid(&peek, &mime);
}

/* A FHIR XML resource: values live in attributes, so the text is the XHTML
 * narrative; text interrupted by a child element continues on its own line. */
static void test_fhir_resource(void)
{
  struct dpt_result res;
  run_xml_file("xml/fhir-patient.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Jane Doe, female, born 1970-01-01\n"
                         "MRN\n"
                         "12345\n"
                         "Allergic to\n"
                         "penicillin\n"
                         "since childhood\n");
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "meta.title"));
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "xml");
  dpt_result_free(&res);
}

static void test_cdata_and_title(void)
{
  struct dpt_result res;
  run_xml_file("xml/cdata.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Quarterly report\n"
                         "Values < 5 & > 2 are \"normal\"\n"
                         "abc\n");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Quarterly report");
  dpt_result_free(&res);
}

static void test_malformed(void)
{
  struct dpt_result res;
  run_xml_file("xml/malformed.xml", &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, "line "));
  dpt_result_free(&res);

  /* Through the sniff: the prefix looks like XML, the parse says no. */
  const char *cut = "<?xml version=\"1.0\"?><a><b>text</b>";
  dpt_extract(cut, strlen(cut), &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
}

/* libxml2 goes on after the first fatal error and reports more (here a
 * namespace error below it); the first fatal one is named, with its line.
 * The file is ccda-implant-udi-organizer-bad-comment.xml's shape cut small:
 * a comment left open, so the next "<!--" puts "--" inside it. */
static void test_first_fatal_error(void)
{
  struct dpt_result res;
  run_xml_file("xml/comment-double-hyphen.xml", &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT_STRING_EQUAL(res.failed->err_message,
                         "XML not well-formed line 6: Double hyphen within comment");
  dpt_result_free(&res);
  /* A tag mismatch names both tags (names are not document text). */
  run_xml_file("xml/malformed.xml", &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_STRING_EQUAL(res.failed->err_message, "XML not well-formed line 5: Opening and "
                                                  "ending tag mismatch: title line 3 and report");
  dpt_result_free(&res);
}

/* meta.charset: what libxml2 read the document in. */
static void test_charset(void)
{
  struct dpt_result res;
  run_xml_file("xml/fhir-patient.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.charset"), "UTF-8");
  dpt_result_free(&res);
  static const char latin[] = "<?xml version=\"1.0\" encoding=\"windows-1252\"?>"
                              "<r>\x93quoted\x94 caf\xE9</r>";
  dpt_run_stage(&dp_stage_xml, dpt_body_record(latin, strlen(latin)), &res, NULL);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.charset"), "WINDOWS-1252");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "\xE2\x80\x9Cquoted\xE2\x80\x9D caf\xC3\xA9\n");
  dpt_result_free(&res);
  static const char wide[] = "\xFE\xFF\0<\0r\0>\0h\0i\0<\0/\0r\0>";
  dpt_run_stage(&dp_stage_xml, dpt_body_record(wide, sizeof(wide) - 1), &res, NULL);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.charset"), "UTF-16BE");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "hi\n");
  dpt_result_free(&res);
}

static void test_external_entity(void)
{
  struct dpt_result res;
  run_xml_file("xml/xxe.xml", &res);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_EQUAL(res.failed ? res.failed->err_kind : DP_KIND_NONE, DP_KIND_UNSUPPORTED);
  dpt_result_free(&res);
}

static void test_deep_nesting(void)
{
  struct dp_buf b;
  dpi_buf_init(&b, 1 << 20);
  for(int i = 0; i < 5000; i++)
    dpi_buf_adds(&b, "<a>");
  struct dpt_result res;
  dpt_run_stage(&dp_stage_xml, dpt_body_record(b.mem, b.len), &res, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
  dpi_buf_free(&b);
}

static void test_bids(void)
{
  CU_ASSERT_EQUAL(bid("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<report>"), 20);
  CU_ASSERT_EQUAL(bid("<Bundle xmlns=\"http://hl7.org/fhir\">"), 20);
  CU_ASSERT_EQUAL(bid("<f:Bundle xmlns:f=\"http://hl7.org/fhir\">"), 20);
  CU_ASSERT_EQUAL(bid("<report><title>x</title>"), 10);
  CU_ASSERT_EQUAL(bid("<!-- note -->\n<report>"), 10);
  CU_ASSERT_EQUAL(bid("<?xml-stylesheet href=\"a.xsl\"?><report>"), 10);
  CU_ASSERT_EQUAL(bid("<?xml version=\"1.0\"?><ClinicalDocument xmlns=\"urn:hl7-org:v3\">"), 20);
  CU_ASSERT_EQUAL(bid("<html><body>"), 0);
  CU_ASSERT_EQUAL(bid("<?xml version=\"1.0\"?><HTML>"), 0);
  CU_ASSERT_EQUAL(bid("<!DOCTYPE html>\n<html lang=\"en\">"), 0);
  CU_ASSERT_EQUAL(bid("MSH|^~\\&|A|B\r"), 0);
  CU_ASSERT_EQUAL(bid("%PDF-1.4\n"), 0);
  CU_ASSERT_EQUAL(bid("plain text < with a bracket"), 0);
  CU_ASSERT_EQUAL(bid(""), 0);
}

DPT_SUITE(xml)
{
  CU_pSuite s = CU_add_suite("xml", NULL, NULL);
  CU_add_test(s, "FHIR XML resource", test_fhir_resource);
  CU_add_test(s, "CDATA and title", test_cdata_and_title);
  CU_add_test(s, "malformed XML", test_malformed);
  CU_add_test(s, "first fatal error named, with its line", test_first_fatal_error);
  CU_add_test(s, "meta.charset", test_charset);
  CU_add_test(s, "external entity not loaded", test_external_entity);
  CU_add_test(s, "deep nesting", test_deep_nesting);
  CU_add_test(s, "bids", test_bids);
}
