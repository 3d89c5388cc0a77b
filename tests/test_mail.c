/* test_mail.c - e-mail (eml) and Outlook messages (msg): headers, bodies,
 * attachments converted as embedded documents, an attachment that fails
 * named in meta.warnings, nested messages, and the sniff. */
#include <stdlib.h>
#include <string.h>

#include "ole2make.h"
#include "registry.h"
#include "testutil.h"

static const char mail[] =
    "From: Ana Novak <ana@example.org>\r\n"
    "To: ward7@example.org\r\n"
    "Subject: =?UTF-8?Q?Befund_K=C3=B6nig?=\r\n"
    "Date: Tue, 5 Mar 2024 09:30:00 +0100\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
    "--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n"
    "--b2\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    "Please see the attached f=FCr review.\r\n"
    "--b2\r\nContent-Type: text/html\r\n\r\n<p>HTML copy</p>\r\n--b2--\r\n"
    "--b1\r\nContent-Type: text/plain; name=\"labs.txt\"\r\n"
    "Content-Disposition: attachment; filename=\"labs.txt\"\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\n"
    "SGVtb2dsb2JpbiAxMy41IGcvZEw=\r\n"
    "--b1\r\nContent-Type: application/pdf; name=\"scan.pdf\"\r\n"
    "Content-Disposition: attachment; filename=\"scan.pdf\"\r\n\r\n"
    "%PDF-1.4 cut\r\n"
    "--b1\r\nContent-Type: message/rfc822\r\n\r\n"
    "From: lab@example.org\r\nSubject: Inner\r\nMessage-ID: <1@x>\r\n\r\nInner body text\r\n"
    "--b1--\r\n";

static void test_eml(void)
{
  struct dpt_result res;
  dpt_extract(mail, sizeof(mail) - 1, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "eml");
  const char *c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "From: Ana Novak <ana@example.org>\nTo: ward7@example.org");
  DPT_ASSERT_CONTAINS(c, "Subject: Befund K\xC3\xB6nig");
  DPT_ASSERT_CONTAINS(c, "Please see the attached f\xC3\xBCr review.");
  CU_ASSERT_PTR_NULL(strstr(c, "HTML copy")); /* the plain alternative is the body */
  DPT_ASSERT_CONTAINS(c, "Attachment: labs.txt\nHemoglobin 13.5 g/dL");
  DPT_ASSERT_CONTAINS(c, "Inner body text");
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "meta.title"), "Befund K\xC3\xB6nig");
  json_object *meta = json_object_object_get(res.recs[0]->obj, "meta");
  json_object *warnings = json_object_object_get(meta, "warnings");
  CU_ASSERT_PTR_NOT_NULL_FATAL(warnings);
  CU_ASSERT_EQUAL(json_object_array_length(warnings), 1);
  const char *w = json_object_get_string(json_object_array_get_idx(warnings, 0));
  CU_ASSERT_PTR_NOT_NULL(strstr(w, "attachment 2 (application/pdf) not converted"));
  json_object *embedded = json_object_object_get(meta, "embedded");
  CU_ASSERT_STRING_EQUAL(json_object_get_string(json_object_array_get_idx(embedded, 0)), "eml");
  dpt_result_free(&res);
}

static void test_eml_sniff(void)
{
  /* A note that starts with Date and Subject lines stays text. */
  static const char note[] = "Date: 2024-03-05\nSubject: follow-up\n\nPatient seen today.\n";
  struct dpt_result res;
  dpt_extract(note, sizeof(note) - 1, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "text");
  dpt_result_free(&res);
}

static void utf16(unsigned char *out, const char *s)
{
  for(size_t i = 0; s[i]; i++)
    out[2 * i] = (unsigned char)s[i], out[2 * i + 1] = 0;
}

static void test_msg(void)
{
  unsigned char subj[64], from[64], body[128], name[32];
  utf16(subj, "Discharge letter");
  utf16(from, "Ward 7");
  utf16(body, "The patient went home.");
  utf16(name, "note.txt");
  static const char att[] = "Attached note: take medication twice daily.";
  static const char bad[] = "%PDF-1.4 cut";
  unsigned char props[32] = {0};
  struct dpt_stream s[] = {
    {"__substg1.0_0037001F", subj, 2 * strlen("Discharge letter")},
    {"__substg1.0_0C1A001F", from, 2 * strlen("Ward 7")},
    {"__substg1.0_1000001F", body, 2 * strlen("The patient went home.")},
    {"__properties_version1.0", props, sizeof(props)},
    {"__attach_version1.0_#00000000/__substg1.0_3707001F", name, 2 * strlen("note.txt")},
    {"__attach_version1.0_#00000000/__substg1.0_37010102", att, sizeof(att) - 1},
    {"__attach_version1.0_#00000001/__substg1.0_37010102", bad, sizeof(bad) - 1},
  };
  size_t len;
  unsigned char *f = dpt_ole2_make(s, sizeof(s) / sizeof(s[0]), &len);
  struct dpt_result res;
  dpt_extract(f, len, &res);
  CU_ASSERT_EQUAL_FATAL(res.status, DP_OK);
  CU_ASSERT_STRING_EQUAL(dpt_field(&res, 0, "format"), "msg");
  const char *c = dpt_content(&res, 0);
  DPT_ASSERT_CONTAINS(c, "From: Ward 7\nSubject: Discharge letter\n\nThe patient went home.");
  DPT_ASSERT_CONTAINS(c, "Attachment: note.txt\nAttached note: take medication twice daily.");
  json_object *meta = json_object_object_get(res.recs[0]->obj, "meta");
  CU_ASSERT_PTR_NOT_NULL(json_object_object_get(meta, "warnings"));
  dpt_result_free(&res);
  /* Truncated: damaged. */
  dpt_extract(f, len - len / 3, &res);
  CU_ASSERT_EQUAL(res.status, DP_FAIL);
  if(res.failed)
    CU_ASSERT_EQUAL(res.failed->err_kind, DP_KIND_DAMAGED);
  dpt_result_free(&res);
  free(f);
}

DPT_SUITE(mail)
{
  CU_pSuite s = CU_add_suite("mail", NULL, NULL);
  CU_add_test(s, "eml: headers, body, attachments, a failed one, a nested message", test_eml);
  CU_add_test(s, "eml sniff: a note with Date and Subject lines is text", test_eml_sniff);
  CU_add_test(s, "msg: properties, body, attachments, truncated", test_msg);
}
