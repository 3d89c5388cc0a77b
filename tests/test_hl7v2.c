/* test_hl7v2.c - the HL7 v2 extractor: delimiters, escapes, segment and OBX
 * rendering, continuation lines, batches, MLLP framing and the other ways
 * feeds join messages, per-message charsets (MSH-18), facts, embedded
 * documents, bids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "registry.h"
#include "sniff.h"
#include "testutil.h"
#include "textconv.h"

/* Sniff and extract a file under tests/data/hl7v2/. */
static void run_file(const char *name, struct dpt_result *res)
{
  char rel[256];
  size_t len;
  snprintf(rel, sizeof(rel), "hl7v2/%s", name);
  char *bytes = dpt_read_file(dpt_data(rel), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  dpt_extract(bytes, len, res);
  free(bytes);
}

/* CUnit's string asserts crash on NULL. */
static const char *field_or_missing(const char *value)
{
  return value ? value : "(missing)";
}

static const char *field_of(const struct dpt_result *res, size_t i, const char *path)
{
  return field_or_missing(dpt_field(res, i, path));
}

/* Run the stage itself on a string. */
static void run_text(const char *text, struct dpt_result *res)
{
  dpt_run_stage(&dp_stage_hl7v2, dpt_body_record(text, strlen(text)), res, NULL);
}

/* meta.embedded of record i as "a,b,c", in a static buffer. */
static const char *embedded_trail(const struct dpt_result *res, size_t i)
{
  static char trail[256];
  json_object *meta, *list;
  trail[0] = '\0';
  if(i >= res->n || !json_object_object_get_ex(res->recs[i]->obj, "meta", &meta) ||
     !json_object_object_get_ex(meta, "embedded", &list))
    return trail;
  for(size_t k = 0; k < json_object_array_length(list); k++) {
    if(k)
      strcat(trail, ",");
    strncat(trail, json_object_get_string(json_object_array_get_idx(list, k)),
            sizeof(trail) - strlen(trail) - 2);
  }
  return trail;
}

static void test_escapes(void)
{
  struct dpt_result res;
  run_file("escapes.hl7", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "MSH LAB | FAC | 20240105 | ORU R01 | 1 | P | 2.5\n"
                         "F=| S=^ T=& R=~ E=\\\n"
                         "line1\nline2\nline3end\n"
                         "bold plain x\n"
                         "hex A utf8 \xC3\xA9 cp1252 \xC3\xA9\n"
                         "unknown \\Q\\ ok, unterminated \\F tail\n");
  dpt_result_free(&res);
}

static void test_custom_delimiters(void)
{
  struct dpt_result res;
  run_file("delims.hl7", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "format"), "hl7v2");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "MSH APP | FAC | ADT A08 | 7 | P | 2.5\n"
                         "PID 1 | 111 MRN, 222 SSN | DOE JANE MARIE Q | 19800101 | F\n"
                         "pipe | stays, caret ^ too, escaped # and $\n");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.messageType"), "ADT^A08");
  dpt_result_free(&res);
}

static void test_repetitions_components(void)
{
  struct dpt_result res;
  /* Empty components, subcomponents and repetitions leave no stray separators;
   * "" is HL7's explicit null. */
  run_text("MSH|^~\\&|A\rPID|1||~111^^^MRN&1.2.3&ISO~~222^^^SSN~||\"\"|^^^|"
           "DOE^JOHN^^^DR~SMITH^J\r",
           &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "MSH A\nPID 1 | 111 MRN 1.2.3 ISO, 222 SSN | DOE JOHN DR, SMITH J\n");
  dpt_result_free(&res);
}

static void test_obx(void)
{
  struct dpt_result res;
  run_file("obx.hl7", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "MSH LAB | 20240105 | ORU R01 | 2 | P | 2.5\n"
                         "OBR 1 | 24331-1 Lipid panel LN | 20240104083000\n"
                         "Cholesterol [2093-3 LN]: 182 milligrams per deciliter (<200) N\n"
                         "Triglyceride [2571-8 LN]: < 150 mg/dL (0-149)\n"
                         "Ratio [X]: 1 : 4\n"
                         "Culture [600-7 LN]: Staphylococcus aureus, 112283007\n"
                         "Comment [8251-1 LN]: plain spaced text\n"
                         "Pathology report [11526-1 LN]: FINAL DIAGNOSIS:\n"
                         "Benign tissue.\nNo malignancy.\n"
                         "Pathology report [11526-1 LN]: Line A\nLine B\n"
                         "Collected: 20240104\n"
                         "First comment\nsecond line\n");
  dpt_result_free(&res);
}

static void test_nte(void)
{
  struct dpt_result res;
  run_text("MSH|^~\\&|A\rNTE|1|L|  spaced   out  ~\\.br\\~second\\.br\\third\rNTE|2|L|\r", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\nspaced out\nsecond\nthird\n");
  dpt_result_free(&res);
}

static void test_continuation_lines(void)
{
  struct dpt_result res;
  run_file("continuation.hl7", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "MSH LAB | FAC | 20240105 | ORU R01 | 3 | P | 2.3\n"
                         "OBR 1 | 0001 UPPER RESPIRATORY CULTURE L\n"
                         "first half second half NTEXT continues\n"
                         "ZX1 1 | custom segment\n");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "_doc.type"), "UPPER RESPIRATORY CULTURE");
  dpt_result_free(&res);
}

static void test_batch(void)
{
  struct dpt_result res;
  run_file("batch.hl7", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL_FATAL(res.n, 3);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "id"), "test");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 1, "id"), "test#msg1");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 2, "id"), "test#msg2");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "MSH LAB | FAC | 20240101 | ORU R01 | A1 | P | 2.5\nPID 1 | 111 | ONE PATIENT\n");
  /* batch header and trailer segments belong to no message */
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 2),
                         "MSH LAB | FAC | 20240103 | ADT A04 | A3 | P | 2.5\n"
                         "PID 1 | 333 | THREE PATIENT\n");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 1, "_doc.date"), "20240102");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 2, "meta.messageType"), "ADT^A04");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 1, "format"), "hl7v2");
  dpt_result_free(&res);
}

static void test_batch_one_message_fails(void)
{
  struct dpt_result res;
  run_text("MSH|^~\\&|A\rPID|1||one\r"
           "MSH|^~\\&|B\rOBX|1|ED|X^Doc||^TEXT^PLAIN^Base64^@@not base64@@\r"
           "MSH|^~\\&|C\rPID|1||three\r",
           &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_EQUAL_FATAL(res.n, 2);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "id"), "test");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 1, "id"), "test#msg2");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 1), "MSH C\nPID 1 | three\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_STRING_EQUAL(field_or_missing(dpi_record_str(res.failed, "id")), "test#msg1");
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_BAD_BASE64);
  dpt_result_free(&res);
}

/* Counts what the stage emits without keeping it (100,000 records). */
struct counter {
  struct dp_emitter base;
  size_t emitted, failed;
  enum dp_kind last_kind;
  char last_failed_id[64];
};

static enum dp_status count_emit(struct dp_emitter *self, struct dp_record *rec)
{
  ((struct counter *)self)->emitted++;
  dpi_record_free(rec);
  return DP_OK;
}

static enum dp_status count_fail(struct dp_emitter *self, struct dp_record *rec)
{
  struct counter *c = (struct counter *)self;
  c->failed++;
  c->last_kind = rec->err_kind;
  snprintf(c->last_failed_id, sizeof(c->last_failed_id), "%s",
           field_or_missing(dpi_record_str(rec, "id")));
  dpi_record_free(rec);
  return DP_OK;
}

/* One more message than DP_MAX_HL7_MESSAGES, each `one`: the last one
 * becomes one too-large error record, every other message a record. */
static void check_message_cap(const char *one)
{
  size_t n = (size_t)DP_MAX_HL7_MESSAGES + 1, each = strlen(one), len = n * each;
  char *batch = malloc(len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(batch);
  for(size_t i = 0; i < n; i++)
    memcpy(batch + i * each, one, each);
  struct dp_context ctx;
  dpi_context_defaults(&ctx, dp_stage_registry);
  struct dp_stage st = {.ops = &dp_stage_hl7v2, .ctx = &ctx};
  struct counter c = {{count_emit, count_fail}, 0, 0, DP_KIND_NONE, ""};
  CU_ASSERT_EQUAL(dp_stage_hl7v2.process(&st, dpt_body_record(batch, len), &c.base), DP_OK);
  free(batch);
  CU_ASSERT_EQUAL(c.emitted, DP_MAX_HL7_MESSAGES);
  CU_ASSERT_EQUAL(c.failed, 1);
  CU_ASSERT_EQUAL(c.last_kind, DP_KIND_TOO_LARGE);
  CU_ASSERT_STRING_EQUAL(c.last_failed_id, "test#msg100000");
}

static void test_message_cap(void)
{
  check_message_cap("MSH|^~\\&|\r");
  check_message_cap("\x0BMSH|^~\\&|\r\x1C\r"); /* a file of MLLP frames */
}

static void test_single_message_keeps_id(void)
{
  struct dpt_result res;
  run_text("\xEF\xBB\xBF\r\n  MSH|^~\\&|A\rBTS|1\r", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "id"), "test");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\n");
  dpt_result_free(&res);
}

static void test_facts(void)
{
  struct dpt_result res;
  /* TXA-2 and TXA-4 first */
  run_file("txa.hl7", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "_doc.type"), "Discharge summary");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "_doc.date"), "20240103");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.title"), "Discharge summary");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.messageType"), "MDM^T02");
  dpt_result_free(&res);

  /* no TXA-2 and a partial TXA-4: OBR-4 (a LOINC code, no text), OBR-7 */
  run_text("MSH|^~\\&|A||||20240105||ORU^R01\rTXA|1||TX|2024\rOBR|1|||11490-0^^LN|||20240102\r",
           &res);
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "_doc.type"));
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "_doc.code"), "11490-0");
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "meta.title"));
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "_doc.date"), "20240102");
  dpt_result_free(&res);

  /* MSH-7 last, as written; no type at all */
  run_text("MSH|^~\\&|A||||202401051200-0500||ACK\rMSA|AA|1\r", &res);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "_doc.date"), "202401051200-0500");
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "_doc.type"));
  CU_ASSERT_PTR_NULL(dpt_field(&res, 0, "meta.title"));
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.messageType"), "ACK");
  dpt_result_free(&res);
}

static void test_corpus_phrases(void)
{
  size_t len;
  char *tsv = dpt_read_file(dpt_shared("corpus/expected.tsv"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(tsv);
  size_t checked = 0;
  char *save = NULL;
  for(char *line = strtok_r(tsv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    char *id = line, *format = strchr(line, '\t'), *phrase;
    if(line[0] == '#' || !format || !(phrase = strchr(format + 1, '\t')))
      continue;
    *format++ = '\0';
    *phrase++ = '\0';
    if(strcmp(format, "hl7v2"))
      continue;
    char rel[64];
    size_t blen;
    snprintf(rel, sizeof(rel), "corpus/files/%s.hl7", id);
    char *bytes = dpt_read_file(dpt_shared(rel), &blen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
    struct dpt_result res;
    dpt_extract(bytes, blen, &res);
    free(bytes);
    CU_ASSERT_EQUAL(res.n, 1);
    CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "format"), "hl7v2");
    if(!dpt_contains_squeezed(dpt_content(&res, 0), phrase))
      fprintf(stderr, "\n  %s: ", id);
    DPT_ASSERT_CONTAINS(dpt_content(&res, 0), phrase);
    dpt_result_free(&res);
    checked++;
  }
  free(tsv);
  CU_ASSERT(checked >= 5); /* at least one phrase for each of the 5 files */
}

static void test_corpus_facts(void)
{
  size_t len;
  char *bytes = dpt_read_file(dpt_shared("corpus/files/21000106.hl7"), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
  struct dpt_result res;
  dpt_extract(bytes, len, &res);
  free(bytes);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "_doc.type"), "LIPID SCREEN (CORONARY RISK I)");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "_doc.date"), "201005060000");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.messageType"), "ORU^R01");
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "Cholesterol [0058-8 BRLI 2093-3 LOINC]: 120 mg/dl (< 200)");
  dpt_result_free(&res);
}

static void test_ed_base64_text(void)
{
  struct dpt_result res;
  run_file("ed-base64.hl7", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "Discharge note [18842-5 LN]:\nEmbedded discharge note.");
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "Second line.");
  CU_ASSERT_STRING_EQUAL(embedded_trail(&res, 0), "hl7v2,text");
  dpt_result_free(&res);
}

static void test_ed_hex_and_text(void)
{
  struct dpt_result res;
  run_file("ed-hex.hl7", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "MSH LAB | FAC | 20240105 | ORU R01 | 10 | P | 2.5\n"
                         "Attached message [X]:\n"
                         "MSH INNER | FAC | 20240101 | ORU R01 | 1 | P | 2.5\n"
                         "nested message text\n\n"
                         "Attached text [Y]: plain\nattached text\n");
  CU_ASSERT_STRING_EQUAL(embedded_trail(&res, 0), "hl7v2,hl7v2");
  dpt_result_free(&res);
}

static void test_ed_errors(void)
{
  struct dpt_result res;
  run_text("MSH|^~\\&|A\rOBX|1|ED|X^Doc||^TEXT^PLAIN^base64^QUJD*RA==\r", &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_BAD_BASE64);
  CU_ASSERT_STRING_EQUAL(field_or_missing(res.failed->err_message),
                         "OBX segment 2: ED data is not valid Base64 (offset 4)");
  dpt_result_free(&res);

  run_text("MSH|^~\\&|A\rOBX|1|ED|X^Doc||^TEXT^PLAIN^Hex^4D5\r", &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);

  /* an ED with no data is only its label */
  run_text("MSH|^~\\&|A\rOBX|1|ED|X^Doc||^TEXT^PLAIN^Base64^\r", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\nDoc [X]\n");
  dpt_result_free(&res);
}

static void test_charsets(void)
{
  struct dpt_result res;
  /* Windows-1252 bytes */
  run_text("MSH|^~\\&|A\rPID|1||x||caf\xE9\r", &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\nPID 1 | x | caf\xC3\xA9\n");
  dpt_result_free(&res);

  /* UTF-16LE with a byte order mark, sniffed and extracted */
  const char *ascii = "MSH|^~\\&|A\rPID|1||x||M\xFCller\r";
  size_t n = strlen(ascii), len = 2 + 2 * n;
  unsigned char *wide = malloc(len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(wide);
  wide[0] = 0xFF;
  wide[1] = 0xFE;
  for(size_t i = 0; i < n; i++) {
    wide[2 + 2 * i] = (unsigned char)ascii[i];
    wide[3 + 2 * i] = 0;
  }
  dpt_extract(wide, len, &res);
  free(wide);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "format"), "hl7v2");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\nPID 1 | x | M\xC3\xBCller\n");
  dpt_result_free(&res);
}

static void test_bid(void)
{
  static const struct {
    const char *bytes;
    int score;
  } cases[] = {
    {"MSH|^~\\&|LAB|FAC", 40},
    {"MSH|^~\\&#|LAB", 40}, /* v2.7 truncation character */
    {"MSH#$%!@#APP", 40},
    {"FHS|^~\\&|LAB", 40},
    {"BHS|^~\\&|LAB", 40},
    {"\r\n \tMSH|^~\\&|", 40},
    {"\x0BMSH|^~\\&|LAB|FAC", 40},       /* MLLP start block */
    {"\r\n\r\n\x0BMSH|^~\\&|", 40},      /* after blank lines */
    {"\x1C\r\x0BMSH|^~\\&|", 40},         /* the end of a frame cut off before */
    {"\x0B" "FHS|^~\\&|LAB", 40},
    {"\x0BPID|1||123\x1C\r", 0},
    {"\x0B\x1C\r", 0},
    {"MSH|^|", 40},
    {"MSHX|^~\\&|", 0},
    {"MSH is a segment id", 0},
    {"MSH|^~\\&", 0},         /* no second separator */
    {"MSH|", 0},
    {"MSH ^~\\& ", 0},        /* white space is not a separator */
    {"MSH1^~\\&1", 0},        /* nor is a digit */
    {"MSH||", 0},             /* no encoding characters */
    {"MSH|ab|", 0},           /* letters are not encoding characters */
    {"MSH|^~\\&^%$|", 0},     /* more than five */
    {"msh|^~\\&|", 0},
    {"PID|1||123", 0},
    {"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n", 0},
    {"<?xml version=\"1.0\"?><ClinicalDocument/>", 0},
    {"", 0},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    size_t len = strlen(cases[i].bytes);
    struct dp_peek peek = {(const unsigned char *)cases[i].bytes, len, cases[i].bytes, len, len, NULL};
    const char *mime = NULL;
    int score = dp_stage_hl7v2.bid(&peek, &mime);
    if(score != cases[i].score)
      fprintf(stderr, "\n  bid case %zu: %d\n", i, score);
    CU_ASSERT_EQUAL(score, cases[i].score);
  }
  /* through the sniffer: a UTF-8 BOM is skipped */
  struct dp_sniff s;
  dpi_sniff(dp_stage_registry, "\xEF\xBB\xBFMSH|^~\\&|A", 14, &s);
  CU_ASSERT_PTR_EQUAL(s.ops, &dp_stage_hl7v2);
  CU_ASSERT_STRING_EQUAL(s.mime, "x-application/hl7-v2+er7");
  dpi_sniff(dp_stage_registry, "MSHX and more text", 18, &s);
  CU_ASSERT_PTR_NOT_EQUAL(s.ops, &dp_stage_hl7v2);
  /* the real MLLP-framed file, as the sniff stage sees it */
  size_t len;
  const char *real = "corpus/real/files/crafted-hl7-mllp-framed-2msgs.hl7";
  char *framed = dpt_read_file(dpt_shared(real), &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(framed);
  dpi_sniff(dp_stage_registry, framed, len, &s);
  free(framed);
  CU_ASSERT_PTR_EQUAL(s.ops, &dp_stage_hl7v2);
}

static void test_no_msh(void)
{
  static const char *const inputs[] = {"PID|1||123\rOBX|1|ST|X||y\r", "", "hello\nworld\n",
                                       "BHS|^~\\&|A\rBTS|0\r"};
  for(size_t i = 0; i < sizeof(inputs) / sizeof(*inputs); i++) {
    struct dpt_result res;
    run_text(inputs[i], &res);
    CU_ASSERT_EQUAL(res.status, DP_FAIL);
    CU_ASSERT_EQUAL(res.n, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
    CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
    CU_ASSERT_STRING_EQUAL(field_or_missing(res.failed->err_message), "no MSH segment found");
    dpt_result_free(&res);
  }
}

static void test_garbage(void)
{
  struct dpt_result res;
  /* truncated in the middle of a field */
  run_text("MSH|^~\\&|LAB|FAC|||2024", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH LAB | FAC | 2024\n");
  dpt_result_free(&res);

  /* a broken line inside a message does not lose the segments after it */
  run_text("MSH|^~\\&|A\r\x01\x02garbage\x7F\rPID|1||x\rOBX|1\rOBX\r", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A garbage\nPID 1 | x\n");
  dpt_result_free(&res);

  /* escapes cut short */
  run_text("MSH|^~\\&|\\X4\\|\\.sp\\|\\X\\|\\\\|\\", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH \\X4\\ | \\X\\ | \\\\ | \\\n");
  dpt_result_free(&res);

  /* random bytes after a header: never a crash, always valid UTF-8 */
  static const char alphabet[] = "MSHOBXNTE|^~\\&#\r\n .brXFSTREH0123456789ABCDEF\"\xE9\xC3";
  unsigned seed = 12345;
  char buf[300];
  for(int round = 0; round < 2000; round++) {
    size_t len = 9;
    memcpy(buf, "MSH|^~\\&|", 9);
    size_t extra = (seed = seed * 1103515245 + 12345) % 280;
    for(size_t i = 0; i < extra; i++) {
      seed = seed * 1103515245 + 12345;
      buf[len++] = alphabet[(seed >> 16) % (sizeof(alphabet) - 1)];
    }
    dpt_run_stage(&dp_stage_hl7v2, dpt_body_record(buf, len), &res, NULL);
    /* a header makes a message: whatever follows, it is read */
    CU_ASSERT_EQUAL(res.status, DP_OK);
    CU_ASSERT_EQUAL(res.n, 1);
    CU_ASSERT(res.n && !strncmp(dpt_content(&res, 0), "MSH", 3));
    for(size_t i = 0; i < res.n; i++)
      CU_ASSERT(dpi_utf8_valid(dpt_content(&res, i), strlen(dpt_content(&res, i))));
    dpt_result_free(&res);
  }
}

/* ---- how feeds join messages ---- */

/* The number of U+FFFD in s. */
static size_t replacement_count(const char *s)
{
  size_t n = 0;
  for(const char *p = s; (p = strstr(p, "\xEF\xBF\xBD")); p += 3)
    n++;
  return n;
}

static void test_mllp_single(void)
{
  struct dpt_result res;
  /* one frame, after a blank line: the framing is no text and no error */
  run_text("\r\n\x0BMSH|^~\\&|A||||||ORU^R01\rPID|1||x\r\x1C\r", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "id"), "test");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A | ORU R01\nPID 1 | x\n");
  dpt_result_free(&res);
}

static void test_mllp_several(void)
{
  /* CR, LF and CRLF segment ends; 0x1C with and without its CR */
  static const char *const patients[] = {"FIRST PATIENT", "SECOND PATIENT", "THIRD PATIENT"};
  struct dpt_result res;
  run_file("mllp-framed.hl7", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL_FATAL(res.n, 3);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "id"), "test");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 1, "id"), "test#msg1");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 2, "id"), "test#msg2");
  for(size_t i = 0; i < 3; i++)
    for(size_t k = 0; k < 3; k++)
      CU_ASSERT_EQUAL(strstr(dpt_content(&res, i), patients[k]) != NULL, i == k);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "MSH LAB | FAC | 20240101 | ORU R01 | M1 | P | 2.5\n"
                         "PID 1 | 111 | FIRST PATIENT\nOne [X]: alpha\n");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 1),
                         "MSH LAB | FAC | 20240102 | ADT A08 | M2 | P | 2.5\n"
                         "PID 1 | 222 | SECOND PATIENT\n");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 2, "meta.messageType"), "ORU^R01");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 1, "format"), "hl7v2");
  dpt_result_free(&res);
}

static void test_mllp_missing_cr(void)
{
  struct dpt_result res;
  /* frames glued together, the last one without 0x1C at all */
  run_text("\x0BMSH|^~\\&|A\rPID|1||one\r\x1C\x0BMSH|^~\\&|B\rPID|1||two\x1C"
           "\x0BMSH|^~\\&|C\rPID|1||three",
           &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL_FATAL(res.n, 3);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\nPID 1 | one\n");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 1), "MSH B\nPID 1 | two\n");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 2), "MSH C\nPID 1 | three\n");
  dpt_result_free(&res);
}

static void test_unframed_feeds(void)
{
  struct dpt_result res;
  /* blank lines, a new MSH right after a segment, LF and CRLF, an indented
   * MSH, and files joined with cat that keep their byte order marks */
  run_text("MSH|^~\\&|A\nPID|1||one\n\n\nMSH|^~\\&|B\r\nPID|1||two\r\nMSH|^~\\&|C\rPID|1||three\r"
           "\r\n  MSH|^~\\&|D\rPID|1||four\r\xEF\xBB\xBFMSH|^~\\&|E\rPID|1||five\r\x1A",
           &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL_FATAL(res.n, 5);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\nPID 1 | one\n");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 1), "MSH B\nPID 1 | two\n");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 2), "MSH C\nPID 1 | three\n");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 3), "MSH D\nPID 1 | four\n");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 4), "MSH E\nPID 1 | five\n");
  dpt_result_free(&res);
}

static void test_frame_without_msh(void)
{
  struct dpt_result res;
  /* a frame whose MSH is missing is not merged into the message before it,
   * nor dropped: it is an error record of its own */
  run_text("\x0BMSH|^~\\&|A\rPID|1||one\r\x1C\r\x0BPID|1||orphan\rOBX|1|ST|X||y\r\x1C\r"
           "\x0BMSH|^~\\&|B\rPID|1||two\r\x1C\r",
           &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_EQUAL_FATAL(res.n, 2);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "id"), "test");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\nPID 1 | one\n");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 1, "id"), "test#msg2");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 1), "MSH B\nPID 1 | two\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_STRING_EQUAL(field_or_missing(dpi_record_str(res.failed, "id")), "test#msg1");
  CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  CU_ASSERT_STRING_EQUAL(field_or_missing(res.failed->err_message),
                         "segments outside any message at byte 26 (no MSH segment starts them)");
  dpt_result_free(&res);

  /* nor is a title above the first MSH: it is no HL7 data */
  run_text("Example ADT message\r\n\r\nMSH|^~\\&|A\rPID|1||x\r", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "id"), "test");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\nPID 1 | x\n");
  dpt_result_free(&res);

  /* but segments above it are */
  run_text("PID|1||lost\rMSH|^~\\&|A\rPID|1||x\r", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "id"), "test#msg1");
  CU_ASSERT_PTR_NOT_NULL_FATAL(res.failed);
  CU_ASSERT_STRING_EQUAL(field_or_missing(dpi_record_str(res.failed, "id")), "test");
  CU_ASSERT_STRING_EQUAL(field_or_missing(res.failed->err_message),
                         "segments outside any message at byte 0 (no MSH segment starts them)");
  dpt_result_free(&res);

  /* the continuation of a batch header is not such a line */
  run_text("FHS|^~\\&|A\r  continued header\rBHS|^~\\&|A\rMSH|^~\\&|M\rBTS|1\rFTS|1\r", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH M\n");
  dpt_result_free(&res);
}

static void test_many_frames(void)
{
  /* 1,000 framed messages: 1,000 records, each with its own number */
  static const char frame[] = "\x0BMSH|^~\\&|A\rPID|1||%04zu\r\x1C\r";
  size_t n = 1000;
  struct dp_buf b;
  dpi_buf_init(&b, (size_t)1 << 20);
  for(size_t i = 0; i < n; i++)
    dpi_buf_addf(&b, frame, i);
  struct dpt_result res;
  dpt_run_stage(&dp_stage_hl7v2, dpt_body_record(dpi_buf_str(&b), b.len), &res, NULL);
  dpi_buf_free(&b);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL_FATAL(res.n, n);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 999, "id"), "test#msg999");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 999), "MSH A\nPID 1 | 0999\n");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 500), "MSH A\nPID 1 | 0500\n");
  dpt_result_free(&res);
}

/* ---- charsets, per message ---- */

static void test_msh18_8859_1(void)
{
  struct dpt_result res;
  /* 0xE8 is è in ISO-8859-1 (the declaration) and č in ISO-8859-2 */
  run_text("MSH|^~\\&|A|||||||||2.5|||||FRA|8859/1\rPID|1||x||DUPONT^IR\xC8NE\r", &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.charset"), "ISO-8859-1");
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "PID 1 | x | DUPONT IR\xC3\x88NE");
  dpt_result_free(&res);
}

static void test_msh18_8859_2(void)
{
  /* Czech and Polish in ISO-8859-2 (iconv -f ISO-8859-2 gives the UTF-8
   * below), under each spelling of the declaration senders use */
  static const char *const labels[] = {"8859/2", "ISO IR101", "ISO_IR 101", "ISO-8859-2",
                                       "iso8859-2", "8859/2~"};
  for(size_t i = 0; i < sizeof(labels) / sizeof(*labels); i++) {
    char msg[256];
    snprintf(msg, sizeof(msg),
             "MSH|^~\\&|A|||||||||2.5|||||CZE|%s\rPID|1||x||DVO\xD8\xC1KOV\xC1^\xAEOFIE\r"
             "NTE|1||\xA3\xF3""d\xBC\r",
             labels[i]);
    struct dpt_result res;
    run_text(msg, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    if(strcmp(field_of(&res, 0, "meta.charset"), "ISO-8859-2"))
      fprintf(stderr, "\n  label %s: %s\n", labels[i], field_of(&res, 0, "meta.charset"));
    CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.charset"), "ISO-8859-2");
    DPT_ASSERT_CONTAINS(dpt_content(&res, 0),
                        "DVO\xC5\x98\xC3\x81KOV\xC3\x81 \xC5\xBDOFIE\n\xC5\x81\xC3\xB3""d\xC5\xBA");
    dpt_result_free(&res);
  }
}

static void test_msh18_utf8_stray_byte(void)
{
  struct dpt_result res;
  /* UTF-8 as declared; the one Latin-1 byte costs one U+FFFD, not the text */
  run_text("MSH|^~\\&|A|||||||||2.5|||||DEU|UNICODE UTF-8\rPID|1||x||M\xC3\x9CLLER^J\xC3\x9CRGEN\r"
           "NTE|1||Dose 5 \xB5g daily\r",
           &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.charset"), "UTF-8");
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "M\xC3\x9CLLER J\xC3\x9CRGEN");
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "Dose 5 \xEF\xBF\xBDg daily");
  CU_ASSERT_EQUAL(replacement_count(dpt_content(&res, 0)), 1);
  dpt_result_free(&res);

  /* a declaration of Latin-1 does not turn UTF-8 bytes into mojibake */
  run_text("MSH|^~\\&|A|||||||||2.5|||||DEU|8859/1\rPID|1||x||M\xC3\x9CLLER\r", &res);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.charset"), "UTF-8");
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "M\xC3\x9CLLER");
  dpt_result_free(&res);
}

static void test_msh18_per_message(void)
{
  struct dpt_result res;
  run_file("msh18-batch.hl7", &res);
  CU_ASSERT_EQUAL(res.status, DP_OK);
  CU_ASSERT_PTR_NULL(res.failed);
  CU_ASSERT_EQUAL_FATAL(res.n, 5);
  static const struct {
    const char *charset, *text;
  } want[] = {
    /* č twice: the byte, then \XE8\ read in the declared charset */
    {"ISO-8859-2", "PID 1 | 101 | DVO\xC5\x98\xC3\x81KOV\xC3\x81 \xC5\xBDOFIE\n"
                   "\xC5\x81\xC3\xB3""d\xC5\xBA \xC4\x8D \xC4\x8D\n"},
    {"ISO-8859-1", "PID 1 | 102 | DUPONT IR\xC3\x88NE\nIr\xC3\xA8ne \xC3\xA8\n"},
    {"UTF-8", "PID 1 | 103 | M\xC3\x9CLLER J\xC3\x9CRGEN\nDose 5 \xEF\xBF\xBDg daily\n"},
    {"ISO-8859-5", "PID 1 | 104 | \xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD\xD0\xBE\xD0\xB2 "
                   "\xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD\n"},
    {"UTF-8", "PID 1 | 105 | PLAIN ASCII\n"},
  };
  for(size_t i = 0; i < 5; i++) {
    CU_ASSERT_STRING_EQUAL(field_of(&res, i, "meta.charset"), want[i].charset);
    const char *nl = strchr(dpt_content(&res, i), '\n');
    CU_ASSERT_STRING_EQUAL(nl ? nl + 1 : "(one line)", want[i].text);
  }
  dpt_result_free(&res);
}

static void test_msh18_other_sets(void)
{
  static const struct {
    const char *msg, *charset, *text;
  } cases[] = {
    /* ISO 2022 code extension: JIS X 0208 switched in with ESC $ B */
    {"MSH|^~\\&|A|||||||||2.5|||||JPN|~ISO IR87\rPID|1||x||\x1B$B\x30\x21\x1B(B^B\r",
     "ISO-2022-JP-2", "PID 1 | x | \xE4\xBA\x9C B\n"},
    /* and without its MSH-18 */
    {"MSH|^~\\&|A\rPID|1||x||\x1B$B\x30\x21\x1B(B^B\r", "ISO-2022-JP-2",
     "PID 1 | x | \xE4\xBA\x9C B\n"},
    /* the same sent as EUC-KR under an ASCII default */
    {"MSH|^~\\&|A|||||||||2.5|||||KOR|ASCII~KS X 1001\rPID|1||x||\xB0\xA1\r", "CP949",
     "PID 1 | x | \xEA\xB0\x80\n"},
    {"MSH|^~\\&|A|||||||||2.5|||||CHN|GB 18030-2000\rPID|1||x||\xC4\xE3\xBA\xC3\r", "GB18030",
     "PID 1 | x | \xE4\xBD\xA0\xE5\xA5\xBD\n"},
    {"MSH|^~\\&|A|||||||||2.5|||||TWN|BIG-5\rPID|1||x||\xA4\xA4\xA4\xE5\r", "BIG5-HKSCS",
     "PID 1 | x | \xE4\xB8\xAD\xE6\x96\x87\n"},
    /* UTF-16 cannot be true of a message whose MSH reads as ASCII */
    {"MSH|^~\\&|A|||||||||2.5|||||DEU|UNICODE UTF-16\rPID|1||x||M\xC3\x9CLLER\r", "UTF-8",
     "PID 1 | x | M\xC3\x9CLLER\n"},
    /* a name iconv knows, as some senders write it */
    {"MSH|^~\\&|A|||||||||2.5|||||POL|windows-1250\rPID|1||x||\xA3\xF3""d\x9F\r", "WINDOWS-1250",
     "PID 1 | x | \xC5\x81\xC3\xB3""d\xC5\xBA\n"},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    struct dpt_result res;
    run_text(cases[i].msg, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    const char *got = field_of(&res, 0, "meta.charset"), *nl = strchr(dpt_content(&res, 0), '\n');
    if(strcmp(got, cases[i].charset))
      fprintf(stderr, "\n  case %zu: %s\n", i, got);
    CU_ASSERT_STRING_EQUAL(got, cases[i].charset);
    CU_ASSERT_STRING_EQUAL(nl ? nl + 1 : "(one line)", cases[i].text);
    dpt_result_free(&res);
  }
}

static void test_hex_escape_charset(void)
{
  struct dpt_result res;
  /* \XE8\ is č under 8859/2 even in an ASCII message, è under 8859/1 */
  run_text("MSH|^~\\&|A|||||||||2.5|||||CZE|8859/2\rNTE|1||\\XE8\\\r", &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A | 2.5 | CZE | 8859/2\n\xC4\x8D\n");
  dpt_result_free(&res);
  run_text("MSH|^~\\&|A|||||||||2.5|||||FRA|8859/1\rNTE|1||\\XE8\\\r", &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A | 2.5 | FRA | 8859/1\n\xC3\xA8\n");
  dpt_result_free(&res);
  /* no declaration: UTF-8 when the bytes are, else Windows-1252 */
  run_text("MSH|^~\\&|A\rNTE|1||\\XC48D\\ \\X80\\\r", &res);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0), "MSH A\n\xC4\x8D \xE2\x82\xAC\n");
  dpt_result_free(&res);
}

static void test_utf16_batch(void)
{
  /* UTF-16LE with a BOM: converted whole, then split; MSH-18 cannot
   * overrule the BOM */
  const char *ascii = "MSH|^~\\&|A|||||||||2.5|||||FRA|8859/1\rPID|1||x||Ir\xE8ne\r"
                      "MSH|^~\\&|B\rPID|1||y\r";
  size_t n = strlen(ascii), len = 2 + 2 * n;
  unsigned char *wide = malloc(len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(wide);
  wide[0] = 0xFF;
  wide[1] = 0xFE;
  for(size_t i = 0; i < n; i++) {
    wide[2 + 2 * i] = (unsigned char)ascii[i];
    wide[3 + 2 * i] = 0;
  }
  struct dpt_result res;
  dpt_extract(wide, len, &res);
  free(wide);
  CU_ASSERT_EQUAL_FATAL(res.n, 2);
  CU_ASSERT_STRING_EQUAL(field_of(&res, 0, "meta.charset"), "UTF-16LE");
  CU_ASSERT_STRING_EQUAL(field_of(&res, 1, "meta.charset"), "UTF-16LE");
  DPT_ASSERT_CONTAINS(dpt_content(&res, 0), "PID 1 | x | Ir\xC3\xA8ne");
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 1), "MSH B\nPID 1 | y\n");
  dpt_result_free(&res);
}

/* ---- OBX without an identifier, document types ---- */

static void test_obx_empty_identifier(void)
{
  struct dpt_result res;
  /* values whose OBX-3 is empty (or only separators) keep their own line,
   * with no label, and never continue the observation before them */
  run_text("MSH|^~\\&|A\r"
           "OBX|1|NM|GLU^Glucose|1|5.5|mmol/L\r"
           "OBX|2|NM||1|6.1|mmol/L\r"
           "OBX|3|TX|^^|1|first line\r"
           "OBX|4|TX|^^|1|second line\r"
           "OBX|5|ST| |1|spaced id\r"
           "OBX|6|CE|||C1^Coded text^L\r"
           "OBX|7|TX|RPT^Report|1|report start\r"
           "OBX|8|TX|RPT^Report|1|report goes on\r",
           &res);
  CU_ASSERT_EQUAL_FATAL(res.n, 1);
  CU_ASSERT_STRING_EQUAL(dpt_content(&res, 0),
                         "MSH A\n"
                         "Glucose [GLU]: 5.5 mmol/L\n"
                         "6.1 mmol/L\n"
                         "first line\n"
                         "second line\n"
                         "spaced id\n"
                         "Coded text\n"
                         "Report [RPT]: report start\n"
                         "report goes on\n");
  dpt_result_free(&res);
}

static void test_document_type_codes(void)
{
  static const struct {
    const char *segments, *type, *code;
  } cases[] = {
    /* bare codes: meaningless outside the sender */
    {"TXA|1|DIS\r", NULL, NULL},
    {"TXA|1|di\r", NULL, NULL},
    {"TXA|1|DS^^HL70270\r", NULL, NULL},
    {"OBR|1|||ZZ9\r", NULL, NULL},
    {"OBR|1|||11490-0\r", NULL, NULL},
    /* a text, or a LOINC code the coding system vouches for */
    {"TXA|1|DS^Discharge summary^HL70270\r", "Discharge summary", NULL},
    {"OBR|1|||11490-0^^LN\r", NULL, "11490-0"},
    {"OBR|1|||LOC1^^L^18842-5^^LN\r", NULL, "18842-5"},
    {"OBR|1|||11490-0^^L\r", NULL, NULL},
    {"OBR|1|||X-Y^^LN\r", NULL, NULL}, /* not a LOINC code */
    {"TXA|1|^^^^Consult note^L\r", "Consult note", NULL},
    {"OBR|1|||LOC9^^L^^^^^^Chest X-ray\r", "Chest X-ray", NULL},
    /* a TXA-2 that says nothing leaves the choice to OBR-4 */
    {"TXA|1|DIS\rOBR|1|||24331-1^Lipid panel^LN\r", "Lipid panel", "24331-1"},
    {"TXA|1|dis\rOBR|1|||CBC\rOBR|2|||85025^Blood count^CPT\r", "Blood count", NULL},
  };
  for(size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
    char msg[256];
    snprintf(msg, sizeof(msg), "MSH|^~\\&|A||||20240105||ORU^R01\r%s", cases[i].segments);
    struct dpt_result res;
    run_text(msg, &res);
    CU_ASSERT_EQUAL_FATAL(res.n, 1);
    const char *type = dpt_field(&res, 0, "_doc.type"), *code = dpt_field(&res, 0, "_doc.code");
    int ok = (cases[i].type ? type && !strcmp(type, cases[i].type) : !type) &&
             (cases[i].code ? code && !strcmp(code, cases[i].code) : !code);
    if(!ok)
      fprintf(stderr, "\n  case %zu: type %s, code %s\n", i, field_or_missing(type),
              field_or_missing(code));
    CU_ASSERT(ok);
    /* the title is the text, never a bare code */
    const char *title = dpt_field(&res, 0, "meta.title");
    CU_ASSERT(cases[i].type ? title && !strcmp(title, cases[i].type) : !title);
    dpt_result_free(&res);
  }
}

DPT_SUITE(hl7v2)
{
  CU_pSuite s = CU_add_suite("hl7v2", NULL, NULL);
  CU_add_test(s, "escape sequences", test_escapes);
  CU_add_test(s, "custom delimiters", test_custom_delimiters);
  CU_add_test(s, "repetitions and components", test_repetitions_components);
  CU_add_test(s, "OBX rendering by value type", test_obx);
  CU_add_test(s, "NTE comments", test_nte);
  CU_add_test(s, "continuation lines", test_continuation_lines);
  CU_add_test(s, "batch: one record per message", test_batch);
  CU_add_test(s, "batch: a failed message does not stop the rest", test_batch_one_message_fails);
  CU_add_test(s, "batch: message cap", test_message_cap);
  CU_add_test(s, "single message keeps its id", test_single_message_keeps_id);
  CU_add_test(s, "type, date and message type facts", test_facts);
  CU_add_test(s, "corpus phrases", test_corpus_phrases);
  CU_add_test(s, "corpus facts", test_corpus_facts);
  CU_add_test(s, "ED Base64 text document", test_ed_base64_text);
  CU_add_test(s, "ED Hex message and ED text", test_ed_hex_and_text);
  CU_add_test(s, "ED errors", test_ed_errors);
  CU_add_test(s, "charsets", test_charsets);
  CU_add_test(s, "bid", test_bid);
  CU_add_test(s, "no MSH segment", test_no_msh);
  CU_add_test(s, "garbage and truncation", test_garbage);
  CU_add_test(s, "MLLP: one framed message", test_mllp_single);
  CU_add_test(s, "MLLP: several frames, CR, LF and CRLF", test_mllp_several);
  CU_add_test(s, "MLLP: end block without its CR", test_mllp_missing_cr);
  CU_add_test(s, "unframed feeds: blank lines, joined files", test_unframed_feeds);
  CU_add_test(s, "a frame without MSH is an error record", test_frame_without_msh);
  CU_add_test(s, "MLLP: a thousand frames", test_many_frames);
  CU_add_test(s, "MSH-18 8859/1", test_msh18_8859_1);
  CU_add_test(s, "MSH-18 8859/2 and its spellings", test_msh18_8859_2);
  CU_add_test(s, "MSH-18 UNICODE UTF-8 with a stray byte", test_msh18_utf8_stray_byte);
  CU_add_test(s, "MSH-18 per message of a batch", test_msh18_per_message);
  CU_add_test(s, "MSH-18 ISO 2022 and the CJK sets", test_msh18_other_sets);
  CU_add_test(s, "hex escapes in the declared charset", test_hex_escape_charset);
  CU_add_test(s, "UTF-16 batch", test_utf16_batch);
  CU_add_test(s, "OBX with an empty OBX-3", test_obx_empty_identifier);
  CU_add_test(s, "TXA-2 and OBR-4 codes that say nothing", test_document_type_codes);
}
