/* test_core.c - buffer, Base64, charset and date helpers; the progress line. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "b64.h"
#include "buf.h"
#include "date.h"
#include "progress.h"
#include "testutil.h"
#include "textconv.h"

static void test_buf_cap(void)
{
  struct dp_buf b;
  dpi_buf_init(&b, 8);
  CU_ASSERT_EQUAL(dpi_buf_adds(&b, "12345678"), 0);
  CU_ASSERT_STRING_EQUAL(dpi_buf_str(&b), "12345678");
  CU_ASSERT_NOT_EQUAL(dpi_buf_addc(&b, '9'), 0);
  CU_ASSERT(dpi_buf_failed(&b));
  CU_ASSERT_NOT_EQUAL(dpi_buf_adds(&b, "x"), 0); /* sticky */
  dpi_buf_free(&b);
}

/* An empty buffer may have no memory yet: what comes after an offset is
 * still a string (fuzz_pdf found mem + 0 on NULL, for a page without text). */
static void test_buf_at_empty(void)
{
  struct dp_buf b;
  dpi_buf_init(&b, 8);
  CU_ASSERT_PTR_NULL(b.mem);
  CU_ASSERT_PTR_NOT_NULL(dpi_buf_at(&b, 0));
  CU_ASSERT_STRING_EQUAL(dpi_buf_at(&b, 0), "");
  dpi_buf_adds(&b, "abc");
  CU_ASSERT_STRING_EQUAL(dpi_buf_at(&b, 1), "bc");
  CU_ASSERT_STRING_EQUAL(dpi_buf_at(&b, 3), "");
  dpi_buf_free(&b);
}

static void test_date_forms(void)
{
  char d[11];
  CU_ASSERT_EQUAL(dpi_date_normalize("2022-08-18T00:00:00Z", d), 0);
  CU_ASSERT_STRING_EQUAL(d, "2022-08-18");
  CU_ASSERT_EQUAL(dpi_date_normalize("20080511103530", d), 0);
  CU_ASSERT_STRING_EQUAL(d, "2008-05-11");
  CU_ASSERT_EQUAL(dpi_date_normalize("200805111035-0500", d), 0);
  CU_ASSERT_STRING_EQUAL(d, "2008-05-11");
  CU_ASSERT_EQUAL(dpi_date_normalize("D:20220818120000+02'00'", d), 0);
  CU_ASSERT_STRING_EQUAL(d, "2022-08-18");
  CU_ASSERT_EQUAL(dpi_date_normalize("2024-02-29", d), 0);
  CU_ASSERT_EQUAL(dpi_date_normalize("2023-02-29", d), -1); /* not a leap year */
  CU_ASSERT_EQUAL(dpi_date_normalize("2022", d), -1);       /* partial: never invented */
  CU_ASSERT_EQUAL(dpi_date_normalize("202208", d), -1);
  CU_ASSERT_EQUAL(dpi_date_normalize("2022-13-01", d), -1);
  CU_ASSERT_EQUAL(dpi_date_normalize("yesterday", d), -1);
  CU_ASSERT_EQUAL(dpi_date_normalize("", d), -1);
}

static void test_utf8(void)
{
  CU_ASSERT(dpi_utf8_valid("h\xC3\xA9llo", 6));
  CU_ASSERT(!dpi_utf8_valid("\xC0\xAF", 2));         /* overlong */
  CU_ASSERT(!dpi_utf8_valid("\xED\xA0\x80", 3));     /* surrogate */
  CU_ASSERT(!dpi_utf8_valid("\xE2\x82", 2));         /* cut off */
  CU_ASSERT(dpi_utf8_valid_prefix("\xE2\x82", 2));
  struct dp_buf b;
  dpi_buf_init(&b, 1024);
  dpi_utf8_sanitize(&b, "a\xFF" "b", 3);
  CU_ASSERT_STRING_EQUAL(dpi_buf_str(&b), "a\xEF\xBF\xBD" "b");
  dpi_buf_free(&b);
}

static void test_charsets(void)
{
  struct dp_buf b;
  dpi_buf_init(&b, 1024);
  /* Windows-1252: curly quotes and the euro sign. */
  const char *cp = "\x93" "caf\xE9\x94 \x80" "5";
  CU_ASSERT_EQUAL(dpi_to_utf8(&b, cp, strlen(cp), "WINDOWS-1252"), 0);
  CU_ASSERT_STRING_EQUAL(dpi_buf_str(&b), "\xE2\x80\x9C" "caf\xC3\xA9\xE2\x80\x9D \xE2\x82\xAC" "5");
  dpi_buf_reset(&b);
  /* UTF-16LE with BOM. */
  const char u16[] = "\xFF\xFEh\0i\0";
  CU_ASSERT_EQUAL(dpi_to_utf8(&b, u16 + 2, 6 - 2, "UTF-16LE"), 0);
  CU_ASSERT_STRING_EQUAL(dpi_buf_str(&b), "hi");
  dpi_buf_reset(&b);
  /* A byte Windows-1252 leaves undefined becomes U+FFFD, not an error. */
  CU_ASSERT_EQUAL(dpi_to_utf8(&b, "a\x81z", 3, "WINDOWS-1252"), 0);
  CU_ASSERT_STRING_EQUAL(dpi_buf_str(&b), "a\xEF\xBF\xBDz");
  dpi_buf_free(&b);
}

static void test_text_clean(void)
{
  struct dp_buf b;
  dpi_buf_init(&b, 1024);
  const char *in = "\r\n\r\nline one  \r\nline two\r\r\r\n\n\nend\x01\t\n\n";
  dpi_text_clean(&b, in, strlen(in));
  CU_ASSERT_STRING_EQUAL(dpi_buf_str(&b), "line one\nline two\n\nend");
  /* C1 controls go too; a run of controls between words leaves one space
   * (PDF fonts that use a control code as their space glyph). */
  dpi_buf_reset(&b);
  in = "Overview\x02of\x02\x02the \xC2\x87\xC2\x96model\x7F\xC2\xA0ok\xC2\x9F";
  dpi_text_clean(&b, in, strlen(in));
  CU_ASSERT_STRING_EQUAL(dpi_buf_str(&b), "Overview of the model \xC2\xA0ok");
  dpi_buf_free(&b);
  /* The same in the pass every extractor's text goes through. */
  dpi_buf_init(&b, 1024);
  dpi_buf_adds(&b, "a\x01\xC2\x85" "b\r\n\fc\xC2\xA9\x1B");
  dpi_text_drop_controls(&b);
  CU_ASSERT_STRING_EQUAL(dpi_buf_str(&b), "a b\r\n\fc\xC2\xA9");
  dpi_buf_free(&b);
}

static void test_b64_roundtrip(void)
{
  struct dp_buf enc, dec;
  dpi_buf_init(&enc, 1 << 20);
  dpi_buf_init(&dec, 1 << 20);
  unsigned char data[1000];
  for(size_t i = 0; i < sizeof(data); i++)
    data[i] = (unsigned char)(i * 7 + 3);
  for(size_t n = 0; n < sizeof(data); n += 97) {
    dpi_buf_reset(&enc);
    dpi_buf_reset(&dec);
    CU_ASSERT_EQUAL(dpi_b64_encode(data, n, &enc), DP_B64_OK);
    CU_ASSERT_PTR_NULL(memchr(dpi_buf_str(&enc), '\n', enc.len));
    CU_ASSERT_EQUAL(dpi_b64_decode(enc.mem, enc.len, &dec, NULL), DP_B64_OK);
    CU_ASSERT_EQUAL(dec.len, n);
    CU_ASSERT(n == 0 || !memcmp(dec.mem, data, n));
  }
  dpi_buf_free(&enc);
  dpi_buf_free(&dec);
}

static void test_progress_render(void)
{
  struct dp_counts c;
  memset(&c, 0, sizeof(c));
  c.emitted = 90;
  c.failed = 10;
  c.by_kind[DP_KIND_DAMAGED] = 6;
  c.by_kind[DP_KIND_NOT_VISIBLE] = 4;
  char line[256];
  dpi_progress_render(line, sizeof(line), &c, 4.0, 2500000, 0.25);
  CU_ASSERT_STRING_EQUAL(line, "docpipe: 100 docs  25/s  2.5 MB  10 errors (damaged 6, "
                               "not-visible 4)  25%  ETA 0:00:12");
  memset(&c, 0, sizeof(c));
  dpi_progress_render(line, sizeof(line), &c, 0, 0, -1); /* nothing known yet */
  CU_ASSERT_STRING_EQUAL(line, "docpipe: 0 docs  0.0/s  0 B");
  c.emitted = 3;
  dpi_progress_render(line, 12, &c, 2, 999, 1); /* cut to the buffer, never overrun */
  CU_ASSERT_STRING_EQUAL(line, "docpipe: 3 ");
  c.held = 200; /* converted, waiting for a slow document before them */
  dpi_progress_render(line, sizeof(line), &c, 2, 999, -1);
  CU_ASSERT_STRING_EQUAL(line, "docpipe: 3 docs  1.5/s  999 B  200 held back");
}

static void no_counts(void *user, struct dp_counts *out)
{
  (void)user;
  memset(out, 0, sizeof(*out));
}

/* Read what the progress thread wrote to the pipe until `want` shows up. */
static int wait_for(int fd, const char *want, char *seen, size_t cap)
{
  size_t len = strlen(seen);
  for(int tries = 0; tries < 500 && !strstr(seen, want); tries++) {
    struct pollfd p = {fd, POLLIN, 0};
    if(poll(&p, 1, 10) == 1 && len + 1 < cap) {
      ssize_t n = read(fd, seen + len, cap - 1 - len);
      if(n > 0)
        seen[len += (size_t)n] = '\0';
    }
  }
  return strstr(seen, want) != NULL;
}

static void test_progress_plans(void)
{
  int fds[2];
  CU_ASSERT_FATAL(pipe(fds) == 0);
  FILE *w = fdopen(fds[1], "w");
  struct dp_progress *p = dpi_progress_start(w, 0, 0.01, no_counts, NULL);
  CU_ASSERT_FATAL(p != NULL);
  static char seen[1 << 16];
  seen[0] = '\0';
  /* An export manifest of 4 files, one downloaded. */
  dpi_progress_plan_files(p, 4);
  dpi_progress_file_done(p);
  dpi_progress_read(p, 1000);
  CU_ASSERT(wait_for(fds[0], "1.0 kB  25%", seen, sizeof(seen)));
  /* Files on disk: their size is the whole. */
  char dir[] = "/tmp/docpipe-progress-XXXXXX";
  CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
  char path[64];
  snprintf(path, sizeof(path), "%s/a", dir);
  FILE *f = fopen(path, "w");
  for(int i = 0; i < 4000; i++)
    fputc('x', f);
  fclose(f);
  const char *paths[] = {dir};
  dpi_progress_plan_paths(p, paths, 1);
  dpi_progress_read(p, 1000); /* 2000 bytes read of 4000 */
  CU_ASSERT(wait_for(fds[0], "2.0 kB  50%  ETA", seen, sizeof(seen)));
  dpi_progress_say(p, "export: %s", "50% complete");
  CU_ASSERT(wait_for(fds[0], "docpipe: export: 50% complete\n", seen, sizeof(seen)));
  dpi_progress_stop(p);
  fclose(w);
  close(fds[0]);
  unlink(path);
  rmdir(dir);
}

DPT_SUITE(core)
{
  CU_pSuite s = CU_add_suite("core", NULL, NULL);
  CU_add_test(s, "buffer cap is sticky", test_buf_cap);
  CU_add_test(s, "an empty buffer's tail is a string", test_buf_at_empty);
  CU_add_test(s, "date forms", test_date_forms);
  CU_add_test(s, "utf-8 validation", test_utf8);
  CU_add_test(s, "charset conversion", test_charsets);
  CU_add_test(s, "text clean-up", test_text_clean);
  CU_add_test(s, "base64 round trip", test_b64_roundtrip);
  CU_add_test(s, "progress line", test_progress_render);
  CU_add_test(s, "progress percentages from plans", test_progress_plans);
}
