/* test_sniff.c - the bidding table: which extractor wins for which bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "dplimits.h"

#include "registry.h"
#include "sniff.h"
#include "testutil.h"

struct sniff_case {
  const char *what;
  const char *bytes;
  size_t len; /* 0: strlen */
  const char *format;
  const char *mime;
};

static const char utf16_cda[] =
  "\xFF\xFE<\0C\0l\0i\0n\0i\0c\0a\0l\0D\0o\0c\0u\0m\0e\0n\0t\0 \0x\0m\0l\0n\0s\0"
  "=\0\"\0u\0r\0n\0:\0h\0l\0""7\0-\0o\0r\0g\0:\0v\0""3\0\"\0>\0";

static const struct sniff_case cases[] = {
  {"pdf", "%PDF-1.7\n1 0 obj", 0, "pdf", "application/pdf"},
  {"pdf after junk", "\r\n%PDF-1.4\n", 0, "pdf", "application/pdf"},
  {"cda", "<?xml version=\"1.0\"?>\n<!-- CCD -->\n<ClinicalDocument xmlns=\"urn:hl7-org:v3\">",
   0, "cda", "application/xml"},
  {"cda prefixed", "<cda:ClinicalDocument xmlns:cda=\"urn:hl7-org:v3\">", 0, "cda", NULL},
  {"ClinicalDocument without the v3 namespace is plain xml",
   "<?xml version=\"1.0\"?><ClinicalDocument>", 0, "xml", NULL},
  {"fhir xml", "<?xml version=\"1.0\"?><Patient xmlns=\"http://hl7.org/fhir\">", 0, "xml", NULL},
  {"hl7", "MSH|^~\\&|LAB|FAC|||20240101||ORU^R01|1|P|2.5\r", 0, "hl7v2",
   "x-application/hl7-v2+er7"},
  {"hl7 batch", "FHS|^~\\&|SND\rBHS|^~\\&|SND\rMSH|^~\\&|A\r", 0, "hl7v2", NULL},
  {"hl7 odd delimiters", "MSH#$%!@#LAB#FAC\r", 0, "hl7v2", NULL},
  {"rtf", "{\\rtf1\\ansi\\deff0 {\\fonttbl}Hello}", 0, "rtf", "text/rtf"},
  {"html", "<!DOCTYPE html><html><body><p>x</p></body></html>", 0, "html", "text/html"},
  {"html fragment", "<p>Patient seen today.</p>", 0, "html", NULL},
  {"xhtml", "<?xml version=\"1.0\"?><html xmlns=\"http://www.w3.org/1999/xhtml\"><body/></html>",
   0, "html", NULL},
  {"png", "\x89PNG\r\n\x1a\n\0\0\0\rIHDR", 16, "image", "image/png"},
  {"jpeg", "\xFF\xD8\xFF\xE0\0\x10JFIF\0", 11, "image", "image/jpeg"},
  {"utf-8 text", "Patient seen today. Caf\xC3\xA9.\n", 0, "text", "text/plain"},
  {"windows-1252 text", "Caf\xE9 \x93quoted\x94\r\n", 0, "text", NULL},
  {"utf-16 text", "\xFF\xFEh\0i\0", 6, "text", NULL},
  {"utf-16 cda", utf16_cda, sizeof(utf16_cda) - 1, "cda", NULL},
  {"binary", "\x01\x02\x03\x00\xfe\xff\x10\x11\x00\x80", 10, "unknown", "application/octet-stream"},
  {"empty", "", 0, "unknown", NULL},
  /* FHIR JSON that holds documents is not text; other FHIR JSON is. */
  {"fhir bundle", "\xEF\xBB\xBF{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"transaction\"", 0,
   "fhir", "application/fhir+json"},
  {"fhir ndjson", "{\"resourceType\":\"DocumentReference\",\"id\":\"a\"}\n{\"resourceType\":"
   "\"DocumentReference\",\"id\":\"b\"}\n", 0, "fhir", "application/fhir+ndjson"},
  {"fhir key order", "{\"id\":\"x\",\"meta\":{\"resourceType\":\"Patient\"},\"resourceType\":"
   "\"Binary\",\"data\":\"QQ==\"}", 0, "fhir", NULL},
  {"fhir escaped quote", "{\"note\":\"a \\\"resourceType\\\":\\\"Patient\\\"\",\"resourceType\":"
   "\"DiagnosticReport\"}", 0, "fhir", NULL},
  {"fhir document bundle is text", "{\"resourceType\":\"Bundle\",\"type\":\"document\"}", 0, "text",
   NULL},
  {"fhir patient is text", "{\"resourceType\":\"Patient\",\"id\":\"p\"}", 0, "text", NULL},
  {"nested resourceType is text", "{\"entry\":[{\"resourceType\":\"DocumentReference\"}]}", 0,
   "text", NULL},
  {"a value named resourceType is text", "{\"code\":\"resourceType\",\"x\":\"Bundle\"}", 0, "text",
   NULL},
  {"cut json is text", "{\"resourceType\":\"Bund", 0, "text", NULL},
};

static void test_table(void)
{
  for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    const struct sniff_case *c = &cases[i];
    struct dp_sniff s;
    dpi_sniff(dp_stage_registry, c->bytes, c->len ? c->len : strlen(c->bytes), &s);
    int ok = !strcmp(s.format, c->format) && (!c->mime || !strcmp(s.mime, c->mime));
    if(!ok)
      fprintf(stderr, "\n  %s: got %s (%s), want %s\n", c->what, s.format, s.mime, c->format);
    CU_ASSERT(ok);
  }
}

static void test_corpus_formats(void)
{
  /* The declared types of the corpus are generic or wrong on purpose; the
   * bytes decide. */
  static const struct {
    const char *file;
    const char *format;
  } files[] = {{"21000101.pdf", "pdf"},   {"21000102.xml", "cda"},   {"21000103.xml", "cda"},
               {"21000104.txt", "text"},  {"21000105.txt", "text"},  {"21000106.hl7", "hl7v2"},
               {"21000107.hl7", "hl7v2"}, {"21000108.hl7", "hl7v2"}, {"21000109.hl7", "hl7v2"},
               {"21000110.hl7", "hl7v2"}};
  for(size_t i = 0; i < sizeof(files) / sizeof(*files); i++) {
    char rel[64];
    snprintf(rel, sizeof(rel), "corpus/files/%s", files[i].file);
    size_t len;
    char *doc = dpt_read_file(dpt_shared(rel), &len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
    struct dp_sniff s;
    dpi_sniff(dp_stage_registry, doc, len, &s);
    CU_ASSERT_STRING_EQUAL(s.format, files[i].format);
    free(doc);
  }
}

static const char *sniffed(const void *bytes, size_t len)
{
  struct dp_sniff s;
  dpi_sniff(dp_stage_registry, bytes, len, &s);
  return s.format;
}

/* The root element after more than the byte bidders' 4 KiB of comments and
 * processing instructions (C-CDA files open with licence texts). */
static void test_root_after_long_prolog(void)
{
  struct dp_buf b;
  dpi_buf_init(&b, 1 << 20);
  dpi_buf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!--");
  for(int i = 0; i < 400; i++)
    dpi_buf_adds(&b, " Licensed under the terms of the HL7 example licence. ");
  dpi_buf_adds(&b, "-->\n<?xml-stylesheet type=\"text/xsl\" href=\"CDA.xsl\"?>\n");
  size_t prolog = b.len;
  CU_ASSERT(prolog > 4 * DP_SNIFF_PREFIX);
  dpi_buf_adds(&b, "<ClinicalDocument xmlns=\"urn:hl7-org:v3\"><title>CCD</title>"
                   "</ClinicalDocument>\n");
  CU_ASSERT_STRING_EQUAL(sniffed(b.mem, b.len), "cda");
  /* The same as UTF-16 with a BOM. */
  struct dp_buf w;
  dpi_buf_init(&w, 4 << 20);
  dpi_buf_add(&w, "\xFF\xFE", 2);
  for(size_t i = 0; i < b.len; i++) {
    dpi_buf_addc(&w, b.mem[i]);
    dpi_buf_addc(&w, '\0');
  }
  CU_ASSERT_STRING_EQUAL(sniffed(w.mem, w.len), "cda");
  dpi_buf_free(&w);
  /* An HTML page behind a long comment. */
  dpi_buf_truncate(&b, prolog);
  dpi_buf_adds(&b, "<html><body><p>x</p></body></html>");
  CU_ASSERT_STRING_EQUAL(sniffed(b.mem, b.len), "html");
  /* A comment never closed within the cap is not XML: the text bidder
   * keeps it, it is not lost. */
  dpi_buf_reset(&b);
  dpi_buf_adds(&b, "<!--");
  while(b.len < DP_SNIFF_MARKUP + 100)
    dpi_buf_adds(&b, " comment text that goes on and on");
  dpi_buf_adds(&b, "--><ClinicalDocument xmlns=\"urn:hl7-org:v3\"/>");
  CU_ASSERT_STRING_EQUAL(sniffed(b.mem, b.len), "text");
  dpi_buf_free(&b);
}

/* Deterministic noise (xorshift32). */
static void noise(unsigned char *p, size_t n, uint32_t x)
{
  for(size_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    p[i] = (unsigned char)(x >> 24);
  }
}

/* Binary files whose first pages are text: FITS (2880-byte blocks of
 * ASCII header cards before the data), tar (ASCII headers), a text header
 * glued onto a compressed body.  Judged over the whole file, not text. */
static void test_text_start_binary_body(void)
{
  size_t len = 2880 * 2 + 100000;
  unsigned char *doc = malloc(len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  for(size_t i = 0; i < 2880 * 2; i += 80)
    snprintf((char *)doc + i, 81, "%-80s", i ? "BITPIX  =                  -32 / IEEE float" :
                                                "SIMPLE  =                    T / FITS");
  noise(doc + 2880 * 2, len - 2880 * 2, 12345);
  CU_ASSERT_STRING_EQUAL(sniffed(doc, len), "unknown");
  /* Binary far out, in a sample window near the end only. */
  memset(doc, 'a', len);
  for(size_t i = 80; i < len; i += 81)
    doc[i] = '\n';
  CU_ASSERT_STRING_EQUAL(sniffed(doc, len), "text");
  noise(doc + len - 3000, 3000, 99);
  CU_ASSERT_STRING_EQUAL(sniffed(doc, len), "unknown");
  free(doc);
}

/* UTF-16 and UTF-32 without a byte order mark are text (the charset is
 * the text extractor's business); Word's HTML is HTML. */
static void test_more_text_forms(void)
{
  static const char u16le[] = "P\0\x59\x01\xED\0l\0i\0\x61\x01 \0\x7E\x01l\0u\0\x65\x01o\0u\0\r\0\n\0";
  static const char u16be[] = "\0P\x01\x59\0\xED\0l\0i\x01\x61\0 \x01\x7E\0l\0u\x01\x65\0o\0u\0\r\0\n";
  static const char u32le[] = "d\0\0\0o\0\0\0s\0\0\0e\0\0\0\n\0\0\0";
  CU_ASSERT_STRING_EQUAL(sniffed(u16le, sizeof(u16le) - 1), "text");
  CU_ASSERT_STRING_EQUAL(sniffed(u16be, sizeof(u16be) - 1), "text");
  CU_ASSERT_STRING_EQUAL(sniffed(u32le, sizeof(u32le) - 1), "text");
  const char *word = "<html xmlns:v=\"urn:schemas-microsoft-com:vml\"\n"
                     "xmlns:o=\"urn:schemas-microsoft-com:office:office\"\n"
                     "xmlns=\"http://www.w3.org/TR/REC-html40\">\n<head><meta "
                     "http-equiv=Content-Type content=\"text/html; charset=windows-1252\">";
  CU_ASSERT_STRING_EQUAL(sniffed(word, strlen(word)), "html");
}

DPT_SUITE(sniff)
{
  CU_pSuite s = CU_add_suite("sniff", NULL, NULL);
  CU_add_test(s, "bidding table", test_table);
  CU_add_test(s, "corpus documents", test_corpus_formats);
  CU_add_test(s, "root element after a long prolog", test_root_after_long_prolog);
  CU_add_test(s, "binary with a text start", test_text_start_binary_body);
  CU_add_test(s, "UTF-16/32 without BOM, Word HTML", test_more_text_forms);
}
