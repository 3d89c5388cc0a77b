/* hl7v2.c - HL7 v2 messages (ER7, the "pipe and hat" encoding) to text.
 *
 * What a file or Binary holds is what a feed wrote: one message, a batch
 * (FHS/BHS ... MSH ... BTS/FTS), MLLP frames (0x0B, a message, 0x1C 0x0D,
 * often without the last CR), or messages one after the other with blank
 * lines or nothing between them; segments end in \r, \n or \r\n.  The
 * file is split on its raw bytes, before any charset conversion (MSH and
 * the delimiters are ASCII, and no charset of table 0211 puts CR, LF, 0x0B
 * or 0x1C inside a character):
 *  - an MSH line starts a message (blanks or a BOM may come before it);
 *  - a message ends at the next MSH, batch segment or MLLP end block;
 *  - batch headers and trailers belong to no message;
 *  - a segment outside any message (a frame without an MSH) gives an
 *    error record of its own rather than vanish.
 * Each message is one record, "<id>#msg<k>" for k >= 1 (RECORD.md), up to
 * DP_MAX_HL7_MESSAGES.
 *
 * Each message is a document of its own, in its own charset: MSH-18 (table
 * 0211, see table_0211; repetitions announce ISO 2022 code extension) is
 * mapped to an iconv name and handed to charset.h as the declaration, and
 * a BOM or UTF-8 bytes still overrule it there.  A message that declares
 * nothing and is not UTF-8 takes the charset detected over the whole file.
 * A UTF-16/32 file is converted whole before the split.  meta.charset says
 * what was used, and \Xhh\ escapes are read in the declared charset.
 *
 * The delimiters are read from each MSH (field separator = its 4th byte,
 * then MSH-2), so files that use unusual ones parse the same way.  A line
 * that does not start with a segment id continues the previous segment (a
 * field broken by an editor or a mail gateway), so it is joined back with
 * one space.  Nothing in a segment can make the message fail, except an
 * embedded document that cannot be extracted.
 *
 * Text, one line per segment in message order:
 *  - a generic segment is its id and its non-empty fields joined by " | "
 *    (components and subcomponents by a space, repetitions by ", ");
 *  - OBX is a result line "LABEL [codes]: VALUE UNITS (RANGE) FLAGS", with
 *    no label when OBX-3 is empty; an OBX with the same OBX-3 and OBX-4 as
 *    the one before continues it and repeats no label;
 *  - NTE is its comment alone;
 *  - an OBX of type ED holding Base64 or Hex is a document of its own and
 *    goes through dpi_extract_embedded.
 * Escape sequences are decoded; unknown or unterminated ones are kept as
 * written.
 *
 * Document type: the first TXA-2, else OBR-4, that says something.  Its
 * text (CWE-2, else the alternate text CWE-5, else the original text CWE-9)
 * is the "type" fact (normalize slugs it) and meta.title; its identifier is
 * the "code" fact when the coding system is LOINC ("LN"), which normalize
 * maps through loinc-document-types.tsv.  A bare code ("DS", "di", a local
 * "dis", "11490-0" with no coding system) means nothing outside the
 * sending system and gives no type at all. */
#include <stdio.h>
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

/* Where rendered values go; leaf is scratch space for one decoded value.
 * The charsets say how \Xhh\ escapes are read (decode_hex_escape). */
struct render {
  struct dp_buf *out;
  struct dp_buf *leaf;
  const struct delims *d;
  const char *hex_charset; /* the legacy charset MSH-18 declares, or NULL */
  const char *fallback;    /* for bytes that are not UTF-8 when MSH-18 declares none */
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

/* A segment starts with an id ([A-Z][A-Z0-9][A-Z0-9]) and the field
 * separator (field 0: any character that may be one). */
static int is_segment_start(struct span line, char field)
{
  return line.n >= 4 && is_upper(line.p[0]) && (is_upper(line.p[1]) || is_digit(line.p[1])) &&
         (is_upper(line.p[2]) || is_digit(line.p[2])) &&
         (field ? line.p[3] == field : is_delim_char(line.p[3]));
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

/* The delimiters a header line (MSH, FHS, BHS) defines. */
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

/* \Xhh..\: bytes in the message's charset.  When MSH-18 declares a legacy
 * charset they are in it (an ASCII message spells its accented letters this
 * way); otherwise they are UTF-8 when they are, else in the charset the
 * message's own bytes were read in (Windows-1252 for ASCII and UTF-8). */
static int decode_hex_escape(struct dp_buf *out, const char *s, size_t n, const struct render *r)
{
  size_t mark = out->len;
  if(!n || hex_decode(out, s, n, 0)) {
    dpi_buf_truncate(out, mark);
    return 0;
  }
  size_t len = out->len - mark;
  const char *charset = r->hex_charset;
  if(!out->mem)
    return 1; /* failed buffer: nothing left to convert */
  if(!charset) {
    if(dpi_utf8_valid(out->mem + mark, len))
      return 1;
    charset = r->fallback;
  }
  char *raw = dpi_memdup(out->mem + mark, len);
  if(raw) {
    dpi_buf_truncate(out, mark);
    if(dpi_to_utf8(out, raw, len, charset) && !dpi_buf_failed(out)) {
      dpi_buf_truncate(out, mark); /* iconv refused the name: still no byte lost */
      dpi_to_utf8(out, raw, len, "WINDOWS-1252");
    }
    free(raw);
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
static int decode_escape(struct dp_buf *out, struct span e, const struct render *r)
{
  const struct delims *d = r->d;
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
    return decode_hex_escape(out, e.p + 1, e.n - 1, r);
  if(e.p[0] == 'C' || e.p[0] == 'M') { /* character set switches: text is UTF-8 already */
    for(size_t i = 1; i < e.n; i++)
      if(hex_value(e.p[i]) < 0)
        return 0;
    return 1;
  }
  return e.p[0] == 'Z'; /* locally defined: meaningless here */
}

static void decode_escapes(struct dp_buf *out, struct span s, const struct render *r)
{
  const struct delims *d = r->d;
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
    if(decode_escape(out, e, r)) {
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
  decode_escapes(r->leaf, s, r);
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
  decode_escapes(r->leaf, data, r);
  struct dp_buf bytes;
  dpi_buf_init(&bytes, st->ctx->max_document);
  size_t bad_at = 0;
  int layers;
  enum dp_status rc = DP_OK;
  if(base64) {
    enum dp_b64_result b = dpi_decode_payload(st->ctx->stages, dpi_buf_str(r->leaf),
                                              r->leaf->len, &bytes, &bad_at, &layers);
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

/* ---- splitting a file into messages ---- */

#define MLLP_START '\x0B' /* MLLP start block */
#define MLLP_END '\x1C'   /* MLLP end block, then a CR that is often missing */

/* Line breaks: CR, LF, and the MLLP block characters, so that a frame glued
 * to the next one ("...\x1C\x0BMSH|") still splits. */
static int is_eol(char c)
{
  return c == '\r' || c == '\n' || c == MLLP_START || c == MLLP_END;
}

/* The line at *pos without its \r, \n or \r\n; advances *pos past it. */
static int next_line(const char *s, size_t n, size_t *pos, struct span *line)
{
  size_t i = *pos, e = *pos;
  if(i >= n)
    return 0;
  while(e < n && !is_eol(s[e]))
    e++;
  *line = (struct span){s + i, e - i};
  if(e + 1 < n && s[e] == '\r' && s[e + 1] == '\n')
    e++;
  *pos = e < n ? e + 1 : n;
  return 1;
}

/* A line without leading blanks, control bytes and UTF-8 byte order marks
 * (files joined with cat keep one BOM each): where a header may start. */
static struct span line_lead(struct span line)
{
  for(;;) {
    if(line.n >= 3 && !memcmp(line.p, "\xEF\xBB\xBF", 3)) {
      line.p += 3;
      line.n -= 3;
    } else if(line.n && ((unsigned char)line.p[0] <= 0x20 || line.p[0] == 0x7F)) {
      line.p++;
      line.n--;
    } else {
      return line;
    }
  }
}

enum item_kind { ITEM_MESSAGE, ITEM_STRAY };

/* One message, or lines outside every message: [start, end) of the text. */
struct item {
  enum item_kind kind;
  size_t start, end;
};

/* Walks a file item by item.  in_batch: after a batch header or trailer,
 * whose continuation lines belong to no item. */
struct scanner {
  const char *s;
  size_t n, pos;
  int in_batch;
  char field; /* separator of the last header, to tell segments from continuations */
};

static struct scanner scanner(const char *s, size_t n)
{
  return (struct scanner){s, n, 0, 0, '|'};
}

/* The next item: an MSH line starts a message, and the message runs to the
 * next MSH, batch segment or MLLP end block.  A segment outside a message
 * (a frame whose MSH is missing) starts a stray item, so no data goes
 * unseen; other lines there (a title above the first MSH, the rest of a
 * batch header broken across lines) are no HL7 data. */
static int next_item(struct scanner *sc, struct item *it)
{
  int have = 0;
  for(;;) {
    size_t at = sc->pos;
    struct span line;
    if(!next_line(sc->s, sc->n, &sc->pos, &line))
      return have;
    /* An item keeps its last line break: a last byte >= 0x80 is then not a
     * UTF-8 sequence cut short, which charset.h would count as UTF-8. */
    size_t end = (size_t)(line.p - sc->s) + line.n;
    int frame_end = end < sc->n && sc->s[end] == MLLP_END;
    if(end < sc->n)
      end++;
    struct span t = line_lead(line);
    if(t.n) {
      int msh = is_msh(t);
      int header = !msh && t.n >= 4 && is_batch_segment(t) && is_delim_char(t.p[3]);
      if(msh || header) {
        if(have) { /* it ends this item and is read again for the next one */
          sc->pos = at;
          return 1;
        }
        sc->field = t.p[3];
        sc->in_batch = header;
        if(msh) {
          have = 1;
          *it = (struct item){ITEM_MESSAGE, (size_t)(t.p - sc->s), end};
        }
      } else if(have) {
        it->end = end;
      } else if(is_segment_start(t, sc->in_batch ? sc->field : 0)) {
        have = 1;
        *it = (struct item){ITEM_STRAY, (size_t)(t.p - sc->s), end};
      }
    }
    if(frame_end) {
      sc->in_batch = 0;
      if(have)
        return 1;
    }
  }
}

/* ---- charsets ---- */

static int is_wide(const char *name)
{
  return !strncmp(name, "UTF-16", 6) || !strncmp(name, "UTF-32", 6) || !strncmp(name, "UCS-", 4);
}

/* Not UTF-8, ASCII or a wide form: a charset \Xhh\ bytes may be read in. */
static int is_legacy(const char *name)
{
  return strcmp(name, "UTF-8") && strcmp(name, "US-ASCII") && !is_wide(name);
}

/* Table 0211 to iconv names.  The key is the value in capitals without
 * spaces or punctuation, so "ISO IR100", "ISO_IR 100" and "iso-ir100" are
 * one.  bytes8 is the charset of a message with bytes >= 0x80, iso2022 that
 * of a 7-bit message that switches with ESC sequences (the code extension
 * that repeated values announce).  bytes8 NULL leaves 8-bit text to the
 * detectors (JIS X 0208 comes as EUC-JP or as Shift_JIS, and they tell
 * which); "" is a declaration that cannot be true of a message whose MSH
 * reads as ASCII.  "8859/n" and the names iconv knows are handled apart. */
static const struct {
  const char *key, *bytes8, *iso2022;
} table_0211[] = {
  {"ASCII", "US-ASCII", NULL},
  {"ISOIR6", "US-ASCII", NULL},
  /* JIS X 0201 Roman is ASCII but for a yen sign and an overline at 0x5C
   * and 0x7E: read so, the escape and repetition characters would go. */
  {"ISOIR14", "US-ASCII", NULL},
  {"ISOIR13", "CP932", "ISO-2022-JP-2"}, /* JIS X 0201 katakana */
  {"ISOIR87", NULL, "ISO-2022-JP-2"},    /* JIS X 0208 */
  {"JISX0208", NULL, "ISO-2022-JP-2"},
  {"JISX02081990", NULL, "ISO-2022-JP-2"},
  {"ISOIR159", NULL, "ISO-2022-JP-2"}, /* JIS X 0212 */
  {"JISX0212", NULL, "ISO-2022-JP-2"},
  {"JISX02121990", NULL, "ISO-2022-JP-2"},
  {"ISOIR100", "ISO-8859-1", NULL},
  {"ISOIR101", "ISO-8859-2", NULL},
  {"ISOIR109", "ISO-8859-3", NULL},
  {"ISOIR110", "ISO-8859-4", NULL},
  {"ISOIR144", "ISO-8859-5", NULL},
  {"ISOIR127", "ISO-8859-6", NULL},
  {"ISOIR126", "ISO-8859-7", NULL},
  {"ISOIR138", "ISO-8859-8", NULL},
  {"ISOIR148", "ISO-8859-9", NULL},
  {"ISOIR203", "ISO-8859-15", NULL},
  {"ISOIR166", "TIS-620", NULL},
  {"ISOIR149", "CP949", "ISO-2022-KR"}, /* KS X 1001 as EUC-KR, read as its superset */
  {"KSX1001", "CP949", "ISO-2022-KR"},
  {"ISOIR58", "GB18030", "ISO-2022-CN"}, /* GB 2312, read as its superset */
  {"GB180302000", "GB18030", NULL},
  {"GB18030", "GB18030", NULL},
  {"CNS116431992", "EUC-TW", "ISO-2022-CN-EXT"},
  {"BIG5", "BIG5-HKSCS", NULL},
  {"UNICODE", "UTF-8", NULL}, /* ISO 10646 in no named form: ASCII bytes allow only UTF-8 */
  {"UNICODEUTF8", "UTF-8", NULL},
  {"UNICODEUTF16", "", NULL},
  {"UNICODEUTF32", "", NULL},
};

/* What one MSH-18 value names, with buf (cap bytes) holding a computed
 * name; 0 when it names nothing known. */
static int lookup_0211(struct span v, const char **bytes8, const char **iso2022, char *buf,
                       size_t cap)
{
  char key[32], label[48];
  size_t k = 0;
  v = trim(v);
  if(!v.n || v.n >= sizeof(label))
    return 0;
  for(size_t i = 0; i < v.n; i++) {
    char c = v.p[i] >= 'a' && v.p[i] <= 'z' ? (char)(v.p[i] - 32) : v.p[i];
    if((is_upper(c) || is_digit(c)) && k + 1 < sizeof(key))
      key[k++] = c;
  }
  key[k] = '\0';
  *iso2022 = NULL;
  for(size_t i = 0; i < sizeof(table_0211) / sizeof(*table_0211); i++)
    if(!strcmp(key, table_0211[i].key)) {
      *bytes8 = table_0211[i].bytes8;
      *iso2022 = table_0211[i].iso2022;
      return 1;
    }
  const char *num = !strncmp(key, "ISO8859", 7) ? key + 7
                    : !strncmp(key, "8859", 4)  ? key + 4
                                                : NULL;
  if(num) { /* 8859/1 ... 8859/16 */
    size_t nd = strlen(num);
    if(nd < 1 || nd > 2 || !is_digit(num[0]) || (nd == 2 && !is_digit(num[1])))
      return 0;
    snprintf(label, sizeof(label), "ISO-8859-%s", num);
  } else { /* what senders write instead: "UTF-8", "windows-1250", "latin2" */
    memcpy(label, v.p, v.n);
    label[v.n] = '\0';
  }
  if(!dpi_charset_canonical(label, buf, cap))
    return 0;
  *bytes8 = is_wide(buf) ? "" : buf;
  return 1;
}

/* The charset MSH-18 declares for this message (its raw bytes), in name;
 * 0 when it declares none that can be true.  Repetitions: the first value
 * is the default, the others the sets ISO 2022 escape sequences switch to.
 * A 7-bit message with ESC bytes is in the ISO 2022 form of the first value
 * that has one; an 8-bit message in the first value's 8-bit charset, else an
 * extension's ("ASCII~KS X 1001" sent as EUC-KR); an ASCII message reads the
 * same in any of them. */
static int msh18_charset(const char *raw, size_t len, char *name, size_t cap)
{
  struct span msh = {raw, 0};
  while(msh.n < len && !is_eol(raw[msh.n]))
    msh.n++;
  if(!is_msh(msh))
    return 0;
  struct delims d = {0};
  read_delims(&d, msh);
  struct span f = field(msh, &d, 18);
  if(!trim(f).n)
    return 0;
  int high = 0, esc = 0;
  for(size_t i = 0; i < len; i++) {
    high |= (unsigned char)raw[i] >= 0x80;
    esc |= raw[i] == '\x1B';
  }
  struct {
    const char *bytes8, *iso2022;
    char buf[32];
  } v[4];
  size_t nv = 0;
  struct splitter it = split(f, d.rep);
  struct span rep;
  while(nv < 4 && split_next(&it, &rep)) {
    if(lookup_0211(rep, &v[nv].bytes8, &v[nv].iso2022, v[nv].buf, sizeof(v[nv].buf)))
      nv++;
    else if(!nv) { /* an empty or unknown default: it still comes first */
      v[0].bytes8 = v[0].iso2022 = NULL;
      nv = 1;
    }
  }
  const char *pick = NULL;
  for(size_t i = 0; i < nv && !high && esc && !pick; i++)
    pick = v[i].iso2022;
  for(size_t i = 0; i < nv && high && !pick; i++)
    if(v[i].bytes8 && *v[i].bytes8 && strcmp(v[i].bytes8, "US-ASCII"))
      pick = v[i].bytes8;
  if(!pick && !high && nv)
    pick = v[0].bytes8 && *v[0].bytes8 ? v[0].bytes8 : v[0].iso2022;
  if(!pick)
    return 0;
  snprintf(name, cap, "%s", pick);
  return 1;
}

/* 7-bit text with ISO 2022 escape sequences that designate a double-byte
 * set (ESC $ ...): Japanese, and the Chinese and Korean sets ISO-2022-JP-2
 * also reads. */
static int is_iso2022(struct span s)
{
  int esc = 0;
  for(size_t i = 0; i < s.n; i++) {
    if((unsigned char)s.p[i] >= 0x80)
      return 0;
    if(s.p[i] == '\x1B' && i + 1 < s.n && s.p[i + 1] == '$')
      esc = 1;
  }
  return esc;
}

/* The file as the splitter sees it. */
struct document {
  const char *s;
  size_t n;
  const unsigned char *raw; /* the whole file, for the fallback */
  size_t raw_len;
  size_t skipped; /* a UTF-8 BOM: offsets in s are this much less than in the file */
  struct dp_charset forced; /* name[0]: every message is in it (a BOM, UTF-16/32) */
  struct dp_buf wide;       /* the file converted from UTF-16/32 */
  int have_fallback;
  struct dp_charset fallback; /* decided over the whole file, when first needed */
};

/* Messages are split on the raw bytes, which needs an ASCII-based charset:
 * a UTF-16/32 file (its BOM, or ICU's verdict on the NUL bytes) is converted
 * whole first, and a BOM settles the charset of every message.  Returns -1
 * when the conversion failed. */
static int document_open(struct document *doc, const unsigned char *body, size_t len)
{
  memset(doc, 0, sizeof(*doc));
  dpi_buf_init(&doc->wide, len * 4 + 64); /* dpi_to_utf8 reserves 4 bytes per input byte */
  doc->s = (const char *)body;
  doc->n = len;
  doc->raw = body;
  doc->raw_len = len;
  int bom = len >= 2 && (body[0] == 0xEF || body[0] == 0xFF || body[0] == 0xFE || !body[0]);
  if(!bom && !memchr(body, '\0', len))
    return 0;
  struct dp_charset cs;
  dpi_charset_decide(body, len, NULL, &cs);
  if(is_wide(cs.name)) {
    if(dpi_charset_convert(&doc->wide, body, len, &cs))
      return -1;
    doc->s = dpi_buf_str(&doc->wide);
    doc->n = doc->wide.len;
    doc->forced = cs;
  } else if(cs.bom) {
    doc->s += cs.bom;
    doc->n -= cs.bom;
    doc->skipped = cs.bom;
    doc->forced = cs;
  } else { /* NUL bytes in an 8-bit file: the decision is made already */
    doc->fallback = cs;
    doc->have_fallback = 1;
  }
  doc->forced.bom = 0;
  return 0;
}

/* One message as UTF-8 (its raw bytes when they are UTF-8, else conv), with
 * the charset used in cs and what MSH-18 declares in declared ("" for
 * nothing).  A message that declares nothing and is not UTF-8 is read in
 * the charset detected over the whole file: more text, a better guess.
 * Returns -1 when conv reached its cap. */
static int message_utf8(struct document *doc, struct span raw, struct dp_buf *conv,
                        struct span *text, struct dp_charset *cs, char *declared, size_t cap)
{
  dpi_buf_reset(conv);
  declared[0] = '\0';
  *text = raw;
  if(doc->forced.name[0]) {
    *cs = doc->forced;
    if(dpi_utf8_valid(raw.p, raw.n))
      return 0;
    if(dpi_utf8_sanitize(conv, raw.p, raw.n))
      return -1;
  } else {
    const char *decl = msh18_charset(raw.p, raw.n, declared, cap) ? declared : NULL;
    if(!decl && is_iso2022(raw)) /* JIS sent without its MSH-18: ASCII to charset.h */
      decl = "ISO-2022-JP-2";
    if(!decl && !dpi_utf8_valid(raw.p, raw.n)) {
      if(!doc->have_fallback)
        dpi_charset_decide(doc->raw, doc->raw_len, NULL, &doc->fallback);
      doc->have_fallback = 1;
      decl = doc->fallback.name;
    }
    /* Shift_JIS is read as CP932 (charset.c), whose 0x5C and 0x7E are the
     * escape and repetition characters, not a yen sign and an overline. */
    dpi_charset_decide(raw.p, raw.n, decl, cs);
    if(!strcmp(cs->name, "UTF-8") && dpi_utf8_valid(raw.p, raw.n))
      return 0;
    if(dpi_charset_convert(conv, raw.p, raw.n, cs))
      return -1;
  }
  *text = (struct span){dpi_buf_str(conv), conv->len};
  return 0;
}

/* ---- messages ---- */

/* Split one message's text (it starts with its MSH line) into segments. */
static int parse_message(struct message *msg, const char *s, size_t n)
{
  size_t pos = 0;
  struct span line;
  int batch = 0; /* inside a batch header or trailer: not message content */
  dpi_buf_reset(&msg->text);
  msg->nsegs = 0;
  while(next_line(s, n, &pos, &line)) {
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

/* Whether a field holds more than separators and blanks (an OBX-3 of "^^"
 * or " " identifies no observation). */
static int has_content(struct span s, const struct delims *d)
{
  for(size_t i = 0; i < s.n; i++)
    if(!is_blank(s.p[i]) && s.p[i] != d->comp && s.p[i] != d->sub && s.p[i] != d->rep)
      return 1;
  return 0;
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

static int is_loinc_system(struct span s)
{
  return span_is(s, "LN") || span_is(s, "LOINC") || span_is(s, "2.16.840.1.113883.6.1") ||
         span_is(s, "http://loinc.org");
}

/* A LOINC code: up to 7 digits, a dash and the check digit ("11488-4"). */
static int is_loinc_code(struct span s)
{
  size_t i = 0;
  s = trim(s);
  while(i < s.n && is_digit(s.p[i]))
    i++;
  return i >= 1 && i <= 7 && i + 2 == s.n && s.p[i] == '-' && is_digit(s.p[i + 1]);
}

/* The type facts of one coded element (TXA-2, OBR-4): its LOINC identifier
 * (CWE-1 when CWE-3 is LOINC, else CWE-4 when CWE-6 is) as "code", its text
 * (CWE-2, else the alternate text CWE-5, else the original text CWE-9) as
 * "type" and meta.title.  A code alone gives nothing.  Returns whether
 * anything was found; r->out is scratch space. */
static int type_facts(struct dp_record *m, struct span rep, struct render *r)
{
  const struct delims *d = r->d;
  static const size_t texts[] = {1, 4, 8}; /* 0-based components */
  int found = 0;
  struct span code = {rep.p, 0};
  if(is_loinc_system(piece(rep, d->comp, 2)) && is_loinc_code(piece(rep, d->comp, 0)))
    code = trim(piece(rep, d->comp, 0));
  else if(is_loinc_system(piece(rep, d->comp, 5)) && is_loinc_code(piece(rep, d->comp, 3)))
    code = trim(piece(rep, d->comp, 3));
  if(code.n) {
    dpi_doc_fact(m, "code", code.p, code.n);
    found = 1;
  }
  dpi_buf_reset(r->out);
  for(size_t i = 0; i < sizeof(texts) / sizeof(*texts) && !r->out->len; i++)
    put_value(r, piece(rep, d->comp, texts[i]), 2, "", 0);
  if(r->out->len && !dpi_buf_failed(r->out)) {
    dpi_doc_fact(m, "type", r->out->mem, r->out->len);
    dpi_json_set_str(dpi_record_object(m, "meta"), "title", r->out->mem);
    found = 1;
  }
  dpi_buf_reset(r->out);
  return found;
}

/* Facts for normalize and meta: document type, date, message type. */
static void message_facts(struct dp_record *m, const struct message *msg,
                          const struct render *base)
{
  const struct delims *d = &msg->d;
  struct dp_buf val;
  dpi_buf_init(&val, DP_MAX_SHORT);
  struct render r = *base;
  r.out = &val;
  json_object *meta = dpi_record_object(m, "meta");

  static const struct {
    const char *id;
    size_t field;
  } types[] = {{"TXA", 2}, {"OBR", 4}}, dates[] = {{"TXA", 4}, {"OBR", 7}, {"MSH", 7}};
  int typed = 0;
  for(size_t t = 0; t < 2 && !typed; t++)
    for(size_t i = 0; i < msg->nsegs && !typed; i++)
      if(has_id(seg_at(msg, i), types[t].id))
        typed = type_facts(m, piece(field(seg_at(msg, i), d, types[t].field), d->rep, 0), &r);
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

/* Parse and render one message (text: UTF-8) into m and hand m on; DP_FAIL
 * leaves m failed and not emitted. */
static enum dp_status extract_message(const struct dp_stage *st, struct dp_record *m,
                                      struct message *msg, struct span text,
                                      const struct dp_charset *cs, const char *declared,
                                      struct dp_buf *leaf, struct dp_emitter *out)
{
  if(parse_message(msg, text.p, text.n))
    return dpi_record_fail(m, DP_KIND_INTERNAL, "out of memory");
  dpi_json_set_str(dpi_record_object(m, "meta"), "charset", cs->name);
  struct dp_buf body;
  dpi_text_buf_init(st, &body);
  struct render r = {&body, leaf, &msg->d, is_legacy(declared) && *declared ? declared : NULL,
                     is_legacy(cs->name) ? cs->name : "WINDOWS-1252"};
  message_facts(m, msg, &r);
  for(size_t i = 0; i < msg->nsegs; i++) {
    struct span seg = seg_at(msg, i);
    size_t line = body.len;
    if(has_id(seg, "OBX")) {
      /* Same OBX-3 and OBX-4 as the OBX before: a report sent one line per
       * segment.  An OBX-3 with nothing in it names no observation, so an
       * OBX without one never continues another. */
      struct span prev = i ? seg_at(msg, i - 1) : (struct span){"", 0};
      struct span code = field(seg, &msg->d, 3), sub_id = field(seg, &msg->d, 4);
      int continued = has_id(prev, "OBX") && has_content(code, &msg->d) &&
                      span_eq(code, field(prev, &msg->d, 3)) &&
                      span_eq(sub_id, field(prev, &msg->d, 4));
      if(put_obx(&r, st, m, seg, continued, i + 1) != DP_OK) {
        dpi_buf_free(&body);
        return DP_FAIL;
      }
    } else if(has_id(seg, "NTE")) {
      put_value(&r, field(seg, &msg->d, 3), 0, "\n", 1);
    } else {
      put_segment(&r, seg);
    }
    if(body.len > line && body.mem[body.len - 1] != '\n')
      dpi_buf_addc(&body, '\n');
  }
  return dpi_extract_finish(st, m, &body, out);
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

/* What one message needs on its way, shared by all of a file. */
struct run {
  const struct dp_stage *st;
  struct document doc;
  struct message msg;
  struct dp_buf conv, leaf;
  struct dp_emitter *out;
};

/* One item of the file as record m: its message, or the error of lines
 * that belong to none. */
static enum dp_status item_record(struct run *run, struct dp_record *m, const struct item *it,
                                  int alone)
{
  if(it->kind == ITEM_STRAY) { /* where, as an offset in the file xxd -s can show */
    size_t at = it->start + run->doc.skipped;
    return alone ? dpi_record_fail(m, DP_KIND_DAMAGED, "no MSH segment found")
                 : dpi_record_fail(m, DP_KIND_DAMAGED,
                                   "segments outside any message at byte %zu (no MSH segment "
                                   "starts them)",
                                   at);
  }
  struct span raw = {run->doc.s + it->start, it->end - it->start}, text;
  struct dp_charset cs;
  char declared[32];
  if(message_utf8(&run->doc, raw, &run->conv, &text, &cs, declared, sizeof(declared)))
    return dpi_record_fail(m, DP_KIND_INTERNAL, "cannot convert the text to UTF-8");
  return extract_message(run->st, m, &run->msg, text, &cs, declared, &run->leaf, run->out);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  struct run run = {.st = st, .out = out};
  if(document_open(&run.doc, body, len)) {
    dpi_buf_free(&run.doc.wide);
    return dpi_record_fail(rec, DP_KIND_INTERNAL, "cannot convert the text to UTF-8");
  }
  struct scanner sc = scanner(run.doc.s, run.doc.n);
  struct item it;
  size_t count = 0;
  while(next_item(&sc, &it))
    count++;
  if(!count) {
    dpi_buf_free(&run.doc.wide);
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "no MSH segment found");
  }

  /* Caps, not allocations: a message may grow 4 times into UTF-8, lines
   * gain a joining space, and escapes decode into at most 3 bytes each. */
  size_t n = run.doc.n;
  dpi_buf_init(&run.conv, n * 4 + 64);
  dpi_buf_init(&run.msg.text, n * 5 + 64);
  dpi_buf_init(&run.leaf, n * 12 + 64);
  enum dp_status rc = DP_OK;
  const char *id = dpi_record_str(rec, "id");
  size_t k = 0;
  sc = scanner(run.doc.s, run.doc.n);
  for(; k < DP_MAX_HL7_MESSAGES && next_item(&sc, &it); k++) {
    struct dp_record *m = count == 1 ? rec : dpi_record_derive(rec);
    if(!m) {
      rc = DP_FATAL;
      break;
    }
    if(k)
      set_message_id(m, id, k);
    rc = item_record(&run, m, &it, count == 1);
    if(count == 1)
      break; /* rec itself: emitted, or failed and left to the caller */
    if(rc == DP_FAIL)
      rc = dpi_emit_fail(out, m);
    if(rc == DP_FATAL)
      break;
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
  dpi_buf_free(&run.msg.text);
  free(run.msg.segs);
  dpi_buf_free(&run.leaf);
  dpi_buf_free(&run.conv);
  dpi_buf_free(&run.doc.wide);
  if(count == 1)
    return rc;
  dpi_record_free(rec);
  return rc == DP_FATAL ? DP_FATAL : DP_OK;
}

/* "MSH", "FHS" or "BHS", a field separator, the encoding characters and the
 * separator again: 8 or more characters that plain text does not start with.
 * Blank lines and MLLP block characters may come first. */
static int bid(const struct dp_peek *peek, const char **mime)
{
  const char *p = peek->text;
  size_t n = peek->text_len, i = 0, k;
  (void)mime;
  while(i < n && (is_blank(p[i]) || p[i] == MLLP_START || p[i] == MLLP_END))
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
