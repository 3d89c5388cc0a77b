/* cda.c - HL7 CDA R2 / C-CDA / CCD documents: header, sections, narrative.
 *
 * A CDA document carries its human-readable content twice: as the narrative
 * block of each section (section/text, what a person is meant to read) and
 * as coded entries (for machines).  Only the narrative is rendered, because
 * that is what the author attested and it is what a reader of the record
 * expects; the coded entries would repeat it in a worse form.
 *
 * Output: the document title, "Patient: NAME", "Date: YYYY-MM-DD", a blank
 * line, then per section (in document order, nested sections after their
 * parent) its title on its own line, its narrative, and a blank line.  A
 * nonXMLBody is either plain text (TXT) or a Base64 document (B64) that is
 * run through the extractor its bytes sniff as (a PDF wrapped in CDA).
 *
 * Narrative rendering (the rules are in the `struct sink` functions):
 * paragraph, list, item, table rows, caption and renderMultiMedia are
 * blocks and start a new line; list items get "- " (nested lists are
 * indented); each table row is one line with its cells joined by " | ";
 * br is a line break; content, sub, sup, footnote, footnoteRef, linkHtml and
 * anything unknown are inline and add nothing around their text, so an XPath
 * string() of an inline run still appears in the output.  Runs of white space
 * (and no-break spaces) collapse to one space.  Inside a table cell, blocks
 * and breaks become spaces so a row stays one line.
 *
 * libxml2 runs through dpi_xml_parse (no network, no DTD, no entity
 * substitution): entity references left in the tree are skipped, never
 * expanded, so an external entity cannot pull a local file into the text. */
#include <json-c/json.h>
#include <libxml/tree.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "date.h"
#include "dplimits.h"
#include "extract.h"
#include "registry.h"
#include "textconv.h"
#include "xmlsafe.h"

#define CDA_NS "urn:hl7-org:v3"
#define LOINC_OID "2.16.840.1.113883.6.1"

/* ---- tree helpers --------------------------------------------------- */

static int is_el(const xmlNode *n, const char *name)
{
  return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static int in_cda_ns(const xmlNode *n)
{
  return n->ns && n->ns->href && !strcmp((const char *)n->ns->href, CDA_NS);
}

/* Below the root, elements in no namespace are taken as CDA too: some
 * generators prefix the root (cda:ClinicalDocument) and forget the prefix
 * on its children.  Extension namespaces (sdtc:) stay out. */
static int cda_el(const xmlNode *n, const char *name)
{
  return is_el(n, name) && (!n->ns || in_cda_ns(n));
}

/* First child element `name` of the CDA vocabulary, or NULL. */
static xmlNode *cda_child(const xmlNode *n, const char *name)
{
  for(xmlNode *c = n ? n->children : NULL; c; c = c->next)
    if(cda_el(c, name))
      return c;
  return NULL;
}

static int blank(const char *s, size_t len)
{
  for(size_t i = 0; i < len; i++)
    if(s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
      return 0;
  return 1;
}

/* Squeezed text of an element appended to out; the scratch buffer is
 * reused.  Returns the number of bytes appended. */
static size_t put_squeezed(struct dp_buf *out, struct dp_buf *scratch, const xmlNode *n)
{
  size_t before = out->len;
  dpi_buf_reset(scratch);
  if(n && !dpi_xml_text(scratch, n))
    dpi_text_squeeze(out, scratch->mem, scratch->len);
  return dpi_buf_failed(out) ? 0 : out->len - before;
}

/* ---- narrative sink -------------------------------------------------- */

/* Writes narrative into the text buffer, deciding lazily where spaces and
 * line breaks go: a block owes a line break and an inline run owes at most
 * one space, and both are paid only when the next word arrives, so empty
 * elements and runs of white space leave nothing behind. */
struct sink {
  struct dp_buf *out;
  int bol;      /* nothing written on the current line yet */
  int space;    /* a space is owed before the next word */
  int breaks;   /* line breaks owed before the next word (at most 2) */
  int marker;   /* a "- " list marker is owed at the start of the next line */
  int items;    /* enclosing list items, for indentation */
  int cell;     /* inside a table cell: blocks and breaks become spaces */
  size_t words; /* words written, to drop rows that had none */
};

static int narrative_space(const unsigned char *p)
{
  return *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || (p[0] == 0xC2 && p[1] == 0xA0);
}

/* Pay what is owed before writing something on the line. */
static void sink_begin(struct sink *s)
{
  if(s->breaks) {
    for(int i = 0; i < s->breaks; i++)
      dpi_buf_addc(s->out, '\n');
    s->breaks = 0;
    s->bol = 1;
  }
  if(s->bol) {
    int level = s->marker ? s->items - 1 : s->items;
    for(int i = 0; i < level; i++)
      dpi_buf_adds(s->out, "  ");
    if(s->marker)
      dpi_buf_adds(s->out, "- ");
    s->marker = 0;
    s->bol = 0;
  } else if(s->space) {
    dpi_buf_addc(s->out, ' ');
  }
  s->space = 0;
}

static void sink_text(struct sink *s, const char *text)
{
  const unsigned char *p = (const unsigned char *)text;
  while(*p) {
    if(narrative_space(p)) {
      s->space = 1;
      p += *p == 0xC2 ? 2 : 1;
      continue;
    }
    const unsigned char *w = p;
    while(*p && !narrative_space(p))
      p++;
    sink_begin(s);
    dpi_buf_add(s->out, w, (size_t)(p - w));
    s->words++;
  }
}

/* A block boundary: what follows starts a new line. */
static void sink_block(struct sink *s)
{
  if(s->cell)
    s->space = 1;
  else if(!s->bol && !s->breaks)
    s->breaks = 1;
}

/* <br/>: a line break; two in a row leave an empty line. */
static void sink_br(struct sink *s)
{
  if(s->cell)
    s->space = 1;
  else if(!s->bol && s->breaks < 2)
    s->breaks++;
}

/* The separator before a table cell that is not the first of its row. */
static void sink_cell_sep(struct sink *s)
{
  int at_start = s->bol || s->breaks;
  s->space = 0;
  sink_begin(s);
  dpi_buf_adds(s->out, at_start ? "|" : " |");
  s->space = 1;
}

/* End of the narrative: the text buffer ends with a newline unless nothing
 * was written. */
static void sink_end(struct sink *s)
{
  if(!s->bol)
    dpi_buf_addc(s->out, '\n');
  s->bol = 1;
  s->breaks = 0;
  s->space = 0;
  s->marker = 0;
}

/* ---- narrative block --------------------------------------------------- */

static int render_children(struct sink *s, const xmlNode *n, int depth);

static int render_block(struct sink *s, const xmlNode *n, int depth)
{
  sink_block(s);
  int rc = render_children(s, n, depth);
  sink_block(s);
  return rc;
}

/* One table row on one line: cells joined by " | ".  A row whose cells are
 * all empty is taken back out. */
static int render_row(struct sink *s, const xmlNode *tr, int depth)
{
  sink_block(s);
  struct sink saved = *s;
  size_t len = s->out->len;
  int first = 1, outer_cell = s->cell;
  for(const xmlNode *c = tr->children; c; c = c->next) {
    if(!is_el(c, "td") && !is_el(c, "th"))
      continue;
    if(!first)
      sink_cell_sep(s);
    first = 0;
    s->cell = 1;
    int rc = render_children(s, c, depth + 1);
    s->cell = outer_cell;
    if(rc)
      return rc;
  }
  if(s->words == saved.words && !dpi_buf_failed(s->out)) {
    dpi_buf_truncate(s->out, len);
    *s = saved;
  }
  sink_block(s);
  return 0;
}

static int render_rows(struct sink *s, const xmlNode *group, int depth)
{
  for(const xmlNode *c = group->children; c; c = c->next)
    if(is_el(c, "tr") && render_row(s, c, depth + 1))
      return -1;
  return 0;
}

/* Caption first, then header rows, body rows and footer rows, whatever
 * order the source lists them in (CDA puts tfoot before tbody, as HTML 4). */
static int render_table(struct sink *s, const xmlNode *table, int depth)
{
  static const char *const order[] = {"caption", "thead", "tbody", "tfoot"};
  sink_block(s);
  for(size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
    for(const xmlNode *c = table->children; c; c = c->next) {
      int rc = 0;
      if(k == 0 && is_el(c, "caption"))
        rc = render_block(s, c, depth + 1);
      else if(k > 0 && is_el(c, order[k]))
        rc = render_rows(s, c, depth + 1);
      else if(k == 2 && is_el(c, "tr")) /* rows without a tbody */
        rc = render_row(s, c, depth + 1);
      if(rc)
        return rc;
    }
  }
  sink_block(s);
  return 0;
}

static int render_item(struct sink *s, const xmlNode *item, int depth)
{
  if(s->cell)
    return render_block(s, item, depth);
  sink_block(s);
  s->items++;
  s->marker = 1;
  int rc = render_children(s, item, depth);
  s->marker = 0;
  s->items--;
  sink_block(s);
  return rc;
}

/* renderMultiMedia points at an observationMedia entry (an image we do not
 * render); its caption is the only text a reader would see. */
static int render_multimedia(struct sink *s, const xmlNode *n, int depth)
{
  for(const xmlNode *c = n->children; c; c = c->next)
    if(is_el(c, "caption") && render_block(s, c, depth + 1))
      return -1;
  return 0;
}

static int render_node(struct sink *s, const xmlNode *n, int depth)
{
  if(n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
    if(n->content)
      sink_text(s, (const char *)n->content);
    return 0;
  }
  if(n->type != XML_ELEMENT_NODE)
    return 0; /* entity references (never expanded), comments, PIs */
  const char *name = (const char *)n->name;
  if(!strcmp(name, "br")) {
    sink_br(s);
    return 0;
  }
  if(!strcmp(name, "paragraph") || !strcmp(name, "list") || !strcmp(name, "caption"))
    return render_block(s, n, depth + 1);
  if(!strcmp(name, "item"))
    return render_item(s, n, depth + 1);
  if(!strcmp(name, "table"))
    return render_table(s, n, depth + 1);
  if(!strcmp(name, "thead") || !strcmp(name, "tbody") || !strcmp(name, "tfoot"))
    return render_rows(s, n, depth + 1); /* outside a table: still rows */
  if(!strcmp(name, "tr"))
    return render_row(s, n, depth + 1);
  if(!strcmp(name, "td") || !strcmp(name, "th"))
    return render_block(s, n, depth + 1);
  if(!strcmp(name, "renderMultiMedia"))
    return render_multimedia(s, n, depth + 1);
  if(!strcmp(name, "col") || !strcmp(name, "colgroup"))
    return 0;
  /* content, sub, sup, footnote, footnoteRef, linkHtml and unknown elements:
   * inline, nothing added around their text. */
  return render_children(s, n, depth + 1);
}

/* Returns -1 past DP_MAX_NESTING levels (libxml2's own depth limit normally
 * rejects such a document first). */
static int render_children(struct sink *s, const xmlNode *n, int depth)
{
  if(depth > DP_MAX_NESTING)
    return -1;
  for(const xmlNode *c = n->children; c; c = c->next)
    if(render_node(s, c, depth))
      return -1;
  return 0;
}

/* ---- header ------------------------------------------------------------ */

struct cda {
  struct dp_stage *st;
  struct dp_record *rec;
  struct dp_buf *text;
  struct dp_buf scratch;
  json_object *sections; /* meta.sections */
};

/* Given names, family, then prefix before and suffix after, as a person
 * would write them; a name without parts is taken as written. */
static void render_name(struct cda *c, const xmlNode *name)
{
  static const char *const order[] = {"prefix", "given", "family", "suffix"};
  size_t start = c->text->len;
  int any = 0;
  for(size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
    for(const xmlNode *p = name->children; p; p = p->next) {
      if(!is_el(p, order[k]))
        continue;
      any = 1;
      size_t at = c->text->len;
      if(at > start)
        dpi_buf_addc(c->text, ' ');
      if(!put_squeezed(c->text, &c->scratch, p) && !dpi_buf_failed(c->text))
        dpi_buf_truncate(c->text, at); /* an empty part adds no space */
    }
  }
  if(!any)
    put_squeezed(c->text, &c->scratch, name);
}

static const xmlNode *patient_name(const xmlNode *root)
{
  const xmlNode *rt = cda_child(root, "recordTarget");
  const xmlNode *pr = cda_child(rt, "patientRole");
  const xmlNode *pt = cda_child(pr, "patient");
  return cda_child(pt, "name");
}

/* The title line, patient and date lines and their meta and facts. */
static void render_header(struct cda *c, const xmlNode *root)
{
  json_object *meta = dpi_record_object(c->rec, "meta");
  const xmlNode *code = cda_child(root, "code");
  const char *code_value = dpi_xml_attr(code, "code");
  const char *code_system = dpi_xml_attr(code, "codeSystem");
  const char *display = dpi_xml_attr(code, "displayName");

  size_t at = c->text->len;
  if(!put_squeezed(c->text, &c->scratch, cda_child(root, "title")) && display)
    dpi_text_squeeze(c->text, display, strlen(display));
  if(c->text->len > at && !dpi_buf_failed(c->text)) {
    json_object_object_add(meta, "title",
                           json_object_new_string_len(c->text->mem + at,
                                                      (int)(c->text->len - at)));
    dpi_buf_addc(c->text, '\n');
  }

  if(code && (code_value || code_system || display)) {
    json_object *o = json_object_new_object();
    if(code_value)
      dpi_json_set_str(o, "code", code_value);
    if(code_system)
      dpi_json_set_str(o, "codeSystem", code_system);
    if(display)
      dpi_json_set_str(o, "displayName", display);
    json_object_object_add(meta, "code", o);
  }
  if(code_value && code_system && !strcmp(code_system, LOINC_OID))
    dpi_doc_fact(c->rec, "code", code_value, strlen(code_value));
  if(display)
    dpi_doc_fact(c->rec, "type", display, strlen(display));
  json_object *title;
  if(json_object_object_get_ex(meta, "title", &title))
    dpi_doc_fact(c->rec, "type", json_object_get_string(title),
                 (size_t)json_object_get_string_len(title));

  const xmlNode *name = patient_name(root);
  if(name) {
    dpi_buf_adds(c->text, "Patient: ");
    at = c->text->len;
    render_name(c, name);
    if(c->text->len > at && !dpi_buf_failed(c->text)) {
      json_object_object_add(meta, "patient",
                             json_object_new_string_len(c->text->mem + at,
                                                        (int)(c->text->len - at)));
      dpi_buf_addc(c->text, '\n');
    } else if(!dpi_buf_failed(c->text)) {
      dpi_buf_truncate(c->text, at - strlen("Patient: "));
    }
  }

  const char *when = dpi_xml_attr(cda_child(root, "effectiveTime"), "value");
  if(when && !blank(when, strlen(when))) {
    char day[11];
    dpi_doc_fact(c->rec, "date", when, strlen(when));
    dpi_buf_adds(c->text, "Date: ");
    if(!dpi_date_normalize(when, day))
      dpi_buf_adds(c->text, day);
    else
      dpi_text_squeeze(c->text, when, strlen(when));
    dpi_buf_addc(c->text, '\n');
  }
  if(c->text->len)
    dpi_buf_addc(c->text, '\n'); /* a blank line ends the header */
}

/* ---- bodies ------------------------------------------------------------ */

/* A section: its title line, its narrative, a blank line, then the
 * sections nested in it. */
static int render_section(struct cda *c, const xmlNode *section, int depth)
{
  if(depth > DP_MAX_NESTING)
    return -1;
  size_t at = c->text->len;
  if(!put_squeezed(c->text, &c->scratch, cda_child(section, "title"))) {
    const char *display = dpi_xml_attr(cda_child(section, "code"), "displayName");
    if(display)
      dpi_text_squeeze(c->text, display, strlen(display));
  }
  if(c->text->len > at && !dpi_buf_failed(c->text)) {
    json_object_array_add(c->sections,
                          json_object_new_string_len(c->text->mem + at,
                                                     (int)(c->text->len - at)));
    dpi_buf_addc(c->text, '\n');
  }
  const xmlNode *narrative = cda_child(section, "text");
  if(narrative) {
    struct sink s = {.out = c->text, .bol = 1};
    if(render_children(&s, narrative, depth + 1))
      return -1;
    sink_end(&s);
  }
  if(c->text->len > at)
    dpi_buf_addc(c->text, '\n');
  for(const xmlNode *k = section->children; k; k = k->next) {
    if(!cda_el(k, "component"))
      continue;
    const xmlNode *sub = cda_child(k, "section");
    if(sub && render_section(c, sub, depth + 2))
      return -1;
  }
  return 0;
}

/* The direct text of an element (not its thumbnail or reference children),
 * appended to out. */
static void direct_text(struct dp_buf *out, const xmlNode *n)
{
  for(const xmlNode *c = n->children; c; c = c->next)
    if((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
      dpi_buf_adds(out, (const char *)c->content);
}

/* An attribute value fit for an error message: a short code (B64, DF...)
 * is quoted as it is, anything else is not repeated. */
static const char *code_name(const char *v, char *buf, size_t cap)
{
  size_t n = v ? strlen(v) : 0;
  if(n == 0 || n >= cap || n > 16)
    return "(not a code)";
  for(size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)v[i];
    if(!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         ch == '-' || ch == '_' || ch == '.'))
      return "(not a code)";
  }
  memcpy(buf, v, n + 1);
  return buf;
}

/* ED compression (HL7 V3 data types, CompressionAlgorithm): DF is raw
 * deflate (RFC 1951), GZ gzip (RFC 1952), ZL zlib (RFC 1950).  Z, BZ, Z7
 * and the rest are not read. */
enum ed_compression { ED_NONE, ED_DF, ED_GZ, ED_ZL, ED_UNKNOWN };

static enum ed_compression ed_compression(const char *v)
{
  if(!v || blank(v, strlen(v)))
    return ED_NONE;
  if(!strcmp(v, "DF"))
    return ED_DF;
  if(!strcmp(v, "GZ"))
    return ED_GZ;
  if(!strcmp(v, "ZL"))
    return ED_ZL;
  return ED_UNKNOWN;
}

enum inflate_result { INF_OK, INF_CUT, INF_CORRUPT, INF_CAP, INF_NOMEM };

/* Inflate in into out (whose cap is the document cap, so a deflate bomb
 * stops there).  window_bits as for inflateInit2: -15 raw deflate, 15
 * zlib, 31 gzip, 47 zlib or gzip.  Concatenated gzip members are read
 * one after the other, as gunzip does; bytes after the stream are ignored. */
static enum inflate_result inflate_into(const unsigned char *in, size_t len, int window_bits,
                                        struct dp_buf *out, char *zmsg, size_t zmsglen)
{
  z_stream z;
  memset(&z, 0, sizeof(z));
  if(inflateInit2(&z, window_bits) != Z_OK)
    return INF_NOMEM;
  unsigned char chunk[16384];
  size_t left = len;
  z.next_in = (Bytef *)in;
  enum inflate_result res = INF_OK;
  for(;;) {
    if(z.avail_in == 0 && left) {
      uInt n = left > (uInt)-1 ? (uInt)-1 : (uInt)left;
      z.avail_in = n;
      left -= n;
    }
    z.next_out = chunk;
    z.avail_out = sizeof(chunk);
    int rc = inflate(&z, Z_NO_FLUSH);
    size_t got = sizeof(chunk) - z.avail_out;
    if(got && dpi_buf_add(out, chunk, got)) {
      res = out->state == DP_BUF_TOO_BIG ? INF_CAP : INF_NOMEM;
      break;
    }
    if(rc == Z_STREAM_END) {
      int more = z.avail_in || left;
      if(more && window_bits > 15 && z.avail_in >= 2 && z.next_in[0] == 0x1F &&
         z.next_in[1] == 0x8B && inflateReset(&z) == Z_OK)
        continue; /* another gzip member */
      break;
    }
    if(rc == Z_MEM_ERROR) {
      res = INF_NOMEM;
      break;
    }
    if(rc == Z_DATA_ERROR || rc == Z_NEED_DICT || rc == Z_STREAM_ERROR) {
      snprintf(zmsg, zmsglen, "%s",
               rc == Z_NEED_DICT ? "needs a preset dictionary" : z.msg ? z.msg : "invalid data");
      res = INF_CORRUPT;
      break;
    }
    /* Z_OK or Z_BUF_ERROR: with all the input given and room left over,
     * the stream wants bytes that are not there. */
    if(z.avail_in == 0 && !left && z.avail_out > 0) {
      res = INF_CUT;
      break;
    }
  }
  inflateEnd(&z);
  return res;
}

/* Decompress a B64 payload in place (bytes becomes the inflated document). */
static enum dp_status ed_inflate(struct cda *c, enum ed_compression how, const char *code,
                                 struct dp_buf *bytes)
{
  const unsigned char *in = (const unsigned char *)dpi_buf_str(bytes);
  size_t len = bytes->len;
  /* Many writers call zlib's output "deflate" (as HTTP does): a DF payload
   * that starts like zlib or gzip is read as such first, and as raw deflate
   * when that fails.  GZ and ZL take either wrapper. */
  int wrapped = len >= 2 && (((in[0] & 0x0F) == 8 && (in[0] >> 4) <= 7 &&
                              ((in[0] << 8) | in[1]) % 31 == 0) ||
                             (in[0] == 0x1F && in[1] == 0x8B));
  int tries[2] = {how != ED_DF || wrapped ? 47 : -15, how == ED_DF && wrapped ? -15 : 0};
  struct dp_buf out;
  enum inflate_result res = INF_CORRUPT;
  char zmsg[96] = "";
  for(int t = 0; t < 2 && tries[t]; t++) {
    dpi_buf_init(&out, c->st->ctx->max_document);
    res = inflate_into(in, len, tries[t], &out, zmsg, sizeof(zmsg));
    if(res != INF_CORRUPT)
      break;
    dpi_buf_free(&out);
  }
  if(res == INF_OK) {
    dpi_buf_free(bytes);
    *bytes = out;
    return DP_OK;
  }
  if(res != INF_CORRUPT)
    dpi_buf_free(&out);
  switch(res) {
  case INF_CAP:
    return dpi_record_fail(c->rec, DP_KIND_TOO_LARGE,
                           "nonXMLBody (compression %s) inflates to more than %zu bytes", code,
                           c->st->ctx->max_document);
  case INF_CUT:
    return dpi_record_fail(c->rec, DP_KIND_DAMAGED,
                           "nonXMLBody (compression %s) is cut short: its compressed stream "
                           "does not end", code);
  case INF_CORRUPT:
    return dpi_record_fail(c->rec, DP_KIND_DAMAGED,
                           "nonXMLBody (compression %s) does not inflate: %s", code, zmsg);
  default:
    return dpi_record_fail(c->rec, DP_KIND_INTERNAL, "out of memory");
  }
}

/* The format whose extractor a TXT body's mediaType calls for: markup kept
 * as characters in the XML.  NULL for text/plain (the ED default) and for
 * every other type, which stay text. */
static const char *txt_markup_format(const char *media)
{
  static const struct {
    const char *type;
    const char *format;
  } map[] = {
    {"text/rtf", "rtf"},
    {"application/rtf", "rtf"},
    {"text/html", "html"},
    {"application/xhtml+xml", "html"},
  };
  if(!media)
    return NULL;
  while(*media == ' ' || *media == '\t')
    media++;
  size_t n = strcspn(media, "; \t");
  for(size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
    if(strlen(map[i].type) == n && !strncasecmp(media, map[i].type, n))
      return map[i].format;
  return NULL;
}

/* RTF held as XML characters: libxml2 has already decoded it, so a letter
 * outside ASCII is a character, not a code-page byte.  It is written as
 * \uN in a group of its own (with \uc0: no fallback to skip), which any RTF
 * reader takes as that character whatever the document's code page. */
static void rtf_escape_unicode(struct dp_buf *out, const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while(p < end) {
    if(*p < 0x80) {
      dpi_buf_addc(out, (char)*p++);
      continue;
    }
    /* libxml2 gives well-formed UTF-8; anything else becomes U+FFFD. */
    uint32_t cp = 0xFFFD;
    int n = *p >= 0xF0 ? 3 : *p >= 0xE0 ? 2 : *p >= 0xC0 ? 1 : 0;
    if(n && end - p > n) {
      cp = *p & (0x3F >> n);
      for(int k = 1; k <= n; k++)
        cp = (cp << 6) | (p[k] & 0x3F);
    }
    p += n + 1;
    if(cp > 0xFFFF) {
      uint32_t v = cp - 0x10000;
      dpi_buf_addf(out, "{\\uc0\\u%d\\u%d}", (int)(0xD800 + (v >> 10)) - 65536,
                   (int)(0xDC00 + (v & 0x3FF)) - 65536);
    } else {
      dpi_buf_addf(out, "{\\uc0\\u%d}", cp > 0x7FFF ? (int)cp - 65536 : (int)cp);
    }
  }
}

/* A TXT body of RTF or HTML: the markup goes through its extractor, as an
 * embedded document, so that depth limits and meta.embedded hold. */
static enum dp_status render_txt_markup(struct cda *c, const char *format,
                                        const struct dp_buf *data)
{
  if(strcmp(format, "rtf"))
    return dpi_extract_embedded_as(c->st, c->rec, data->mem, data->len, format, c->text);
  struct dp_buf rtf;
  dpi_buf_init(&rtf, c->st->ctx->max_document);
  rtf_escape_unicode(&rtf, data->mem, data->len);
  enum dp_status status;
  if(dpi_buf_failed(&rtf))
    status = rtf.state == DP_BUF_TOO_BIG
                 ? dpi_record_fail(c->rec, DP_KIND_TOO_LARGE, "nonXMLBody larger than %zu bytes",
                                   c->st->ctx->max_document)
                 : dpi_record_fail(c->rec, DP_KIND_INTERNAL, "out of memory");
  else
    status = dpi_extract_embedded_as(c->st, c->rec, rtf.mem, rtf.len, format, c->text);
  dpi_buf_free(&rtf);
  return status;
}

/* A B64 body: decoded, inflated when compressed, then run through the
 * extractor its bytes sniff as (the mediaType is only a label). */
static enum dp_status render_b64(struct cda *c, const struct dp_buf *data,
                                 enum ed_compression how, const char *code)
{
  struct dp_buf bytes;
  size_t bad_at = 0;
  int layers = 0;
  dpi_buf_init(&bytes, c->st->ctx->max_document);
  enum dp_b64_result rc = dpi_decode_payload(c->st->ctx->stages, data->mem, data->len, &bytes,
                                            &bad_at, &layers);
  enum dp_status status = DP_OK;
  if(rc == DP_B64_INVALID)
    status = dpi_record_fail(c->rec, DP_KIND_BAD_BASE64,
                             "nonXMLBody Base64 is invalid at offset %zu of its text", bad_at);
  else if(rc == DP_B64_TOO_BIG)
    status = dpi_record_fail(c->rec, DP_KIND_TOO_LARGE,
                             "nonXMLBody decodes to more than %zu bytes",
                             c->st->ctx->max_document);
  else if(rc != DP_B64_OK)
    status = dpi_record_fail(c->rec, DP_KIND_INTERNAL, "out of memory");
  else if(how != ED_NONE)
    status = ed_inflate(c, how, code, &bytes);
  if(status == DP_OK)
    status = dpi_extract_embedded(c->st, c->rec, bytes.mem, bytes.len, c->text);
  dpi_buf_free(&bytes);
  return status;
}

/* nonXMLBody/text is an ED: plain text or markup (TXT), or a Base64 document
 * (B64), possibly compressed, or a reference to content elsewhere, which we
 * do not fetch. */
static enum dp_status render_nonxml(struct cda *c, const xmlNode *body)
{
  const xmlNode *ed = cda_child(body, "text");
  if(!ed)
    return DP_OK;
  char code[24];
  const char *representation = dpi_xml_attr(ed, "representation");
  int b64 = representation && !strcmp(representation, "B64");
  if(representation && !b64 && strcmp(representation, "TXT"))
    return dpi_record_fail(c->rec, DP_KIND_UNSUPPORTED,
                           "nonXMLBody representation %s is neither B64 nor TXT",
                           code_name(representation, code, sizeof(code)));
  const char *compression = dpi_xml_attr(ed, "compression");
  enum ed_compression how = ed_compression(compression);
  if(how == ED_UNKNOWN)
    return dpi_record_fail(c->rec, DP_KIND_UNSUPPORTED,
                           "nonXMLBody compression %s is not supported (DF, GZ and ZL are)",
                           code_name(compression, code, sizeof(code)));
  if(how != ED_NONE && !b64)
    return dpi_record_fail(c->rec, DP_KIND_DAMAGED,
                           "nonXMLBody says compression %s but is not B64 (compressed bytes "
                           "cannot be XML text)", compression);

  struct dp_buf data;
  dpi_buf_init(&data, c->st->ctx->max_document);
  direct_text(&data, ed);
  if(dpi_buf_failed(&data)) {
    dpi_buf_free(&data);
    return dpi_record_fail(c->rec, DP_KIND_TOO_LARGE, "nonXMLBody larger than %zu bytes",
                           c->st->ctx->max_document);
  }
  if(blank(dpi_buf_str(&data), data.len)) {
    dpi_buf_free(&data);
    if(cda_child(ed, "reference"))
      return dpi_record_fail(c->rec, DP_KIND_UNSUPPORTED,
                             "nonXMLBody refers to external content, which is not fetched");
    return DP_OK;
  }
  enum dp_status status = DP_OK;
  const char *markup = b64 ? NULL : txt_markup_format(dpi_xml_attr(ed, "mediaType"));
  if(b64) {
    status = render_b64(c, &data, how, compression);
  } else if(markup) {
    status = render_txt_markup(c, markup, &data);
  } else {
    dpi_buf_add(c->text, data.mem, data.len);
    dpi_buf_addc(c->text, '\n');
  }
  dpi_buf_free(&data);
  return status;
}

/* ---- stage ------------------------------------------------------------- */

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  struct dp_xml_root root;
  if(!dpi_xml_peek_root(peek->text, peek->text_len, &root))
    return 0;
  return !strcmp(root.name, "ClinicalDocument") && !strcmp(root.ns, CDA_NS) ? 60 : 0;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  char why[256];
  enum dp_kind kind;
  xmlDocPtr doc = dpi_xml_parse(body, len, &kind, why, sizeof(why));
  if(!doc)
    return dpi_record_fail(rec, kind, "%s", why);
  xmlNode *root = xmlDocGetRootElement(doc);
  if(!is_el(root, "ClinicalDocument") || !in_cda_ns(root)) {
    xmlFreeDoc(doc);
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "root element is not ClinicalDocument in namespace " CDA_NS);
  }
  /* A named stage bypasses the sniff; meta.embedded starts with our format. */
  if(!dpi_record_str(rec, "format"))
    dpi_record_set_str(rec, "format", st->ops->format);
  char charset[32];
  dpi_json_set_str(dpi_record_object(rec, "meta"), "charset",
                   dpi_xml_charset(body, len, doc, charset, sizeof(charset)));

  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  struct cda c = {st, rec, &text, {0}, json_object_new_array()};
  dpi_buf_init(&c.scratch, st->ctx->max_text);
  render_header(&c, root);

  enum dp_status status = DP_OK;
  const xmlNode *component = cda_child(root, "component");
  const xmlNode *structured = cda_child(component, "structuredBody");
  const xmlNode *nonxml = cda_child(component, "nonXMLBody");
  if(structured) {
    for(const xmlNode *k = structured->children; k && status == DP_OK; k = k->next) {
      if(!cda_el(k, "component"))
        continue;
      const xmlNode *section = cda_child(k, "section");
      if(section && render_section(&c, section, 1))
        status = dpi_record_fail(rec, DP_KIND_TOO_LARGE,
                                 "CDA narrative nested more than %d elements deep",
                                 DP_MAX_NESTING);
    }
  } else if(nonxml) {
    status = render_nonxml(&c, nonxml);
  } else {
    status = dpi_record_fail(rec, DP_KIND_DAMAGED, "ClinicalDocument has no body "
                                                   "(component/structuredBody or nonXMLBody)");
  }
  dpi_buf_free(&c.scratch);
  xmlFreeDoc(doc);
  if(status != DP_OK) {
    json_object_put(c.sections);
    dpi_buf_free(&text);
    return status;
  }
  if(json_object_array_length(c.sections))
    json_object_object_add(dpi_record_object(rec, "meta"), "sections", c.sections);
  else
    json_object_put(c.sections);
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_cda = {
  .name = "cda",
  .summary = "HL7 CDA / C-CDA documents: header, section titles and narrative",
  .format = "cda",
  .mime = "application/xml",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
