/* test_odf.c - the ODT, ODS and ODP extractors: paragraphs and headings,
 * spaces and tabs, lists, tables, notes and comments, sheets with their
 * names, pages with notes, meta.xml, sniffing by mimetype, a package
 * without content.xml, and the real Tika sample.  Packages are made in
 * memory with libarchive's writer (dpt_zip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testutil.h"

#define O_NS "xmlns:office='urn:oasis:names:tc:opendocument:xmlns:office:1.0' "         \
             "xmlns:text='urn:oasis:names:tc:opendocument:xmlns:text:1.0' "             \
             "xmlns:table='urn:oasis:names:tc:opendocument:xmlns:table:1.0' "           \
             "xmlns:draw='urn:oasis:names:tc:opendocument:xmlns:drawing:1.0' "          \
             "xmlns:presentation='urn:oasis:names:tc:opendocument:xmlns:presentation:1.0' " \
             "xmlns:dc='http://purl.org/dc/elements/1.1/' "                            \
             "xmlns:meta='urn:oasis:names:tc:opendocument:xmlns:meta:1.0'"
#define MT "application/vnd.oasis.opendocument."

static void run_odf(const char *mimetype, const char *body, const char *meta,
                    struct dpt_result *res)
{
  char content[8192];
  snprintf(content, sizeof(content),
           "<office:document-content " O_NS "><office:body>%s</office:body>"
           "</office:document-content>", body);
  size_t len;
  char *zip = meta ? dpt_zip(&len, NULL, "mimetype", DPT_S(mimetype), "content.xml",
                             DPT_S(content), "meta.xml", DPT_S(meta), NULL)
                   : dpt_zip(&len, NULL, "mimetype", DPT_S(mimetype), "content.xml",
                             DPT_S(content), NULL);
  dpt_extract(zip, len, res);
  free(zip);
}

static void check(const char *mimetype, const char *body, const char *format,
                  const char *expected)
{
  struct dpt_result res;
  run_odf(mimetype, body, NULL, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), format);
  const char *got = dpt_content(&res, 0);
  if(strcmp(got, expected))
    fprintf(stderr, "\n  got: [%s]\n  expected: [%s]\n", got, expected);
  CU_ASSERT_STRING_EQUAL(got, expected);
  dpt_result_free(&res);
}

static void test_text(void)
{
  check(MT "text",
        "<office:text><text:sequence-decls><text:sequence-decl text:name='x'/>"
        "</text:sequence-decls><text:h text:outline-level='1'>Discharge   summary</text:h>"
        "<text:p>BP<text:s text:c='3'/>120/80<text:tab/>ok<text:line-break/>next</text:p>"
        "<text:list><text:list-item><text:p>Aspirin</text:p></text:list-item>"
        "<text:list-item><text:p>Statin<text:note><text:note-citation>1</text:note-citation>"
        "<text:note-body><text:p>At night.</text:p></text:note-body></text:note></text:p>"
        "</text:list-item></text:list>"
        "<text:p>Seen<office:annotation><dc:creator>Dr X</dc:creator><dc:date>2024</dc:date>"
        "<text:p>Recheck</text:p></office:annotation> today</text:p>"
        "<table:table table:name='T'><table:table-header-rows><table:table-row>"
        "<table:table-cell><text:p>Test</text:p></table:table-cell><table:table-cell>"
        "<text:p>Value</text:p></table:table-cell></table:table-row></table:table-header-rows>"
        "<table:table-row><table:table-cell><text:p>Na</text:p></table:table-cell>"
        "<table:table-cell/><table:table-cell><text:p>140</text:p></table:table-cell>"
        "</table:table-row></table:table>"
        "<text:tracked-changes><text:changed-region><text:deletion><text:p>gone</text:p>"
        "</text:deletion></text:changed-region></text:tracked-changes></office:text>",
        "odt",
        "Discharge summary\nBP   120/80\tok\nnext\nAspirin\nStatin\nAt night.\n"
        "Seen\nRecheck\ntoday\nTest | Value\nNa | 140\n");
}

static void test_spreadsheet(void)
{
  check(MT "spreadsheet",
        "<office:spreadsheet><table:table table:name='Labs'><table:table-row>"
        "<table:table-cell office:value-type='string'><text:p>Sodium</text:p></table:table-cell>"
        "<table:table-cell office:value-type='float' office:value='140'><text:p>140</text:p>"
        "</table:table-cell></table:table-row><table:table-row table:number-rows-repeated='9'>"
        "<table:table-cell/></table:table-row></table:table><table:table table:name='Notes'>"
        "<table:table-row><table:table-cell><text:p>fasting</text:p></table:table-cell>"
        "</table:table-row></table:table></office:spreadsheet>",
        "ods", "Labs\nSodium | 140\n\nNotes\nfasting\n");
}

static void test_presentation(void)
{
  check(MT "presentation",
        "<office:presentation><draw:page draw:name='p1'><draw:frame><draw:text-box>"
        "<text:p>Ward round</text:p></draw:text-box></draw:frame><presentation:notes>"
        "<draw:frame><draw:text-box><text:p>Say hello</text:p></draw:text-box></draw:frame>"
        "</presentation:notes></draw:page><draw:page draw:name='p2'><draw:frame>"
        "<draw:text-box><text:p>Questions</text:p></draw:text-box></draw:frame></draw:page>"
        "</office:presentation>",
        "odp", "Ward round\nSay hello\n\nQuestions\n");
}

static void test_meta_and_broken(void)
{
  static const char meta[] =
    "<office:document-meta " O_NS "><office:meta><dc:title>Clinic  letter</dc:title>"
    "<meta:initial-creator>Dr A</meta:initial-creator><dc:creator>Dr B</dc:creator>"
    "<meta:creation-date>2023-11-02T09:00:00</meta:creation-date></office:meta>"
    "</office:document-meta>";
  struct dpt_result res;
  run_odf(MT "text-template", "<office:text><text:p>Hi</text:p></office:text>", meta, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "odt");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Clinic letter");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.author"), "Dr A");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.date"), "2023-11-02T09:00:00");
  dpt_result_free(&res);

  size_t len;
  char *zip = dpt_zip(&len, NULL, "mimetype", DPT_S(MT "text"), "styles.xml", DPT_S("<x/>"),
                      NULL);
  dpt_extract(zip, len, &res);
  free(zip);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT_STRING_EQUAL(res.failed->err_message, "package has no part content.xml");
  CU_ASSERT_STRING_EQUAL(dpi_record_str(res.failed, "format"), "odt");
  dpt_result_free(&res);
}

/* Labels from the list style: bullets, numbers with prefix and suffix,
 * a nested level showing both numbers, the style inherited. */
static void test_list_labels(void)
{
  static const char content[] =
    "<office:document-content " O_NS " xmlns:style='urn:oasis:names:tc:opendocument:xmlns:"
    "style:1.0'><office:automatic-styles><text:list-style style:name='L1'>"
    "<text:list-level-style-number text:level='1' style:num-format='1' style:num-suffix='.'/>"
    "<text:list-level-style-number text:level='2' style:num-format='a' text:display-levels='2'"
    " style:num-prefix='(' style:num-suffix=')'/></text:list-style><text:list-style "
    "style:name='L2'><text:list-level-style-bullet text:level='1' text:bullet-char='-'/>"
    "</text:list-style></office:automatic-styles><office:body><office:text>"
    "<text:list text:style-name='L1'><text:list-item><text:p>One</text:p><text:list>"
    "<text:list-item><text:p>sub</text:p></text:list-item><text:list-item><text:p>sub2</text:p>"
    "</text:list-item></text:list></text:list-item><text:list-item><text:p>Two</text:p>"
    "<text:p>more</text:p></text:list-item></text:list><text:list text:style-name='L2'>"
    "<text:list-item><text:p>dash</text:p></text:list-item></text:list>"
    "</office:text></office:body></office:document-content>";
  size_t len;
  char *zip = dpt_zip(&len, NULL, "mimetype", DPT_S(MT "text"), "content.xml", DPT_S(content),
                      NULL);
  struct dpt_result res;
  dpt_extract(zip, len, &res);
  free(zip);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "1. One\n(1.a) sub\n(1.b) sub2\n2. Two\nmore\n\xE2\x80\xA2 dash\n");
  dpt_result_free(&res);
}

static void test_real_sample(void)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_shared("corpus/real/files/tika-testOpenOffice2.odt"), &len);
  if(!bytes) {
    fprintf(stderr, " (skipped: no ../shared/corpus/real/files/tika-testOpenOffice2.odt) ");
    return;
  }
  struct dpt_result res;
  dpt_extract(bytes, len, &res);
  free(bytes);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "odt");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "This is a sample Open Office document, "
                                               "written in NeoOffice 2.2.1 for the Mac.\n");
  dpt_result_free(&res);
}

DPT_SUITE(odf)
{
  CU_pSuite s = CU_add_suite("odf", NULL, NULL);
  CU_add_test(s, "ODT: headings, spaces, lists, notes, comments, tables", test_text);
  CU_add_test(s, "ODS: sheets and rows", test_spreadsheet);
  CU_add_test(s, "ODP: pages and notes", test_presentation);
  CU_add_test(s, "meta.xml, no content.xml", test_meta_and_broken);
  CU_add_test(s, "list labels", test_list_labels);
  CU_add_test(s, "the Tika sample", test_real_sample);
}
