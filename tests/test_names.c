/* test_names.c - file names as record strings (src/names.h): the escape is
 * reversible for every byte a name can hold, leaves UTF-8 names alone, and
 * never gives two names one record form. */
#include <stdlib.h>
#include <string.h>

#include "names.h"
#include "testutil.h"
#include "textconv.h"

#define FFFD "\xEF\xBF\xBD"

/* Escape then unescape; checks the record form is UTF-8 and comes back as
 * the same bytes.  Returns the record form (to free). */
static char *round_trip(const char *name, size_t len)
{
  struct dp_buf e, u;
  dpi_buf_init(&e, len * 5 + 1);
  dpi_buf_init(&u, len + 1);
  CU_ASSERT_EQUAL_FATAL(dpi_name_escape(&e, name, len), 0);
  CU_ASSERT(dpi_utf8_valid(dpi_buf_str(&e), e.len));
  CU_ASSERT_EQUAL(dpi_name_unescape(&u, dpi_buf_str(&e), e.len), 0);
  CU_ASSERT_EQUAL(u.len, len);
  CU_ASSERT(u.len == len && !memcmp(dpi_buf_str(&u), name, len));
  /* Escaped exactly when the form differs, and then it holds U+FFFD. */
  int escaped = dpi_name_needs_escape(name, len);
  CU_ASSERT_EQUAL(escaped, e.len != len || memcmp(dpi_buf_str(&e), name, len) != 0);
  CU_ASSERT_EQUAL(escaped, strstr(dpi_buf_str(&e), FFFD) != NULL);
  dpi_buf_free(&u);
  return dpi_buf_take(&e, NULL);
}

static void test_every_byte(void)
{
  /* Each byte a name can hold (all but NUL and '/'), alone in a segment,
   * between others, and at the ends. */
  for(int c = 1; c < 256; c++) {
    if(c == '/')
      continue;
    char name[16];
    snprintf(name, sizeof(name), "d/a%cb", c);
    char *form = round_trip(name, strlen(name));
    if(c < 0x80) {
      CU_ASSERT_STRING_EQUAL(form, name); /* ASCII stays as it is */
    } else {
      CU_ASSERT(strstr(form, FFFD) != NULL);
    }
    free(form);
    snprintf(name, sizeof(name), "%c", c);
    free(round_trip(name, 1));
  }
  /* Every two-byte segment: valid pairs (C3 A9) stay, any other is escaped,
   * and all come back (so no two share a form). */
  for(int a = 1; a < 256; a++)
    for(int b = 1; b < 256; b++) {
      if(a == '/' || b == '/')
        continue;
      char name[3] = {(char)a, (char)b, 0};
      char *form = round_trip(name, 2);
      int utf8 = dpi_utf8_valid(name, 2);
      CU_ASSERT_EQUAL(utf8, strcmp(form, name) == 0);
      free(form);
    }
  /* One segment holding every byte at once. */
  char all[256];
  size_t n = 0;
  for(int c = 255; c >= 1; c--)
    if(c != '/')
      all[n++] = (char)c;
  free(round_trip(all, n));
}

static void test_forms(void)
{
  char *form = round_trip("caf\xE9.txt", 8);
  CU_ASSERT_STRING_EQUAL(form, "caf" FFFD "E9.txt");
  free(form);
  /* A UTF-8 name that holds the escape text literally is escaped too, so it
   * cannot meet the escaped form of caf\xE9. */
  form = round_trip("caf" FFFD "E9.txt", 12);
  CU_ASSERT_STRING_EQUAL(form, "caf" FFFD "EF" FFFD "BF" FFFD "BDE9.txt");
  free(form);
  /* Ordinary names, odd characters included, keep their ids. */
  static const char *const plain[] = {"scans/report 2024.pdf", "100%.txt", "a%FFb", "back\\slash",
                                      "caf\xC3\xA9.txt", "\xF0\x9F\x93\x84 note", "x#1", NULL};
  for(int i = 0; plain[i]; i++) {
    form = round_trip(plain[i], strlen(plain[i]));
    CU_ASSERT_STRING_EQUAL(form, plain[i]);
    free(form);
  }
  /* Overlongs, surrogates and cut sequences are not UTF-8: escaped. */
  form = round_trip("\xC0\xAF\xED\xA0\x80\xE2\x82", 7);
  CU_ASSERT_STRING_EQUAL(form, FFFD "C0" FFFD "AF" FFFD "ED" FFFD "A0" FFFD "80" FFFD "E2" FFFD "82");
  free(form);
}

static void test_unescape_rejects(void)
{
  static const char *const bad[] = {FFFD, FFFD "E", FFFD "e9", FFFD "G0", "a" FFFD "9", NULL};
  for(int i = 0; bad[i]; i++) {
    struct dp_buf u;
    dpi_buf_init(&u, 64);
    CU_ASSERT_EQUAL(dpi_name_unescape(&u, bad[i], strlen(bad[i])), -1);
    dpi_buf_free(&u);
    char *bytes = dpi_name_bytes(bad[i]); /* not a record form: taken as it is */
    CU_ASSERT_STRING_EQUAL(bytes, bad[i]);
    free(bytes);
  }
  char *bytes = dpi_name_bytes("a" FFFD "00b"); /* a NUL would cut the path */
  CU_ASSERT_STRING_EQUAL(bytes, "a" FFFD "00b");
  free(bytes);
  bytes = dpi_name_bytes("d/caf" FFFD "E9");
  CU_ASSERT_STRING_EQUAL(bytes, "d/caf\xE9");
  free(bytes);
}

static void test_json_field(void)
{
  json_object *o = json_object_new_object();
  dpi_json_set_name(o, "a", "plain");
  dpi_json_set_name(o, "b", "bad\xFF");
  dpi_json_set_name(o, "c", NULL);
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(o, "a"), "plain");
  CU_ASSERT_STRING_EQUAL(dpi_json_member_str(o, "b"), "bad" FFFD "FF");
  CU_ASSERT_PTR_NOT_NULL(dpi_json_member(o, "b"));
  CU_ASSERT(json_object_object_get_ex(o, "c", NULL));
  json_object_put(o);
}

DPT_SUITE(names)
{
  CU_pSuite s = CU_add_suite("names", NULL, NULL);
  CU_add_test(s, "every byte of a name round-trips", test_every_byte);
  CU_add_test(s, "record forms", test_forms);
  CU_add_test(s, "unescape refuses what no name gives", test_unescape_rejects);
  CU_add_test(s, "json fields", test_json_field);
}
