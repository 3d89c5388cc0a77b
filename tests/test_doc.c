/* test_doc.c - Word 97-2003 documents: a piece table made here (8-bit and
 * UTF-16 pieces, cells, fields), encryption, a LibreOffice .doc, a
 * truncated file, and the sniff's OLE2 routing, long directories too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "ole2make.h"
#include "ole2read.h"
#include "registry.h"
#include "testutil.h"

static void le16(unsigned char *p, unsigned v) { p[0] = v & 0xFF, p[1] = (v >> 8) & 0xFF; }

static void le32(unsigned char *p, unsigned long v)
{
  for(int i = 0; i < 4; i++)
    p[i] = (unsigned char)(v >> (8 * i));
}

/* A Word 97 file with an 8-bit piece and a UTF-16 piece; flags go into
 * the FIB; `fillers` empty streams come after the two Word streams, to make
 * the directory as long as wanted (four entries per 512-byte sector). */
static unsigned char *make_doc_with(unsigned flags, size_t fillers, size_t *len)
{
  static const char piece0[] = "Hello\r";
  static const char piece1[] = "W\xF6rld\x07" "cell\x07\x07\x13 HYPERLINK x \x14link\x15\r";
  size_t n0 = strlen(piece0), n1 = strlen(piece1);
  unsigned char word[0x600] = {0}, table[64] = {0};
  le16(word, 0xA5EC);
  le16(word + 2, 0xC1);
  le16(word + 0x0A, 0x0200 | flags);
  le32(word + 0x4C, (unsigned long)(n0 + n1));
  le32(word + 0x1A2, 0);
  memcpy(word + 0x400, piece0, n0);
  for(size_t i = 0; i < n1; i++)
    le16(word + 0x500 + 2 * i, (unsigned char)piece1[i]);
  table[0] = 0x02;
  le32(table + 1, 4 * 3 + 8 * 2);
  le32(table + 5, 0);
  le32(table + 9, (unsigned long)n0);
  le32(table + 13, (unsigned long)(n0 + n1));
  le32(table + 17 + 2, 0x40000000UL | (0x400 * 2));
  le32(table + 25 + 2, 0x500);
  le32(word + 0x1A6, 5 + 28);
  size_t n = 2 + fillers;
  struct dpt_stream *s = calloc(n, sizeof(*s));
  char(*names)[16] = calloc(fillers + 1, sizeof(*names));
  if(!s || !names) {
    free(s);
    free(names);
    return NULL;
  }
  s[0] = (struct dpt_stream){"WordDocument", word, sizeof(word)};
  s[1] = (struct dpt_stream){"1Table", table, 5 + 28};
  for(size_t i = 0; i < fillers; i++) {
    snprintf(names[i], sizeof(names[i]), "F%05u", (unsigned)i);
    s[2 + i] = (struct dpt_stream){names[i], "", 0};
  }
  unsigned char *doc = dpt_ole2_make(s, n, len);
  free(s);
  free(names);
  return doc;
}

static unsigned char *make_doc(unsigned flags, size_t *len)
{
  return make_doc_with(flags, 0, len);
}

static void test_piece_table(void)
{
  size_t len;
  unsigned char *doc = make_doc(0, &len);
  struct dpt_result res;
  dpt_extract(doc, len, &res);
  free(doc);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "doc");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "source.contentType"), "application/msword");
  const char *c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "Hello\nW\xC3\xB6rld | cell\nlink");
  CU_ASSERT_PTR_NULL(strstr(c, "HYPERLINK")); /* the field's code is not text */
  dpt_result_free(&res);
}

static void test_encrypted(void)
{
  size_t len;
  unsigned char *doc = make_doc(0x0100, &len);
  struct dpt_result res;
  dpt_extract(doc, len, &res);
  free(doc);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_ENCRYPTED);
  dpt_result_free(&res);
}

static void test_libreoffice_doc(void)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_data("ole/letter.doc"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  struct dpt_result res;
  dpt_extract(bytes, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  const char *c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "Referral to cardiology");
  DPT_ASSERT_CONTAINS(c, "Patient: Ji\xC5\x99\xC3\xAD Dvo\xC5\x99\xC3\xA1k, born 1956");
  DPT_ASSERT_CONTAINS(c, "Metoprolol | 50 mg");
  DPT_ASSERT_CONTAINS(c, "Kind regards, the clinic");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Referral letter");
  dpt_result_free(&res);

  /* Truncated: the signature is there, the sectors are not. */
  for(size_t cut = 600; cut < len; cut += len / 4) {
    dpt_extract(bytes, cut, &res);
    CU_ASSERT_EQUAL(res.status, DP_FAIL);
    if(res.failed)
      CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
    dpt_result_free(&res);
  }
  free(bytes);
}

static void test_not_word(void)
{
  /* An OLE2 file of no known application is unsupported, not damaged. */
  static const char data[] = "nothing";
  struct dpt_stream s[] = {{"Contents", data, sizeof(data)}};
  size_t len;
  unsigned char *f = dpt_ole2_make(s, 1, &len);
  struct dpt_result res;
  dpt_extract(f, len, &res);
  free(f);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  if(res.failed)
    CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_UNSUPPORTED);
  dpt_result_free(&res);
  /* The doc stage run by name on bytes that are not OLE2. */
  dpt_run_stage(&dp_stage_doc, dpt_body_record("plain", 5), &res, NULL);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  if(res.failed)
    CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
}

/* The sniff reads the directory's sector chain once: a directory of
 * hundreds of sectors is named as it is; one longer than the sniff reads
 * (DP_OLE2_SNIFF_DIR_SECTORS sectors, DP_OLE2_SNIFF_ENTRIES entries) goes
 * to libgsf, and its text is still read. */
static void test_long_directory(void)
{
  static const size_t fillers[] = {1500, 4 * DP_OLE2_SNIFF_DIR_SECTORS + 100};
  for(size_t k = 0; k < 2; k++) {
    size_t len;
    unsigned char *doc = make_doc_with(0, fillers[k], &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    CU_ASSERT_EQUAL(dpi_ole2_sniff(doc, len), k == 0 ? DP_OLE2_DOC : DP_OLE2_UNREADABLE);
    struct dpt_result res;
    dpt_extract(doc, len, &res);
    free(doc);
    CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
    CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "doc");
    DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "Hello\nW\xC3\xB6rld | cell\nlink");
    dpt_result_free(&res);
  }
}

DPT_SUITE(doc)
{
  CU_pSuite s = CU_add_suite("doc", NULL, NULL);
  CU_add_test(s, "piece table: 8-bit and UTF-16 pieces, cells, fields", test_piece_table);
  CU_add_test(s, "encrypted", test_encrypted);
  CU_add_test(s, "LibreOffice .doc, truncated copies", test_libreoffice_doc);
  CU_add_test(s, "OLE2 without Word, not OLE2", test_not_word);
  CU_add_test(s, "a long directory; one past the sniff's cap", test_long_directory);
}
