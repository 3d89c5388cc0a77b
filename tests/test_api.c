/* test_api.c - the library's public API (src/docpipe.h): a whole run from
 * pipeline text, and every error path giving a code and a message. */
#include <stdlib.h>
#include <string.h>

#include "docpipe.h"
#include "paths.h"
#include "testutil.h"

/* What a callback saw (it runs on the writer thread; read after finish). */
struct lines {
  char *line[16];
  size_t n;
  int bad;   /* a line with a newline, or a length that is not strlen */
  int stop;  /* return non-zero at once */
};

static int collect(const char *line, size_t len, void *user)
{
  struct lines *l = user;
  if(strlen(line) != len || memchr(line, '\n', len))
    l->bad = 1;
  if(l->n < sizeof(l->line) / sizeof(*l->line))
    l->line[l->n++] = strdup(line);
  return l->stop;
}

static void lines_free(struct lines *l)
{
  for(size_t i = 0; i < l->n; i++)
    free(l->line[i]);
}

static const char raw_files[] = "# as pipelines/raw-files\nfiles\nsniff\nextract\nnormalize\n";

static struct docpipe *raw(struct lines *recs, struct lines *errs)
{
  struct docpipe *p = docpipe_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_EQUAL(docpipe_open_string(p, raw_files, NULL), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_set(p, "jobs", "2"), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_on_record(p, collect, recs), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_on_error(p, collect, errs), DOCPIPE_OK);
  return p;
}

static void test_run(void)
{
  struct lines recs = {0}, errs = {0};
  struct docpipe *p = raw(&recs, &errs);
  CU_ASSERT_EQUAL(docpipe_push_path(p, dpt_data("text/utf8.txt")), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_push_path(p, "/nonexistent/file.pdf"), DOCPIPE_OK); /* a record */
  const char *arg = dpt_data("text/cr_only.txt");
  CU_ASSERT_EQUAL(docpipe_push(p, arg, strlen(arg)), DOCPIPE_OK);
  struct docpipe_counts c;
  CU_ASSERT_EQUAL(docpipe_finish(p, &c), DOCPIPE_OK);
  CU_ASSERT_EQUAL(c.documents, 3);
  CU_ASSERT_EQUAL(c.converted, 2);
  CU_ASSERT_EQUAL(c.failed, 1);
  CU_ASSERT_EQUAL(c.inputs, 3);
  CU_ASSERT_EQUAL(recs.n, 2);
  CU_ASSERT_EQUAL(errs.n, 1);
  CU_ASSERT(!recs.bad && !errs.bad);
  /* In input order. */
  CU_ASSERT(recs.n == 2 && strstr(recs.line[0], "utf8.txt") && strstr(recs.line[1], "cr_only"));
  CU_ASSERT(errs.n == 1 && strstr(errs.line[0], "\"kind\":\"io\""));
  /* A handle runs once. */
  CU_ASSERT_EQUAL(docpipe_push_path(p, arg), DOCPIPE_ERR_USAGE);
  CU_ASSERT_EQUAL(docpipe_finish(p, &c), DOCPIPE_ERR_USAGE);
  CU_ASSERT_EQUAL(c.documents, 0);
  docpipe_free(p);
  lines_free(&recs);
  lines_free(&errs);
}

static void test_json_and_format(void)
{
  struct lines recs = {0}, errs = {0};
  struct docpipe *p = docpipe_new();
  CU_ASSERT_EQUAL(docpipe_open_string(p, "resolve\ndecode\nsniff\nextract\nnormalize", NULL),
                  DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_set(p, "format", "es-bulk"), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_set(p, "index", "notes"), DOCPIPE_OK);
  docpipe_on_record(p, collect, &recs);
  docpipe_on_error(p, collect, &errs);
  /* A whole document over several lines, then a broken line. */
  const char *doc = "{\"resourceType\": \"DocumentReference\", \"id\": \"d1\",\n"
                    " \"status\": \"current\", \"content\": [{\"attachment\":\n"
                    " {\"contentType\": \"text/plain\", \"data\": \"SGVsbG8gd29ybGQ=\"}}]}\n";
  CU_ASSERT_EQUAL(docpipe_push(p, doc, strlen(doc)), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_push(p, "{nope", 5), DOCPIPE_OK);
  struct docpipe_counts c;
  CU_ASSERT_EQUAL(docpipe_finish(p, &c), DOCPIPE_OK);
  CU_ASSERT_EQUAL(c.converted, 1);
  CU_ASSERT_EQUAL(c.failed, 1);
  /* es-bulk makes two lines of one record: one callback each. */
  CU_ASSERT_EQUAL_FATAL(recs.n, 2);
  CU_ASSERT(!recs.bad);
  CU_ASSERT_PTR_NOT_NULL(strstr(recs.line[0], "\"notes\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(recs.line[1], "Hello world"));
  CU_ASSERT_EQUAL_FATAL(errs.n, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(errs.line[0], "\"kind\":\"bad-json\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(errs.line[0], "\"line\":2"));
  docpipe_free(p);
  lines_free(&recs);
  lines_free(&errs);
}

static void test_retry_of_pushed_json(void)
{
  /* Pushed JSON cannot be read again: its error record pushed back says so
   * (and stdin, also named "-", is left alone). */
  struct lines recs = {0}, errs = {0};
  struct docpipe *p = docpipe_new();
  CU_ASSERT_EQUAL(docpipe_open(p, "fhir-dump"), DOCPIPE_OK);
  docpipe_on_record(p, collect, &recs);
  docpipe_on_error(p, collect, &errs);
  const char *err = "{\"id\":\"DocumentReference/d1\",\"stage\":\"decode\",\"kind\":\"damaged\","
                    "\"message\":\"x\",\"input\":{\"file\":\"-\",\"line\":1}}";
  CU_ASSERT_EQUAL(docpipe_push(p, err, strlen(err)), DOCPIPE_OK);
  struct docpipe_counts c;
  CU_ASSERT_EQUAL(docpipe_finish(p, &c), DOCPIPE_OK);
  CU_ASSERT_EQUAL(c.failed, 1);
  CU_ASSERT_EQUAL(recs.n, 0);
  CU_ASSERT(errs.n == 1 && strstr(errs.line[0], "cannot read line 1 of - again"));
  docpipe_free(p);
  lines_free(&recs);
  lines_free(&errs);
}

static void test_callback_stops(void)
{
  struct lines recs = {.stop = 1}, errs = {0};
  struct docpipe *p = raw(&recs, &errs);
  CU_ASSERT_EQUAL(docpipe_push_path(p, dpt_data("text")), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_finish(p, NULL), DOCPIPE_ERR_RUN);
  CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "callback"));
  CU_ASSERT_EQUAL(recs.n, 1); /* nothing after the stop */
  docpipe_free(p);
  lines_free(&recs);
  lines_free(&errs);
}

static void test_bad_pipeline(void)
{
  struct docpipe *p = docpipe_new();
  CU_ASSERT_EQUAL(docpipe_open_string(p, "files\nsniff\nfrobnicate --hard\n", NULL),
                  DOCPIPE_ERR_PIPELINE);
  CU_ASSERT_STRING_EQUAL(docpipe_last_error(p),
                         "pipeline text:3: unknown stage 'frobnicate' (docpipe stages lists them)");
  /* Still no pipeline: the handle says so instead of running. */
  CU_ASSERT_EQUAL(docpipe_push(p, "x", 1), DOCPIPE_ERR_USAGE);
  CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "docpipe_open"));
  CU_ASSERT_EQUAL(docpipe_open_string(p, "files --recursive \"x\n", NULL), DOCPIPE_ERR_PIPELINE);
  CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "unterminated quote"));
  CU_ASSERT_EQUAL(docpipe_open_string(p, "# nothing\n\n", NULL), DOCPIPE_ERR_PIPELINE);
  CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "names no stage"));
  CU_ASSERT_EQUAL(docpipe_open(p, "no-such-pipeline"), DOCPIPE_ERR_PIPELINE);
  CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "looked in"));
  docpipe_free(p);

  /* A stage that cannot start: reported by the first input, then by every call. */
  p = docpipe_new();
  CU_ASSERT_EQUAL(docpipe_open_string(p, "resolve --binaries /nonexistent/Binary.ndjson\n"
                                         "decode\n", NULL), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_push(p, "{}", 2), DOCPIPE_ERR_PIPELINE);
  CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "resolve"));
  CU_ASSERT_EQUAL(docpipe_finish(p, NULL), DOCPIPE_ERR_PIPELINE);
  docpipe_free(p);
}

static void test_options(void)
{
  struct docpipe *p = docpipe_new();
  CU_ASSERT_EQUAL(docpipe_set(p, "binaries", "x.ndjson"), DOCPIPE_ERR_OPTION);
  CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "after docpipe_open"));
  CU_ASSERT_EQUAL(docpipe_open(p, "fhir-dump"), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_open(p, "raw-files"), DOCPIPE_ERR_USAGE);
  CU_ASSERT_EQUAL(docpipe_set(p, "binaries", dpt_data("nonexistent.ndjson")), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_set(p, "binaries", NULL), DOCPIPE_ERR_OPTION);
  CU_ASSERT_EQUAL(docpipe_set(p, "no-such-option", "1"), DOCPIPE_ERR_OPTION);
  CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "no-such-option"));
  CU_ASSERT_EQUAL(docpipe_set(p, "jobs", "0"), DOCPIPE_ERR_OPTION);
  CU_ASSERT_STRING_EQUAL(docpipe_last_error(p), "bad value for --jobs");
  CU_ASSERT_EQUAL(docpipe_set(p, "jobs", NULL), DOCPIPE_ERR_OPTION);
  CU_ASSERT_EQUAL(docpipe_set(p, "max-bytes", "12Q"), DOCPIPE_ERR_OPTION);
  CU_ASSERT_EQUAL(docpipe_set(p, "max-bytes", "1M"), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_set(p, "unordered", NULL), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_set(p, "insecure", "0"), DOCPIPE_ERR_OPTION); /* never on by "0" */
  CU_ASSERT_EQUAL(docpipe_set(p, "output", "out.ndjson"), DOCPIPE_ERR_OPTION);
  CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "program"));
  CU_ASSERT_EQUAL(docpipe_set(p, "isolate", "none"), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_set(NULL, "jobs", "1"), DOCPIPE_ERR_USAGE);
  CU_ASSERT_EQUAL(docpipe_on_record(p, collect, NULL), DOCPIPE_OK);
  docpipe_free(p); /* never started: nothing to wait for */

  CU_ASSERT_STRING_EQUAL(docpipe_version(), DOCPIPE_VERSION);
  CU_ASSERT_STRING_EQUAL(docpipe_strerror(DOCPIPE_OK), "no error");
  CU_ASSERT_STRING_EQUAL(docpipe_strerror(999), "unknown error code");
  CU_ASSERT_STRING_EQUAL(docpipe_last_error(NULL), "no handle");
  docpipe_free(NULL);
  CU_ASSERT_EQUAL(docpipe_finish(NULL, NULL), DOCPIPE_ERR_USAGE);
}

static void test_no_helper_no_isolation(void)
{
  /* The unit tests are no installed docpipe: extraction stays in-process
   * unless isolation is asked for, which then says what it needs. */
  struct docpipe *p = docpipe_new();
  CU_ASSERT_EQUAL(docpipe_open(p, "raw-files"), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_set(p, "isolate", "pdf"), DOCPIPE_OK);
  int rc = docpipe_push_path(p, dpt_data("text/utf8.txt"));
  /* A docpipe installed in the configured prefix would serve: then the run
   * goes on, else it is refused with the reason.  Either way it is checked. */
  char installed[4096];
  if(dpi_installed_program(installed, sizeof(installed)) == 0) {
    struct docpipe_counts c;
    CU_ASSERT_EQUAL(rc, DOCPIPE_OK);
    CU_ASSERT_EQUAL(docpipe_finish(p, &c), DOCPIPE_OK);
    CU_ASSERT_EQUAL(c.converted, 1);
  } else {
    CU_ASSERT_EQUAL(rc, DOCPIPE_ERR_OPTION);
    CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), "isolate pdf needs the docpipe program"));
    CU_ASSERT_PTR_NOT_NULL(strstr(docpipe_last_error(p), installed)); /* where it looked */
  }
  docpipe_free(p);
}

static void count_status(const char *line, void *user)
{
  (void)line;
  ++*(int *)user;
}

/* Status lines reach the application only when it asks, and only before
 * the run starts may it ask; a run of files has none to tell. */
static void test_status_callback(void)
{
  CU_ASSERT_EQUAL(docpipe_on_status(NULL, count_status, NULL), DOCPIPE_ERR_USAGE);
  struct lines recs = {0}, errs = {0};
  struct docpipe *p = raw(&recs, &errs);
  int said = 0;
  CU_ASSERT_EQUAL(docpipe_on_status(p, count_status, &said), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_push_path(p, dpt_data("text/utf8.txt")), DOCPIPE_OK);
  CU_ASSERT_EQUAL(docpipe_on_status(p, NULL, NULL), DOCPIPE_ERR_USAGE);
  CU_ASSERT_EQUAL(docpipe_finish(p, NULL), DOCPIPE_OK);
  CU_ASSERT_EQUAL(recs.n, 1);
  CU_ASSERT_EQUAL(said, 0);
  docpipe_free(p);
  lines_free(&recs);
  lines_free(&errs);
}

DPT_SUITE(api)
{
  CU_pSuite s = CU_add_suite("api", NULL, NULL);
  CU_add_test(s, "a run from pipeline text", test_run);
  CU_add_test(s, "JSON input, es-bulk lines", test_json_and_format);
  CU_add_test(s, "pushed JSON is not read again", test_retry_of_pushed_json);
  CU_add_test(s, "a callback stops the run", test_callback_stops);
  CU_add_test(s, "bad pipelines give messages", test_bad_pipeline);
  CU_add_test(s, "options", test_options);
  CU_add_test(s, "no helper program, no isolation", test_no_helper_no_isolation);
  CU_add_test(s, "status lines only when asked", test_status_callback);
}
