/* test_ppt.c - PowerPoint 97-2003: text atoms in containers, the master's
 * text skipped, slide-number placeholders, encryption, a record longer than
 * its container. */
#include <stdlib.h>
#include <string.h>

#include "ole2make.h"
#include "registry.h"
#include "testutil.h"

static size_t hdr(unsigned char *p, unsigned vi, unsigned type, unsigned long n)
{
  p[0] = vi & 0xFF, p[1] = vi >> 8, p[2] = type & 0xFF, p[3] = type >> 8;
  for(int i = 0; i < 4; i++)
    p[4 + i] = (unsigned char)(n >> (8 * i));
  return 8;
}

static size_t atom_bytes(unsigned char *p, const char *s)
{
  size_t n = strlen(s);
  hdr(p, 0, 0x0FA8, n);
  memcpy(p + 8, s, n);
  return 8 + n;
}

static size_t atom_chars(unsigned char *p, const char *s)
{
  size_t n = strlen(s);
  hdr(p, 0, 0x0FA0, 2 * n);
  for(size_t i = 0; i < n; i++)
    p[8 + 2 * i] = (unsigned char)s[i], p[9 + 2 * i] = 0;
  return 8 + 2 * n;
}

static void run_ppt(const unsigned char *doc, size_t n, struct dpt_result *res)
{
  struct dpt_stream s[] = {{"PowerPoint Document", doc, n}};
  size_t len;
  unsigned char *f = dpt_ole2_make(s, 1, &len);
  dpt_extract(f, len, res);
  free(f);
}

static size_t make(unsigned char *d, unsigned inner_type)
{
  size_t n = 8, body;
  n += hdr(d + n, 0x0F, 0x03F8, 0); /* a main master with its sample text */
  body = n;
  n += atom_chars(d + n, "Click to edit Master title style");
  hdr(d + body - 8, 0x0F, 0x03F8, n - body);
  size_t slide = n;
  n += hdr(d + n, 0x0F, inner_type, 0);
  n += atom_chars(d + n, "Ward round\rDay 2");
  n += atom_bytes(d + n, "*");
  n += atom_bytes(d + n, "Blood pressure stable");
  hdr(d + slide, 0x0F, inner_type, n - slide - 8);
  hdr(d, 0x0F, 0x03E8, n - 8);
  return n;
}

static void test_text_atoms(void)
{
  unsigned char d[512];
  size_t n = make(d, 0x03EE);
  struct dpt_result res;
  run_ppt(d, n, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "ppt");
  const char *c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "Ward round\nDay 2\n\nBlood pressure stable");
  CU_ASSERT_PTR_NULL(strstr(c, "Master"));
  CU_ASSERT_PTR_NULL(strstr(c, "*"));
  dpt_result_free(&res);
}

static void test_encrypted(void)
{
  unsigned char d[512];
  size_t n = make(d, 0x2F14); /* CryptSession10Container */
  struct dpt_result res;
  run_ppt(d, n, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  if(res.failed)
    CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_ENCRYPTED);
  dpt_result_free(&res);
}

static void test_overlong_record(void)
{
  unsigned char d[64];
  size_t n = hdr(d, 0x0F, 0x03E8, 1000); /* says 1000 bytes, has none */
  struct dpt_result res;
  run_ppt(d, n, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  if(res.failed)
    CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
}

/* LibreOffice's .ppt, kept to its PowerPoint Document stream (its
 * thumbnail alone was 440 KB): slides and speaker notes. */
static void test_libreoffice_ppt(void)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_data("ole/round.ppt"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  struct dpt_result res;
  dpt_extract(bytes, len, &res);
  free(bytes);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  const char *c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "Ward round\n\nBlood pressure stable");
  DPT_ASSERT_CONTAINS(c, "Discharge on Friday");
  DPT_ASSERT_CONTAINS(c, "Mention the \xC3\xA9" "chocardiogram");
  dpt_result_free(&res);
}

DPT_SUITE(ppt)
{
  CU_pSuite s = CU_add_suite("ppt", NULL, NULL);
  CU_add_test(s, "text atoms; master text and slide numbers left out", test_text_atoms);
  CU_add_test(s, "LibreOffice .ppt: slides and notes", test_libreoffice_ppt);
  CU_add_test(s, "CryptSession10Container is encrypted", test_encrypted);
  CU_add_test(s, "a record longer than its stream", test_overlong_record);
}
