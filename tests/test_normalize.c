/* test_normalize.c - documentType from LOINC and fall-backs, createdDate
 * precedence, text clean-up and the shape of the public record. */
#include <string.h>

#include "registry.h"
#include "testutil.h"

static const char *loinc_table(void)
{
  static char path[4096];
  snprintf(path, sizeof(path), "%s", dpt_data("../../pipelines/loinc-document-types.tsv"));
  return path;
}

/* An extracted record carrying the given _fhir and _doc JSON. */
static struct dp_record *extracted(const char *fhir, const char *doc, const char *content)
{
  struct dp_record *r = dpi_record_new();
  dpi_record_set_str(r, "id", "DocumentReference/n1");
  dpi_record_set_str(r, "format", "text");
  dpi_record_set_str(r, "content", content ? content : "text");
  if(fhir)
    json_object_object_add(r->obj, "_fhir", json_tokener_parse(fhir));
  if(doc)
    json_object_object_add(r->obj, "_doc", json_tokener_parse(doc));
  json_object_object_add(r->obj, "_input", json_tokener_parse("{\"file\":\"x\",\"line\":1}"));
  dpi_record_set_str(r, "data", "AAAA");
  return r;
}

static void normalize(struct dp_record *r, struct dpt_result *res)
{
  dpt_run_stage(&dp_stage_normalize, r, res, "loinc", loinc_table(), NULL);
  CU_ASSERT_EQUAL_FATAL(res->n, 1);
}

static void expect_type(const char *fhir, const char *doc, const char *want)
{
  struct dpt_result res;
  normalize(extracted(fhir, doc, NULL), &res);
  const char *got = dpt_field(&res, 0, "documentType");
  if(!(want ? got && !strcmp(got, want) : !got))
    fprintf(stderr, "\n  documentType %s, want %s\n", got ? got : "null", want ? want : "null");
  CU_ASSERT(want ? got && !strcmp(got, want) : !got);
  dpt_result_free(&res);
}

#define LOINC(code) "{\"system\":\"http://loinc.org\",\"code\":\"" code "\"}"

static void test_loinc_map(void)
{
  expect_type("{\"type\":{\"coding\":[" LOINC("11502-2") "]}}", NULL, "lab-report");
  expect_type("{\"type\":{\"coding\":[" LOINC("18842-5") "]}}", NULL, "discharge-summary");
  expect_type("{\"type\":{\"coding\":[" LOINC("11506-3") "]}}", NULL, "progress-note");
  expect_type("{\"type\":{\"coding\":[" LOINC("34133-9") "]}}", NULL, "summary");
  expect_type("{\"type\":{\"coding\":[" LOINC("34117-2") "]}}", NULL, "history-and-physical");
  expect_type("{\"type\":{\"coding\":[" LOINC("11488-4") "]}}", NULL, "consult-note");
  expect_type("{\"type\":{\"coding\":[" LOINC("18748-4") "]}}", NULL, "imaging-report");
  expect_type("{\"type\":{\"coding\":[" LOINC("11526-1") "]}}", NULL, "pathology-report");
  /* A LOINC coding after a local one still wins. */
  expect_type("{\"type\":{\"coding\":[{\"system\":\"urn:oid:1.2.3\",\"code\":\"X\","
              "\"display\":\"Local thing\"}," LOINC("18842-5") "],\"text\":\"DC Summ\"}}",
              NULL, "discharge-summary");
}

static void test_fallbacks(void)
{
  /* Unknown LOINC code: type.text, then a coding's display. */
  expect_type("{\"type\":{\"coding\":[" LOINC("99999-9") "],\"text\":\"Operative Report (Final)\"}}",
              NULL, "operative-report-final");
  expect_type("{\"type\":{\"coding\":[{\"code\":\"X\",\"display\":\"Wound Care Note\"}]}}", NULL,
              "wound-care-note");
  /* Then the category. */
  expect_type("{\"category\":[{\"coding\":[{\"code\":\"clinical-note\"}]}]}", NULL,
              "clinical-note");
  /* Then the document's own code through the table, then its own label. */
  expect_type(NULL, "{\"code\":\"34133-9\",\"type\":\"Summarization of episode note\"}",
              "summary");
  expect_type(NULL, "{\"type\":\"LIPID SCREEN (CORONARY RISK I)\"}",
              "lipid-screen-coronary-risk-i");
  expect_type(NULL, NULL, NULL);
  expect_type("{\"type\":{\"text\":\"---\"}}", NULL, NULL); /* no letters: no slug */
}

static void expect_date(const char *fhir, const char *doc, const char *want)
{
  struct dpt_result res;
  normalize(extracted(fhir, doc, NULL), &res);
  const char *got = dpt_field(&res, 0, "createdDate");
  CU_ASSERT(want ? got && !strcmp(got, want) : !got);
  dpt_result_free(&res);
}

static void test_created_date(void)
{
  expect_date("{\"date\":\"2022-08-18T23:30:00-05:00\",\"creation\":\"2020-01-01\"}",
              "{\"date\":\"19990101\"}", "2022-08-18"); /* the date as written */
  expect_date("{\"creation\":\"2020-01-02T00:00:00Z\"}", "{\"date\":\"19990101\"}", "2020-01-02");
  expect_date("{\"date\":\"2022\"}", "{\"date\":\"20080511103530\"}", "2008-05-11");
  expect_date("{\"date\":\"2022-06\"}", NULL, NULL); /* partial: never completed */
  expect_date(NULL, "{\"date\":\"not a date\"}", NULL);
}

static void test_record_shape(void)
{
  struct dpt_result res;
  struct dp_record *r = extracted("{\"date\":\"2021-02-03\"}", NULL,
                                  "\r\n  Title  \r\n\r\n\r\n\r\nBody\x01 text\t\r\n\r\n");
  json_object *src = dpi_record_object(r, "source");
  dpi_json_set_str(src, "patient", "Patient/7");
  dpi_json_set_str(src, "contentType", "text/plain");
  json_object_object_add(dpi_record_object(r, "meta"), "charset",
                         json_object_new_string("UTF-8"));
  normalize(r, &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "  Title\n\nBody text");
  const char *json = json_object_to_json_string_ext(res.recs[0]->obj, JSON_C_TO_STRING_PLAIN);
  /* Contract order, every source key present, private fields gone. */
  CU_ASSERT_PTR_NOT_NULL(strstr(json, "{\"id\":\"DocumentReference\\/n1\",\"documentType\":null,"
                                      "\"format\":\"text\",\"content\":"));
  CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"source\":{\"documentReference\":null,\"attachment\":null,"
                                      "\"binary\":null,\"declaredContentType\":null,"
                                      "\"contentType\":\"text\\/plain\",\"patient\":\"Patient\\/7\","
                                      "\"title\":null,\"url\":null,\"file\":null}"));
  CU_ASSERT_PTR_NOT_NULL(strstr(json, "\"meta\":{\"charset\":\"UTF-8\"}"));
  CU_ASSERT_PTR_NULL(strstr(json, "_fhir"));
  CU_ASSERT_PTR_NULL(strstr(json, "_input"));
  CU_ASSERT_PTR_NULL(strstr(json, "\"data\""));
  dpt_result_free(&res);
}

static void test_needs_content(void)
{
  struct dp_record *r = dpi_record_new();
  dpi_record_set_str(r, "id", "x");
  struct dpt_result res;
  dpt_run_stage(&dp_stage_normalize, r, &res, "loinc", loinc_table(), NULL);
  CU_ASSERT_EQUAL(res.failed ? res.failed->err_kind : DP_KIND_NONE, DP_KIND_INVALID_INPUT);
  dpt_result_free(&res);
}

static void test_missing_table_is_fatal(void)
{
  struct dpt_result res;
  dpt_run_stage(&dp_stage_normalize, dpi_record_new(), &res, "loinc", "/nonexistent.tsv", NULL);
  CU_ASSERT_EQUAL(res.status, DP_FATAL);
  dpt_result_free(&res);
}

DPT_SUITE(normalize)
{
  CU_pSuite s = CU_add_suite("normalize", NULL, NULL);
  CU_add_test(s, "LOINC mapping", test_loinc_map);
  CU_add_test(s, "documentType fall-backs", test_fallbacks);
  CU_add_test(s, "createdDate precedence, never invented", test_created_date);
  CU_add_test(s, "record shape and text clean-up", test_record_shape);
  CU_add_test(s, "content is required", test_needs_content);
  CU_add_test(s, "missing LOINC table is fatal", test_missing_table_is_fatal);
}
