/* test_sniff.c - the bidding table: which extractor wins for which bytes. */
#include <stdlib.h>
#include <string.h>

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
};

static void test_table(void)
{
  for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    const struct sniff_case *c = &cases[i];
    struct dp_sniff s;
    dpi_sniff(c->bytes, c->len ? c->len : strlen(c->bytes), &s);
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
    dpi_sniff(doc, len, &s);
    CU_ASSERT_STRING_EQUAL(s.format, files[i].format);
    free(doc);
  }
}

DPT_SUITE(sniff)
{
  CU_pSuite s = CU_add_suite("sniff", NULL, NULL);
  CU_add_test(s, "bidding table", test_table);
  CU_add_test(s, "corpus documents", test_corpus_formats);
}
