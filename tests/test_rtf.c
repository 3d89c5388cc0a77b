/* test_rtf.c - the RTF extractor: tokenizer, code pages, Unicode fallbacks,
 * skipped destinations, info meta, tables, caps, broken files, and real
 * shapes of Word and WordPad output. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "registry.h"
#include "testutil.h"

static void run_rtf(const void *bytes, size_t len, struct dpt_result *res)
{
  dpt_run_stage(&dp_stage_rtf, dpt_body_record(bytes, len), res, NULL);
}

static void check_render_n(const char *rtf, size_t len, const char *expected)
{
  struct dpt_result res;
  run_rtf(rtf, len, &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  const char *got = dpt_content(&res, 0);
  if(strcmp(got, expected))
    fprintf(stderr, "\n  rtf: %s\n  got: [%s]\n  expected: [%s]\n", rtf, got, expected);
  CU_ASSERT_STRING_EQUAL(got, expected);
  dpt_result_free(&res);
}

static void check_render(const char *rtf, const char *expected)
{
  check_render_n(rtf, strlen(rtf), expected);
}

static int starts_with(const char *s, const char *prefix)
{
  return !strncmp(s, prefix, strlen(prefix));
}

static void check_fails(const void *rtf, size_t len, enum dp_kind kind)
{
  struct dpt_result res;
  run_rtf(rtf, len, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, kind);
  CU_ASSERT_PTR_NOT_NULL(res.failed->err_message);
  dpt_result_free(&res);
}

static void run_data(const char *rel, struct dpt_result *res)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_data(rel), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  run_rtf(bytes, len, res);
  free(bytes);
  CU_ASSERT_EQUAL(res->status, DP_OK);
  CU_ASSERT_EQUAL(res->n, 1);
}

static void test_paragraphs(void)
{
  check_render("{\\rtf1\\ansi\\deff0 {\\fonttbl{\\f0 Arial;}}\\pard First paragraph.\\par\r\n"
               "Second\r\n paragraph.\\par}",
               "First paragraph.\nSecond paragraph.\n");
  /* The space after a control word is its delimiter; only one. */
  check_render("{\\rtf1 \\b bold\\b0  plain\\par\\b0x}", "bold plain\nx");
  check_render("{\\rtf1 a\\line b\\sect c\\page d\\tab e}", "a\nb\nc\nd\te");
  /* A backslash before a line break is \par. */
  check_render("{\\rtf1 a\\\nb}", "a\nb");
  /* Bytes after the closing brace are not the document's. */
  static const char padded[] = "{\\rtf1 done}\r\n\0\0garbage{";
  check_render_n(padded, sizeof(padded) - 1, "done");
}

static void test_control_symbols(void)
{
  check_render("{\\rtf1 a\\~b\\-c\\_d \\\\ \\{x\\} \\*}", "a\xC2\xA0" "bc-d \\ {x} ");
  check_render("{\\rtf1 \\emdash\\endash\\bullet\\lquote x\\rquote\\ldblquote y\\rdblquote}",
               "\xE2\x80\x94\xE2\x80\x93\xE2\x80\xA2\xE2\x80\x98x\xE2\x80\x99\xE2\x80\x9Cy"
               "\xE2\x80\x9D");
  /* Unknown words and symbols are dropped; so is hidden text. */
  check_render("{\\rtf1 a\\fooBar12 b\\| {\\v hidden}c {\\v x\\v0 shown}}", "ab c shown");
}

static void test_hex_1252(void)
{
  check_render("{\\rtf1\\ansi\\ansicpg1252 caf\\'e9 \\'93q\\'94 \\'80 \\'E9}",
               "caf\xC3\xA9 \xE2\x80\x9Cq\xE2\x80\x9D \xE2\x82\xAC \xC3\xA9");
  /* No \ansicpg: 1252 anyway; an escape without two hex digits
   * is dropped. */
  check_render("{\\rtf1 \\'e9\\'zz\\'4}", "\xC3\xA9zz");
  /* Literal 8-bit bytes are in the code page too. */
  check_render("{\\rtf1\\ansi caf\xE9}", "caf\xC3\xA9");
}

static void test_fcharset_cyrillic(void)
{
  struct dpt_result res;
  run_data("rtf/cyrillic_fcharset204.rtf", &res);
  /* "Diagnosis: hypertension" in Russian, then Latin text in a charset 0
   * font of the same \ansicpg1251 document. */
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "\xD0\x94\xD0\xB8\xD0\xB0\xD0\xB3\xD0\xBD\xD0\xBE\xD0\xB7: "
                         "\xD0\xB3\xD0\xB8\xD0\xBF\xD0\xB5\xD1\x80\xD1\x82\xD0\xBE\xD0\xBD"
                         "\xD0\xB8\xD1\x8F\nCaf\xC3\xA9 \xC3\xA9t\xC3\xA9\n");
  dpt_result_free(&res);
  /* Without a font table, \ansicpg decides. */
  check_render("{\\rtf1\\ansi\\ansicpg1251 \\'c4\\'e0}", "\xD0\x94\xD0\xB0");
  /* \plain returns to the default font (\deff). */
  check_render("{\\rtf1\\ansi\\deff1{\\fonttbl{\\f0\\fcharset204 Cyr;}{\\f1\\fcharset0 Lat;}}"
               "\\f0\\'e4\\plain\\'e4}",
               "\xD0\xB4\xC3\xA4");
}

static void test_double_byte(void)
{
  /* Shift-JIS (932): a character is two \'hh, or a \'hh and a literal trail
   * byte (0x65, "e"); both halves convert together. */
  check_render("{\\rtf1\\ansi\\ansicpg932{\\fonttbl{\\f0\\fcharset128 MS Mincho;}}\\f0 "
               "\\'82\\'a0\\'83\\'5c\\'83e}",
               "\xE3\x81\x82\xE3\x82\xBD\xE3\x83\x86");
  /* A lead byte waits for its trail byte only until the next control word,
   * control symbol or brace, as LibreOffice reads it: after that it is a
   * broken character (U+FFFD), and the text that follows is left whole.
   * (LibreOffice gives these exact strings.) */
  check_render("{\\rtf1\\ansi\\ansicpg932{\\fonttbl{\\f0\\fcharset128 MS Mincho;}}\\f0 "
               "\\'82\\'a0\\'83\\\\x}",
               "\xE3\x81\x82\xEF\xBF\xBD\\x");
  check_render("{\\rtf1{\\fonttbl{\\f0\\fcharset128 M;}}\\f0 \\'83\\b e\\b0 x}",
               "\xEF\xBF\xBD" "ex");
  check_render("{\\rtf1{\\fonttbl{\\f0\\fcharset128 M;}}\\f0 {\\'96}first}",
               "\xEF\xBF\xBD" "first");
  /* GBK (936) from \cpg in the font table. */
  check_render("{\\rtf1{\\fonttbl{\\f2\\cpg936 SimSun;}}\\f2 \\'d6\\'d0\\'ce\\'c4}",
               "\xE4\xB8\xAD\xE6\x96\x87");
}

static void test_unicode_fallbacks(void)
{
  /* \uc0: no fallback; \uc1 (the default): one; \uc2: two, and a \'hh is
   * one of them; \uc is scoped to its group. */
  check_render("{\\rtf1\\uc0 a\\u233 b}", "a\xC3\xA9" "b");
  check_render("{\\rtf1 a\\u233?b\\u233\\'e9c}", "a\xC3\xA9" "b\xC3\xA9" "c");
  check_render("{\\rtf1 {\\uc2\\u233\\'e9\\'e9d\\u233 ??e}\\u233?f}",
               "\xC3\xA9" "d\xC3\xA9" "e\xC3\xA9" "f");
  /* A control word counts as one fallback character; a brace ends them. */
  check_render("{\\rtf1\\uc2 \\u233\\emdash x{y}}", "\xC3\xA9y");
  /* Negative values are 16-bit two's complement. */
  check_render("{\\rtf1 \\u-3913?}", "\xEF\x82\xB7");
  check_render("{\\rtf1 \\u-20?}", "\xEF\xBF\xAC");
}

static void test_surrogates(void)
{
  /* U+1F600 as \u-10179 \u-8704, fallbacks between and after. */
  check_render("{\\rtf1 a\\u-10179?\\u-8704?b}", "a\xF0\x9F\x98\x80" "b");
  check_render("{\\rtf1\\uc0 \\u55357\\u56832}", "\xF0\x9F\x98\x80");
  /* Halves without partners become U+FFFD. */
  check_render("{\\rtf1 a\\u-10179?b\\u-8704?c}", "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c");
  check_render("{\\rtf1 x\\u-10179?}", "x\xEF\xBF\xBD");
}

static void test_skipped_destinations(void)
{
  check_render("{\\rtf1\\ansi A{\\fonttbl{\\f0\\fswiss\\fcharset0 Arial;}{\\f1 Symbol;}}"
               "B{\\colortbl;\\red0\\green0\\blue0;}"
               "C{\\stylesheet{\\s0 Normal;}{\\*\\cs10 Default Paragraph Font;}}"
               "D{\\*\\generator Riched20 10.0.19041;}"
               "E{\\pict\\wmetafile8\\picw10\\pich10 0100090000034e0000000000ffff}"
               "F{\\*\\shppict{\\pict\\pngblip 89504e470d0a1a0a}}{\\nonshppict{\\pict 0100}}"
               "G{\\field{\\*\\fldinst { HYPERLINK \"https://x.example/\" }}{\\fldrslt {link}}}"
               "H{\\field{\\fldinst PAGE}{\\fldrslt 3}}"
               "I{\\*\\bkmkstart _Toc1}J{\\*\\bkmkend _Toc1}"
               "K{\\header Header text\\par}{\\footerl Footer\\par}{\\headerf First}"
               "L{\\*\\themedata 504b0304}{\\*\\datastore 0105}{\\*\\latentstyles\\lsdstimax1{x}}"
               "M{\\listtable{\\list{\\listlevel{\\leveltext\\'01\\u-3913 ?;}}}}"
               "{\\listoverridetable{\\listoverride\\ls1}}{\\*\\rsidtbl \\rsid1}"
               "{\\*\\xmlnstbl {\\xmlns1 http://x}}{\\mmathPr\\mmathFont34}"
               "{\\*\\colorschememapping 3c3f}{\\revtbl {Unknown;}}"
               "{\\object\\objemb{\\*\\objclass Excel}{\\*\\objdata 0105}}"
               "N{\\*\\unknowndest text}O}",
               "ABCDEFGlinkH3IJKLMNO");
}

static void test_info_meta(void)
{
  const char *rtf = "{\\rtf1\\ansi{\\info{\\title Op Note \\endash  Knee}{\\subject hidden}"
                    "{\\author Dr. M\\'fcller}{\\operator Clerk}"
                    "{\\creatim\\yr2024\\mo2\\dy29\\hr10\\min5}{\\revtim\\yr2024\\mo3\\dy1}"
                    "{\\*\\company Hospital}{\\nofpages1}}Body}";
  struct dpt_result res;
  run_rtf(rtf, strlen(rtf), &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Body");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Op Note \xE2\x80\x93 Knee");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.author"), "Dr. M\xC3\xBCller");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.date"), "2024-02-29");
  dpt_result_free(&res);
  /* No info: no meta, no date; an impossible date is not reported. */
  rtf = "{\\rtf1{\\info{\\creatim\\yr2023\\mo2\\dy29}}x}";
  run_rtf(rtf, strlen(rtf), &res);
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "meta.title"));
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "meta.author"));
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "_doc.date"));
  dpt_result_free(&res);
  /* \title outside \info is not the title. */
  rtf = "{\\rtf1{\\title x}y}";
  run_rtf(rtf, strlen(rtf), &res);
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "meta.title"));
  dpt_result_free(&res);
}

static void test_tables(void)
{
  /* Cells on one line joined by " | "; empty cells add no separator. */
  check_render("{\\rtf1 \\trowd\\cellx1000\\cellx2000\\cellx3000\\pard\\intbl Test\\cell "
               "Result\\cell Units\\cell\\row "
               "\\trowd\\cellx1000\\cellx2000\\cellx3000\\pard\\intbl Sodium\\cell 140\\cell "
               "mmol/L\\cell\\row "
               "\\trowd\\pard\\intbl \\cell Potassium\\cell \\cell\\row\\pard After table.\\par}",
               "Test | Result | Units\nSodium | 140 | mmol/L\nPotassium\nAfter table.\n");
  /* Word 2007+ wraps each cell's text in groups, and nested cells. */
  check_render("{\\rtf1 \\pard\\intbl{a\\cell}{b\\nestcell}{c\\cell}{\\trowd\\row}}",
               "a | b | c\n");
  /* Blanks (no-break spaces too) padding a cell do not follow the separator. */
  check_render("{\\rtf1 a\\cell  \\tab b\\cell {  }\\cell\\~c\\cell\\row}", "a | b | c\n");
}

static void test_bin(void)
{
  /* \binN: N raw bytes that may hold anything, braces included. */
  static const char rtf[] = "{\\rtf1 a{\\pict\\bin6 }{\\\0\xFF}}b\\bin3 x}yc}";
  check_render_n(rtf, sizeof(rtf) - 1, "abc");
  /* A \bin longer than the file stops at its end (with the text so far). */
  check_render("{\\rtf1 kept\\bin99999 abc", "kept");
}

static void test_nesting_cap(void)
{
  /* The document group plus DP_MAX_NESTING - 1 more is fine; one more is
   * too deep: too-large, like every other cap. */
  size_t n = DP_MAX_NESTING;
  char *s = malloc(2 * n + 32);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  for(int extra = 0; extra <= 1; extra++) {
    size_t groups = n - 1 + (size_t)extra, w = 0;
    w += (size_t)sprintf(s, "{\\rtf1 ");
    memset(s + w, '{', groups);
    w += groups;
    s[w++] = 'x';
    memset(s + w, '}', groups + 1);
    w += groups + 1;
    if(!extra) {
      struct dpt_result res;
      run_rtf(s, w, &res);
      CU_ASSERT_EQUAL(res.status, DP_OK);
      CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "x");
      dpt_result_free(&res);
    } else {
      check_fails(s, w, DP_KIND_TOO_LARGE);
    }
  }
  free(s);
}

static void test_truncated(void)
{
  /* Cut in the body: the text read so far, without an error. */
  check_render("{\\rtf1\\ansi{\\fonttbl{\\f0 Arial;}}\\f0 Patient seen.\\par Plan: rest and flu",
               "Patient seen.\nPlan: rest and flu");
  /* Cut inside \'hh, \u, a control word. */
  check_render("{\\rtf1 ab\\'e", "ab");
  check_render("{\\rtf1 ab\\u233", "ab\xC3\xA9");
  check_render("{\\rtf1 ab\\pa", "ab");
  /* Cut inside the header, before any text: damaged, not an empty record. */
  const char *header = "{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0\\froman Times New Roman;}}"
                       "{\\colortbl;\\red0\\green0\\blue0;}{\\stylesheet{\\s0 Nor";
  check_fails(header, strlen(header), DP_KIND_DAMAGED);
  check_fails("{\\rtf1", 6, DP_KIND_DAMAGED);
  /* But a complete document without text is just empty. */
  check_render("{\\rtf1\\ansi{\\fonttbl{\\f0 Arial;}}}", "");
  /* The real clinical note cut at two thirds still gives its first part. */
  size_t len;
  char *doc = dpt_read_file(dpt_data("rtf/word_progress_note.rtf"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  struct dpt_result res;
  run_rtf(doc, len * 2 / 3, &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "Chief complaint: Exertional chest pressure");
  dpt_result_free(&res);
  /* ...and cut at 4 KiB, inside its font table, it is damaged. */
  check_fails(doc, 4096, DP_KIND_DAMAGED);
  free(doc);
}

static void test_not_rtf(void)
{
  check_fails("Hello world", 11, DP_KIND_DAMAGED);
  check_fails("", 0, DP_KIND_DAMAGED);
  check_fails("{\\rt", 4, DP_KIND_DAMAGED);
  check_fails("%PDF-1.4\n", 9, DP_KIND_DAMAGED);
  /* A BOM and white space before the header are fine. */
  check_render("\xEF\xBB\xBF \r\n{\\rtf1 ok}", "ok");
}

static void test_word_note(void)
{
  struct dpt_result res;
  run_data("rtf/word_progress_note.rtf", &res);
  const char *c = dpt_content(&res, 0);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"),
                         "Progress Note \xE2\x80\x93 Cardiology");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.author"), "Dr. Ana Mart\xC3\xADnez");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.date"), "2023-11-14");
  CU_ASSERT(starts_with(c, "Cardiology Progress Note\nPatient: Jos\xC3\xA9 Garc\xC3\xAD" "a"));
  DPT_ASSERT_CONTAINS(c, "MRN: 00482913");
  DPT_ASSERT_CONTAINS(c, "Chief complaint: Exertional chest pressure for 3 weeks; "
                         "\xE2\x80\x9Ctightness\xE2\x80\x9D relieved by rest.");
  DPT_ASSERT_CONTAINS(c, "Patient\xE2\x80\x99s wife reports snoring.");
  CU_ASSERT_PTR_NOT_NULL(strstr(c, "\nVital signs\nBlood pressure | 148/92 mmHg\n"
                                   "Heart rate | 84 bpm\nAssessment and plan\n"));
  DPT_ASSERT_CONTAINS(c, "Stable angina \xE2\x80\x93 start aspirin 81 mg daily");
  DPT_ASSERT_CONTAINS(c, "Exercise stress test ordered; see stress protocol.");
  DPT_ASSERT_CONTAINS(c, "Follow-up in 4 weeks. Electronically signed by Ana Mart\xC3\xADnez, MD.");
  /* None of the header's machinery. */
  static const char *const absent[] = {
    "Times New Roman", "Calibri", "Normal", "heading 1", "CONFIDENTIAL", "Page", "HYPERLINK",
    "intranet", "89504e47", "504b0304", "0100090000", "shapeType", "Riverside", "MERGEFORMAT",
    "Default Paragraph Font", "wordml", "Clerk", "\\", "{", "}",
  };
  for(size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
    if(strstr(c, absent[i]))
      fprintf(stderr, "\n  unexpected: %s\n", absent[i]);
    CU_ASSERT_PTR_NULL(strstr(c, absent[i]));
  }
  dpt_result_free(&res);
}

static void test_wordpad_note(void)
{
  struct dpt_result res;
  run_data("rtf/wordpad_discharge.rtf", &res);
  const char *c = dpt_content(&res, 0);
  CU_ASSERT(starts_with(c, "DISCHARGE SUMMARY\nAdmission date: 03/02/2024\tDischarge date: "
                          "03/06/2024\nDiagnoses:\n"));
  /* Old-style numbering ({\*\pn\pnlvlblt}): LibreOffice's bullet and a
   * space, not the {\pntext} copy (a Symbol-font 0xB7). */
  CU_ASSERT_PTR_NOT_NULL(strstr(c, "\n\xE2\x80\xA2 Community-acquired pneumonia, right lower lobe\n"
                                   "\xE2\x80\xA2 Acute kidney injury"));
  DPT_ASSERT_CONTAINS(c, "Acute kidney injury, resolved (creatinine 1.9 \xE2\x86\x92 1.1 mg/dL)");
  DPT_ASSERT_CONTAINS(c, "SpO2 96% on room air at discharge.");
  DPT_ASSERT_CONTAINS(c, "Caf\xC3\xA9-au-lait macule");
  DPT_ASSERT_CONTAINS(c, "amoxicillin\xE2\x80\x93" "clavulanate 875\xE2\x80\x93" "125 mg twice "
                         "daily \xC3\x97 5 days.");
  DPT_ASSERT_CONTAINS(c, "repeat chest X-ray in 6\xE2\x80\x93" "8 weeks.");
  CU_ASSERT_PTR_NULL(strstr(c, "Riched20"));
  CU_ASSERT_PTR_NULL(strstr(c, "Arial"));
  CU_ASSERT_PTR_NULL(strchr(c, '\r'));
  dpt_result_free(&res);
}

/* ---- as LibreOffice reads it ----
 * The expected strings below are LibreOffice 7.4's text export
 * (soffice --headless --convert-to txt:Text) of the same input, with its
 * list indentation dropped, unless a comment says otherwise; LibreOffice is
 * too heavy for the test run, so its output is written down here. */

/* \* marks a destination only at the start of a group; in the middle of one
 * (tika-testRTFIgnoredControlWord.rtf) it means nothing, and the group's
 * text stays. */
static void test_star_mid_group(void)
{
  check_render("{\\rtf1{\\loch\\f2\\fs24\\i0\\b0\\*\\cs7\\cf0\\rtlch The quick brown fox}\\par}",
               "The quick brown fox\n");
  check_render("{\\rtf1 A\\* B C{\\*\\unknowndest gone} D\\par}", "A B C D\n");
  /* Not LibreOffice's reading: it skips the rest of a group after \* and a
   * word it does not know wherever they stand ("x"), and keeps the text of
   * {\*\cs7 ...} outside the style sheet.  Here \* counts only where RTF
   * puts it, at the start of a group, and such a group is always skipped. */
  check_render("{\\rtf1 {x\\*\\foo y}\\par}", "xy\n");
  check_render("{\\rtf1 A{\\*\\cs7 styled}B\\par}", "AB\n");
}

/* A lead byte in a double-byte font (\fcharset128) before \tab, as a list
 * bullet is written, takes no letter of the next word as its trail byte
 * (crafted-rtf-dbcs-bullet.rtf). */
static void test_dbcs_bullet(void)
{
  check_render("{\\rtf1\\ansi{\\fonttbl{\\f0\\fcharset0 Times;}{\\f3\\fcharset128 OpenSymbol;}}"
               "\\f0 {\\f3 \\'96\\tab}first\\par second\\par}",
               "\xEF\xBF\xBD\tfirst\nsecond\n");
}

/* List labels come from \ls, \ilvl and the list table, as LibreOffice
 * numbers them; \listtext copies are dropped (they say "9." here to show
 * it), and a \list or \listoverride outside its table leaks nothing. */
static void test_lists(void)
{
  struct dpt_result res;
  run_data("rtf/lists.rtf", &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Medications:\n"
                         "1. Aspirin 81 mg\n"
                         "2. Metformin 500 mg\n"
                         "2.1. with meals\n"
                         "(c) titrate weekly\n"
                         "Between the lists  stays  plain.\n"
                         "3. Lisinopril 10 mg\n"
                         "\xE2\x80\xA2 Allergy: penicillin\n"
                         "\xE2\x97\xA6 rash\n"
                         "\xE2\x96\xAA hives\n"
                         "IV) Fourth problem\n"
                         "V) Fifth problem\n"
                         "i. sub item\n"
                         "A listtext with no list is dropped too\n"
                         "Done.\n");
  dpt_result_free(&res);
  check_render("{\\rtf1 Before {\\list\\listtemplateid1{\\listlevel\\levelnfc0{\\leveltext "
               "\\'02\\'00.;}{\\levelnumbers\\'01;}}\\listid1} after {\\listoverride\\listid1\\ls1}"
               " end\\par}",
               "Before  after  end\n");
  /* An empty list paragraph keeps its label; a \ls no override defines
   * has none. */
  check_render("{\\rtf1{\\*\\listtable{\\list{\\listlevel\\levelnfc0\\levelstartat1{\\leveltext "
               "\\'02\\'00.;}{\\levelnumbers\\'01;}}\\listid5}}{\\*\\listoverridetable{\\listoverride\\listid5\\ls1}}"
               "\\pard\\ls1 a\\par\\pard\\ls1\\par\\pard\\ls1 c\\par\\pard\\ls7 d\\par}",
               "1. a\n2. \n3. c\nd\n");
}

/* Old-style numbering ({\*\pn}, Word 95 and WordPad): bullets, and one
 * decimal count that runs through the document; \pntext copies dropped. */
static void test_pn_numbering(void)
{
  check_render("{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0\\fcharset0 Times;}{\\f1\\fcharset2 Symbol;}}"
               "\\f0 Intro\\par\n"
               "\\pard{\\pntext\\f0 1.\\tab}{\\*\\pn\\pnlvlbody\\pndec\\pnstart1{\\pntxta.}}"
               "\\fi-360\\li720 one\\par\n"
               "\\pard{\\pntext\\f0 2.\\tab}{\\*\\pn\\pnlvlbody\\pndec\\pnstart1{\\pntxta.}}two\\par\n"
               "\\pard plain between\\par\n"
               "\\pard{\\pntext\\f0 1.\\tab}{\\*\\pn\\pnlvlbody\\pndec\\pnstart1{\\pntxta.}}three\\par\n"
               "\\pard{\\*\\pn\\pnlvlblt\\pnf0{\\pntxtb-}}five\\par six\\par\n"
               "\\pard{\\*\\pn\\pnlvl2\\pndec\\pnstart1{\\pntxta.}}seven\\par\n"
               "\\pard{\\*\\pn\\pnlvlcont}eight\\par\n"
               "\\pard{\\pntext ZZ.\\tab}done\\par}",
               "Intro\n1. one\n2. two\nplain between\n3. three\n\xE2\x80\xA2 five\n"
               "\xE2\x80\xA2 six\nseven\neight\ndone\n");
}

/* meta.charset: the document's code page (\ansicpg, else 1252), named as
 * iconv names it. */
static void test_charset(void)
{
  static const struct {
    const char *rtf, *charset;
  } cases[] = {
    {"{\\rtf1\\ansi x}", "WINDOWS-1252"},
    {"{\\rtf1\\ansi\\ansicpg1251 x}", "WINDOWS-1251"},
    {"{\\rtf1\\ansi\\ansicpg932 x}", "CP932"},
    {"{\\rtf1\\mac x}", "MACINTOSH"},
    {"{\\rtf1\\pc x}", "CP437"},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct dpt_result res;
    run_rtf(cases[i].rtf, strlen(cases[i].rtf), &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    const char *got = dpt_field(&res, 0, "meta.charset");
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    CU_ASSERT_STRING_EQUAL(got, cases[i].charset);
    dpt_result_free(&res);
  }
}

/* ---- bid ---- */

static int rtf_bid(const void *bytes, size_t len)
{
  size_t n = len < DP_SNIFF_PREFIX ? len : DP_SNIFF_PREFIX;
  struct dp_peek peek = {bytes, n, bytes, n, len, NULL};
  const char *mime = NULL;
  return dp_stage_rtf.bid(&peek, &mime);
}

static void test_bid_table(void)
{
  static const struct {
    const char *text;
    int score;
  } cases[] = {
    {"{\\rtf1\\ansi\\deff0", 40},
    {"{\\rtf", 40},
    {"\xEF\xBB\xBF{\\rtf1", 40},
    {" \r\n\t{\\rtf1", 40},
    {"{\\rt", 0},
    {"\\rtf1", 0},
    {"{ \\rtf1", 0},
    {"{\\RTF1", 0},
    {"x{\\rtf1", 0},
    {"{\\urtf1", 0},
    {"<html>{\\rtf1", 0},
    {"%PDF-1.4\n", 0},
    {"MSH|^~\\&|", 0},
    {"", 0},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int got = rtf_bid(cases[i].text, strlen(cases[i].text));
    if(got != cases[i].score)
      fprintf(stderr, "\n  rtf bid case %zu: got %d\n", i, got);
    CU_ASSERT_EQUAL(got, cases[i].score);
  }
  static const char png[] = "\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01";
  CU_ASSERT_EQUAL(rtf_bid(png, sizeof(png) - 1), 0);
  size_t len;
  char *pdf = dpt_read_file(dpt_shared("corpus/files/21000101.pdf"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pdf);
  CU_ASSERT_EQUAL(rtf_bid(pdf, len), 0);
  free(pdf);
  unsigned char noise[4096];
  for(size_t i = 0; i < sizeof(noise); i++)
    noise[i] = (unsigned char)((i * 2654435761u) >> 13);
  CU_ASSERT_EQUAL(rtf_bid(noise, sizeof(noise)), 0);
}

static void test_sniff_routes_rtf(void)
{
  struct dpt_result res;
  size_t len;
  char *doc = dpt_read_file(dpt_data("rtf/wordpad_discharge.rtf"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  dpt_extract(doc, len, &res);
  free(doc);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "rtf");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "source.contentType"), "text/rtf");
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "DISCHARGE SUMMARY");
  dpt_result_free(&res);
  /* RTF is text too, but its bid (40) beats text's (1). */
  dpt_extract("{\\rtf1 x}", 9, &res);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "rtf");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "x");
  dpt_result_free(&res);
}

DPT_SUITE(rtf)
{
  CU_pSuite s = CU_add_suite("rtf", NULL, NULL);
  CU_add_test(s, "paragraphs and delimiters", test_paragraphs);
  CU_add_test(s, "control symbols and special characters", test_control_symbols);
  CU_add_test(s, "\\'hh in Windows-1252", test_hex_1252);
  CU_add_test(s, "\\'hh in a Cyrillic font (fcharset 204)", test_fcharset_cyrillic);
  CU_add_test(s, "double-byte code pages", test_double_byte);
  CU_add_test(s, "\\u with \\uc0, \\uc1, \\uc2 fallbacks", test_unicode_fallbacks);
  CU_add_test(s, "surrogate pairs", test_surrogates);
  CU_add_test(s, "skipped destinations", test_skipped_destinations);
  CU_add_test(s, "\\* only at the start of a group", test_star_mid_group);
  CU_add_test(s, "double-byte lead byte before \\tab", test_dbcs_bullet);
  CU_add_test(s, "list labels from the list table", test_lists);
  CU_add_test(s, "old-style \\pn numbering", test_pn_numbering);
  CU_add_test(s, "meta.charset", test_charset);
  CU_add_test(s, "info: title, author, creation date", test_info_meta);
  CU_add_test(s, "tables", test_tables);
  CU_add_test(s, "\\bin", test_bin);
  CU_add_test(s, "nesting cap", test_nesting_cap);
  CU_add_test(s, "truncated files", test_truncated);
  CU_add_test(s, "not RTF", test_not_rtf);
  CU_add_test(s, "Word clinical note", test_word_note);
  CU_add_test(s, "WordPad discharge summary", test_wordpad_note);
  CU_add_test(s, "bid table", test_bid_table);
  CU_add_test(s, "sniff routes RTF", test_sniff_routes_rtf);
}
