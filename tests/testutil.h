/* testutil.h - helpers shared by the CUnit suites. */
#ifndef DPT_TESTUTIL_H
#define DPT_TESTUTIL_H

#include <CUnit/CUnit.h>
#include <stddef.h>

#include "record.h"
#include "stage.h"

/* Defines the function unit_main.c calls to add suite `name`; each file
 * tests/test_<name>.c has exactly one:  DPT_SUITE(name) { CU_add_suite... } */
#define DPT_SUITE(name)              \
  void dpt_suite_##name(void);      \
  void dpt_suite_##name(void)

/* What a stage did with one record. */
struct dpt_result {
  struct dp_record **recs; /* emitted records, in order */
  size_t n;
  struct dp_record *failed; /* the first failed record (error set), or NULL */
  struct dp_record **fails; /* every failed record, in order */
  size_t nfails;
  enum dp_status status;
};

/* Read a whole file (tests/data/... or ../shared/...); NULL when missing.
 * The result is NUL-terminated and must be freed. */
char *dpt_read_file(const char *path, size_t *len);
/* Path under tests/data and under ../shared, in a static buffer. */
const char *dpt_data(const char *rel);
const char *dpt_shared(const char *rel);

/* Run one stage (its open/process/close) on a record and collect the result.
 * Options are "name", "value" pairs, NULL-terminated. */
void dpt_run_stage(const struct dp_stage_ops *ops, struct dp_record *rec, struct dpt_result *res,
                   ...);
/* Cap documents (ctx->max_document) at max bytes in the runs that follow;
 * 0 restores the default.  For tests of caps that must not allocate the
 * default 256 MiB first. */
void dpt_set_max_document(size_t max);
/* --ocr for the runs that follow (DP_OCR_AUTO is the default). */
void dpt_set_ocr(enum dp_ocr_mode mode);
/* Make a record holding `bytes` as its decoded body, with id "test". */
struct dp_record *dpt_body_record(const void *bytes, size_t len);
/* Sniff, then extract (the extract stage's path) bytes into res. */
void dpt_extract(const void *bytes, size_t len, struct dpt_result *res);
void dpt_result_free(struct dpt_result *res);

/* A ZIP made in memory by libarchive's writer: (name, bytes, size_t len)
 * triples, NULL-terminated; a name ending in '/' is a directory.  With a
 * passphrase, every member is encrypted (traditional PKWARE).  Free it. */
char *dpt_zip(size_t *len, const char *passphrase, ...);
/* A string's bytes and length, for dpt_zip. */
#define DPT_S(s) (s), strlen(s)

/* Content of the i-th emitted record, or "" */
const char *dpt_content(const struct dpt_result *res, size_t i);
/* A string at a dotted path of the i-th emitted record, or NULL. */
const char *dpt_field(const struct dpt_result *res, size_t i, const char *path);

/* Is `phrase` in `text` once runs of white space (incl. U+00A0) are
 * collapsed to one space on both sides? (the corpus's matching rule) */
int dpt_contains_squeezed(const char *text, const char *phrase);

#define DPT_ASSERT_CONTAINS(text, phrase)                                   \
  do {                                                                      \
    int dpt_found_ = dpt_contains_squeezed((text), (phrase));               \
    if(!dpt_found_)                                                         \
      fprintf(stderr, "\n  missing phrase: %s\n", (phrase));                \
    CU_ASSERT(dpt_found_);                                                  \
  } while(0)

#endif
