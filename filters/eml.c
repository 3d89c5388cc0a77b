/* eml.c - e-mail (RFC 822 / MIME, .eml) through GMime.
 *
 * Output: the header lines From, To, Cc, Date and Subject (decoded from
 * RFC 2047 words, as GMime gives them), a blank line, then the body: the
 * text/plain parts (converted from their charset), or a text/html part
 * through the HTML extractor when that is all there is (of a
 * multipart/alternative, the plain text is taken when it has any, else the
 * HTML).  Then every attachment - a part with Content-Disposition
 * attachment, or one that is not text, and every message/rfc822 part - is
 * converted as an embedded document (src/extract.h: the sniff decides its
 * extractor, the nesting limit holds, meta.embedded names the chain), its
 * text after an "Attachment: NAME" line.  An attachment that cannot be
 * converted leaves a line in meta.warnings and the rest of the message
 * stands.  meta.title is the subject and meta.author the sender; the Date
 * header is the document's date.
 *
 * The sniff wants a header block: every line up to the first empty one a
 * header field (or its continuation), among them one of From, Received,
 * Message-ID, MIME-Version or Return-Path, and two known fields at least,
 * so that a text note that starts "Date: ... Subject: ..." stays text.  An
 * mbox "From " line before the headers (a message saved from a mailbox) is
 * passed over. */
#include <gmime/gmime.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "dplimits.h"
#include "extract.h"
#include "registry.h"
#include "textconv.h"

struct eml {
  const struct dp_stage *st;
  struct dp_record *rec;
  struct dp_buf *text;
  struct dp_buf atts; /* the attachments' text, after the body */
  unsigned attachments;
  int capped;
};

static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
  (void)domain, (void)level, (void)msg, (void)data;
}

static pthread_once_t gmime_once = PTHREAD_ONCE_INIT;

static void gmime_setup(void)
{
  g_mime_init();
  g_log_set_handler("gmime", G_LOG_LEVEL_MASK | G_LOG_FLAG_RECURSION, quiet_log, NULL);
}

/* ---- sniff ---- */

/* Length of the field name at p (printable ASCII up to a colon), 0 if none. */
static size_t field_name(const char *p, size_t n)
{
  size_t i = 0;
  while(i < n && p[i] > ' ' && p[i] < 0x7F && p[i] != ':')
    i++;
  return i && i < n && p[i] == ':' ? i : 0;
}

static int header_kind(const char *name, size_t n)
{
  static const char *const strong[] = {"from", "received", "message-id", "mime-version",
                                       "return-path"};
  static const char *const known[] = {"to", "cc", "subject", "date", "reply-to", "sender",
                                      "content-type", "delivered-to", "x-mailer", "references"};
  for(size_t i = 0; i < sizeof(strong) / sizeof(strong[0]); i++)
    if(strlen(strong[i]) == n && !strncasecmp(name, strong[i], n))
      return 2;
  for(size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
    if(strlen(known[i]) == n && !strncasecmp(name, known[i], n))
      return 1;
  return 0;
}

/* The length of an mbox "From " envelope line at the start, with its
 * newline; 0 when there is none. */
static size_t mbox_line(const char *p, size_t n)
{
  if(n < 5 || memcmp(p, "From ", 5))
    return 0;
  const char *eol = memchr(p, '\n', n);
  return eol ? (size_t)(eol - p) + 1 : n;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  const char *p = peek->text, *end = p + (peek->text_len < 65536 ? peek->text_len : 65536);
  int strong = 0, known = 0, lines = 0;
  p += mbox_line(p, (size_t)(end - p));
  while(p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    size_t n = (size_t)((eol ? eol : end) - p);
    if(n && p[n - 1] == '\r')
      n--;
    if(!n) /* the end of the header block */
      return lines && strong && strong + known >= 2 ? 50 : 0;
    if(p[0] == ' ' || p[0] == '\t') {
      if(!lines)
        return 0;
    } else {
      size_t k = field_name(p, n);
      if(!k)
        return 0;
      int kind = header_kind(p, k);
      strong += kind == 2;
      known += kind == 1;
    }
    lines++;
    if(!eol)
      break;
    p = eol + 1;
  }
  /* A message that is only headers, or whose headers fill the view. */
  return lines && strong && strong + known >= 2 ? 50 : 0;
}

/* ---- body ---- */

static int is_type(GMimeObject *o, const char *type, const char *sub)
{
  GMimeContentType *ct = g_mime_object_get_content_type(o);
  return ct && g_mime_content_type_is_type(ct, type, sub);
}

/* The decoded bytes of a part (transfer encoding undone); NULL when GMime
 * has none. */
static GByteArray *part_bytes(GMimePart *part, GMimeStream **keep)
{
  GMimeDataWrapper *w = g_mime_part_get_content(part);
  *keep = NULL;
  if(!w)
    return NULL;
  GMimeStream *mem = g_mime_stream_mem_new();
  g_mime_data_wrapper_write_to_stream(w, mem);
  *keep = mem;
  return g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
}

static const char *declared_format(GMimeObject *o)
{
  if(is_type(o, "text", "html") || is_type(o, "application", "xhtml+xml"))
    return "html";
  if(is_type(o, "text", "rtf") || is_type(o, "application", "rtf"))
    return "rtf";
  return NULL;
}

/* One attachment: its bytes through the extractor they sniff as. */
static enum dp_status attachment(struct eml *e, const void *bytes, size_t len, const char *name,
                                 GMimeObject *o)
{
  if(e->attachments >= DP_MAIL_MAX_ATTACHMENTS) {
    if(!e->capped)
      dpi_record_warn(e->rec, "more than %d attachments: the rest are not converted",
                      DP_MAIL_MAX_ATTACHMENTS);
    e->capped = 1;
    return DP_OK;
  }
  e->attachments++;
  char label[64];
  GMimeContentType *ct = g_mime_object_get_content_type(o);
  char *type = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
  snprintf(label, sizeof(label), "attachment %u (%.40s)", e->attachments,
           type ? type : "no type");
  g_free(type);
  size_t at = e->atts.len;
  dpi_buf_adds(&e->atts, "\nAttachment: ");
  if(name && *name)
    dpi_text_squeeze(&e->atts, name, strlen(name));
  else
    dpi_buf_addf(&e->atts, "%u", e->attachments);
  dpi_buf_addc(&e->atts, '\n');
  size_t body = e->atts.len;
  enum dp_status rc = dpi_extract_attachment(e->st, e->rec, bytes, len, declared_format(o), label,
                                             &e->atts);
  if(rc == DP_OK && e->atts.len == body && !dpi_buf_failed(&e->atts))
    dpi_buf_truncate(&e->atts, at); /* nothing to show but its name */
  return rc;
}

static enum dp_status walk(struct eml *e, GMimeObject *o, int depth);

static enum dp_status message_part(struct eml *e, GMimeMessagePart *mp)
{
  GMimeMessage *inner = g_mime_message_part_get_message(mp);
  if(!inner)
    return DP_OK;
  GMimeStream *mem = g_mime_stream_mem_new();
  g_mime_object_write_to_stream(GMIME_OBJECT(inner), NULL, mem);
  GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
  const char *subject = g_mime_message_get_subject(inner);
  enum dp_status rc = attachment(e, ba->data, ba->len, subject, GMIME_OBJECT(mp));
  g_object_unref(mem);
  return rc;
}

/* A text part of the body: plain text in, HTML through its extractor. */
static enum dp_status body_text(struct eml *e, GMimePart *part)
{
  if(GMIME_IS_TEXT_PART(part) && is_type(GMIME_OBJECT(part), "text", "plain")) {
    char *s = g_mime_text_part_get_text(GMIME_TEXT_PART(part));
    if(s) {
      dpi_utf8_sanitize(e->text, s, strlen(s));
      dpi_buf_addc(e->text, '\n');
    }
    g_free(s);
    return DP_OK;
  }
  GMimeStream *keep;
  GByteArray *ba = part_bytes(part, &keep);
  enum dp_status rc = DP_OK;
  if(ba)
    rc = dpi_extract_attachment(e->st, e->rec, ba->data, ba->len, "html", "the HTML body",
                                e->text);
  if(keep)
    g_object_unref(keep);
  return rc;
}

static enum dp_status leaf(struct eml *e, GMimePart *part)
{
  GMimeObject *o = GMIME_OBJECT(part);
  int text = is_type(o, "text", "plain") || is_type(o, "text", "html");
  if(text && !g_mime_part_is_attachment(part))
    return body_text(e, part);
  GMimeStream *keep;
  GByteArray *ba = part_bytes(part, &keep);
  enum dp_status rc = DP_OK;
  if(ba)
    rc = attachment(e, ba->data, ba->len, g_mime_part_get_filename(part), o);
  if(keep)
    g_object_unref(keep);
  return rc;
}

/* Of an alternative, the plain text when it says something, else HTML,
 * else the last part (the richest, RFC 2046). */
static GMimeObject *best_alternative(GMimeMultipart *mp)
{
  int n = g_mime_multipart_get_count(mp);
  GMimeObject *html = NULL;
  for(int i = 0; i < n; i++) {
    GMimeObject *c = g_mime_multipart_get_part(mp, i);
    if(GMIME_IS_TEXT_PART(c) && is_type(c, "text", "plain")) {
      char *s = g_mime_text_part_get_text(GMIME_TEXT_PART(c));
      int empty = !s || !*s;
      g_free(s);
      if(!empty)
        return c;
    } else if(is_type(c, "text", "html")) {
      html = c;
    }
  }
  return html ? html : n ? g_mime_multipart_get_part(mp, n - 1) : NULL;
}

static enum dp_status walk(struct eml *e, GMimeObject *o, int depth)
{
  if(depth > DP_MAIL_MAX_NESTING)
    return dpi_record_fail(e->rec, DP_KIND_TOO_LARGE, "MIME parts nested more than %d deep",
                           DP_MAIL_MAX_NESTING);
  if(GMIME_IS_MESSAGE_PART(o))
    return message_part(e, GMIME_MESSAGE_PART(o));
  if(GMIME_IS_MULTIPART(o)) {
    GMimeMultipart *mp = GMIME_MULTIPART(o);
    if(is_type(o, "multipart", "alternative")) {
      GMimeObject *best = best_alternative(mp);
      return best ? walk(e, best, depth + 1) : DP_OK;
    }
    int n = g_mime_multipart_get_count(mp);
    for(int i = 0; i < n; i++) {
      enum dp_status rc = walk(e, g_mime_multipart_get_part(mp, i), depth + 1);
      if(rc != DP_OK)
        return rc;
    }
    return DP_OK;
  }
  if(GMIME_IS_PART(o))
    return leaf(e, GMIME_PART(o));
  return DP_OK;
}

/* ---- headers ---- */

static void header_line(struct eml *e, const char *label, const char *value, const char *meta)
{
  if(!value || !*value)
    return;
  size_t at = e->text->len;
  dpi_buf_addf(e->text, "%s: ", label);
  size_t start = e->text->len;
  struct dp_buf clean;
  dpi_buf_init(&clean, DP_MAX_SHORT * 4);
  dpi_utf8_sanitize(&clean, value, strlen(value));
  dpi_text_squeeze(e->text, dpi_buf_str(&clean), clean.len);
  dpi_buf_free(&clean);
  if(e->text->len == start && !dpi_buf_failed(e->text)) {
    dpi_buf_truncate(e->text, at);
    return;
  }
  if(meta && !dpi_buf_failed(e->text))
    dpi_meta_text(e->rec, meta, dpi_buf_at(e->text, start), e->text->len - start);
  dpi_buf_addc(e->text, '\n');
}

static void address_line(struct eml *e, const char *label, InternetAddressList *list,
                         const char *meta)
{
  if(!list || !internet_address_list_length(list))
    return;
  char *s = internet_address_list_to_string(list, NULL, FALSE);
  header_line(e, label, s, meta);
  g_free(s);
}

static void headers(struct eml *e, GMimeMessage *msg)
{
  address_line(e, "From", g_mime_message_get_from(msg), "author");
  address_line(e, "To", g_mime_message_get_to(msg), NULL);
  address_line(e, "Cc", g_mime_message_get_cc(msg), NULL);
  header_line(e, "Date", g_mime_object_get_header(GMIME_OBJECT(msg), "Date"), NULL);
  header_line(e, "Subject", g_mime_message_get_subject(msg), "title");
  GDateTime *when = g_mime_message_get_date(msg);
  if(when) {
    char *day = g_date_time_format(when, "%Y-%m-%d");
    if(day)
      dpi_doc_fact(e->rec, "date", day, strlen(day));
    g_free(day);
  }
  if(e->text->len)
    dpi_buf_addc(e->text, '\n');
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  pthread_once(&gmime_once, gmime_setup);
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  size_t skip = mbox_line((const char *)body, len);
  GMimeStream *stream = g_mime_stream_mem_new_with_buffer((const char *)body + skip, len - skip);
  GMimeParser *parser = g_mime_parser_new_with_stream(stream);
  g_object_unref(stream);
  GMimeMessage *msg = g_mime_parser_construct_message(parser, NULL);
  g_object_unref(parser);
  if(!msg)
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "not an RFC 822 message: no header block");
  if(!dpi_record_str(rec, "format"))
    dpi_record_set_str(rec, "format", st->ops->format);
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  struct eml e = {st, rec, &text, {0}, 0, 0};
  dpi_buf_init(&e.atts, st->ctx->max_text);
  headers(&e, msg);
  GMimeObject *top = g_mime_message_get_mime_part(msg);
  enum dp_status status = top ? walk(&e, top, 0) : DP_OK;
  g_object_unref(msg);
  if(status == DP_OK && dpi_buf_failed(&e.atts))
    status = dpi_record_fail(rec, DP_KIND_TOO_LARGE, "attachments' text exceeds %zu bytes",
                             st->ctx->max_text);
  else if(status == DP_OK && e.atts.len)
    dpi_buf_add(&text, e.atts.mem, e.atts.len);
  dpi_buf_free(&e.atts);
  if(status != DP_OK) {
    dpi_buf_free(&text);
    return status;
  }
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_eml = {
  .name = "eml",
  .summary = "e-mail (RFC 822 / MIME): headers, body, and every attachment converted",
  .format = "eml",
  .mime = "message/rfc822",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
