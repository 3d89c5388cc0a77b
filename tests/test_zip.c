/* test_zip.c - ZIP containers and gzip files: one record per member with
 * the id <container>!<member>, the chain in meta.embedded, the hostile
 * cases (a ZIP bomb, a deep ZIP-in-ZIP, encrypted members, an archive cut
 * short), an empty archive, and the pure peeks the bidders use.  Archives
 * are made in memory with libarchive's writer (dpt_zip) and zlib. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "registry.h"
#include "testutil.h"
#include "zipread.h"

static const char *embedded(const struct dp_record *r, char *buf, size_t cap)
{
  json_object *list = dpi_json_member(dpi_json_member(r->obj, "meta"), "embedded");
  size_t w = 0;
  buf[0] = '\0';
  for(size_t i = 0; list && i < json_object_array_length(list) && w + 1 < cap; i++)
    w += (size_t)snprintf(buf + w, cap - w, "%s%s", i ? "," : "",
                          json_object_get_string(json_object_array_get_idx(list, i)));
  return buf;
}

static void test_members_are_records(void)
{
  size_t inner_len, len;
  char *inner = dpt_zip(&inner_len, NULL, "deep/note.txt", DPT_S("Inner note.\n"), NULL);
  char *zip = dpt_zip(&len, NULL, "letters/", DPT_S(""), "letters/a.txt", DPT_S("Referral.\n"),
                      "__MACOSX/letters/._a.txt", DPT_S("\0\5\26\7"), "inner.zip", inner,
                      inner_len, "blob.bin", "\x00\x01\x02\x03\xff\xfe", (size_t)6,
                      "caf\xE9.txt", DPT_S("Latin-1 name.\n"), NULL);
  free(inner);
  struct dpt_result res;
  dpt_extract(zip, len, &res);
  free(zip);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_EQUAL_FATAL(res.n, 3);
  char buf[128];
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "id"), "test!letters/a.txt");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Referral.\n");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "text");
  CU_ASSERT_STRING_EQUAL(embedded(res.recs[0], buf, sizeof(buf)), "zip,text");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 1, "id"), "test!inner.zip!deep/note.txt");
  CU_ASSERT_STRING_EQUAL(embedded(res.recs[1], buf, sizeof(buf)), "zip,zip,text");
  /* A name that is not UTF-8 is escaped as file names are (RECORD.md). */
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 2, "id"), "test!caf\xEF\xBF\xBD" "E9.txt");
  /* Each member's own size and hash. */
  json_object *bytes = dpi_json_member(res.recs[0]->obj, "bytes");
  CU_ASSERT_EQUAL(json_object_get_int64(bytes), 10);
  /* The member that is no document is an error record of its own. */
  CU_ASSERT_EQUAL_FATAL(res.nfails, 1);
  CU_ASSERT_STRING_EQUAL(dpi_record_str(res.fails[0], "id"), "test!blob.bin");
  CU_ASSERT_EQUAL(res.fails[0]->err_kind, DP_KIND_UNSUPPORTED);
  dpt_result_free(&res);
}

static void test_bomb(void)
{
  size_t n = (size_t)8 << 20, len;
  char *zeros = calloc(1, n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(zeros);
  char *zip = dpt_zip(&len, NULL, "zeros.txt", zeros, n, "ok.txt", DPT_S("fine\n"), NULL);
  free(zeros);
  CU_ASSERT(len < 64 * 1024); /* 8 MiB of zeros deflate to a few KiB */
  dpt_set_max_document(1 << 20);
  struct dpt_result res;
  dpt_extract(zip, len, &res);
  dpt_set_max_document(0);
  free(zip);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_EQUAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "id"), "test!ok.txt");
  CU_ASSERT_EQUAL_FATAL(res.nfails, 1);
  CU_ASSERT_STRING_EQUAL(dpi_record_str(res.fails[0], "id"), "test!zeros.txt");
  CU_ASSERT_EQUAL(res.fails[0]->err_kind, DP_KIND_TOO_LARGE);
  CU_ASSERT_STRING_EQUAL(res.fails[0]->err_message,
                         "ZIP member inflates to 8388608 bytes, more than 1048576");
  dpt_result_free(&res);
}

static void test_deep_nesting(void)
{
  size_t len = 5;
  char *data = dpi_memdup("deep\n", 5);
  char name[32] = "x.txt";
  for(int i = 0; i < 8; i++) {
    char *outer = dpt_zip(&len, NULL, name, data, len, NULL);
    free(data);
    data = outer;
    snprintf(name, sizeof(name), "l%d.zip", i);
  }
  struct dpt_result res;
  dpt_extract(data, len, &res);
  free(data);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_EQUAL_FATAL(res.nfails, 1);
  CU_ASSERT_STRING_EQUAL(dpi_record_str(res.fails[0], "id"), "test!l6.zip!l5.zip!l4.zip!l3.zip");
  CU_ASSERT_EQUAL(res.fails[0]->err_kind, DP_KIND_TOO_LARGE);
  CU_ASSERT_STRING_EQUAL(res.fails[0]->err_message, "documents nested more than 4 deep");
  dpt_result_free(&res);
}

static void test_encrypted(void)
{
  size_t len;
  char *zip = dpt_zip(&len, "secret", "s.txt", DPT_S("Private note.\n"), NULL);
  struct dpt_result res;
  dpt_extract(zip, len, &res);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_EQUAL_FATAL(res.nfails, 1);
  CU_ASSERT_STRING_EQUAL(dpi_record_str(res.fails[0], "id"), "test!s.txt");
  CU_ASSERT_EQUAL(res.fails[0]->err_kind, DP_KIND_ENCRYPTED);
  dpt_result_free(&res);
  /* A ZIP cut short: the members before the cut, then the archive's error. */
  char *two = dpt_zip(&len, NULL, "a.txt", DPT_S("First member.\n"), "b.txt",
                      DPT_S("Second member, which the cut takes away.\n"), NULL);
  size_t second = 4;
  while(second + 4 < len && memcmp(two + second, "PK\3\4", 4))
    second++;
  dpt_extract(two, second + 40, &res); /* inside b.txt */
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "id"), "test!a.txt");
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_STRING_EQUAL(dpi_record_str(res.fails[res.nfails - 1], "id"), "test");
  CU_ASSERT_EQUAL(res.fails[res.nfails - 1]->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
  free(two);
  free(zip);
  /* Only directories: nothing to read, said so. */
  zip = dpt_zip(&len, NULL, "empty/", DPT_S(""), NULL);
  dpt_extract(zip, len, &res);
  free(zip);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_EMPTY);
  dpt_result_free(&res);
}

/* An OPC package of a kind docpipe does not read is one error, not a
 * record per part. */
static void test_other_office_package(void)
{
  size_t len;
  char *zip = dpt_zip(&len, NULL, "[Content_Types].xml",
                      DPT_S("<Types xmlns='http://schemas.openxmlformats.org/package/2006/"
                            "content-types'><Override PartName='/xl/workbook.bin' ContentType="
                            "'application/vnd.ms-excel.sheet.binary.macroEnabled.main'/></Types>"),
                      "xl/workbook.bin", DPT_S("\x83\x01\x00"), NULL);
  struct dpt_result res;
  dpt_extract(zip, len, &res);
  free(zip);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_EQUAL(res.nfails, 1);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_UNSUPPORTED);
  CU_ASSERT_STRING_EQUAL(dpi_record_str(res.failed, "id"), "test");
  dpt_result_free(&res);
}

static char *gzip_bytes(const void *data, size_t n, size_t *len)
{
  z_stream z;
  memset(&z, 0, sizeof(z));
  CU_ASSERT_FATAL(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  size_t cap = deflateBound(&z, n) + 64;
  char *out = malloc(cap);
  z.next_in = (Bytef *)data;
  z.avail_in = (uInt)n;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)cap;
  CU_ASSERT(deflate(&z, Z_FINISH) == Z_STREAM_END);
  *len = cap - z.avail_out;
  deflateEnd(&z);
  return out;
}

static void test_gzip(void)
{
  size_t len;
  char *gz = gzip_bytes(DPT_S("{\\rtf1 Gzipped letter.}"), &len);
  struct dpt_result res;
  dpt_extract(gz, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "id"), "test");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "rtf");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Gzipped letter.");
  char buf[64];
  CU_ASSERT_STRING_EQUAL(embedded(res.recs[0], buf, sizeof(buf)), "gzip,rtf");
  dpt_result_free(&res);
  /* Cut short: damaged. */
  dpt_extract(gz, len - 6, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
  free(gz);
  /* A gzip bomb stops at the document cap. */
  size_t n = (size_t)4 << 20;
  char *zeros = calloc(1, n);
  gz = gzip_bytes(zeros, n, &len);
  free(zeros);
  dpt_set_max_document(1 << 20);
  dpt_extract(gz, len, &res);
  dpt_set_max_document(0);
  free(gz);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_TOO_LARGE);
  dpt_result_free(&res);
}

static void test_peeks(void)
{
  size_t len;
  char *zip = dpt_zip(&len, NULL, "a.txt", DPT_S("hello"), "mimetype",
                      DPT_S("application/vnd.oasis.opendocument.text"), NULL);
  const unsigned char *z = (const unsigned char *)zip;
  static const char *const needles[] = {"spreadsheet", "opendocument.text", NULL};
  CU_ASSERT(dpi_zip_peek_magic(z, len));
  CU_ASSERT(dpi_zip_peek_has(z, len, "a.txt"));
  CU_ASSERT(!dpi_zip_peek_has(z, len, "b.txt"));
  CU_ASSERT_EQUAL(dpi_zip_peek_find(z, len, "mimetype", needles), 1);
  CU_ASSERT_EQUAL(dpi_zip_peek_find(z, len, "a.txt", needles), -1);
  /* Without its central directory, the local headers still tell. */
  CU_ASSERT(dpi_zip_peek_has(z, len - 30, "a.txt"));
  for(size_t cut = 0; cut < len; cut += 7) /* no read past the end, whatever the cut */
    dpi_zip_peek_find(z, cut, "mimetype", needles);
  free(zip);
}

DPT_SUITE(zip)
{
  CU_pSuite s = CU_add_suite("zip", NULL, NULL);
  CU_add_test(s, "members are records of their own", test_members_are_records);
  CU_add_test(s, "a ZIP bomb is too-large", test_bomb);
  CU_add_test(s, "a deep ZIP-in-ZIP is too-large", test_deep_nesting);
  CU_add_test(s, "encrypted, cut short, empty", test_encrypted);
  CU_add_test(s, "an Office package no extractor reads", test_other_office_package);
  CU_add_test(s, "gzip: one document, cut, bomb", test_gzip);
  CU_add_test(s, "the bidders' peeks", test_peeks);
}
