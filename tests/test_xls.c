/* test_xls.c - Excel 97-2003 workbooks: LibreOffice's .xls (sheets, shared
 * strings, numbers), a workbook made here with a shared string cut by a
 * CONTINUE record, FILEPASS, and truncation. */
#include <stdlib.h>
#include <string.h>

#include "ole2make.h"
#include "registry.h"
#include "testutil.h"

static size_t rec(unsigned char *p, unsigned type, const void *data, unsigned n)
{
  p[0] = type & 0xFF, p[1] = type >> 8, p[2] = n & 0xFF, p[3] = n >> 8;
  memcpy(p + 4, data, n);
  return 4 + n;
}

static void run_book(const unsigned char *book, size_t n, struct dpt_result *res)
{
  struct dpt_stream s[] = {{"Workbook", book, n}};
  size_t len;
  unsigned char *f = dpt_ole2_make(s, 1, &len);
  dpt_extract(f, len, res);
  free(f);
}

static void test_libreoffice_xls(void)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_data("ole/labs.xls"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  struct dpt_result res;
  dpt_extract(bytes, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "xls");
  const char *c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "Labs\nTest | Value\nH\xC3\xA4moglobin | 13.5\nLeukocytes | 7 | normal");
  DPT_ASSERT_CONTAINS(c, "Notes\nRepeat in two weeks");
  dpt_result_free(&res);
  dpt_extract(bytes, len / 2, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  if(res.failed)
    CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
  free(bytes);
}

/* Globals: BOF, BOUNDSHEET, SST whose one string goes on, in UTF-16, in a
 * CONTINUE; then the sheet with LABELSST, NUMBER, RK. */
static void test_continue(void)
{
  unsigned char book[512];
  size_t n = 0, sheet_bof;
  unsigned char bof[16] = {0x00, 0x06, 0x05, 0x00};
  n += rec(book + n, 0x0809, bof, 16);
  unsigned char bs[] = {0, 0, 0, 0, 0, 0, 5, 0, 'V', 'i', 't', 'a', 'l'};
  size_t bs_at = n + 4;
  n += rec(book + n, 0x0085, bs, sizeof(bs));
  unsigned char sst[] = {1, 0, 0, 0, 1, 0, 0, 0, 10, 0, 0, 'P', 'u', 'l', 's', 'e'};
  n += rec(book + n, 0x00FC, sst, sizeof(sst));
  unsigned char cont[] = {1, ' ', 0, 'r', 0, 'a', 0, 't', 0, 0xE9, 0};
  n += rec(book + n, 0x003C, cont, sizeof(cont));
  n += rec(book + n, 0x000A, "", 0);
  sheet_bof = n;
  book[bs_at] = (unsigned char)sheet_bof; /* lbPlyPos */
  bof[2] = 0x10;
  n += rec(book + n, 0x0809, bof, 16);
  unsigned char lsst[] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  n += rec(book + n, 0x00FD, lsst, sizeof(lsst));
  unsigned char num[14] = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F}; /* 1.5 */
  n += rec(book + n, 0x0203, num, sizeof(num));
  unsigned char rk[10] = {1, 0, 0, 0, 0, 0, 0x1A, 0x01, 0, 0}; /* 70 (int 70 << 2 | 2) */
  n += rec(book + n, 0x027E, rk, sizeof(rk));
  n += rec(book + n, 0x000A, "", 0);
  struct dpt_result res;
  run_book(book, n, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  const char *c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "Vital\nPulse rat\xC3\xA9 | 1.5\n70");
  dpt_result_free(&res);
}

static void test_filepass(void)
{
  unsigned char book[64];
  size_t n = 0;
  unsigned char bof[16] = {0x00, 0x06, 0x05, 0x00};
  n += rec(book + n, 0x0809, bof, 16);
  n += rec(book + n, 0x002F, "\1\0\1\0", 4);
  n += rec(book + n, 0x000A, "", 0);
  struct dpt_result res;
  run_book(book, n, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  if(res.failed)
    CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_ENCRYPTED);
  dpt_result_free(&res);
}

DPT_SUITE(xls)
{
  CU_pSuite s = CU_add_suite("xls", NULL, NULL);
  CU_add_test(s, "LibreOffice .xls: sheets, shared strings, numbers; truncated",
              test_libreoffice_xls);
  CU_add_test(s, "a shared string cut by CONTINUE, RK numbers", test_continue);
  CU_add_test(s, "FILEPASS is encrypted", test_filepass);
}
