/* msg.c - Outlook messages (.msg), read with libgsf ([MS-OXMSG]).
 *
 * A .msg file is an OLE2 compound file in which every property of the
 * message is a stream named __substg1.0_TTTTYYYY (TTTT the property id,
 * YYYY its type: 001F UTF-16LE, 001E 8-bit in the message's code page,
 * 0102 bytes), and the fixed-size properties (dates among them) are 16-byte
 * entries of the __properties_version1.0 stream after its 32-byte header
 * (24 bytes in an embedded message).  Read here:
 *
 *   - From (0C1A sender name, with 5D01 or else 0C1F its address), To (0E04
 *     display to), Cc (0E03), Subject (0037), as in eml.c's header lines;
 *     the date is the submit time (0039) or else the delivery time (0E06);
 *   - the body: 1000 (plain text), or else the HTML body (1013) through the
 *     HTML extractor; a message with only an RTF body (1009, compressed)
 *     keeps its headers and says so in meta.warnings;
 *   - each attachment storage __attach_version1.0_#N: its data (3701, type
 *     0102) converted as an embedded document, after an "Attachment: NAME"
 *     line (3707 long file name, 3704 short, 3001 display name); an
 *     attached Outlook message (3701 of type 000D, a storage) is read the
 *     same way as its parent, nested at most ctx->max_depth deep, and adds
 *     "msg" to meta.embedded.  An attachment that cannot be converted is a
 *     line of meta.warnings.
 *
 * The 8-bit strings are in PR_MESSAGE_CODEPAGE (3FFD) or PR_INTERNET_CPID
 * (3FDE), else Windows-1252. */
#include <stdio.h>
#include <string.h>

#include "date.h"
#include "dplimits.h"
#include "extract.h"
#include "ole2read.h"
#include "registry.h"
#include "textconv.h"

struct msg {
  const struct dp_stage *st;
  struct dp_record *rec;
  struct dp_buf *text;
  struct dp_buf scratch;
  unsigned attachments;
  unsigned damaged; /* reads of streams listed but unreadable: said in a warning */
};

/* dpi_ole2_read, counting the streams that are there but cannot be read. */
static enum dp_ole2_read read_stream(struct msg *m, GsfInfile *dir, const char *name,
                                     size_t max, struct dp_buf *out)
{
  enum dp_ole2_read rc = dpi_ole2_read(dir, name, max, out);
  m->damaged += rc == DP_OLE2_READ_CUT;
  return rc;
}

/* A fixed-size property of a storage's __properties_version1.0; 0 if none. */
static int fixed_prop(struct msg *m, GsfInfile *dir, unsigned long tag, int top,
                      unsigned char value[8])
{
  struct dp_buf props;
  dpi_buf_init(&props, DP_MIB * 16);
  int found = 0;
  if(read_stream(m, dir, "__properties_version1.0", props.max, &props) == DP_OLE2_READ_OK) {
    const unsigned char *p = (const unsigned char *)props.mem;
    for(size_t at = top ? 32 : 24; at + 16 <= props.len && !found; at += 16)
      if(dpi_le32(p, props.len, at) == tag) {
        memcpy(value, p + at + 8, 8);
        found = 1;
      }
  }
  dpi_buf_free(&props);
  return found;
}

static unsigned codepage(struct msg *m, GsfInfile *dir, int top)
{
  unsigned char v[8];
  if(fixed_prop(m, dir, 0x3FFD0003UL, top, v) || fixed_prop(m, dir, 0x3FDE0003UL, top, v)) {
    unsigned cp = (unsigned)dpi_le32(v, 8, 0);
    if(cp && cp != 1200)
      return cp;
  }
  return 1252;
}

/* String property `id` (UTF-16 or 8-bit) appended to out; 0 when found. */
static int string_prop(struct msg *m, GsfInfile *dir, unsigned id, unsigned cp,
                       struct dp_buf *out)
{
  char name[32];
  snprintf(name, sizeof(name), "__substg1.0_%04X001F", id);
  int wide = 1;
  if(read_stream(m, dir, name, m->st->ctx->max_text, &m->scratch) != DP_OLE2_READ_OK) {
    snprintf(name, sizeof(name), "__substg1.0_%04X001E", id);
    wide = 0;
    if(read_stream(m, dir, name, m->st->ctx->max_text, &m->scratch) != DP_OLE2_READ_OK)
      return -1;
  }
  size_t n = m->scratch.len;
  while(n >= (wide ? 2u : 1u) && !m->scratch.mem[n - 1] && (!wide || !m->scratch.mem[n - 2]))
    n -= wide ? 2 : 1; /* a terminating NUL */
  char cpname[16];
  snprintf(cpname, sizeof(cpname), "CP%u", cp);
  if(dpi_to_utf8(out, m->scratch.mem, n, wide ? "UTF-16LE" : cpname) && !wide &&
     !dpi_buf_failed(out))
    dpi_to_utf8(out, m->scratch.mem, n, "CP1252");
  return 0;
}

/* A "Label: value" line from string properties; meta gets it too. */
static void header_line(struct msg *m, GsfInfile *dir, unsigned cp, const char *label,
                        unsigned id, unsigned addr_id, const char *meta)
{
  struct dp_buf v, line;
  dpi_buf_init(&v, DP_MAX_SHORT * 4);
  dpi_buf_init(&line, DP_MAX_SHORT * 4);
  if(!string_prop(m, dir, id, cp, &v)) {
    dpi_text_squeeze(&line, dpi_buf_str(&v), v.len);
    dpi_buf_reset(&v);
    /* The SMTP address, else the sender's own (0C1F). */
    int none = !addr_id || (string_prop(m, dir, addr_id, cp, &v) &&
                            (addr_id != 0x5D01 || string_prop(m, dir, 0x0C1F, cp, &v)));
    if(!none && v.len && !strstr(dpi_buf_str(&line), dpi_buf_str(&v)))
      dpi_buf_addf(&line, " <%s>", dpi_buf_str(&v));
  }
  if(line.len && !dpi_buf_failed(&line)) {
    dpi_buf_addf(m->text, "%s: %s\n", label, dpi_buf_str(&line));
    if(meta)
      dpi_meta_text(m->rec, meta, line.mem, line.len);
  }
  dpi_buf_free(&v);
  dpi_buf_free(&line);
}

/* A FILETIME (100 ns since 1601) as YYYY-MM-DD; 0 when it gives one. */
static int filetime_day(const unsigned char v[8], char day[11])
{
  unsigned long long t = (unsigned long long)dpi_le32(v, 8, 0) |
                         (unsigned long long)dpi_le32(v, 8, 4) << 32;
  long long days = (long long)(t / 10000000ULL / 86400ULL) - 134774; /* to 1970-01-01 */
  if(!t || days < -100000 || days > 3000000)
    return -1;
  /* Howard Hinnant's civil_from_days. */
  long long z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
  long long doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
  int d = (int)(doy - (153 * mp + 2) / 5 + 1), mo = (int)(mp < 10 ? mp + 3 : mp - 9);
  int y = (int)(yoe + era * 400 + (mo <= 2));
  snprintf(day, 11, "%04u-%02u-%02u", (unsigned)y % 10000, (unsigned)mo % 13, (unsigned)d % 32);
  return 0;
}

static enum dp_status read_message(struct msg *m, GsfInfile *dir, int top, unsigned depth);

static void headers(struct msg *m, GsfInfile *dir, unsigned cp, int top)
{
  header_line(m, dir, cp, "From", 0x0C1A, 0x5D01, top ? "author" : NULL);
  header_line(m, dir, cp, "To", 0x0E04, 0, NULL);
  header_line(m, dir, cp, "Cc", 0x0E03, 0, NULL);
  unsigned char v[8];
  char day[11];
  if((fixed_prop(m, dir, 0x00390040UL, top, v) || fixed_prop(m, dir, 0x0E060040UL, top, v)) &&
     !filetime_day(v, day)) {
    dpi_buf_addf(m->text, "Date: %s\n", day);
    if(top)
      dpi_doc_fact(m->rec, "date", day, strlen(day));
  }
  header_line(m, dir, cp, "Subject", 0x0037, 0, top ? "title" : NULL);
  dpi_buf_addc(m->text, '\n');
}

static enum dp_status body(struct msg *m, GsfInfile *dir, unsigned cp)
{
  size_t at = m->text->len;
  if(!string_prop(m, dir, 0x1000, cp, m->text)) {
    if(m->text->len > at)
      dpi_buf_addc(m->text, '\n');
    return DP_OK;
  }
  size_t max = m->st->ctx->max_document;
  if(read_stream(m, dir, "__substg1.0_10130102", max, &m->scratch) == DP_OLE2_READ_OK ||
     read_stream(m, dir, "__substg1.0_1013001E", max, &m->scratch) == DP_OLE2_READ_OK) {
    struct dp_buf html = m->scratch; /* the scratch is used again below */
    dpi_buf_init(&m->scratch, m->scratch.max);
    enum dp_status rc = dpi_extract_attachment(m->st, m->rec, html.mem, html.len, "html",
                                               "the HTML body", m->text);
    dpi_buf_free(&html);
    return rc;
  }
  GsfInput *rtf = gsf_infile_child_by_name(dir, "__substg1.0_10090102");
  if(rtf) {
    g_object_unref(rtf);
    dpi_record_warn(m->rec, "the message body is only compressed RTF, which is not read");
  }
  return DP_OK;
}

/* meta.embedded gets "msg" for an attached Outlook message. */
static void embedded_msg(struct dp_record *rec)
{
  json_object *meta = dpi_record_object(rec, "meta"), *list;
  if(!json_object_object_get_ex(meta, "embedded", &list) ||
     !json_object_is_type(list, json_type_array)) {
    list = json_object_new_array();
    json_object_object_add(meta, "embedded", list);
    json_object_array_add(list, json_object_new_string("msg"));
  }
  json_object_array_add(list, json_object_new_string("msg"));
}

static enum dp_status attachment(struct msg *m, GsfInfile *att, unsigned cp, unsigned depth)
{
  size_t at = m->text->len;
  dpi_buf_adds(m->text, "\nAttachment: ");
  size_t name_at = m->text->len;
  if(string_prop(m, att, 0x3707, cp, m->text) && string_prop(m, att, 0x3704, cp, m->text))
    string_prop(m, att, 0x3001, cp, m->text);
  if(m->text->len == name_at)
    dpi_buf_addf(m->text, "%u", m->attachments);
  dpi_buf_addc(m->text, '\n');
  size_t text_at = m->text->len;
  char label[48];
  snprintf(label, sizeof(label), "attachment %u", m->attachments);
  enum dp_status rc = DP_OK;
  GsfInput *inner = gsf_infile_child_by_name(att, "__substg1.0_3701000D");
  if(inner && GSF_IS_INFILE(inner) && gsf_infile_num_children(GSF_INFILE(inner)) >= 0) {
    if((unsigned)m->rec->depth + depth + 1 > m->st->ctx->max_depth) {
      dpi_record_warn(m->rec, "%s not converted (too-large): documents nested more than %u "
                      "deep", label, m->st->ctx->max_depth);
    } else {
      embedded_msg(m->rec);
      rc = read_message(m, GSF_INFILE(inner), 0, depth + 1);
    }
  } else {
    enum dp_ole2_read r = dpi_ole2_read(att, "__substg1.0_37010102", m->st->ctx->max_document,
                                        &m->scratch);
    if(r == DP_OLE2_READ_OK) {
      struct dp_buf data = m->scratch;
      dpi_buf_init(&m->scratch, m->scratch.max);
      rc = dpi_extract_attachment(m->st, m->rec, data.mem, data.len, NULL, label, m->text);
      dpi_buf_free(&data);
    } else if(r != DP_OLE2_READ_MISSING) {
      dpi_record_warn(m->rec, "%s not converted (%s): its data stream cannot be read", label,
                      r == DP_OLE2_READ_TOO_BIG ? "too-large" : "damaged");
    }
  }
  if(inner)
    g_object_unref(inner);
  if(rc == DP_OK && m->text->len == text_at && !dpi_buf_failed(m->text))
    dpi_buf_truncate(m->text, at); /* nothing to show but its name */
  return rc;
}

static enum dp_status read_message(struct msg *m, GsfInfile *dir, int top, unsigned depth)
{
  unsigned cp = codepage(m, dir, top);
  headers(m, dir, cp, top);
  enum dp_status rc = body(m, dir, cp);
  int n = gsf_infile_num_children(dir);
  for(int i = 0; i < n && rc == DP_OK; i++) {
    const char *name = gsf_infile_name_by_index(dir, i);
    if(!name || strncmp(name, "__attach_version1.0_#", 21))
      continue;
    if(++m->attachments > DP_MAIL_MAX_ATTACHMENTS) {
      dpi_record_warn(m->rec, "more than %d attachments: the rest are not converted",
                      DP_MAIL_MAX_ATTACHMENTS);
      break;
    }
    GsfInput *att = gsf_infile_child_by_index(dir, i);
    if(att && GSF_IS_INFILE(att))
      rc = attachment(m, GSF_INFILE(att), cp, depth);
    if(att)
      g_object_unref(att);
  }
  return rc;
}

static enum dp_status read_msg(const struct dp_stage *st, struct dp_record *rec,
                               GsfInfile *root, struct dp_buf *text)
{
  struct msg m = {st, rec, text, {0}, 0, 0};
  dpi_buf_init(&m.scratch, st->ctx->max_document);
  enum dp_status rc = read_message(&m, root, 1, 0);
  dpi_buf_free(&m.scratch);
  if(m.damaged) /* what is missing is not quietly missing */
    dpi_record_warn(rec, "streams of the message are listed but cannot be read (the compound "
                         "file is damaged): its headers or body may be incomplete");
  return rc;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return dpi_ole2_bid(peek, DP_OLE2_MSG);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  return dpi_ole2_process(st, rec, out, read_msg);
}

const struct dp_stage_ops dp_stage_msg = {
  .name = "msg",
  .summary = "Outlook messages (.msg): headers, body, and every attachment converted",
  .format = "msg",
  .mime = "application/vnd.ms-outlook",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
