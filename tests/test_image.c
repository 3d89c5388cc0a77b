/* test_image.c - images become records with the text OCR reads; what cannot
 * be decoded keeps a record with a note, a bomb is too-large. */
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testutil.h"

/* Extract tests/data/image/NAME (or a path from there) into res. */
static void extract_file(const char *name, struct dpt_result *res)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_data(name), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  dpt_extract(bytes, len, res);
  free(bytes);
}

static const char *warning(const struct dpt_result *res)
{
  json_object *list = dpi_json_member(dpi_json_member(res->recs[0]->obj, "meta"), "warnings");
  return list ? json_object_get_string(json_object_array_get_idx(list, 0)) : NULL;
}

static void test_png_without_text(void)
{
  struct dpt_result res;
  extract_file("../../samples/files/chest-xray.png", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "image");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.imageType"), "image/png");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "source.contentType"), "image/png");
  /* OCR ran and found nothing: not quietly converted. */
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.ocr.language"), "eng");
  CU_ASSERT_PTR_NOT_NULL(warning(&res));
  dpt_result_free(&res);
}

static void test_scan_read(void)
{
  struct dpt_result res;
  extract_file("image/discharge-scan.png", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "image");
  const char *t = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(t, "Riverside Community Hospital - Discharge Summary");
  DPT_ASSERT_CONTAINS(t, "treated with intravenous ceftriaxone, then oral");
  DPT_ASSERT_CONTAINS(t, "Condition at discharge: stable, afebrile for 48 hours.");
  const char *engine = dpt_field(&res, 0, "meta.ocr.engine");
  CU_ASSERT(engine && !strncmp(engine, "tesseract 5", 11));
  json_object *ocr = dpi_json_member(dpi_json_member(res.recs[0]->obj, "meta"), "ocr");
  json_object *pages = dpi_json_member(ocr, "pages");
  CU_ASSERT_EQUAL(json_object_array_length(pages), 1);
  double conf = json_object_get_double(dpi_json_member(ocr, "meanConfidence"));
  CU_ASSERT(conf > 80 && conf <= 100);
  CU_ASSERT_PTR_NULL(warning(&res));
  dpt_result_free(&res);
}

static void test_multipage_tiff(void)
{
  struct dpt_result res;
  extract_file("image/two-page-g4.tif", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  json_object *ocr = dpi_json_member(dpi_json_member(res.recs[0]->obj, "meta"), "ocr");
  json_object *pages = dpi_json_member(ocr, "pages");
  CU_ASSERT_EQUAL_FATAL(json_object_array_length(pages), 2);
  CU_ASSERT_EQUAL(json_object_get_int(json_object_array_get_idx(pages, 1)), 2);
  dpt_result_free(&res);
}

static void test_bomb_too_large(void)
{
  /* A 24x12 PNG whose header claims 200000x200000 pixels. */
  struct dpt_result res;
  extract_file("image/bomb.png", &res);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_TOO_LARGE);
  dpt_result_free(&res);
}

static void test_undecodable_kept(void)
{
  unsigned char dicom[256] = {0};
  memcpy(dicom + 128, "DICM", 4);
  struct dpt_result res;
  dpt_extract(dicom, sizeof(dicom), &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.imageType"), "application/dicom");
  CU_ASSERT_PTR_NOT_NULL(dpt_field(&res, 0, "meta.ocr.skipped"));
  dpt_result_free(&res);
}

static void test_ocr_never(void)
{
  dpt_set_ocr(DP_OCR_NEVER);
  struct dpt_result res;
  extract_file("image/discharge-scan.png", &res);
  dpt_set_ocr(DP_OCR_AUTO);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.ocr.skipped"), "--ocr never");
  dpt_result_free(&res);
}

static void test_signatures(void)
{
  static const struct {
    const char *bytes;
    size_t len;
    const char *mime;
  } cases[] = {
    {"\xFF\xD8\xFF\xE0\0\x10JFIF", 10, "image/jpeg"},
    {"GIF89a\x01\0\x01\0", 10, "image/gif"},
    {"II*\0\x08\0\0\0", 8, "image/tiff"},
    {"MM\0*\0\0\0\x08", 8, "image/tiff"},
    {"RIFF\x10\0\0\0WEBPVP8 ", 16, "image/webp"},
    {"BM\x0e\0\0\0\0\0\0\0\0\0\0\0", 14, "image/bmp"}, /* size field 14 == length */
    {"P5\n2550 3300\n255\n\x80", 18, "image/x-portable-anymap"}, /* what pdftoppm writes */
    {"P4\n# a fax\n1728 2200\n\0", 22, "image/x-portable-anymap"},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct dp_peek peek = {(const unsigned char *)cases[i].bytes, cases[i].len, NULL, 0,
                           cases[i].len, NULL};
    const char *mime = NULL;
    CU_ASSERT(dp_stage_image.bid(&peek, &mime) > 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mime);
    CU_ASSERT_STRING_EQUAL(mime, cases[i].mime);
  }
  /* DICOM: 128-byte preamble then "DICM". */
  unsigned char dicom[140] = {0};
  memcpy(dicom + 128, "DICM", 4);
  struct dp_peek peek = {dicom, sizeof(dicom), NULL, 0, sizeof(dicom), NULL};
  const char *mime = NULL;
  CU_ASSERT(dp_stage_image.bid(&peek, &mime) > 0);
  CU_ASSERT_STRING_EQUAL(mime, "application/dicom");
  /* Text that begins like a Netpbm header but is none. */
  static const char *const not_pnm[] = {"P5 patient seen today\n", "P6\n12 x\n", "P2\n3 4\n",
                                        "P7\n1 1\n"};
  for(size_t i = 0; i < sizeof(not_pnm) / sizeof(*not_pnm); i++) {
    struct dp_peek t = {(const unsigned char *)not_pnm[i], strlen(not_pnm[i]), NULL, 0,
                        strlen(not_pnm[i]), NULL};
    CU_ASSERT_EQUAL(dp_stage_image.bid(&t, &mime), 0);
  }
  /* A PGM converts: decoded and OCRed (a blank one: no text, a warning). */
  unsigned char pgm[15 + 64 * 64];
  memcpy(pgm, "P5\n64 64\n255\n", 14);
  memset(pgm + 14, 255, sizeof(pgm) - 14);
  struct dpt_result res;
  dpt_extract(pgm, 14 + 64 * 64, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "image");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.imageType"), "image/x-portable-anymap");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.ocr.language"), "eng");
  CU_ASSERT_PTR_NOT_NULL(warning(&res));
  dpt_result_free(&res);
  /* "BM" text that is not a bitmap (size field wrong) is not an image. */
  struct dp_peek bm = {(const unsigned char *)"BMI is 25", 9, NULL, 0, 9, NULL};
  CU_ASSERT_EQUAL(dp_stage_image.bid(&bm, &mime), 0);
}

DPT_SUITE(image)
{
  CU_pSuite s = CU_add_suite("image", NULL, NULL);
  CU_add_test(s, "PNG without text: a record and a warning", test_png_without_text);
  CU_add_test(s, "a scanned page is read", test_scan_read);
  CU_add_test(s, "every page of a multi-page TIFF", test_multipage_tiff);
  CU_add_test(s, "a decompression bomb is too-large", test_bomb_too_large);
  CU_add_test(s, "what cannot be decoded keeps a record", test_undecodable_kept);
  CU_add_test(s, "--ocr never", test_ocr_never);
  CU_add_test(s, "signatures", test_signatures);
}
