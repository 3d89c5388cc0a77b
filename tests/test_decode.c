/* test_decode.c - Base64 as FHIR servers really send it, through the
 * decode stage. */
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "registry.h"
#include "testutil.h"

/* A record as resolve makes it: "data" holds the attachment's Base64. */
static struct dp_record *data_record(const char *data)
{
  struct dp_record *r = dpi_record_new();
  dpi_record_set_str(r, "id", "DocumentReference/t");
  dpi_record_set_str(r, "data", data);
  return r;
}

static void decode_ok(const char *data, const char *want, size_t wantlen)
{
  struct dpt_result res;
  dpt_run_stage(&dp_stage_decode, data_record(data), &res, NULL);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  size_t len;
  const unsigned char *body = dpi_record_body(res.recs[0], &len);
  CU_ASSERT_EQUAL(len, wantlen);
  CU_ASSERT(body && !memcmp(body, want, wantlen));
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "data")); /* the Base64 text is gone */
  dpt_result_free(&res);
}

static void decode_fails(const char *data, enum dp_kind kind, const char *words)
{
  struct dpt_result res;
  dpt_run_stage(&dp_stage_decode, data_record(data), &res, NULL);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, kind);
  if(words && !strstr(res.failed->err_message, words))
    fprintf(stderr, "\n  message was: %s\n", res.failed->err_message);
  CU_ASSERT(!words || strstr(res.failed->err_message, words));
  dpt_result_free(&res);
}

static void test_tolerated_forms(void)
{
  decode_ok("SGVsbG8sIHdvcmxkIQ==", "Hello, world!", 13);
  decode_ok("SGVsbG8s\r\nIHdvcmxk\nIQ==\n", "Hello, world!", 13);  /* wrapped */
  decode_ok("  SGVs bG8s\tIHdv cmxkIQ  ", "Hello, world!", 13);    /* spaces */
  decode_ok("SGVsbG8sIHdvcmxkIQ", "Hello, world!", 13);            /* no padding */
  decode_ok("_-8-", "\xFF\xEF\x3E", 3);                            /* base64url */
  decode_ok("/+8+", "\xFF\xEF\x3E", 3);                            /* the same, standard */
}

static void test_base64_of_base64(void)
{
  /* "%PDF-1.4 ..." encoded twice unwraps to the PDF bytes. */
  const char *pdf = "%PDF-1.4\n%%EOF\n";
  struct dp_buf once, twice;
  dpi_buf_init(&once, 4096);
  dpi_buf_init(&twice, 4096);
  dpi_b64_encode(pdf, strlen(pdf), &once);
  dpi_b64_encode(once.mem, once.len, &twice);
  decode_ok(twice.mem, pdf, strlen(pdf));
  /* Text that merely looks like Base64 once decoded is not decoded again. */
  decode_ok("QUJDREVGR0g=", "ABCDEFGH", 8); /* Base64-looking, decodes to no format */
  dpi_buf_free(&once);
  dpi_buf_free(&twice);
}

static void test_invalid(void)
{
  decode_fails("SGVsbG8*IHdvcmxk", DP_KIND_BAD_BASE64, "offset 7");
  decode_fails("SGVsbG8=IHdvcmxk", DP_KIND_BAD_BASE64, "offset 8"); /* data after padding */
  decode_fails("SGVsb", DP_KIND_BAD_BASE64, NULL);                  /* a lone sixth char */
  decode_fails("SGVsbG8===", DP_KIND_BAD_BASE64, NULL);             /* too much padding */
  decode_fails("SGVsbA=", DP_KIND_BAD_BASE64, NULL);                /* padding short */
  decode_fails("", DP_KIND_EMPTY, "empty");
  decode_fails("  \n ", DP_KIND_EMPTY, "empty");
  struct dpt_result res;
  struct dp_record *r = dpi_record_new();
  dpt_run_stage(&dp_stage_decode, r, &res, NULL);
  CU_ASSERT_EQUAL(res.failed ? res.failed->err_kind : DP_KIND_NONE, DP_KIND_INVALID_INPUT);
  dpt_result_free(&res);
}

static void test_size_and_hash_checks(void)
{
  /* "Hello, world!": 13 bytes, SHA-1 base64 lDpwLQbzRZmu4fjajvn3KWAx1pk= */
  struct dpt_result res;
  struct dp_record *r = data_record("SGVsbG8sIHdvcmxkIQ==");
  json_object *fhir = dpi_record_object(r, "_fhir");
  json_object_object_add(fhir, "size", json_object_new_int(13));
  dpi_json_set_str(fhir, "hash", "lDpwLQbzRZmu4fjajvn3KWAx1pk=");
  dpt_run_stage(&dp_stage_decode, r, &res, NULL);
  CU_ASSERT_EQUAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "sha256"),
                         "315f5bdb76d078c43b8ac0064e4a0164612b1fce77c869345bfc94c75894edd3");
  dpt_result_free(&res);

  /* A size that disagrees, with no hash to tell or a hash that matches:
   * converted with a warning (a cut transfer never gets this far). */
  r = data_record("SGVsbG8sIHdvcmxkIQ==");
  json_object_object_add(dpi_record_object(r, "_fhir"), "size", json_object_new_int(40));
  dpt_run_stage(&dp_stage_decode, r, &res, NULL);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_PTR_NULL(res.failed);
  json_object *meta = dpi_json_member(res.recs[0]->obj, "meta");
  json_object *warnings = dpi_json_member(meta, "warnings");
  CU_ASSERT_FATAL(warnings && json_object_array_length(warnings) == 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(json_object_to_json_string(warnings), "attachment.size is 40"));
  dpt_result_free(&res);

  r = data_record("SGVsbG8sIHdvcmxkIQ==");
  json_object_object_add(dpi_record_object(r, "_fhir"), "size", json_object_new_int(40));
  dpi_json_set_str(dpi_record_object(r, "_fhir"), "hash", "lDpwLQbzRZmu4fjajvn3KWAx1pk=");
  dpt_run_stage(&dp_stage_decode, r, &res, NULL);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  meta = dpi_json_member(res.recs[0]->obj, "meta");
  CU_ASSERT_PTR_NOT_NULL(strstr(json_object_to_json_string(dpi_json_member(meta, "warnings")),
                                "hash matches"));
  dpt_result_free(&res);


  r = data_record("SGVsbG8sIHdvcmxkIQ==");
  dpi_json_set_str(dpi_record_object(r, "_fhir"), "hash", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  dpt_run_stage(&dp_stage_decode, r, &res, NULL);
  CU_ASSERT_EQUAL(res.failed ? res.failed->err_kind : DP_KIND_NONE, DP_KIND_DAMAGED);
  dpt_result_free(&res);

  r = data_record("SGVsbG8sIHdvcmxkIQ==");
  dpi_json_set_str(dpi_record_object(r, "_fhir"), "hash", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
  dpt_run_stage(&dp_stage_decode, r, &res, "no-verify", "1", NULL);
  CU_ASSERT_EQUAL(res.n, 1);
  dpt_result_free(&res);
}

/* --max-bytes caps the decoded document: one byte over is too-large, with
 * the cap named and a hint; at the cap it converts. */
static void test_size_cap(void)
{
  dpt_set_max_document(12);
  decode_fails("SGVsbG8sIHdvcmxkIQ==", DP_KIND_TOO_LARGE, "over the 12-byte cap");
  dpt_set_max_document(13);
  decode_ok("SGVsbG8sIHdvcmxkIQ==", "Hello, world!", 13);
  dpt_set_max_document(0);
}

static void test_wire_round_trip(void)
{
  /* Between processes the bytes travel as "_bytes"; the record comes back
   * the same. */
  unsigned char bytes[300];
  for(size_t i = 0; i < sizeof(bytes); i++)
    bytes[i] = (unsigned char)(i * 31);
  struct dp_record *r = dpt_body_record(bytes, sizeof(bytes));
  struct dp_buf line;
  dpi_buf_init(&line, 1 << 20);
  CU_ASSERT_EQUAL(dpi_record_write(r, &line), 0);
  CU_ASSERT_EQUAL(line.mem[line.len - 1], '\n');
  json_object *obj = json_tokener_parse(line.mem);
  CU_ASSERT_PTR_NOT_NULL_FATAL(obj);
  struct dp_record *back = dpi_record_parse(obj);
  size_t len;
  const unsigned char *body = dpi_record_body(back, &len);
  CU_ASSERT_EQUAL(len, sizeof(bytes));
  CU_ASSERT(body && !memcmp(body, bytes, len));
  CU_ASSERT_STRING_EQUAL(dpi_record_str(back, "sha256"), dpi_record_str(r, "sha256"));
  CU_ASSERT_FALSE(json_object_object_get_ex(back->obj, "_bytes", NULL));
  dpi_record_free(r);
  dpi_record_free(back);
  dpi_buf_free(&line);
}

DPT_SUITE(decode)
{
  CU_pSuite s = CU_add_suite("decode", NULL, NULL);
  CU_add_test(s, "wrapped, spaced, unpadded, base64url", test_tolerated_forms);
  CU_add_test(s, "Base64 of Base64 is unwrapped", test_base64_of_base64);
  CU_add_test(s, "invalid Base64 and empty data", test_invalid);
  CU_add_test(s, "attachment.size and hash checks", test_size_and_hash_checks);
  CU_add_test(s, "--max-bytes caps the decoded document", test_size_cap);
  CU_add_test(s, "bytes survive the wire form", test_wire_round_trip);
}
