/* test_html.c - the HTML/XHTML extractor: rendering rules, charsets, meta,
 * tag soup, and its bid. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "registry.h"
#include "testutil.h"

static void run_html(const void *bytes, size_t len, struct dpt_result *res)
{
  dpt_run_stage(&dp_stage_html, dpt_body_record(bytes, len), res, NULL);
}

static void run_html_str(const char *s, struct dpt_result *res)
{
  run_html(s, strlen(s), res);
}

/* Content of an HTML string run through the stage ("" when it failed). */
static void check_render(const char *html, const char *expected)
{
  struct dpt_result res;
  run_html_str(html, &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  const char *got = dpt_content(&res, 0);
  if(strcmp(got, expected))
    fprintf(stderr, "\n  html: %s\n  got: [%s]\n  expected: [%s]\n", html, got, expected);
  CU_ASSERT_STRING_EQUAL(got, expected);
  dpt_result_free(&res);
}

static void run_data(const char *rel, struct dpt_result *res)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_data(rel), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  run_html(bytes, len, res);
  free(bytes);
  CU_ASSERT_EQUAL(res->status, DP_OK);
  CU_ASSERT_EQUAL(res->n, 1);
}

static void test_scripts_styles_removed(void)
{
  check_render("<html><head><style>p{color:red}</style><script>var x=1;</script></head>"
               "<body><script>alert('no')</script><p>visible</p><noscript>enable js</noscript>"
               "<template><p>hidden</p></template><style>.a{}</style>after</body></html>",
               "visible\n\nafter");
}

static void test_whitespace_collapses(void)
{
  check_render("<p>  one\n\n   two\t three </p><p>x<b>y</b> <i>z</i></p>", "one two three\n\nxy z");
  check_render("<div>a</div><div>b</div><span>c</span> <span>d</span>", "a\nb\nc d");
  check_render("line<br>break<br><br>twice", "line\nbreak\n\ntwice");
  check_render("<h1>Title</h1>body<hr>end", "Title\n\nbody\n\nend");
}

static void test_entities(void)
{
  /* &nbsp; stays U+00A0 (a no-break space is meant to hold), numeric and
   * named references are decoded. */
  check_render("<p>&lt;5 &amp; &gt;3 &quot;q&quot; caf&eacute; &#8364;&#x20AC; a&nbsp;b</p>",
               "<5 & >3 \"q\" caf\xC3\xA9 \xE2\x82\xAC\xE2\x82\xAC a\xC2\xA0" "b");
}

static void test_tables(void)
{
  check_render("<table><tr><th>Test</th><th>Result</th></tr>"
               "<tr><td>Na</td><td>140</td></tr>\n<tr>\n<td> K </td>\n<td></td><td>4.1</td></tr>"
               "</table>after",
               "Test | Result\nNa | 140\nK | 4.1\n\nafter");
  /* Cells that only hold &nbsp; are empty too; &nbsp; inside text stays. */
  check_render("<table><tr><td>a</td><td>&nbsp;</td><td> &nbsp;&nbsp;b&nbsp;c</td></tr></table>",
               "a | b\xC2\xA0" "c");
}

static void test_lists(void)
{
  check_render("<p>Meds:</p><ul><li>aspirin</li><li>statin<ul><li>at night</li></ul></li>"
               "<li></li></ul><ol><li>first</li><li>second</li></ol>",
               "Meds:\n\n- aspirin\n- statin\n  - at night\n\n- first\n- second");
}

static void test_pre(void)
{
  /* The newline right after <pre> goes, as in a browser; the rest stays. */
  check_render("<p>before</p><pre>\n  a   b\n\tc\n</pre><p>after</p>",
               "before\n\n  a   b\n\tc\n\nafter");
}

static void test_title_meta(void)
{
  struct dpt_result res;
  run_html_str("<html><head><title>  Lab\n  Report </title><meta name=\"Author\" "
               "content=\"Dr. Who\"></head><body>text</body></html>",
               &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "text");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Lab Report");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.author"), "Dr. Who");
  dpt_result_free(&res);
  /* No title: no meta.title (not an empty string). */
  run_html_str("<p>x</p>", &res);
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "meta.title"));
  dpt_result_free(&res);
}

static void test_clinical_page(void)
{
  struct dpt_result res;
  run_data("html/discharge_summary.html", &res);
  const char *c = dpt_content(&res, 0);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"),
                         "Discharge Summary \xE2\x80\x93 Smith, John");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.author"), "Dr. Priya Raman");
  DPT_ASSERT_CONTAINS(c, "Patient: John Smith (DOB 04/12/1956)");
  CU_ASSERT_PTR_NOT_NULL(strstr(c, "\nMeasure | Value\nBlood pressure | 132/84\xC2\xA0mmHg\n"
                                   "Temperature | 37.1 \xC2\xB0" "C\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(c, "\n- Lisinopril 10\xC2\xA0mg daily\n"
                                   "- Metformin 500 mg twice daily\n  - hold if eGFR < 30\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(c, "\nDiet:      low sodium\nActivity:  as tolerated\n"));
  DPT_ASSERT_CONTAINS(c, "Call \"Cardiology\" at 555\xE2\x80\x91" "0100 & ask for the nurse.");
  CU_ASSERT_PTR_NOT_NULL(strstr(c, "nurse.\nReturn if chest pain recurs."));
  /* Nothing from head, scripts, styles, noscript or template. */
  CU_ASSERT_PTR_NULL(strstr(c, "secret"));
  CU_ASSERT_PTR_NULL(strstr(c, "nope"));
  CU_ASSERT_PTR_NULL(strstr(c, "font-family"));
  CU_ASSERT_PTR_NULL(strstr(c, "JavaScript"));
  CU_ASSERT_PTR_NULL(strstr(c, "template text"));
  CU_ASSERT_PTR_NULL(strstr(c, "console"));
  CU_ASSERT_PTR_NULL(strstr(c, "Smith, John")); /* the title is meta, not text */
  static const char start[] = "Discharge Summary\n\nPatient:";
  CU_ASSERT(!strncmp(c, start, sizeof(start) - 1));
  dpt_result_free(&res);
}

static void test_xhtml(void)
{
  struct dpt_result res;
  run_data("html/consult_note.xhtml", &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Reason for consult: na\xC3\xAFve T-cell lymphoma follow-up.\n\n"
                         "Plan:\nCBC in 2\xC2\xA0weeks.");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Consult Note");
  dpt_result_free(&res);
  /* Without the XML declaration. */
  check_render("<html xmlns=\"http://www.w3.org/1999/xhtml\"><body><p>a</p><p>b<br/>c</p>"
               "</body></html>",
               "a\n\nb\nc");
}

static void test_meta_charset_1252(void)
{
  struct dpt_result res;
  run_data("html/meta_cp1252.html", &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Paciente: Mar\xC3\xAD" "a Pe\xC3\xB1" "a \xE2\x80\x93 \xE2\x80\x9C"
                         "estable\xE2\x80\x9D, co-pago \xE2\x82\xAC" "20.");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Nota cl\xC3\xADnica");
  dpt_result_free(&res);
  /* The HTML5 form of the declaration. */
  check_render("<meta charset=\"windows-1252\"><p>\x93q\x94 \x80</p>",
               "\xE2\x80\x9Cq\xE2\x80\x9D \xE2\x82\xAC");
}

static void test_no_meta_1252(void)
{
  struct dpt_result res;
  run_data("html/no_meta_cp1252.html", &res);
  /* 0x80 is the euro sign in Windows-1252 (ISO-8859-1 would make it a C1
   * control). */
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Caf\xC3\xA9 \xE2\x80\x9Cnote\xE2\x80\x9D: fee \xE2\x82\xAC"
                         "15 \xE2\x80\x94 paid.");
  dpt_result_free(&res);
}

static void test_charset_edges(void)
{
  /* 0x90 has no character in Windows-1252: one U+FFFD, and the rest of the
   * page is still there (libxml2 left to convert would stop at it). */
  check_render("<p>caf\xE9 a\x90" "b more</p><p>second \x80</p>",
               "caf\xC3\xA9 a\xEF\xBF\xBD" "b more\n\nsecond \xE2\x82\xAC");
  check_render("<meta charset=windows-1252><p>a\x81" "b \x9D" "c</p>",
               "a\xEF\xBF\xBD" "b \xEF\xBF\xBD" "c");
  /* A page labelled UTF-8 (or Latin-1) that holds Windows-1252 bytes. */
  check_render("<meta charset=\"utf-8\"><p>caf\xE9 \x93q\x94</p>",
               "caf\xC3\xA9 \xE2\x80\x9Cq\xE2\x80\x9D");
  check_render("<meta name=\"keywords\" content=\"charset\"><meta charset = 'ISO-8859-1'>"
               "<p>\x93q\x94</p>",
               "\xE2\x80\x9Cq\xE2\x80\x9D");
  /* Another declared charset is honoured... */
  check_render("<meta http-equiv=\"Content-Type\" content=\"text/html; charset=Shift_JIS\">"
               "<p>\x82\xA0\x83\x5C</p>",
               "\xE3\x81\x82\xE3\x82\xBD");
  /* ...unless iconv does not know it. */
  check_render("<meta charset=\"x-no-such-charset\"><p>caf\xE9</p>", "caf\xC3\xA9");
}

static void test_utf16(void)
{
  /* "<p>h\u00e9</p>" in UTF-16LE and UTF-16BE with a BOM. */
  const char le[] = "\xFF\xFE<\0p\0>\0h\0\xE9\0<\0/\0p\0>\0";
  const char be[] = "\xFE\xFF\0<\0p\0>\0h\0\xE9\0<\0/\0p\0>";
  struct dpt_result res;
  run_html(le, sizeof(le) - 1, &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "h\xC3\xA9");
  dpt_result_free(&res);
  run_html(be, sizeof(be) - 1, &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "h\xC3\xA9");
  dpt_result_free(&res);
}

static void test_tag_soup(void)
{
  struct dpt_result res;
  run_data("html/tag_soup.html", &res);
  const char *c = dpt_content(&res, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(c, "Progress note\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(c, "\nWeight | 82 kg\nHeight | 180 cm\n"));
  DPT_ASSERT_CONTAINS(c, "Assessment: improving");
  DPT_ASSERT_CONTAINS(c, "Plan: continue current therapy");
  CU_ASSERT_PTR_NOT_NULL(strstr(c, "\n- recheck labs\n- return in 2 weeks\n"));
  DPT_ASSERT_CONTAINS(c, "unclosed span");
  DPT_ASSERT_CONTAINS(c, "para");
  CU_ASSERT_PTR_NULL(strchr(c, '<'));
  dpt_result_free(&res);
  /* Worse: stray end tags, an unterminated tag, a comment left open. */
  check_render("</div></p>text<p>more<b>bold</i><<p>last <!-- never closed", "text\n\nmorebold<\n\nlast");
}

static void test_deep_nesting(void)
{
  /* Ten thousand nested divs: the walk is iterative, and libxml2 caps
   * the tree; either way the stage must not fall over. */
  size_t n = 10000;
  char *s = malloc(n * 11 + 16);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  size_t w = 0;
  for(size_t i = 0; i < n; i++)
    w += (size_t)sprintf(s + w, "<div>");
  w += (size_t)sprintf(s + w, "deep");
  for(size_t i = 0; i < n; i++)
    w += (size_t)sprintf(s + w, "</div>");
  struct dpt_result res;
  run_html(s, w, &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  free(s);
  dpt_result_free(&res);
}

static void test_empty(void)
{
  check_render("", "");
  check_render("<html><body></body></html>", "");
}

/* ---- bid ---- */

static int html_bid(const char *s, size_t len)
{
  size_t n = len < DP_SNIFF_PREFIX ? len : DP_SNIFF_PREFIX;
  struct dp_peek peek = {(const unsigned char *)s, n, s, n, len, NULL};
  const char *mime = NULL;
  return dp_stage_html.bid(&peek, &mime);
}

static void test_bid_table(void)
{
  static const struct {
    const char *text;
    int score;
  } cases[] = {
    {"<!DOCTYPE html><html><body>x</body></html>", 40},
    {"  \n<!doctype HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\">\n<p>x", 40},
    {"<html><head></head></html>", 40},
    {"<HTML><BODY>x</BODY></HTML>", 40},
    {"<!-- saved from url=(0014)about:internet -->\n<html>", 40},
    {"<?xml version=\"1.0\"?>\n<html xmlns=\"http://www.w3.org/1999/xhtml\">", 40},
    {"<?xml version=\"1.0\"?>\n<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" "
     "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n<html>", 40},
    {"<h:html xmlns:h=\"http://www.w3.org/1999/xhtml\">", 40},
    /* Word and Outlook pages. */
    {"<html xmlns:v=\"urn:schemas-microsoft-com:vml\" "
     "xmlns:o=\"urn:schemas-microsoft-com:office:office\" "
     "xmlns=\"http://www.w3.org/TR/REC-html40\">\n<head>", 40},
    {"<html xmlns:o='urn:schemas-microsoft-com:office:office' "
     "xmlns='http://www.w3.org/TR/REC-html40'>", 40},
    {"<div class=\"note\">Seen today</div>", 20},
    {"<P>Paragraph", 20},
    {"<table><tr><td>x</td></tr></table>", 20},
    {"<b>Note:</b> text", 20},
    {"<br>", 20},
    {"<font face=Arial>x</font>", 20},
    {"\n\n<body bgcolor=white>", 20},
    /* Not HTML. */
    {"<?xml version=\"1.0\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>CCD</title>", 0},
    {"<ClinicalDocument xmlns=\"urn:hl7-org:v3\">", 0},
    {"<?xml version=\"1.0\"?><patient><name>x</name></patient>", 0},
    {"<?xml version=\"1.0\"?><table><row/></table>", 0}, /* someone's XML */
    {"<html xmlns=\"urn:example:not-xhtml\">", 0},
    {"<p xmlns=\"urn:example\">", 0},
    {"<section>", 0}, /* HTML, but not a tag HTML documents start with */
    {"Plain text with <b>tags</b> later", 0},
    {"{\\rtf1\\ansi <html>}", 0},
    {"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj", 0},
    {"MSH|^~\\&|LAB|", 0},
    {"", 0},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int got = html_bid(cases[i].text, strlen(cases[i].text));
    if(got != cases[i].score)
      fprintf(stderr, "\n  html bid case %zu: got %d\n", i, got);
    CU_ASSERT_EQUAL(got, cases[i].score);
  }
  /* A root tag cut off by the prefix still has its DOCTYPE. */
  char big[DP_SNIFF_PREFIX + 64];
  memset(big, ' ', sizeof(big));
  memcpy(big, "<!DOCTYPE html><!--", 19);
  CU_ASSERT_EQUAL(html_bid(big, sizeof(big)), 40);
  /* The corpus CDA documents, PDF and binary bytes. */
  static const char *const others[] = {"corpus/files/21000102.xml", "corpus/files/21000103.xml",
                                       "corpus/files/21000101.pdf", "corpus/files/21000106.hl7"};
  for(size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
    size_t len;
    char *doc = dpt_read_file(dpt_shared(others[i]), &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    CU_ASSERT_EQUAL(html_bid(doc, len), 0);
    free(doc);
  }
  static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
  CU_ASSERT_EQUAL(html_bid(png, sizeof(png) - 1), 0);
  unsigned char noise[1024];
  for(size_t i = 0; i < sizeof(noise); i++)
    noise[i] = (unsigned char)(i * 197 + 41);
  CU_ASSERT_EQUAL(html_bid((const char *)noise, sizeof(noise)), 0);
}

static void test_sniff_routes_html(void)
{
  struct dpt_result res;
  const char *page = "<!DOCTYPE html><html><body><p>Seen in clinic.</p></body></html>";
  dpt_extract(page, strlen(page), &res);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "html");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "source.contentType"), "text/html");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Seen in clinic.");
  dpt_result_free(&res);

  /* A fragment starting with a common tag (20) still beats text (1). */
  const char *frag = "<b>Assessment:</b> stable";
  dpt_extract(frag, strlen(frag), &res);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "html");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Assessment: stable");
  dpt_result_free(&res);

  /* XHTML is refined to its own MIME type. */
  size_t len;
  char *x = dpt_read_file(dpt_data("html/consult_note.xhtml"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  dpt_extract(x, len, &res);
  free(x);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "html");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "source.contentType"), "application/xhtml+xml");
  dpt_result_free(&res);

  /* UTF-16 pages are seen through the transcoded prefix. */
  const char le[] = "\xFF\xFE<\0h\0t\0m\0l\0>\0h\0i\0<\0/\0h\0t\0m\0l\0>\0";
  dpt_extract(le, sizeof(le) - 1, &res);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "html");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "hi");
  dpt_result_free(&res);

  /* Text that mentions a tag later on stays text. */
  const char *txt = "Note: see <b> tags\n";
  dpt_extract(txt, strlen(txt), &res);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "text");
  dpt_result_free(&res);
}

DPT_SUITE(html)
{
  CU_pSuite s = CU_add_suite("html", NULL, NULL);
  CU_add_test(s, "scripts, styles, noscript, template removed", test_scripts_styles_removed);
  CU_add_test(s, "white space collapses, blocks break lines", test_whitespace_collapses);
  CU_add_test(s, "entities", test_entities);
  CU_add_test(s, "tables: one line per row", test_tables);
  CU_add_test(s, "lists", test_lists);
  CU_add_test(s, "pre keeps white space", test_pre);
  CU_add_test(s, "title and author to meta", test_title_meta);
  CU_add_test(s, "clinical page", test_clinical_page);
  CU_add_test(s, "XHTML", test_xhtml);
  CU_add_test(s, "Windows-1252 with meta charset", test_meta_charset_1252);
  CU_add_test(s, "Windows-1252 without meta charset", test_no_meta_1252);
  CU_add_test(s, "charset edge cases", test_charset_edges);
  CU_add_test(s, "UTF-16 with BOM", test_utf16);
  CU_add_test(s, "tag soup", test_tag_soup);
  CU_add_test(s, "deep nesting", test_deep_nesting);
  CU_add_test(s, "empty pages", test_empty);
  CU_add_test(s, "bid table", test_bid_table);
  CU_add_test(s, "sniff routes HTML", test_sniff_routes_html);
}
