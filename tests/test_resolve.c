/* test_resolve.c - FHIR resources to attachment records, and the offline
 * Binary index. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "registry.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/docpipe-test-resolve-XXXXXX";
static char binaries[4096];

static int setup(void)
{
  if(!mkdtemp(tmpdir))
    return -1;
  snprintf(binaries, sizeof(binaries), "%s/Binary.ndjson", tmpdir);
  FILE *f = fopen(binaries, "w");
  if(!f)
    return -1;
  /* "data" before "id"; a nested "id" in meta that must not be taken; an
   * escaped quote in a string; a non-Binary line; a duplicate id. */
  fputs("{\"resourceType\":\"Binary\",\"data\":\"Rmlyc3Q=\",\"meta\":{\"id\":\"wrong\"},"
        "\"id\":\"XR-1\",\"contentType\":\"text/plain\"}\n", f);
  fputs("{\"resourceType\":\"Patient\",\"id\":\"XR-2\"}\n", f);
  fputs("{\"contentType\":\"application/pdf\",\"x\":\"a \\\"quoted\\\" }{ thing\","
        "\"id\":\"TR-2\",\"resourceType\":\"Binary\",\"data\":\"U2Vjb25k\"}\n", f);
  fputs("{\"resourceType\":\"Binary\",\"id\":\"XR-1\",\"data\":\"TGF0ZXI=\"}\n", f);
  return fclose(f);
}

static int teardown(void)
{
  unlink(binaries);
  return rmdir(tmpdir);
}

static void resolve_json(const char *json, struct dpt_result *res)
{
  struct dp_record *r = dpi_record_from_json(json_tokener_parse(json));
  dpt_run_stage(&dp_stage_resolve, r, res, "binaries", binaries, NULL);
}

static void test_index_lookup(void)
{
  struct dpt_result res;
  resolve_json("{\"resourceType\":\"DocumentReference\",\"id\":\"d1\","
               "\"subject\":{\"reference\":\"https://x/fhir/Patient/p1/_history/2\"},"
               "\"content\":[{\"attachment\":{\"url\":\"Binary/XR-1\"}},"
               "{\"attachment\":{\"url\":\"https://x/fhir/Binary/TR-2\",\"contentType\":\"a/b\"}},"
               "{\"attachment\":{\"url\":\"Binary/XR-2\"}}]}",
               &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 2);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "id"), "DocumentReference/d1");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "data"), "Rmlyc3Q="); /* the first XR-1 wins */
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "source.declaredContentType"), "text/plain");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "source.patient"), "Patient/p1");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 1, "id"), "DocumentReference/d1#1");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 1, "data"), "U2Vjb25k");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 1, "source.declaredContentType"), "a/b");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 1, "source.binary"), "https://x/fhir/Binary/TR-2");
  /* XR-2 is a Patient in the file, not a Binary. */
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_NOT_FOUND);
  CU_ASSERT_STRING_EQUAL(dpi_record_str(res.failed, "id"), "DocumentReference/d1#2");
  CU_ASSERT_PTR_NOT_NULL(res.failed->err_hint);
  dpt_result_free(&res);
}

static void test_facts_and_messages(void)
{
  struct dpt_result res;
  resolve_json("{\"resourceType\":\"DocumentReference\",\"id\":\"d2\","
               "\"type\":{\"text\":\"Note\"},\"date\":\"2020-01-01\",\"content\":[{\"attachment\":"
               "{\"url\":\"https://store.example/doc?sig=SECRET\",\"creation\":\"2019-12-31\","
               "\"size\":5,\"hash\":\"h\"}}]}",
               &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  /* Pre-signed URLs carry credentials in the query: never in a message. */
  CU_ASSERT_PTR_NULL(strstr(res.failed->err_message, "SECRET"));
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, "https://store.example/doc"));
  CU_ASSERT_STRING_EQUAL(dpi_json_path_str(res.failed->obj, "_fhir.type.text"), "Note");
  CU_ASSERT_STRING_EQUAL(dpi_json_path_str(res.failed->obj, "_fhir.creation"), "2019-12-31");
  CU_ASSERT_STRING_EQUAL(dpi_json_path_str(res.failed->obj, "_fhir.date"), "2020-01-01");
  dpt_result_free(&res);
}

static void test_pass_through_and_skip(void)
{
  struct dpt_result res;
  resolve_json("{\"id\":\"already\",\"source\":{},\"data\":\"QQ==\"}", &res);
  CU_ASSERT_EQUAL(res.n, 1);
  dpt_result_free(&res);
  resolve_json("{\"resourceType\":\"Patient\",\"id\":\"p\"}", &res);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  dpt_result_free(&res);
  resolve_json("{\"hello\":1}", &res);
  CU_ASSERT_EQUAL(res.failed ? res.failed->err_kind : DP_KIND_NONE, DP_KIND_INVALID_INPUT);
  dpt_result_free(&res);
  resolve_json("{\"resourceType\":\"DocumentReference\",\"content\":[]}", &res);
  CU_ASSERT_EQUAL(res.failed ? res.failed->err_kind : DP_KIND_NONE, DP_KIND_INVALID_INPUT);
  dpt_result_free(&res);
}

static void test_unreadable_binaries_is_fatal(void)
{
  struct dpt_result res;
  struct dp_record *r = dpi_record_new();
  dpt_run_stage(&dp_stage_resolve, r, &res, "binaries", "/nonexistent/Binary.ndjson", NULL);
  CU_ASSERT_EQUAL(res.status, DP_FATAL);
  dpt_result_free(&res);
}

DPT_SUITE(resolve)
{
  CU_pSuite s = CU_add_suite("resolve", setup, teardown);
  CU_add_test(s, "Binary index and attachment records", test_index_lookup);
  CU_add_test(s, "facts kept, secrets out of messages", test_facts_and_messages);
  CU_add_test(s, "records pass, other resources skip", test_pass_through_and_skip);
  CU_add_test(s, "unreadable --binaries is fatal", test_unreadable_binaries_is_fatal);
}
