/* test_xlsx.c - the XLSX extractor: sheets in workbook order with their
 * names, shared and inline strings, booleans, dates by cell style, a
 * missing sheet part, sniffing, and the real Tika sample.  Packages are
 * made in memory with libarchive's writer (dpt_zip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testutil.h"

#define S_NS "xmlns='http://schemas.openxmlformats.org/spreadsheetml/2006/main' " \
             "xmlns:r='http://schemas.openxmlformats.org/officeDocument/2006/relationships'"
#define RELS_NS "http://schemas.openxmlformats.org/package/2006/relationships"
#define REL_T "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

static const char content_types[] =
  "<Types xmlns='http://schemas.openxmlformats.org/package/2006/content-types'>"
  "<Override PartName='/xl/workbook.xml' ContentType='application/"
  "vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml'/></Types>";
static const char package_rels[] =
  "<Relationships xmlns='" RELS_NS "'>"
  "<Relationship Id='rId1' Type='" REL_T "officeDocument' Target='xl/workbook.xml'/>"
  "</Relationships>";
static const char workbook[] =
  "<workbook " S_NS "><sheets><sheet name='Labs' sheetId='7' r:id='rB'/>"
  "<sheet name='Vitals' sheetId='1' r:id='rA'/><sheet name='Gone' sheetId='3' r:id='rC'/>"
  "</sheets></workbook>";
static const char workbook_rels[] =
  "<Relationships xmlns='" RELS_NS "'>"
  "<Relationship Id='rA' Type='" REL_T "worksheet' Target='worksheets/sheet1.xml'/>"
  "<Relationship Id='rB' Type='" REL_T "worksheet' Target='worksheets/sheet2.xml'/>"
  "<Relationship Id='rC' Type='" REL_T "worksheet' Target='worksheets/sheet3.xml'/>"
  "<Relationship Id='rS' Type='" REL_T "sharedStrings' Target='sharedStrings.xml'/>"
  "<Relationship Id='rT' Type='" REL_T "styles' Target='styles.xml'/></Relationships>";
static const char strings[] =
  "<sst " S_NS "><si><t>Sodium</t></si><si><r><t>Potas</t></r><r><t>sium</t></r>"
  "<rPh><t>x</t></rPh></si><si><t>Pulse</t></si></sst>";
static const char styles[] =
  "<styleSheet " S_NS "><numFmts><numFmt numFmtId='164' formatCode='yyyy\\-mm\\-dd'/>"
  "<numFmt numFmtId='165' formatCode='\"mmol\"0.0'/></numFmts>"
  "<cellXfs><xf numFmtId='0'/><xf numFmtId='14'/><xf numFmtId='164'/><xf numFmtId='165'/>"
  "</cellXfs></styleSheet>";
static const char sheet1[] =
  "<worksheet " S_NS "><sheetData><row r='1'><c r='A1' t='s'><v>2</v></c><c r='B1'><v>72</v>"
  "</c></row><row r='2'><c r='A2' t='b'><v>1</v></c><c r='C2' t='inlineStr'><is><t>irregular"
  "</t></is></c></row></sheetData></worksheet>";
static const char sheet2[] =
  "<worksheet " S_NS "><sheetData><row r='1'><c r='A1' t='s'><v>0</v></c><c r='B1' s='3'>"
  "<v>140</v></c><c r='C1' s='1'><v>45356</v></c></row><row r='2'><c r='A2' t='s'><v>1</v></c>"
  "<c r='B2'><v>4.2</v></c><c r='C2' s='2'><v>60</v></c><c r='D2' t='e'><v>#DIV/0!</v></c>"
  "</row><row r='3'/></sheetData></worksheet>";

static void test_workbook(void)
{
  size_t len;
  char *zip = dpt_zip(&len, NULL, "[Content_Types].xml", DPT_S(content_types), "_rels/.rels",
                      DPT_S(package_rels), "xl/workbook.xml", DPT_S(workbook),
                      "xl/_rels/workbook.xml.rels", DPT_S(workbook_rels), "xl/sharedStrings.xml",
                      DPT_S(strings), "xl/styles.xml", DPT_S(styles), "xl/worksheets/sheet1.xml",
                      DPT_S(sheet1), "xl/worksheets/sheet2.xml", DPT_S(sheet2), NULL);
  struct dpt_result res;
  dpt_extract(zip, len, &res);
  free(zip);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "xlsx");
  /* Workbook order, not part order; serial 60 is 1900-02-29 to Excel. */
  const char *expected = "Labs\nSodium | 140 | 2024-03-05\nPotassium | 4.2 | 1900-02-29 | "
                         "#DIV/0!\n\nVitals\nPulse | 72\nTRUE | irregular\n";
  const char *got = dpt_content(&res, 0);
  if(strcmp(got, expected))
    fprintf(stderr, "\n  got: [%s]\n", got);
  CU_ASSERT_STRING_EQUAL(got, expected);
  json_object *w = dpi_json_member(dpi_json_member(res.recs[0]->obj, "meta"), "warnings");
  CU_ASSERT_PTR_NOT_NULL_FATAL(w);
  CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_array_get_idx(w, 0)),
                         "sheet Gone not read: the package has no part xl/worksheets/sheet3.xml");
  dpt_result_free(&res);
}

static void test_broken(void)
{
  size_t len;
  /* A workbook whose shared strings are not XML: the cells need them. */
  char *zip = dpt_zip(&len, NULL, "[Content_Types].xml", DPT_S(content_types), "_rels/.rels",
                      DPT_S(package_rels), "xl/workbook.xml", DPT_S(workbook),
                      "xl/_rels/workbook.xml.rels", DPT_S(workbook_rels), "xl/sharedStrings.xml",
                      DPT_S("<sst><si>"), NULL);
  struct dpt_result res;
  dpt_run_stage(&dp_stage_xlsx, dpt_body_record(zip, len), &res, NULL);
  free(zip);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT(!strncmp(res.failed->err_message, "part xl/sharedStrings.xml: ", 27));
  dpt_result_free(&res);
}

static void test_real_sample(void)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_shared("corpus/real/files/tika-testEXCEL.xlsx"), &len);
  if(!bytes) {
    fprintf(stderr, " (skipped: no ../shared/corpus/real/files/tika-testEXCEL.xlsx) ");
    return;
  }
  struct dpt_result res;
  dpt_extract(bytes, len, &res);
  free(bytes);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "xlsx");
  const char *text = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(text, "Feuil1\nSample Excel Worksheet - Numbers and their Squares");
  DPT_ASSERT_CONTAINS(text, "Number | Square\n1 | 1\n2 | 4");
  DPT_ASSERT_CONTAINS(text, "15 | 225");
  DPT_ASSERT_CONTAINS(text, "Written and saved in Microsoft Excel X for Mac Service Release 1.");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Simple Excel document");
  dpt_result_free(&res);
}

DPT_SUITE(xlsx)
{
  CU_pSuite s = CU_add_suite("xlsx", NULL, NULL);
  CU_add_test(s, "sheets, strings, dates, a missing sheet", test_workbook);
  CU_add_test(s, "unreadable shared strings", test_broken);
  CU_add_test(s, "the Tika sample", test_real_sample);
}
