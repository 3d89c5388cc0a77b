/* test_pptx.c - the PPTX extractor: slides in show order (not part order),
 * shapes, groups and tables, speaker notes without the slide number, a
 * slide that is not there, and the real Tika sample.  Packages are made in
 * memory with libarchive's writer (dpt_zip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testutil.h"

#define P_NS "xmlns:p='http://schemas.openxmlformats.org/presentationml/2006/main' " \
             "xmlns:a='http://schemas.openxmlformats.org/drawingml/2006/main' "      \
             "xmlns:r='http://schemas.openxmlformats.org/officeDocument/2006/relationships'"
#define RELS_NS "http://schemas.openxmlformats.org/package/2006/relationships"
#define REL_T "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
#define SP(ph, text)                                                                   \
  "<p:sp><p:nvSpPr><p:cNvPr id='2' name='x'/><p:cNvSpPr/><p:nvPr>" ph "</p:nvPr>"    \
  "</p:nvSpPr><p:txBody><a:bodyPr/><a:p><a:r><a:t>" text "</a:t></a:r></a:p></p:txBody></p:sp>"

static const char content_types[] =
  "<Types xmlns='http://schemas.openxmlformats.org/package/2006/content-types'>"
  "<Override PartName='/ppt/presentation.xml' ContentType='application/"
  "vnd.openxmlformats-officedocument.presentationml.presentation.main+xml'/></Types>";
static const char package_rels[] =
  "<Relationships xmlns='" RELS_NS "'>"
  "<Relationship Id='rId1' Type='" REL_T "officeDocument' Target='ppt/presentation.xml'/>"
  "</Relationships>";
static const char presentation[] =
  "<p:presentation " P_NS "><p:sldIdLst><p:sldId id='256' r:id='s2'/><p:sldId id='257' "
  "r:id='s1'/><p:sldId id='258' r:id='s3'/></p:sldIdLst></p:presentation>";
static const char pres_rels[] =
  "<Relationships xmlns='" RELS_NS "'>"
  "<Relationship Id='s1' Type='" REL_T "slide' Target='slides/slide1.xml'/>"
  "<Relationship Id='s2' Type='" REL_T "slide' Target='slides/slide2.xml'/>"
  "<Relationship Id='s3' Type='" REL_T "slide' Target='slides/slide9.xml'/></Relationships>";
static const char slide1[] =
  "<p:sld " P_NS "><p:cSld><p:spTree>" SP("<p:ph type='title'/>", "Plan")
  "<p:grpSp>" SP("", "Grouped") "</p:grpSp><p:graphicFrame><a:graphic><a:graphicData>"
  "<a:tbl><a:tr><a:tc><a:txBody><a:p><a:r><a:t>Drug</a:t></a:r></a:p></a:txBody></a:tc>"
  "<a:tc><a:txBody><a:p><a:r><a:t>Dose</a:t></a:r></a:p></a:txBody></a:tc></a:tr></a:tbl>"
  "</a:graphicData></a:graphic></p:graphicFrame></p:spTree></p:cSld></p:sld>";
static const char slide2[] =
  "<p:sld " P_NS "><p:cSld><p:spTree>" SP("<p:ph type='ctrTitle'/>", "Case review")
  "<p:sp><p:txBody><a:p><a:r><a:t>Line one</a:t></a:r><a:br/><a:r><a:t>line two</a:t></a:r>"
  "</a:p><a:p><a:fld type='slidenum'><a:t>3</a:t></a:fld></a:p></p:txBody></p:sp>"
  "</p:spTree></p:cSld></p:sld>";
static const char slide2_rels[] =
  "<Relationships xmlns='" RELS_NS "'>"
  "<Relationship Id='n' Type='" REL_T "notesSlide' Target='../notesSlides/notesSlide1.xml'/>"
  "</Relationships>";
static const char notes[] =
  "<p:notes " P_NS "><p:cSld><p:spTree>" SP("<p:ph type='sldImg'/>", "image")
  SP("<p:ph type='body' idx='1'/>", "Ask about allergies") SP("<p:ph type='sldNum'/>", "1")
  "</p:spTree></p:cSld></p:notes>";

static void test_presentation(void)
{
  size_t len;
  char *zip = dpt_zip(&len, NULL, "[Content_Types].xml", DPT_S(content_types), "_rels/.rels",
                      DPT_S(package_rels), "ppt/presentation.xml", DPT_S(presentation),
                      "ppt/_rels/presentation.xml.rels", DPT_S(pres_rels), "ppt/slides/slide1.xml",
                      DPT_S(slide1), "ppt/slides/slide2.xml", DPT_S(slide2),
                      "ppt/slides/_rels/slide2.xml.rels", DPT_S(slide2_rels),
                      "ppt/notesSlides/notesSlide1.xml", DPT_S(notes), NULL);
  struct dpt_result res;
  dpt_extract(zip, len, &res);
  free(zip);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "pptx");
  const char *expected = "Case review\nLine one\nline two\n3\nAsk about allergies\n\n"
                         "Plan\nGrouped\nDrug | Dose\n";
  const char *got = dpt_content(&res, 0);
  if(strcmp(got, expected))
    fprintf(stderr, "\n  got: [%s]\n", got);
  CU_ASSERT_STRING_EQUAL(got, expected);
  json_object *w = dpi_json_member(dpi_json_member(res.recs[0]->obj, "meta"), "warnings");
  CU_ASSERT_PTR_NOT_NULL_FATAL(w);
  CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_array_get_idx(w, 0)),
                         "slide not read: the package has no part ppt/slides/slide9.xml");
  dpt_result_free(&res);
}

static void test_real_sample(void)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_shared("corpus/real/files/tika-testPPT.pptx"), &len);
  if(!bytes) {
    fprintf(stderr, " (skipped: no ../shared/corpus/real/files/tika-testPPT.pptx) ");
    return;
  }
  struct dpt_result res;
  dpt_extract(bytes, len, &res);
  free(bytes);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "pptx");
  const char *text = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(text, "Attachment Test\nRajiv\n\nThis is a test file data");
  DPT_ASSERT_CONTAINS(text, "developed by Rajiv Kumar Nistala.");
  DPT_ASSERT_CONTAINS(text, "Black Panther");
  dpt_result_free(&res);
}

DPT_SUITE(pptx)
{
  CU_pSuite s = CU_add_suite("pptx", NULL, NULL);
  CU_add_test(s, "slides in show order, shapes, tables, notes", test_presentation);
  CU_add_test(s, "the Tika sample", test_real_sample);
}
