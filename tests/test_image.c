/* test_image.c - images become records with no text, never errors. */
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testutil.h"

static void test_png_record(void)
{
  size_t len;
  char *png = dpt_read_file(dpt_data("../../samples/files/chest-xray.png"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(png);
  struct dpt_result res;
  dpt_extract(png, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "image");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.imageType"), "image/png");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "source.contentType"), "image/png");
  dpt_result_free(&res);
  free(png);
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
  /* "BM" text that is not a bitmap (size field wrong) is not an image. */
  struct dp_peek bm = {(const unsigned char *)"BMI is 25", 9, NULL, 0, 9, NULL};
  CU_ASSERT_EQUAL(dp_stage_image.bid(&bm, &mime), 0);
}

DPT_SUITE(image)
{
  CU_pSuite s = CU_add_suite("image", NULL, NULL);
  CU_add_test(s, "PNG gives an image record", test_png_record);
  CU_add_test(s, "signatures", test_signatures);
}
