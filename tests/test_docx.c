/* test_docx.c - the DOCX extractor: paragraphs, tables, lists, notes,
 * headers and footers, comments, core properties, the main part found
 * through _rels/.rels, sniffing by [Content_Types].xml, an external entity,
 * broken packages, and the real Tika sample.  Packages are made in memory
 * with libarchive's writer (dpt_zip). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testutil.h"

#define W "xmlns:w='http://schemas.openxmlformats.org/wordprocessingml/2006/main' " \
          "xmlns:r='http://schemas.openxmlformats.org/officeDocument/2006/relationships'"
#define RELS_NS "http://schemas.openxmlformats.org/package/2006/relationships"
#define REL_T "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"

static const char content_types[] =
  "<Types xmlns='http://schemas.openxmlformats.org/package/2006/content-types'>"
  "<Default Extension='xml' ContentType='application/xml'/>"
  "<Override PartName='/word/document.xml' ContentType='application/"
  "vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml'/></Types>";
static const char package_rels[] =
  "<Relationships xmlns='" RELS_NS "'>"
  "<Relationship Id='rId1' Type='" REL_T "officeDocument' Target='word/document.xml'/>"
  "<Relationship Id='rId2' Type='http://schemas.openxmlformats.org/package/2006/relationships/"
  "metadata/core-properties' Target='docProps/core.xml'/></Relationships>";

static void run_docx(const char *document, struct dpt_result *res)
{
  size_t len;
  char *zip = dpt_zip(&len, NULL, "[Content_Types].xml", DPT_S(content_types), "_rels/.rels",
                      DPT_S(package_rels), "word/document.xml", DPT_S(document), NULL);
  dpt_run_stage(&dp_stage_docx, dpt_body_record(zip, len), res, NULL);
  free(zip);
}

static void check_body(const char *body, const char *expected)
{
  struct dpt_result res;
  char doc[8192];
  snprintf(doc, sizeof(doc), "<w:document " W "><w:body>%s</w:body></w:document>", body);
  run_docx(doc, &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  const char *got = dpt_content(&res, 0);
  if(strcmp(got, expected))
    fprintf(stderr, "\n  got: [%s]\n  expected: [%s]\n", got, expected);
  CU_ASSERT_STRING_EQUAL(got, expected);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "docx");
  dpt_result_free(&res);
}

static void test_paragraphs(void)
{
  check_body("<w:p><w:r><w:t>Chief </w:t></w:r><w:r><w:t>complaint</w:t></w:r></w:p>"
             "<w:p/><w:p><w:r><w:t>a</w:t><w:tab/><w:t>b</w:t><w:br/><w:t>c  </w:t></w:r></w:p>",
             "Chief complaint\na\tb\nc\n");
  /* Deleted text, field codes and the fallback copy are left out; inserted
   * text, hyperlinks, fields' results and content controls are read. */
  check_body("<w:p><w:del><w:r><w:delText>old</w:delText></w:r></w:del>"
             "<w:ins><w:r><w:t>new</w:t></w:r></w:ins>"
             "<w:r><w:instrText> HYPERLINK x </w:instrText></w:r>"
             "<w:hyperlink r:id='x'><w:r><w:t> link</w:t></w:r></w:hyperlink>"
             "<w:sdt><w:sdtContent><w:r><w:t> control</w:t></w:r></w:sdtContent></w:sdt>"
             "<mc:AlternateContent xmlns:mc='http://schemas.openxmlformats.org/"
             "markup-compatibility/2006'><mc:Choice Requires='wps'><w:r><w:t> box</w:t></w:r>"
             "</mc:Choice><mc:Fallback><w:r><w:t> box</w:t></w:r></mc:Fallback>"
             "</mc:AlternateContent></w:p>",
             "new link control box\n");
}

static void test_tables(void)
{
  check_body("<w:p><w:r><w:t>Results</w:t></w:r></w:p>"
             "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Test</w:t></w:r></w:p></w:tc>"
             "<w:tc><w:p><w:r><w:t>Value</w:t></w:r></w:p></w:tc></w:tr>"
             "<w:tr><w:tc><w:p><w:r><w:t>Na</w:t></w:r></w:p><w:p><w:r><w:t>serum</w:t></w:r>"
             "</w:p></w:tc><w:tc><w:p/></w:tc><w:tc><w:tbl><w:tr><w:tc><w:p><w:r><w:t>140"
             "</w:t></w:r></w:p></w:tc></w:tr></w:tbl></w:tc></w:tr></w:tbl>"
             "<w:p><w:r><w:t>End</w:t></w:r></w:p>",
             "Results\nTest | Value\nNa serum | 140\nEnd\n");
}

static void test_parts_and_lists(void)
{
  static const char doc_rels[] =
    "<Relationships xmlns='" RELS_NS "'>"
    "<Relationship Id='h' Type='" REL_T "header' Target='header1.xml'/>"
    "<Relationship Id='f' Type='" REL_T "footer' Target='/word/footer1.xml'/>"
    "<Relationship Id='n' Type='" REL_T "footnotes' Target='footnotes.xml'/>"
    "<Relationship Id='c' Type='" REL_T "comments' Target='comments.xml'/>"
    "<Relationship Id='u' Type='" REL_T "numbering' Target='numbering.xml'/>"
    "<Relationship Id='x' Type='" REL_T "hyperlink' Target='http://example.org/'"
    " TargetMode='External'/></Relationships>";
  static const char numbering[] =
    "<w:numbering " W "><w:abstractNum w:abstractNumId='0'>"
    "<w:lvl w:ilvl='0'><w:start w:val='1'/><w:numFmt w:val='decimal'/><w:lvlText w:val='%1.'/>"
    "</w:lvl><w:lvl w:ilvl='1'><w:numFmt w:val='lowerLetter'/><w:lvlText w:val='%1.%2)'/>"
    "</w:lvl></w:abstractNum><w:abstractNum w:abstractNumId='1'><w:lvl w:ilvl='0'>"
    "<w:numFmt w:val='bullet'/><w:lvlText w:val='o'/></w:lvl></w:abstractNum>"
    "<w:num w:numId='1'><w:abstractNumId w:val='0'/></w:num>"
    "<w:num w:numId='2'><w:abstractNumId w:val='1'/></w:num></w:numbering>";
#define ITEM(num, lvl, text)                                                             \
  "<w:p><w:pPr><w:numPr><w:ilvl w:val='" lvl "'/><w:numId w:val='" num "'/></w:numPr>" \
  "</w:pPr><w:r><w:t>" text "</w:t></w:r></w:p>"
  static const char document[] =
    "<w:document " W "><w:body>" ITEM("1", "0", "Aspirin") ITEM("1", "1", "daily")
    ITEM("1", "1", "with food") ITEM("1", "0", "Metformin") ITEM("2", "0", "Allergies: none")
    "</w:body></w:document>";
  static const char header[] = "<w:hdr " W "><w:p><w:r><w:t>Clinic letterhead</w:t></w:r>"
                               "</w:p></w:hdr>";
  static const char footer[] = "<w:ftr " W "><w:p><w:r><w:t>Page footer</w:t></w:r></w:p></w:ftr>";
  static const char notes[] =
    "<w:footnotes " W "><w:footnote w:type='separator' w:id='-1'><w:p><w:r><w:separator/>"
    "</w:r></w:p></w:footnote><w:footnote w:id='1'><w:p><w:r><w:t>See chart.</w:t></w:r></w:p>"
    "</w:footnote></w:footnotes>";
  static const char comments[] =
    "<w:comments " W "><w:comment w:id='0' w:author='Dr X'><w:p><w:r><w:t>Check dose"
    "</w:t></w:r></w:p></w:comment></w:comments>";
  static const char core[] =
    "<cp:coreProperties xmlns:cp='http://schemas.openxmlformats.org/package/2006/metadata/"
    "core-properties' xmlns:dc='http://purl.org/dc/elements/1.1/' "
    "xmlns:dcterms='http://purl.org/dc/terms/'><dc:title>Referral  letter</dc:title>"
    "<dc:creator>Dr. Jane Roe</dc:creator><dcterms:created>2024-03-05T10:00:00Z"
    "</dcterms:created></cp:coreProperties>";
  size_t len;
  char *zip = dpt_zip(&len, NULL, "[Content_Types].xml", DPT_S(content_types), "_rels/.rels",
                      DPT_S(package_rels), "word/document.xml", DPT_S(document),
                      "word/_rels/document.xml.rels", DPT_S(doc_rels), "word/header1.xml",
                      DPT_S(header), "word/footer1.xml", DPT_S(footer), "word/footnotes.xml",
                      DPT_S(notes), "word/comments.xml", DPT_S(comments), "word/numbering.xml",
                      DPT_S(numbering), "docProps/core.xml", DPT_S(core), NULL);
  struct dpt_result res;
  dpt_run_stage(&dp_stage_docx, dpt_body_record(zip, len), &res, NULL);
  free(zip);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "1. Aspirin\n1.a) daily\n1.b) with food\n2. Metformin\n"
                         "\xE2\x80\xA2 Allergies: none\n\nSee chart.\n\nClinic letterhead\n\n"
                         "Page footer\n\nCheck dose\n");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Referral letter");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.author"), "Dr. Jane Roe");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.date"), "2024-03-05T10:00:00Z");
  dpt_result_free(&res);
}

/* The main part is where _rels/.rels says, whatever its name. */
static void test_main_part_elsewhere(void)
{
  static const char rels[] =
    "<Relationships xmlns='" RELS_NS "'>"
    "<Relationship Id='rId1' Type='" REL_T "officeDocument' Target='/doc/main.xml'/>"
    "</Relationships>";
  static const char types[] =
    "<Types xmlns='http://schemas.openxmlformats.org/package/2006/content-types'>"
    "<Override PartName='/doc/main.xml' ContentType='application/"
    "vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml'/></Types>";
  static const char doc[] = "<w:document " W "><w:body><w:p><w:r><w:t>Moved</w:t></w:r></w:p>"
                            "</w:body></w:document>";
  size_t len;
  /* [Content_Types].xml last, as Word for Mac writes it. */
  char *zip = dpt_zip(&len, NULL, "_rels/.rels", DPT_S(rels), "doc/main.xml", DPT_S(doc),
                      "[Content_Types].xml", DPT_S(types), NULL);
  struct dpt_result res;
  dpt_extract(zip, len, &res); /* sniffed: a template is read as a document */
  free(zip);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Moved\n");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "docx");
  dpt_result_free(&res);
}

static void check_fails(const char *document, enum dp_kind kind, const char *forbidden)
{
  struct dpt_result res;
  run_docx(document, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, kind);
  if(forbidden)
    CU_ASSERT_PTR_NULL(strstr(res.failed->err_message, forbidden));
  dpt_result_free(&res);
}

static void test_hostile(void)
{
  /* An external entity is refused; nothing of the file reaches the text. */
  check_fails("<?xml version='1.0'?><!DOCTYPE w:document [<!ENTITY x SYSTEM "
              "'file:///etc/passwd'>]><w:document " W "><w:body><w:p><w:r><w:t>&x;</w:t></w:r>"
              "</w:p></w:body></w:document>",
              DP_KIND_UNSUPPORTED, "root:");
  check_fails("<w:document " W "><w:body><w:p>", DP_KIND_DAMAGED, NULL);
  /* Not a ZIP at all. */
  struct dpt_result res;
  dpt_run_stage(&dp_stage_docx, dpt_body_record("PK\3\4 not really", 16), &res, NULL);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
  /* No main part. */
  size_t len;
  char *zip = dpt_zip(&len, NULL, "[Content_Types].xml", DPT_S(content_types), NULL);
  dpt_run_stage(&dp_stage_docx, dpt_body_record(zip, len), &res, NULL);
  free(zip);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT_STRING_EQUAL(res.failed->err_message, "package has no part word/document.xml");
  dpt_result_free(&res);
}

/* A header that is not XML: the body is kept, the header named. */
static void test_unreadable_part_is_a_warning(void)
{
  static const char doc_rels[] = "<Relationships xmlns='" RELS_NS "'><Relationship Id='h' "
                                 "Type='" REL_T "header' Target='header1.xml'/></Relationships>";
  static const char doc[] = "<w:document " W "><w:body><w:p><w:r><w:t>Body</w:t></w:r></w:p>"
                            "</w:body></w:document>";
  size_t len;
  char *zip = dpt_zip(&len, NULL, "[Content_Types].xml", DPT_S(content_types), "_rels/.rels",
                      DPT_S(package_rels), "word/document.xml", DPT_S(doc),
                      "word/_rels/document.xml.rels", DPT_S(doc_rels), "word/header1.xml",
                      DPT_S("<w:hdr"), NULL);
  struct dpt_result res;
  dpt_run_stage(&dp_stage_docx, dpt_body_record(zip, len), &res, NULL);
  free(zip);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Body\n");
  json_object *meta = dpi_json_member(res.recs[0]->obj, "meta");
  json_object *warnings = dpi_json_member(meta, "warnings");
  CU_ASSERT_PTR_NOT_NULL_FATAL(warnings);
  CU_ASSERT(strstr(json_object_get_string(json_object_array_get_idx(warnings, 0)),
                   "part word/header1.xml not read") != NULL);
  dpt_result_free(&res);
}

static void test_real_sample(void)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_shared("corpus/real/files/tika-testWORD.docx"), &len);
  if(!bytes) {
    fprintf(stderr, " (skipped: no ../shared/corpus/real/files/tika-testWORD.docx) ");
    return;
  }
  struct dpt_result res;
  dpt_extract(bytes, len, &res);
  free(bytes);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "docx");
  const char *text = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(text, "This is a sample Microsoft Word Document.");
  DPT_ASSERT_CONTAINS(text, "Nested table More of our nested table");
  DPT_ASSERT_CONTAINS(text, "This is the header for our document");
  DPT_ASSERT_CONTAINS(text, "This is the footer for our document");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.author"), "Keith Bennett");
  dpt_result_free(&res);
}

DPT_SUITE(docx)
{
  CU_pSuite s = CU_add_suite("docx", NULL, NULL);
  CU_add_test(s, "paragraphs and runs", test_paragraphs);
  CU_add_test(s, "tables as rows", test_tables);
  CU_add_test(s, "lists, notes, headers, footers, comments, core", test_parts_and_lists);
  CU_add_test(s, "main part through _rels/.rels", test_main_part_elsewhere);
  CU_add_test(s, "external entity, broken packages", test_hostile);
  CU_add_test(s, "an unreadable part is a warning", test_unreadable_part_is_a_warning);
  CU_add_test(s, "the Tika sample", test_real_sample);
}
