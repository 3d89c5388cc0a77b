/* hl7v2.c - HL7 v2 messages (ER7, the "pipe and hat" encoding) to text.
 *
 * A file holds one message or a batch (FHS/BHS ... MSH ... BTS/FTS).  Every
 * MSH starts a message and each message becomes one record; the batch header
 * and trailer segments belong to no message.  The delimiters are read from
 * each MSH (field separator = its 4th byte, then MSH-2), so files that use
 * unusual ones parse the same way.
 *
 * Real files are rarely clean: segments end in \r, \n or \r\n, and a line
 * that does not start with a segment id continues the previous segment (a
 * field broken by an editor or a mail gateway), so it is joined back with
 * one space.  Nothing in a segment can make the message fail, except an
 * embedded document that cannot be extracted.
 *
 * Text, one line per segment in message order:
 *  - a generic segment is its id and its non-empty fields joined by " | "
 *    (components and subcomponents by a space, repetitions by ", ");
 *  - OBX is a result line "LABEL [codes]: VALUE UNITS (RANGE) FLAGS";
 *  - NTE is its comment alone;
 *  - an OBX of type ED holding Base64 or Hex is a document of its own and
 *    goes through dpi_extract_embedded.
 * Escape sequences are decoded; unknown or unterminated ones are kept as
 * written. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "charset.h"
#include "date.h"
#include "dplimits.h"
#include "extract.h"
#include "registry.h"
#include "textconv.h"

/* The delimiters of one message; 0 when MSH-2 does not define one. */
struct delims {
  char field, comp, rep, esc, sub, trunc;
};

struct span {
  const char *p;
  size_t n;
};

struct segment {
  size_t off, len; /* in message.text */
};

/* One message: its segments with continuation lines joined back. */
struct message {
  struct delims d;
  struct dp_buf text;
  struct segment *segs;
  size_t nsegs, cap;
};

/* Where rendered values go; leaf is scratch space for one decoded value. */
struct render {
  struct dp_buf *out;
  struct dp_buf *leaf;
  const struct delims *d;
};

static int is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_blank(char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* Printable ASCII that is neither a letter, a digit nor a space. */
static int is_delim_char(char c)
{
  unsigned char u = (unsigned char)c;
  return u > 0x20 && u < 0x7F && !is_upper(c) && !(c >= 'a' && c <= 'z') && !is_digit(c);
}

static int has_id(struct span s, const char *id)
{
  return s.n >= 3 && !memcmp(s.p, id, 3);
}

/* "MSH" followed by a usable field separator. */
static int is_msh(struct span line)
{
  return line.n >= 4 && has_id(line, "MSH") && is_delim_char(line.p[3]);
}

/* A segment starts with an id ([A-Z][A-Z0-9][A-Z0-9]) and the field separator. */
static int is_segment_start(struct span line, char field)
{
  return line.n >= 4 && is_upper(line.p[0]) && (is_upper(line.p[1]) || is_digit(line.p[1])) &&
         (is_upper(line.p[2]) || is_digit(line.p[2])) && line.p[3] == field;
}

static int is_batch_segment(struct span s)
{
  return has_id(s, "FHS") || has_id(s, "BHS") || has_id(s, "BTS") || has_id(s, "FTS");
}

static struct span trim(struct span s)
{
  while(s.n && is_blank(s.p[0])) {
    s.p++;
    s.n--;
  }
  while(s.n && is_blank(s.p[s.n - 1]))
    s.n--;
  return s;
}

static int span_eq(struct span a, struct span b)
{
  return a.n == b.n && !memcmp(a.p, b.p, a.n);
}

static int span_is(struct span s, const char *word)
{
  s = trim(s);
  return s.n == strlen(word) && !strncasecmp(s.p, word, s.n);
}

/* Walks the parts of a span split on sep (sep 0: the span is one part). */
struct splitter {
  const char *p, *end;
  char sep;
  int done;
};

static struct splitter split(struct span s, char sep)
{
  return (struct splitter){s.p, s.p + s.n, sep, 0};
}

static int split_next(struct splitter *it, struct span *part)
{
  if(it->done)
    return 0;
  const char *q = it->sep ? memchr(it->p, it->sep, (size_t)(it->end - it->p)) : NULL;
  part->p = it->p;
  part->n = (size_t)((q ? q : it->end) - it->p);
  if(q)
    it->p = q + 1;
  else
    it->done = 1;
  return 1;
}

/* The n-th part (0-based) of s split on sep; empty past the end. */
static struct span piece(struct span s, char sep, size_t n)
{
  struct splitter it = split(s, sep);
  struct span part = {s.p + s.n, 0};
  for(size_t i = 0; split_next(&it, &part); i++)
    if(i == n)
      return part;
  return (struct span){s.p + s.n, 0};
}

/* Field n of a segment, numbered as HL7 does: in MSH the separator itself is
 * MSH-1, so the split is off by one there. */
static struct span field(struct span seg, const struct delims *d, size_t n)
{
  if(has_id(seg, "MSH")) {
    if(n == 1)
      return (struct span){seg.p + 3, 1};
    if(n >= 2)
      n--;
  }
  return piece(seg, d->field, n);
}

/* Component n (1-based) of the first repetition of a field. */
static struct span component(struct span f, const struct delims *d, size_t n)
{
  return piece(piece(f, d->rep, 0), d->comp, n - 1);
}

/* ---- escape sequences ---- */

static int hex_value(char c)
{
  if(is_digit(c))
    return c - '0';
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

/* Append the bytes that hex digits spell (white space between pairs is
 * allowed when `spaced`); -1 when it is not hex. */
static int hex_decode(struct dp_buf *out, const char *s, size_t n, int spaced)
{
  int high = -1;
  for(size_t i = 0; i < n; i++) {
    if(spaced && is_blank(s[i]))
      continue;
    int v = hex_value(s[i]);
    if(v < 0)
      return -1;
    if(high < 0) {
      high = v;
    } else {
      dpi_buf_addc(out, (char)(high << 4 | v));
      high = -1;
    }
  }
  return high < 0 ? 0 : -1;
}

/* \Xhh..\: the bytes as UTF-8 when they are, else as Windows-1252. */
static int decode_hex_escape(struct dp_buf *out, const char *s, size_t n)
{
  size_t mark = out->len;
  if(!n || hex_decode(out, s, n, 0)) {
    dpi_buf_truncate(out, mark);
    return 0;
  }
  size_t len = out->len - mark;
  if(out->mem && !dpi_utf8_valid(out->mem + mark, len)) {
    char *raw = malloc(len);
    if(raw) {
      memcpy(raw, out->mem + mark, len);
      dpi_buf_truncate(out, mark);
      dpi_to_utf8(out, raw, len, "WINDOWS-1252");
      free(raw);
    }
  }
  return 1;
}

/* An optional space and sign, then digits: the argument of .sp, .in, ... */
static int is_number_arg(const char *s, size_t n)
{
  size_t i = 0;
  if(i < n && s[i] == ' ')
    i++;
  if(i < n && (s[i] == '+' || s[i] == '-'))
    i++;
  while(i < n && is_digit(s[i]))
    i++;
  return i == n;
}

/* Decode the sequence between two escape characters; 0 when it is not one
 * HL7 defines, so the caller keeps it as written. */
static int decode_escape(struct dp_buf *out, struct span e, const struct delims *d)
{
  if(!e.n)
    return 0;
  if(e.n == 1) {
    char c = 0;
    switch(e.p[0]) {
    case 'F': c = d->field; break;
    case 'S': c = d->comp; break;
    case 'T': c = d->sub; break;
    case 'R': c = d->rep; break;
    case 'E': c = d->esc; break;
    case 'P': c = d->trunc; break;
    case 'H': /* highlighting on and off: plain text has none */
    case 'N': return 1;
    default: return 0;
    }
    return c ? (dpi_buf_addc(out, c), 1) : 0;
  }
  if(e.n >= 3 && e.p[0] == '.') { /* formatting commands of FT */
    static const char *const dropped[] = {"in", "ti", "sk", "ce", "fi", "nf"};
    if((e.n == 3 && !memcmp(e.p + 1, "br", 2)) ||
       (!memcmp(e.p + 1, "sp", 2) && is_number_arg(e.p + 3, e.n - 3)))
      return dpi_buf_addc(out, '\n'), 1;
    for(size_t i = 0; i < sizeof(dropped) / sizeof(*dropped); i++)
      if(!memcmp(e.p + 1, dropped[i], 2) && is_number_arg(e.p + 3, e.n - 3))
        return 1;
    return 0;
  }
  if(e.p[0] == 'X')
    return decode_hex_escape(out, e.p + 1, e.n - 1);
  if(e.p[0] == 'C' || e.p[0] == 'M') { /* character set switches: text is UTF-8 already */
    for(size_t i = 1; i < e.n; i++)
      if(hex_value(e.p[i]) < 0)
        return 0;
    return 1;
  }
  return e.p[0] == 'Z'; /* locally defined: meaningless here */
}

static void decode_escapes(struct dp_buf *out, struct span s, const struct delims *d)
{
  size_t i = 0;
  while(i < s.n) {
    const char *open = d->esc ? memchr(s.p + i, d->esc, s.n - i) : NULL;
    if(!open)
      break;
    size_t at = (size_t)(open - s.p);
    dpi_buf_add(out, s.p + i, at - i);
    const char *close = memchr(open + 1, d->esc, s.n - at - 1);
    if(!close) { /* unterminated: literal */
      i = at;
      break;
    }
    struct span e = {open + 1, (size_t)(close - open - 1)};
    if(decode_escape(out, e, d)) {
      i = (size_t)(close - s.p) + 1;
    } else { /* keep the opener; the closer may open the next sequence */
      dpi_buf_addc(out, d->esc);
      i = at + 1;
    }
  }
  dpi_buf_add(out, s.p + i, s.n - i);
}

/* ---- rendering values ---- */

/* Append one value: escapes decoded, white space (and control bytes)
 * squeezed to one space and trimmed; with keep_lines, line breaks stay (at
 * most one empty line).  Returns whether anything was written. */
static int put_leaf(struct render *r, struct span s, int keep_lines)
{
  if(s.n == 2 && s.p[0] == '"' && s.p[1] == '"') /* HL7 explicit null */
    return 0;
  dpi_buf_reset(r->leaf);
  decode_escapes(r->leaf, s, r->d);
  const unsigned char *p = (const unsigned char *)dpi_buf_str(r->leaf);
  size_t n = r->leaf->len, before = r->out->len, run = 0;
  int space = 0, newlines = 0;
  for(size_t i = 0; i <= n; i++) {
    unsigned char c = i < n ? p[i] : ' ';
    if(i < n && c > 0x20 && c != 0x7F) {
      run++;
      continue;
    }
    if(run) { /* flush the word that ends here, after its separator */
      if(r->out->len > before) {
        if(newlines)
          dpi_buf_add(r->out, "\n\n", newlines > 1 ? 2 : 1);
        else if(space)
          dpi_buf_addc(r->out, ' ');
      }
      dpi_buf_add(r->out, p + i - run, run);
      run = 0;
      space = newlines = 0;
    }
    if(c == '\n' && keep_lines)
      newlines++;
    else
      space = 1;
  }
  return r->out->len > before;
}

/* Append a field: repetitions joined by rep_joiner, components and
 * subcomponents by a space, empty parts left out.  level 0 splits
 * repetitions, 1 components, 2 subcomponents. */
static int put_value(struct render *r, struct span s, int level, const char *rep_joiner,
                     int keep_lines)
{
  if(level == 3)
    return put_leaf(r, s, keep_lines);
  char sep = level == 0 ? r->d->rep : level == 1 ? r->d->comp : r->d->sub;
  struct splitter it = split(s, sep);
  struct span part;
  int any = 0;
  while(split_next(&it, &part)) {
    size_t mark = r->out->len;
    if(any)
      dpi_buf_adds(r->out, level == 0 ? rep_joiner : " ");
    if(put_value(r, part, level + 1, rep_joiner, keep_lines))
      any = 1;
    else
      dpi_buf_truncate(r->out, mark);
  }
  return any;
}

/* A coded element (CE, CWE, CNE): its text (component 2), else its code
 * (component 1).  With details the other components follow in brackets, so
 * codes and alternate names stay searchable; repeats of the text are left
 * out. */
static int put_coded(struct render *r, struct span rep, int details)
{
  const struct delims *d = r->d;
  size_t start = r->out->len;
  size_t used = 1;
  if(!put_value(r, piece(rep, d->comp, used), 2, "", 0)) {
    used = 0;
    if(!put_value(r, piece(rep, d->comp, used), 2, "", 0))
      return details ? put_value(r, rep, 1, "", 0) : 0;
  }
  if(!details)
    return 1;
  size_t label_end = r->out->len, mark = label_end;
  dpi_buf_adds(r->out, " [");
  struct splitter it = split(rep, d->comp);
  struct span part;
  int any = 0;
  for(size_t i = 0; split_next(&it, &part); i++) {
    size_t at = r->out->len;
    if(i == used)
      continue;
    if(any)
      dpi_buf_addc(r->out, ' ');
    size_t word = r->out->len;
    if(!put_value(r, part, 2, "", 0) ||
       (r->out->len - word == label_end - start &&
        !strncasecmp(r->out->mem + word, r->out->mem + start, label_end - start)))
      dpi_buf_truncate(r->out, at);
    else
      any = 1;
  }
  if(any)
    dpi_buf_addc(r->out, ']');
  else
    dpi_buf_truncate(r->out, mark);
  return 1;
}

/* Append sep then the value put() writes, or nothing when it writes nothing. */
#define PUT_PART(r, sep, call)                           \
  do {                                                   \
    size_t mark_ = (r)->out->len;                        \
    dpi_buf_adds((r)->out, sep);                         \
    if(!(call))                                          \
      dpi_buf_truncate((r)->out, mark_);                 \
  } while(0)

static void put_segment(struct render *r, struct span seg)
{
  struct splitter it = split(seg, r->d->field);
  struct span f;
  int any = 0, msh = has_id(seg, "MSH");
  dpi_buf_add(r->out, seg.p, 3);
  split_next(&it, &f); /* the id */
  if(msh)
    split_next(&it, &f); /* MSH-1 and MSH-2 are the delimiters */
  while(split_next(&it, &f)) {
    size_t mark = r->out->len;
    dpi_buf_adds(r->out, any ? " | " : " ");
    if(put_value(r, f, 0, ", ", 0))
      any = 1;
    else
      dpi_buf_truncate(r->out, mark);
  }
}

/* The data of an ED value in Base64 or Hex is a document: decode it and
 * extract it on its own. */
static enum dp_status put_document(struct render *r, const struct dp_stage *st,
                                   struct dp_record *m, struct span data, int base64,
                                   size_t where)
{
  /* Line breaks inside the data may be written as escapes; decode them. */
  dpi_buf_reset(r->leaf);
  decode_escapes(r->leaf, data, r->d);
  struct dp_buf bytes;
  dpi_buf_init(&bytes, st->ctx->max_document);
  size_t bad_at = 0;
  int layers;
  enum dp_status rc = DP_OK;
  if(base64) {
    enum dp_b64_result b = dpi_decode_payload(dpi_buf_str(r->leaf), r->leaf->len, &bytes, &bad_at,
                                              &layers);
    if(b == DP_B64_INVALID)
      rc = dpi_record_fail(m, DP_KIND_BAD_BASE64,
                           "OBX segment %zu: ED data is not valid Base64 (offset %zu)", where,
                           bad_at);
    else if(b != DP_B64_OK)
      rc = dpi_record_fail(m, b == DP_B64_TOO_BIG ? DP_KIND_TOO_LARGE : DP_KIND_INTERNAL,
                           "OBX segment %zu: ED data larger than %zu bytes", where,
                           st->ctx->max_document);
  } else if(hex_decode(&bytes, dpi_buf_str(r->leaf), r->leaf->len, 1) || dpi_buf_failed(&bytes)) {
    rc = dpi_record_fail(m, dpi_buf_failed(&bytes) ? DP_KIND_TOO_LARGE : DP_KIND_DAMAGED,
                         "OBX segment %zu: ED data is not valid Hex", where);
  }
  if(rc == DP_OK)
    rc = dpi_extract_embedded(st, m, dpi_buf_str(&bytes), bytes.len, r->out);
  dpi_buf_free(&bytes);
  return rc;
}

/* OBX as a result line; `continued` when it carries on the previous OBX (same
 * OBX-3 and OBX-4: a report sent one line per segment), so the label is not
 * repeated. */
static enum dp_status put_obx(struct render *r, const struct dp_stage *st, struct dp_record *m,
                              struct span seg, int continued, size_t where)
{
  const struct delims *d = r->d;
  struct span type = field(seg, d, 2), value = field(seg, d, 5);
  int labelled = !continued && put_coded(r, piece(field(seg, d, 3), d->rep, 0), 1);
  if(labelled)
    dpi_buf_adds(r->out, ": ");
  size_t body = r->out->len;

  if(span_is(type, "ED")) { /* source^type^subtype^encoding^data */
    struct span rep = piece(value, d->rep, 0);
    struct span encoding = piece(rep, d->comp, 3), data = piece(rep, d->comp, 4);
    int base64 = span_is(encoding, "Base64");
    if((base64 || span_is(encoding, "Hex")) && trim(data).n) {
      if(labelled) /* "LABEL:", then the document from the next line */
        dpi_buf_truncate(r->out, body - 1);
      return put_document(r, st, m, data, base64, where);
    }
    put_value(r, data, 2, "", 1); /* A, None: text */
  } else if(span_is(type, "TX") || span_is(type, "FT")) {
    put_value(r, value, 0, "\n", 1);
  } else if(span_is(type, "CE") || span_is(type, "CWE") || span_is(type, "CNE") ||
            span_is(type, "CF")) {
    struct splitter it = split(value, d->rep);
    struct span rep;
    int any = 0;
    while(split_next(&it, &rep)) {
      size_t mark = r->out->len;
      if(any)
        dpi_buf_adds(r->out, ", ");
      if(put_coded(r, rep, 0))
        any = 1;
      else
        dpi_buf_truncate(r->out, mark);
    }
  } else { /* ST, TN, SN ("<^5" is "< 5"), NM, dates and the rest */
    put_value(r, value, 0, ", ", 0);
  }
  const char *sep = r->out->len > body ? " " : "";
  PUT_PART(r, sep, put_coded(r, piece(field(seg, d, 6), d->rep, 0), 0));
  sep = r->out->len > body ? " (" : "(";
  PUT_PART(r, sep, put_value(r, field(seg, d, 7), 0, ", ", 0) && !dpi_buf_addc(r->out, ')'));
  sep = r->out->len > body ? " " : "";
  PUT_PART(r, sep, put_value(r, field(seg, d, 8), 0, ", ", 0));
  if(labelled && r->out->len == body) /* a label alone: drop the ": " */
    dpi_buf_truncate(r->out, body - 2);
  return DP_OK;
}

/* ---- messages ---- */

/* The line at *pos without its \r, \n or \r\n; advances *pos past it. */
static int next_line(const char *s, size_t n, size_t *pos, struct span *line)
{
  size_t i = *pos, e = *pos;
  if(i >= n)
    return 0;
  while(e < n && s[e] != '\r' && s[e] != '\n')
    e++;
  *line = (struct span){s + i, e - i};
  if(e + 1 < n && s[e] == '\r' && s[e + 1] == '\n')
    e++;
  *pos = e < n ? e + 1 : n;
  return 1;
}

/* Offset of the first MSH line at or after pos (a line start), else n. */
static size_t next_message(const char *s, size_t n, size_t pos)
{
  struct span line;
  while(next_line(s, n, &pos, &line))
    if(is_msh(line))
      return (size_t)(line.p - s);
  return n;
}

/* The offset just past the line that starts at pos. */
static size_t after_line(const char *s, size_t n, size_t pos)
{
  struct span line;
  next_line(s, n, &pos, &line);
  return pos;
}

static void read_delims(struct delims *d, struct span msh)
{
  char enc[5] = {0};
  d->field = msh.p[3];
  for(size_t i = 4, k = 0; i < msh.n && k < sizeof(enc); i++, k++) {
    char c = msh.p[i];
    if(c == d->field || !is_delim_char(c) || memchr(enc, c, k))
      break;
    enc[k] = c;
  }
  d->comp = enc[0];
  d->rep = enc[1];
  d->esc = enc[2];
  d->sub = enc[3];
  d->trunc = enc[4];
}

/* Split the lines [start, end) (start is the MSH line) into segments. */
static int parse_message(struct message *msg, const char *s, size_t start, size_t end)
{
  size_t pos = start;
  struct span line;
  int batch = 0; /* inside a batch header or trailer: not message content */
  dpi_buf_reset(&msg->text);
  msg->nsegs = 0;
  while(next_line(s, end, &pos, &line)) {
    if(!trim(line).n)
      continue;
    if(!msg->nsegs)
      read_delims(&msg->d, line);
    if(msg->nsegs && !is_segment_start(line, msg->d.field)) {
      if(!batch) { /* continuation: a field broken across lines */
        dpi_buf_addc(&msg->text, ' ');
        dpi_buf_add(&msg->text, line.p, line.n);
        msg->segs[msg->nsegs - 1].len += 1 + line.n;
      }
      continue;
    }
    batch = is_batch_segment(line);
    if(batch)
      continue;
    if(msg->nsegs == msg->cap) {
      size_t cap = msg->cap ? msg->cap * 2 : 64;
      struct segment *g = realloc(msg->segs, cap * sizeof(*g));
      if(!g)
        return -1;
      msg->segs = g;
      msg->cap = cap;
    }
    msg->segs[msg->nsegs++] = (struct segment){msg->text.len, line.n};
    dpi_buf_add(&msg->text, line.p, line.n);
  }
  return dpi_buf_failed(&msg->text) ? -1 : 0;
}

static struct span seg_at(const struct message *msg, size_t i)
{
  return (struct span){dpi_buf_str(&msg->text) + msg->segs[i].off, msg->segs[i].len};
}

/* The first value of field n of a segment `id` that is a date normalize can
 * read (so a malformed TXA-4 does not hide a good OBR-7), as a "date" fact. */
static int date_fact(struct dp_record *m, const struct message *msg, const char *id, size_t n)
{
  for(size_t i = 0; i < msg->nsegs; i++) {
    struct span seg = seg_at(msg, i), v;
    char raw[64], iso[11];
    if(!has_id(seg, id))
      continue;
    v = trim(component(field(seg, &msg->d, n), &msg->d, 1));
    if(!v.n || v.n >= sizeof(raw))
      continue;
    memcpy(raw, v.p, v.n);
    raw[v.n] = '\0';
    if(!dpi_date_normalize(raw, iso)) {
      dpi_doc_fact(m, "date", raw, v.n);
      return 1;
    }
  }
  return 0;
}

/* Facts for normalize and meta: document type, date, message type. */
static void message_facts(struct dp_record *m, const struct message *msg, struct dp_buf *leaf)
{
  const struct delims *d = &msg->d;
  struct dp_buf val;
  dpi_buf_init(&val, DP_MAX_SHORT);
  struct render r = {&val, leaf, d};
  json_object *meta = dpi_record_object(m, "meta");

  static const struct {
    const char *id;
    size_t field;
  } types[] = {{"TXA", 2}, {"OBR", 4}}, dates[] = {{"TXA", 4}, {"OBR", 7}, {"MSH", 7}};
  for(size_t t = 0; t < 2 && !val.len; t++)
    for(size_t i = 0; i < msg->nsegs && !val.len; i++)
      if(has_id(seg_at(msg, i), types[t].id))
        put_coded(&r, piece(field(seg_at(msg, i), d, types[t].field), d->rep, 0), 0);
  if(val.len && !dpi_buf_failed(&val)) {
    dpi_doc_fact(m, "type", val.mem, val.len);
    dpi_json_set_str(meta, "title", val.mem);
  }
  for(size_t t = 0; t < 3 && !date_fact(m, msg, dates[t].id, dates[t].field); t++)
    ;
  /* MSH-9: message code ^ trigger event */
  dpi_buf_reset(&val);
  struct span type = field(seg_at(msg, 0), d, 9);
  if(put_value(&r, component(type, d, 1), 2, "", 0))
    PUT_PART(&r, "^", put_value(&r, component(type, d, 2), 2, "", 0));
  if(val.len && !dpi_buf_failed(&val))
    dpi_json_set_str(meta, "messageType", val.mem);
  dpi_buf_free(&val);
}

/* Parse and render one message into m and hand m on; DP_FAIL leaves m
 * failed and not emitted. */
static enum dp_status extract_message(const struct dp_stage *st, struct dp_record *m,
                                      struct message *msg, const char *s, size_t start,
                                      size_t end, struct dp_buf *leaf, struct dp_emitter *out)
{
  if(parse_message(msg, s, start, end))
    return dpi_record_fail(m, DP_KIND_INTERNAL, "out of memory");
  message_facts(m, msg, leaf);
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  struct render r = {&text, leaf, &msg->d};
  for(size_t i = 0; i < msg->nsegs; i++) {
    struct span seg = seg_at(msg, i);
    size_t line = text.len;
    if(has_id(seg, "OBX")) {
      struct span prev = i ? seg_at(msg, i - 1) : (struct span){"", 0};
      struct span code = field(seg, &msg->d, 3), sub_id = field(seg, &msg->d, 4);
      int continued = has_id(prev, "OBX") && code.n && span_eq(code, field(prev, &msg->d, 3)) &&
                      span_eq(sub_id, field(prev, &msg->d, 4));
      if(put_obx(&r, st, m, seg, continued, i + 1) != DP_OK) {
        dpi_buf_free(&text);
        return DP_FAIL;
      }
    } else if(has_id(seg, "NTE")) {
      put_value(&r, field(seg, &msg->d, 3), 0, "\n", 1);
    } else {
      put_segment(&r, seg);
    }
    if(text.len > line && text.mem[text.len - 1] != '\n')
      dpi_buf_addc(&text, '\n');
  }
  return dpi_extract_finish(st, m, &text, out);
}

/* The document as UTF-8: as it is when it already is, else converted from
 * the charset charset.h decides. */
static int body_utf8(const struct dp_record *rec, struct dp_buf *conv, struct span *text)
{
  size_t len;
  struct dp_charset cs;
  const char *body = (const char *)dpi_record_body(rec, &len);
  dpi_charset_decide(body, len, NULL, &cs);
  *text = (struct span){body + cs.bom, len - cs.bom};
  if(!strcmp(cs.name, "UTF-8") && dpi_utf8_valid(text->p, text->n))
    return 0;
  dpi_buf_init(conv, len * 4 + 64); /* dpi_to_utf8 reserves 4 bytes per input byte */
  if(dpi_charset_convert(conv, body, len, &cs))
    return -1;
  *text = (struct span){dpi_buf_str(conv), conv->len};
  return 0;
}

/* Message k >= 1 of a batch: "<id>#msg<k>" (RECORD.md). */
static void set_message_id(struct dp_record *m, const char *id, size_t k)
{
  struct dp_buf mid;
  if(!id)
    return;
  dpi_buf_init(&mid, strlen(id) + 32);
  dpi_buf_addf(&mid, "%s#msg%zu", id, k);
  dpi_record_set_str(m, "id", dpi_buf_str(&mid));
  dpi_buf_free(&mid);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  struct dp_buf conv, leaf;
  struct span body;
  dpi_buf_init(&conv, 0);
  if(body_utf8(rec, &conv, &body)) {
    dpi_buf_free(&conv);
    return dpi_record_fail(rec, DP_KIND_INTERNAL, "cannot convert the text to UTF-8");
  }
  body = trim(body);
  const char *s = body.p;
  size_t n = body.n, count = 0;
  for(size_t at = next_message(s, n, 0); at < n; count++)
    at = next_message(s, n, after_line(s, n, at));
  if(!count) {
    dpi_buf_free(&conv);
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "no MSH segment found");
  }

  struct message msg = {0};
  dpi_buf_init(&msg.text, n * 2 + 16); /* lines plus joining spaces */
  dpi_buf_init(&leaf, n * 3 + 16);     /* one value, decoded */
  enum dp_status rc = DP_OK;
  const char *id = dpi_record_str(rec, "id");
  size_t k = 0;
  for(size_t at = next_message(s, n, 0); at < n && k < DP_MAX_HL7_MESSAGES; k++) {
    size_t next = next_message(s, n, after_line(s, n, at));
    struct dp_record *m = count == 1 ? rec : dpi_record_derive(rec);
    if(!m) {
      rc = DP_FATAL;
      break;
    }
    if(k)
      set_message_id(m, id, k);
    rc = extract_message(st, m, &msg, s, at, next, &leaf, out);
    if(count == 1)
      break; /* rec itself: emitted, or failed and left to the caller */
    if(rc == DP_FAIL)
      rc = dpi_emit_fail(out, m);
    if(rc == DP_FATAL)
      break;
    at = next;
  }
  if(rc != DP_FATAL && count > DP_MAX_HL7_MESSAGES) { /* one error for the rest */
    struct dp_record *m = dpi_record_derive(rec);
    if(m) {
      set_message_id(m, id, k);
      dpi_record_fail(m, DP_KIND_TOO_LARGE,
                      "batch has %zu messages; the %zu past the limit of %d were not extracted",
                      count, count - k, DP_MAX_HL7_MESSAGES);
      rc = dpi_emit_fail(out, m);
    } else {
      rc = DP_FATAL;
    }
  }
  dpi_buf_free(&msg.text);
  free(msg.segs);
  dpi_buf_free(&leaf);
  dpi_buf_free(&conv);
  if(count == 1)
    return rc;
  dpi_record_free(rec);
  return rc == DP_FATAL ? DP_FATAL : DP_OK;
}

/* "MSH", "FHS" or "BHS", a field separator, the encoding characters and the
 * separator again: 8 or more characters that plain text does not start with. */
static int bid(const struct dp_peek *peek, const char **mime)
{
  const char *p = peek->text;
  size_t n = peek->text_len, i = 0, k;
  (void)mime;
  while(i < n && is_blank(p[i]))
    i++;
  if(n - i < 6)
    return 0;
  struct span head = {p + i, n - i};
  if(!has_id(head, "MSH") && !has_id(head, "FHS") && !has_id(head, "BHS"))
    return 0;
  char sep = p[i + 3];
  if(!is_delim_char(sep))
    return 0;
  for(k = 0; k < 5 && i + 4 + k < n && p[i + 4 + k] != sep; k++)
    if(!is_delim_char(p[i + 4 + k]))
      return 0;
  return k >= 1 && i + 4 + k < n && p[i + 4 + k] == sep ? 40 : 0;
}

const struct dp_stage_ops dp_stage_hl7v2 = {
  .name = "hl7v2",
  .summary = "HL7 v2 messages (ER7): one record per message, segments as text lines",
  .format = "hl7v2",
  .mime = "x-application/hl7-v2+er7",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
