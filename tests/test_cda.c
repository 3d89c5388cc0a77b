/* test_cda.c - the CDA / C-CDA extractor: header, narrative rendering,
 * nonXMLBody, broken and hostile documents, corpus phrases, bids. */
#include <json-c/json.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "b64.h"
#include "dplimits.h"
#include "registry.h"
#include "testutil.h"
#include "textconv.h"
#include "xmlsafe.h"

/* Run the cda stage directly on a file under tests/data. */
static void run_cda_file(const char *rel, struct dpt_result *res)
{
  size_t len;
  char *doc = dpt_read_file(dpt_data(rel), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  dpt_run_stage(&dp_stage_cda, dpt_body_record(doc, len), res, NULL);
  free(doc);
}

static void run_cda_string(const char *doc, struct dpt_result *res)
{
  dpt_run_stage(&dp_stage_cda, dpt_body_record(doc, strlen(doc)), res, NULL);
}

/* meta.<key> of the first record, an array of strings, joined with "|" into
 * out (empty when missing). */
static const char *meta_list(const struct dpt_result *res, const char *key, struct dp_buf *out)
{
  dpi_buf_reset(out);
  json_object *meta, *list;
  if(res->n && json_object_object_get_ex(res->recs[0]->obj, "meta", &meta) &&
     json_object_object_get_ex(meta, key, &list) && json_object_is_type(list, json_type_array)) {
    for(size_t i = 0; i < json_object_array_length(list); i++) {
      if(i)
        dpi_buf_addc(out, '|');
      dpi_buf_adds(out, json_object_get_string(json_object_array_get_idx(list, i)));
    }
  }
  return dpi_buf_str(out);
}

static int bid(const struct dp_stage_ops *ops, const char *s)
{
  size_t n = strlen(s);
  struct dp_peek peek = {(const unsigned char *)s, n, s, n, n, NULL};
  const char *mime = NULL;
  return ops->bid(&peek, &mime);
}

static const char narrative_expected[] =
    "Progress Note\n"
    "Patient: Dr. Anna Maria Jones Jr.\n"
    "Date: 2024-01-31\n"
    "\n"
    "History of present illness\n"
    "Patient reports mild pain, unusual for her.\n"
    "Line one\n"
    "line two\n"
    "H2O and m2 (1) see note and a link.\n"
    "\n"
    "Medications\n"
    "Current\n"
    "- Aspirin 81 mg\n"
    "- Metformin\n"
    "  - 500 mg\n"
    "  - twice daily\n"
    "Doses\n"
    "Drug | Dose | Note\n"
    "Aspirin | 81 mg | with food\n"
    "Metformin | | first second\n"
    "Total | 2 |\n"
    "\n"
    "Results\n"
    "Parent narrative\n"
    "\n"
    "Chemistry\n"
    "Sodium 140\n"
    "\n"
    "Immunizations\n"
    "\n"
    "Images\n"
    "Chest X-ray\n"
    "\n";

/* Every construct of the narrative block, asserted line by line: header,
 * section title from code/@displayName, inline runs without separators,
 * br, lists with nested lists, a table with caption, thead, tfoot after
 * tbody, empty cells, block content in a cell, an all-blank row dropped,
 * nested sections, a section with entries but no text, renderMultiMedia. */
static void test_narrative_rendering(void)
{
  struct dpt_result res;
  run_cda_file("cda/narrative.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), narrative_expected);
  CU_ASSERT_PTR_NULL(strstr(dpt_content(&res, 0), "coded entry text"));
  struct dp_buf b;
  dpi_buf_init(&b, 1 << 16);
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "sections", &b),
                         "History of present illness|Medications|Results|Chemistry|"
                         "Immunizations|Images");
  dpi_buf_free(&b);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Progress Note");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.patient"), "Dr. Anna Maria Jones Jr.");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.code.code"), "11506-3");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.code.codeSystem"), "2.16.840.1.113883.6.1");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.code.displayName"), "Progress note");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "cda");
  dpt_result_free(&res);
}

static void test_facts(void)
{
  struct dpt_result res;
  run_cda_file("cda/narrative.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.code"), "11506-3");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.type"), "Progress note");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.date"), "20240131093000-0500");
  dpt_result_free(&res);

  /* Not LOINC: no code fact; no displayName: the type is the title; a
   * partial date is written raw and reported raw. */
  run_cda_string("<ClinicalDocument xmlns='urn:hl7-org:v3'>"
                 "<code code='X-1' codeSystem='1.2.3.4'/>"
                 "<title>Clinic letter</title><effectiveTime value='2021'/>"
                 "<component><structuredBody/></component></ClinicalDocument>",
                 &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Clinic letter\nDate: 2021\n\n");
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "_doc.code"));
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.type"), "Clinic letter");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.date"), "2021");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.code.code"), "X-1");
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "meta.code.displayName"));
  dpt_result_free(&res);

  /* No title: code/@displayName stands in for it. */
  run_cda_string("<ClinicalDocument xmlns='urn:hl7-org:v3'>"
                 "<code code='18842-5' codeSystem='2.16.840.1.113883.6.1'"
                 " displayName='Discharge summary'/>"
                 "<component><structuredBody/></component></ClinicalDocument>",
                 &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Discharge summary\n\n");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Discharge summary");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.code"), "18842-5");
  dpt_result_free(&res);
}

static void test_prefixed_root(void)
{
  struct dpt_result res;
  run_cda_file("cda/prefixed.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Consultation note\nPatient: Sam Lee\nDate: 2021\n\n"
                         "Assessment\nStable.\n\n");
  dpt_result_free(&res);

  /* Children that lost the prefix are still read; extension elements are
   * not taken for CDA ones. */
  run_cda_string("<cda:ClinicalDocument xmlns:cda='urn:hl7-org:v3'"
                 " xmlns:sdtc='urn:hl7-org:sdtc'><sdtc:title>Extension</sdtc:title>"
                 "<title>Loose prefix</title><component><structuredBody><component>"
                 "<section><title>Plan</title><text>Rest.</text></section>"
                 "</component></structuredBody></component></cda:ClinicalDocument>",
                 &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Loose prefix\n\nPlan\nRest.\n\n");
  dpt_result_free(&res);
}

static void test_not_cda_root(void)
{
  struct dpt_result res;
  run_cda_file("cda/no-namespace.xml", &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);

  run_cda_string("<?xml version='1.0'?><Patient xmlns='http://hl7.org/fhir'/>", &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
}

static void assert_damaged_file(const char *path)
{
  size_t len;
  char *doc = dpt_read_file(path, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  struct dpt_result res;
  dpt_run_stage(&dp_stage_cda, dpt_body_record(doc, len), &res, NULL);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, "line "));
  CU_ASSERT_PTR_NULL(strchr(res.failed->err_message, '\n'));
  dpt_result_free(&res);
  /* The prefix still sniffs as CDA, so the full path gives the same error. */
  dpt_extract(doc, len, &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT_STRING_EQUAL(dpi_record_str(res.failed, "format"), "cda");
  dpt_result_free(&res);
  free(doc);
}

static void test_truncated(void)
{
  assert_damaged_file(dpt_shared("corpus/bad/files/21900102.xml"));
  assert_damaged_file(dpt_data("cda/truncated.xml"));
}

/* A document that declares entities is refused outright: nothing of an
 * external entity (here /etc/passwd) can reach the text, and no entity is
 * expanded. */
static void test_external_entity(void)
{
  struct dpt_result res;
  run_cda_file("cda/xxe.xml", &res);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_UNSUPPORTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, "XXE"));
  CU_ASSERT_PTR_NULL(strstr(res.failed->err_message, "root:"));
  dpt_result_free(&res);
}

static void test_no_body(void)
{
  struct dpt_result res;
  run_cda_string("<ClinicalDocument xmlns='urn:hl7-org:v3'><title>Header only</title>"
                 "</ClinicalDocument>",
                 &res);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_EQUAL(res.failed ? res.failed->err_kind : DP_KIND_NONE, DP_KIND_DAMAGED);
  CU_ASSERT(res.failed && strstr(res.failed->err_message, "no body"));
  dpt_result_free(&res);
}

/* Nesting is bounded: libxml2 refuses documents deeper than its limit, and
 * anything it accepts renders without running out of stack. */
static char *nested_cda(int depth)
{
  struct dp_buf b;
  dpi_buf_init(&b, 1 << 20);
  dpi_buf_adds(&b, "<ClinicalDocument xmlns='urn:hl7-org:v3'><component><structuredBody>"
                   "<component><section><title>Deep</title><text>");
  for(int i = 0; i < depth; i++)
    dpi_buf_adds(&b, i % 2 ? "<content>" : "<paragraph>");
  dpi_buf_adds(&b, "bottom");
  for(int i = depth - 1; i >= 0; i--)
    dpi_buf_adds(&b, i % 2 ? "</content>" : "</paragraph>");
  dpi_buf_adds(&b, "</text></section></component></structuredBody></component>"
                   "</ClinicalDocument>");
  return dpi_buf_take(&b, NULL);
}

static void test_deep_nesting(void)
{
  struct dpt_result res;
  char *doc = nested_cda(240);
  run_cda_string(doc, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Deep\nbottom\n\n");
  dpt_result_free(&res);
  free(doc);

  doc = nested_cda(5000);
  run_cda_string(doc, &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
  free(doc);
}

/* A CDA whose nonXMLBody holds, in Base64, a CDA whose nonXMLBody holds...
 * `levels` CDAs in all, the innermost with a narrative.  Freed by the caller. */
static char *cda_in_cda(int levels)
{
  struct dp_buf doc, b64;
  dpi_buf_init(&doc, (size_t)1 << 30);
  dpi_buf_adds(&doc, "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>innermost</title>"
                     "<component><structuredBody><component><section><text>the deepest words"
                     "</text></section></component></structuredBody></component>"
                     "</ClinicalDocument>");
  for(int i = 1; i < levels; i++) {
    dpi_buf_init(&b64, (size_t)1 << 30);
    CU_ASSERT_EQUAL(dpi_b64_encode(doc.mem, doc.len, &b64), DP_B64_OK);
    dpi_buf_free(&doc);
    dpi_buf_init(&doc, (size_t)1 << 30);
    dpi_buf_addf(&doc, "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>level %d</title>"
                       "<component><nonXMLBody><text mediaType=\"text/xml\" "
                       "representation=\"B64\">%s</text></nonXMLBody></component>"
                       "</ClinicalDocument>", levels - i, dpi_buf_str(&b64));
    dpi_buf_free(&b64);
  }
  return dpi_buf_take(&doc, NULL);
}

/* Documents in documents are unwrapped to DP_MAX_EMBED_DEPTH (4) and no
 * deeper: one more level is too-large, naming the cap. */
static void test_nesting_cap(void)
{
  struct dpt_result res;
  char *doc = cda_in_cda(DP_MAX_EMBED_DEPTH + 1); /* the outer one and 4 inside it */
  run_cda_string(doc, &res);
  free(doc);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "the deepest words");
  dpt_result_free(&res);
  doc = cda_in_cda(DP_MAX_EMBED_DEPTH + 2);
  run_cda_string(doc, &res);
  free(doc);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_TOO_LARGE);
  DPT_ASSERT_CONTAINS(res.failed->err_message, "nested more than 4 deep");
  dpt_result_free(&res);
}

static void test_nonxml_b64_text(void)
{
  struct dpt_result res;
  run_cda_file("cda/nonxml-b64-text.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  const char *content = dpt_content(&res, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(content, "Scanned discharge summary\nDate: 2023-04-05\n\n"));
  DPT_ASSERT_CONTAINS(content, "Discharged home in good condition.");
  DPT_ASSERT_CONTAINS(content, "Follow up in two weeks.");
  struct dp_buf b;
  dpi_buf_init(&b, 1 << 16);
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "embedded", &b), "cda|text");
  dpi_buf_free(&b);
  dpt_result_free(&res);
}

/* The same recursion with a payload this branch can extract. */
static void test_nonxml_b64_xml(void)
{
  struct dpt_result res;
  run_cda_file("cda/nonxml-b64-xml.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Scanned discharge summary\nDate: 2023-04-05\n\nEmbedded XML body\n\n");
  struct dp_buf b;
  dpi_buf_init(&b, 1 << 16);
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "embedded", &b), "cda|xml");
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "sections", &b), "");
  dpi_buf_free(&b);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.code"), "18842-5");
  dpt_result_free(&res);
}

static void test_nonxml_txt(void)
{
  struct dpt_result res;
  run_cda_file("cda/nonxml-txt.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Scanned discharge summary\nDate: 2023-04-05\n\n"
                         "Plain   text body,\nkept as written.\n");
  dpt_result_free(&res);
}

static void test_nonxml_reference(void)
{
  struct dpt_result res;
  run_cda_file("cda/nonxml-reference.xml", &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_UNSUPPORTED);
  CU_ASSERT_STRING_EQUAL(res.failed->err_message,
                         "nonXMLBody refers to external content, which is not fetched");
  dpt_result_free(&res);
}

static void test_nonxml_bad_base64(void)
{
  struct dpt_result res;
  run_cda_file("cda/nonxml-bad-b64.xml", &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_BAD_BASE64);
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, "offset 7"));
  dpt_result_free(&res);
}

static const char embedded_xml_expected[] =
    "Scanned discharge summary\nDate: 2023-04-05\n\nEmbedded XML body\n\n";

/* ED compression DF (raw deflate), GZ, ZL, and DF that is really zlib
 * (what many writers call "deflate"): each inflates to the same payload. */
static void test_nonxml_compression(void)
{
  static const char *const files[] = {
    "cda/nonxml-b64-df.xml", "cda/nonxml-b64-gz.xml", "cda/nonxml-b64-zl.xml",
    "cda/nonxml-b64-df-zlib-wrapped.xml",
  };
  struct dp_buf b;
  dpi_buf_init(&b, 1 << 16);
  for(size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
    struct dpt_result res;
    run_cda_file(files[i], &res);
    if(res.n != 1)
      fprintf(stderr, "\n  %s: %s\n", files[i],
              res.failed && res.failed->err_message ? res.failed->err_message : "no record");
    CU_ASSERT_EQUAL(res.n, 1);
    CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), embedded_xml_expected);
    CU_ASSERT_STRING_EQUAL(meta_list(&res, "embedded", &b), "cda|xml");
    dpt_result_free(&res);
  }
  dpi_buf_free(&b);
}

static void assert_fails(const char *file, enum dp_kind kind, const char *words)
{
  struct dpt_result res;
  run_cda_file(file, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_EQUAL(res.n, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, kind);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed->err_message);
  if(!strstr(res.failed->err_message, words))
    fprintf(stderr, "\n  %s: message [%s] lacks [%s]\n", file, res.failed->err_message, words);
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, words));
  dpt_result_free(&res);
}

/* A broken checksum and a cut stream are damaged; an algorithm we do not
 * read is unsupported and named. */
static void test_nonxml_compression_broken(void)
{
  assert_fails("cda/nonxml-b64-zl-bad-check.xml", DP_KIND_DAMAGED,
               "compression ZL) does not inflate: incorrect data check");
  assert_fails("cda/nonxml-b64-gz-cut.xml", DP_KIND_DAMAGED, "compression GZ) is cut short");
  assert_fails("cda/nonxml-b64-bz.xml", DP_KIND_UNSUPPORTED, "compression BZ is not supported");
  /* Compressed bytes cannot be XML characters; a value that is no code is
   * not repeated. */
  struct dpt_result res;
  run_cda_string("<ClinicalDocument xmlns='urn:hl7-org:v3'><component><nonXMLBody>"
                 "<text compression='DF'>plain words</text></nonXMLBody></component>"
                 "</ClinicalDocument>", &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
  run_cda_string("<ClinicalDocument xmlns='urn:hl7-org:v3'><component><nonXMLBody>"
                 "<text representation='B64' compression='secret words here'>eA==</text>"
                 "</nonXMLBody></component></ClinicalDocument>", &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_UNSUPPORTED);
  CU_ASSERT_PTR_NULL(strstr(res.failed->err_message, "secret"));
  dpt_result_free(&res);
}

/* A deflate bomb stops at the document cap (--max-bytes): too-large, and
 * never more memory than the cap.  Made here with zlib: 8 MiB of one byte
 * deflate to a few KiB. */
static void test_nonxml_deflate_bomb(void)
{
  size_t big = (size_t)8 << 20;
  unsigned char *zeros = calloc(1, big);
  uLongf zlen = compressBound((uLong)big);
  unsigned char *z = malloc(zlen);
  CU_ASSERT_PTR_NOT_NULL_FATAL(zeros);
  CU_ASSERT_PTR_NOT_NULL_FATAL(z);
  CU_ASSERT_EQUAL_FATAL(compress2(z, &zlen, zeros, (uLong)big, 9), Z_OK);
  struct dp_buf doc;
  dpi_buf_init(&doc, (size_t)1 << 24);
  dpi_buf_adds(&doc, "<ClinicalDocument xmlns='urn:hl7-org:v3'><component><nonXMLBody>"
                     "<text representation='B64' compression='ZL'>");
  static const char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for(size_t i = 0; i < zlen; i += 3) {
    unsigned v = (unsigned)z[i] << 16 | (i + 1 < zlen ? (unsigned)z[i + 1] << 8 : 0) |
                 (i + 2 < zlen ? z[i + 2] : 0);
    dpi_buf_addc(&doc, alphabet[v >> 18 & 63]);
    dpi_buf_addc(&doc, alphabet[v >> 12 & 63]);
    dpi_buf_addc(&doc, i + 1 < zlen ? alphabet[v >> 6 & 63] : '=');
    dpi_buf_addc(&doc, i + 2 < zlen ? alphabet[v & 63] : '=');
  }
  dpi_buf_adds(&doc, "</text></nonXMLBody></component></ClinicalDocument>");
  CU_ASSERT_FATAL(!dpi_buf_failed(&doc));
  CU_ASSERT(doc.len < ((size_t)1 << 20) / 4);
  dpt_set_max_document((size_t)1 << 20);
  struct dpt_result res;
  run_cda_string(dpi_buf_str(&doc), &res);
  dpt_set_max_document(0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_TOO_LARGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, "inflates to more than 1048576 bytes"));
  dpt_result_free(&res);
  dpi_buf_free(&doc);
  free(z);
  free(zeros);
}

/* TXT bodies of RTF and HTML markup go through their extractors, as
 * embedded documents; the RTF one keeps a letter outside ASCII (libxml2
 * has decoded it: it is a character, not a code-page byte). */
static void test_nonxml_txt_markup(void)
{
  struct dp_buf b;
  dpi_buf_init(&b, 1 << 16);
  struct dpt_result res;
  run_cda_file("cda/nonxml-txt-rtf.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "Scanned discharge summary\nDate: 2023-04-05\n\nLOCAL TITLE: CONSULT\n"
                         "Caf\xC3\xA9 au lait macule, 5\xC2\xA0mm \xE2\x80\x93 benign\n\n");
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "embedded", &b), "cda|rtf");
  dpt_result_free(&res);

  run_cda_file("cda/nonxml-txt-html.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  const char *c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "Surgical consult");
  DPT_ASSERT_CONTAINS(c, "Plan: follow up in 2 weeks.");
  CU_ASSERT_PTR_NULL(strchr(c, '<'));
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "embedded", &b), "cda|html");
  dpt_result_free(&res);

  /* A fragment the sniff takes for plain text: the declared type decides,
   * since for a TXT body the label is all there is. */
  static const char fragment[] = "Plan: follow up <b>in 2 weeks</b>.<br>Caf\xC3\xA9 &amp; tea";
  dpt_extract(fragment, strlen(fragment), &res);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "text");
  dpt_result_free(&res);
  run_cda_file("cda/nonxml-txt-html-fragment.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "Plan: follow up in 2 weeks.");
  DPT_ASSERT_CONTAINS(c, "Caf\xC3\xA9 & tea");
  CU_ASSERT_PTR_NULL(strchr(c, '<'));
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "embedded", &b), "cda|html");
  dpt_result_free(&res);

  /* text/plain stays text, markup or not. */
  run_cda_file("cda/nonxml-txt-plain-markup.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "{\\rtf1 kept as written} <b>too</b>");
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "embedded", &b), "");
  dpt_result_free(&res);

  /* A B64 body's mediaType is only a label: its bytes are plain text. */
  run_cda_file("cda/nonxml-b64-html-label.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "Plan: <b>as labelled</b> is only a label");
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "embedded", &b), "cda|text");
  dpt_result_free(&res);

  /* A TXT body labelled RTF that is not RTF: an error, not raw text. */
  run_cda_string("<ClinicalDocument xmlns='urn:hl7-org:v3'><component><nonXMLBody>"
                 "<text mediaType='text/rtf'>just words</text></nonXMLBody></component>"
                 "</ClinicalDocument>", &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, "embedded rtf: not RTF"));
  dpt_result_free(&res);
  dpi_buf_free(&b);
}

/* The first fatal libxml2 error is the one named, with its line, and the
 * comment's own words are not repeated. */
static void test_first_fatal_error(void)
{
  static const char doc[] =
      "<ClinicalDocument xmlns='urn:hl7-org:v3'>\n"  /* 1 */
      "<x:a/>\n"                                      /* 2: namespace error (not fatal) */
      "<title>t</title>\n"                            /* 3 */
      "<!-- open comment, patient SECRETNAME\n"       /* 4 */
      "<!-- a nested one -->\n"                       /* 5: "--" inside the comment */
      "<y:b/>\n"                                      /* 6 */
      "</ClinicalDocument>\n";
  struct dpt_result res;
  run_cda_string(doc, &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT_STRING_EQUAL(res.failed->err_message,
                         "XML not well-formed line 5: Double hyphen within comment");
  dpt_result_free(&res);
  /* Even a one-word comment is not quoted. */
  run_cda_string("<ClinicalDocument xmlns='urn:hl7-org:v3'><!--SECRET--x--></ClinicalDocument>",
                 &res);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_PTR_NULL(strstr(res.failed->err_message, "SECRET"));
  CU_ASSERT_PTR_NOT_NULL(strstr(res.failed->err_message, "line 1: Double hyphen within comment"));
  dpt_result_free(&res);
}

/* meta.charset: the XML declaration's encoding as libxml2 read it, the
 * byte order of UTF-16, else UTF-8. */
static void test_charset(void)
{
  struct dpt_result res;
  run_cda_file("cda/narrative.xml", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.charset"), "UTF-8");
  dpt_result_free(&res);
  run_cda_string("<ClinicalDocument xmlns='urn:hl7-org:v3'><title>No declaration</title>"
                 "<component><structuredBody/></component></ClinicalDocument>", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.charset"), "UTF-8");
  dpt_result_free(&res);
  run_cda_string("<?xml version='1.0' encoding='iso-8859-1'?>"
                 "<ClinicalDocument xmlns='urn:hl7-org:v3'><title>Caf\xE9</title>"
                 "<component><structuredBody/></component></ClinicalDocument>", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.charset"), "ISO-8859-1");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Caf\xC3\xA9\n\n");
  dpt_result_free(&res);
  /* UTF-16LE with a BOM, widened here from ASCII. */
  static const char ascii[] = "<ClinicalDocument xmlns='urn:hl7-org:v3'><title>Wide</title>"
                              "<component><structuredBody/></component></ClinicalDocument>";
  char wide[2 + 2 * sizeof(ascii)];
  wide[0] = '\xFF';
  wide[1] = '\xFE';
  for(size_t i = 0; i + 1 < sizeof(ascii); i++) {
    wide[2 + 2 * i] = ascii[i];
    wide[3 + 2 * i] = '\0';
  }
  dpt_run_stage(&dp_stage_cda, dpt_body_record(wide, 2 * sizeof(ascii)), &res, NULL);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.charset"), "UTF-16LE");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Wide\n\n");
  dpt_result_free(&res);
}

/* Section titles in document order, straight from the XML with XPath, to
 * compare with meta.sections. */
static void xpath_section_titles(const char *doc, size_t len, struct dp_buf *out)
{
  char why[256];
  enum dp_kind kind;
  xmlDocPtr x = dpi_xml_parse(doc, len, &kind, why, sizeof(why));
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  xmlXPathContextPtr ctx = xmlXPathNewContext(x);
  xmlXPathRegisterNs(ctx, BAD_CAST "h", BAD_CAST "urn:hl7-org:v3");
  xmlXPathObjectPtr r = xmlXPathEvalExpression(BAD_CAST "//h:section/h:title", ctx);
  struct dp_buf raw;
  dpi_buf_init(&raw, 1 << 20);
  for(int i = 0; r && r->nodesetval && i < r->nodesetval->nodeNr; i++) {
    dpi_buf_reset(&raw);
    dpi_xml_text(&raw, r->nodesetval->nodeTab[i]);
    if(i)
      dpi_buf_addc(out, '|');
    dpi_text_squeeze(out, raw.mem, raw.len);
  }
  dpi_buf_free(&raw);
  xmlXPathFreeObject(r);
  xmlXPathFreeContext(ctx);
  xmlFreeDoc(x);
}

/* The corpus documents through the whole sniff-and-extract path: every
 * phrase expected.tsv lists for them, their section lists and facts. */
static void check_corpus_doc(const char *id, size_t nsections)
{
  char rel[64];
  snprintf(rel, sizeof(rel), "corpus/files/%s.xml", id);
  size_t len;
  char *doc = dpt_read_file(dpt_shared(rel), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  struct dpt_result res;
  dpt_extract(doc, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "cda");
  const char *content = dpt_content(&res, 0);

  size_t tsv_len;
  char *tsv = dpt_read_file(dpt_shared("corpus/expected.tsv"), &tsv_len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tsv);
  int phrases = 0;
  for(char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
    char *format = strchr(line, '\t');
    char *phrase = format ? strchr(format + 1, '\t') : NULL;
    if(!phrase)
      continue;
    *format++ = '\0';
    *phrase++ = '\0';
    if(strcmp(line, id) || strcmp(format, "cda"))
      continue;
    phrases++;
    DPT_ASSERT_CONTAINS(content, phrase);
  }
  free(tsv);
  CU_ASSERT(phrases > 0);

  struct dp_buf want, got;
  dpi_buf_init(&want, 1 << 20);
  dpi_buf_init(&got, 1 << 20);
  xpath_section_titles(doc, len, &want);
  CU_ASSERT_STRING_EQUAL(meta_list(&res, "sections", &got), dpi_buf_str(&want));
  size_t bars = 0;
  for(const char *p = dpi_buf_str(&got); *p; p++)
    bars += *p == '|';
  CU_ASSERT_EQUAL(bars + 1, nsections);
  dpi_buf_free(&want);
  dpi_buf_free(&got);

  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.code"), "34133-9");
  CU_ASSERT_PTR_NOT_NULL(dpt_field(&res, 0, "_doc.type"));
  CU_ASSERT_PTR_NOT_NULL(dpt_field(&res, 0, "_doc.date"));
  dpt_result_free(&res);
  free(doc);
}

static void test_corpus_c32(void)
{
  check_corpus_doc("21000102", 16);
  size_t len;
  char *doc = dpt_read_file(dpt_shared("corpus/files/21000102.xml"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  struct dpt_result res;
  dpt_extract(doc, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(dpt_content(&res, 0),
                                "Example Healthcare Record\n"
                                "Patient: FirstName MiddleName LastName\n"
                                "Date: 2009-11-10\n\nSummary Purpose\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(dpt_content(&res, 0),
                                "\nPregnancy | Dec 9, 2009 | NOT currently pregnant\n"));
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.type"), "Summarization of episode note");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.date"), "20091110130945");
  dpt_result_free(&res);
  free(doc);
}

static void test_corpus_ccd(void)
{
  check_corpus_doc("21000103", 14);
  size_t len;
  char *doc = dpt_read_file(dpt_shared("corpus/files/21000103.xml"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  struct dpt_result res;
  dpt_extract(doc, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(dpt_content(&res, 0),
                                "Good Health Health Summary\n"
                                "Patient: Mr. Adam Frankie Everyman\n"
                                "Date: 2005-03-29\n\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(dpt_content(&res, 0),
                                "\nProblems\n- Pneumonia: Resolved in March 1998\n- ...\n"));
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.patient"), "Mr. Adam Frankie Everyman");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "_doc.date"), "20050329171504+0500");
  dpt_result_free(&res);
  free(doc);
}

static void test_bids(void)
{
  static const struct {
    const char *doc;
    int cda, xml;
  } cases[] = {
      {"<?xml version=\"1.0\"?>\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">", 60, 20},
      {"<ClinicalDocument xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"\n"
       " xmlns=\"urn:hl7-org:v3\"><title>x</title>",
       60, 20},
      {"<?xml version=\"1.0\"?><!-- c --><!DOCTYPE ClinicalDocument [<!ENTITY x \"y\">]>"
       "<cda:ClinicalDocument xmlns:cda=\"urn:hl7-org:v3\">",
       60, 20},
      {"<ClinicalDocument>", 0, 10},                        /* no namespace */
      {"<?xml version=\"1.0\"?><ClinicalDocument>", 0, 20}, /* no namespace, declared */
      {"<ClinicalDocument xmlns=\"urn:hl7-org:v2\">", 0, 20},
      {"<cda:ClinicalDocument xmlns=\"urn:hl7-org:v3\" xmlns:cda=\"urn:other\">", 0, 20},
      {"<?xml version=\"1.0\"?><Patient xmlns=\"http://hl7.org/fhir\">", 0, 20},
      {"<!DOCTYPE html PUBLIC \"-//W3C//DTD XHTML 1.0 Strict//EN\" "
       "\"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd\">\n"
       "<html xmlns=\"http://www.w3.org/1999/xhtml\"><head>",
       0, 0},
      {"<?xml version=\"1.0\"?><HTML><BODY>", 0, 0},
      {"MSH|^~\\&|LAB|HOSP|||20240101||ORU^R01|1|P|2.5\rPID|1||123\r", 0, 0},
      {"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n", 0, 0},
      {"Discharge summary\nPatient: Jane Doe\n", 0, 0},
      {"", 0, 0},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    int c = bid(&dp_stage_cda, cases[i].doc), x = bid(&dp_stage_xml, cases[i].doc);
    if(c != cases[i].cda || x != cases[i].xml)
      fprintf(stderr, "\n  bid case %zu: cda %d xml %d\n", i, c, x);
    CU_ASSERT_EQUAL(c, cases[i].cda);
    CU_ASSERT_EQUAL(x, cases[i].xml);
  }
}

/* The sniff picks cda for a CDA (also in UTF-16) and xml for other XML. */
static void test_routing(void)
{
  struct dpt_result res;
  size_t len;
  char *doc = dpt_read_file(dpt_data("cda/prefixed.xml"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  dpt_extract(doc, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "cda");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "source.contentType"), "application/xml");
  dpt_result_free(&res);
  free(doc);

  doc = dpt_read_file(dpt_data("cda/no-namespace.xml"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  dpt_extract(doc, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "xml");
  dpt_result_free(&res);
  free(doc);

  doc = dpt_read_file(dpt_data("xml/fhir-patient.xml"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  dpt_extract(doc, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "xml");
  dpt_result_free(&res);
  free(doc);

  /* UTF-16LE with a byte order mark: the bid sees transcoded text and
   * libxml2 reads the BOM. */
  const char *ascii = "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>Wide note</title>"
                      "<component><structuredBody/></component></ClinicalDocument>";
  size_t n = strlen(ascii);
  char *wide = malloc(2 + 2 * n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(wide);
  wide[0] = '\xFF';
  wide[1] = '\xFE';
  for(size_t i = 0; i < n; i++) {
    wide[2 + 2 * i] = ascii[i];
    wide[3 + 2 * i] = '\0';
  }
  dpt_extract(wide, 2 + 2 * n, &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "cda");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "Wide note\n\n");
  dpt_result_free(&res);
  free(wide);
}

DPT_SUITE(cda)
{
  CU_pSuite s = CU_add_suite("cda", NULL, NULL);
  CU_add_test(s, "documents in documents stop at the nesting cap", test_nesting_cap);
  CU_add_test(s, "narrative rendering", test_narrative_rendering);
  CU_add_test(s, "document facts", test_facts);
  CU_add_test(s, "prefixed root", test_prefixed_root);
  CU_add_test(s, "root not ClinicalDocument in HL7 v3", test_not_cda_root);
  CU_add_test(s, "truncated document", test_truncated);
  CU_add_test(s, "entity declarations are refused (XXE)", test_external_entity);
  CU_add_test(s, "a document without a body is damaged", test_no_body);
  CU_add_test(s, "deep nesting", test_deep_nesting);
  CU_add_test(s, "nonXMLBody B64 text", test_nonxml_b64_text);
  CU_add_test(s, "nonXMLBody B64 XML", test_nonxml_b64_xml);
  CU_add_test(s, "nonXMLBody TXT", test_nonxml_txt);
  CU_add_test(s, "nonXMLBody reference", test_nonxml_reference);
  CU_add_test(s, "nonXMLBody bad Base64", test_nonxml_bad_base64);
  CU_add_test(s, "nonXMLBody compression DF, GZ, ZL", test_nonxml_compression);
  CU_add_test(s, "nonXMLBody compression broken or unknown", test_nonxml_compression_broken);
  CU_add_test(s, "nonXMLBody deflate bomb", test_nonxml_deflate_bomb);
  CU_add_test(s, "nonXMLBody TXT markup through its extractor", test_nonxml_txt_markup);
  CU_add_test(s, "first fatal XML error named", test_first_fatal_error);
  CU_add_test(s, "meta.charset", test_charset);
  CU_add_test(s, "corpus C32 (21000102)", test_corpus_c32);
  CU_add_test(s, "corpus CCD (21000103)", test_corpus_ccd);
  CU_add_test(s, "bids", test_bids);
  CU_add_test(s, "routing through the sniff", test_routing);
}
