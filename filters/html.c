/* html.c - text of HTML and XHTML pages (libxml2's lenient HTML parser).
 *
 * Clinical notes leave EHRs (Cerner among them) as HTML more often than one
 * would hope, frequently as tag soup.  libxml2's HTML parser repairs the soup
 * and decodes entities; this stage then renders the tree to plain text much
 * as a text browser would:
 *   - script, style, noscript, template and the whole head are not text;
 *     the first <title> becomes meta.title (and <meta name=author> becomes
 *     meta.author) instead;
 *   - block elements start and end a line; paragraphs, headings, tables,
 *     lists, <pre>, <blockquote> and <hr> are set off by an empty line;
 *   - a table row is one line with its cells joined by " | "; empty cells
 *     (&nbsp; alone counts as empty) add no separator, so a row never starts
 *     or ends with one;
 *   - a list item is a line starting with "- ", indented two spaces for each
 *     enclosing list beyond the first;
 *   - white space runs collapse to one space, as a browser shows them, except
 *     inside <pre>, which is copied as is (less the newline right after
 *     <pre>, which browsers drop too); U+00A0 (&nbsp;) is kept.
 * XHTML goes through the same parser: it is HTML with an XML declaration
 * (seen as a processing instruction) and a namespace attribute.
 *
 * Charset: decided by charset.h, with the charset a <meta> declares as the
 * page's declaration (a BOM and UTF-8 bytes overrule it; pages without one
 * go to the detectors).  The page is converted to UTF-8 here (see process()
 * for why libxml2 must not do it) and the parser is told "UTF-8", so the
 * <meta> no longer matters to it.
 *
 * The tree is walked iteratively (parent pointers), so nesting depth costs no
 * stack; libxml2's own limits bound the tree. */
#include <libxml/tree.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "dplimits.h"
#include "extract.h"
#include "registry.h"
#include "textconv.h"
#include "xmlsafe.h"

#define XHTML_NS "http://www.w3.org/1999/xhtml"

/* ---- bid ---- */

static int ascii_lower(int c)
{
  return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int ascii_ieq(const char *a, const char *b)
{
  for(; *a && *b; a++, b++)
    if(ascii_lower((unsigned char)*a) != ascii_lower((unsigned char)*b))
      return 0;
  return *a == *b;
}

/* Tags that only HTML starts a document with. */
static int common_first_tag(const char *name)
{
  static const char *const tags[] = {
    "head", "body", "div", "p", "table", "span", "br", "h1", "h2", "h3", "h4", "h5", "h6",
    "ul", "ol", "b", "i", "font", "center", "meta", "title", "style", "script", NULL
  };
  for(const char *const *t = tags; *t; t++)
    if(ascii_ieq(name, *t))
      return 1;
  return 0;
}

static int starts_with_xml_declaration(const char *s, size_t n)
{
  size_t i = 0;
  while(i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
    i++;
  return n - i >= 5 && !memcmp(s + i, "<?xml", 5);
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  struct dp_xml_root root;
  int found = dpi_xml_peek_root(peek->text, peek->text_len, &root);
  int xhtml = found && !strcmp(root.ns, XHTML_NS);
  if(xhtml)
    *mime = "application/xhtml+xml";
  /* Set even when the root start tag lies beyond the prefix. */
  if(root.doctype_html)
    return 40;
  if(!found)
    return 0;
  /* <html> in any of the W3C's namespaces is HTML: Word and Outlook save
   * pages as <html xmlns="http://www.w3.org/TR/REC-html40" xmlns:o=...>. */
  if(ascii_ieq(root.name, "html") && (!root.ns[0] || !strncmp(root.ns, "http://www.w3.org/", 18)))
    return 40;
  /* A root in some other namespace is another XML vocabulary (CDA is
   * urn:hl7-org:v3), whatever its local name. */
  if(root.ns[0] && !xhtml)
    return 0;
  /* <?xml ...?><table> without the XHTML namespace is someone's XML. */
  if(common_first_tag(root.name) &&
     (xhtml || !starts_with_xml_declaration(peek->text, peek->text_len)))
    return 20;
  return 0;
}

/* ---- charset ---- */

/* Offset of the ASCII literal `lit` (lower case) in s, compared without
 * case, or n when absent. */
static size_t ci_find(const unsigned char *s, size_t n, const char *lit)
{
  size_t m = strlen(lit);
  for(size_t i = 0; i + m <= n; i++) {
    size_t k = 0;
    while(k < m && ascii_lower(s[i + k]) == lit[k])
      k++;
    if(k == m)
      return i;
  }
  return n;
}

static int charset_name_char(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == ':';
}

/* The charset a <meta> tag declares (<meta charset=...>, or http-equiv
 * Content-Type with "charset=..."), copied into name; 0 when none does.
 * A tag ends at '>', at the next '<' or after 1 KiB, so no byte is looked
 * at more than twice. */
static int meta_charset(const unsigned char *p, size_t n, char *name, size_t cap)
{
  size_t i = 0;
  while(i < n) {
    size_t at = ci_find(p + i, n - i, "<meta");
    if(at == n - i)
      return 0;
    i += at + 5;
    size_t tag = n - i < 1024 ? n - i : 1024;
    const unsigned char *t = p + i;
    for(size_t k = 0; k < tag; k++)
      if(t[k] == '>' || t[k] == '<') {
        tag = k;
        break;
      }
    for(size_t k = ci_find(t, tag, "charset"); k < tag; k += ci_find(t + k, tag - k, "charset")) {
      k += 7;
      while(k < tag && (t[k] == ' ' || t[k] == '\t' || t[k] == '\n' || t[k] == '\r'))
        k++;
      if(k >= tag || t[k] != '=')
        continue;
      k++;
      while(k < tag && (t[k] == ' ' || t[k] == '"' || t[k] == '\''))
        k++;
      size_t len = 0;
      while(k + len < tag && charset_name_char(t[k + len]))
        len++;
      if(len && len < cap) {
        memcpy(name, t + k, len);
        name[len] = '\0';
        return 1;
      }
    }
  }
  return 0;
}

/* ---- rendering ---- */

enum html_role {
  ROLE_INLINE = 0,
  ROLE_SKIP,  /* not text: neither it nor its content */
  ROLE_HEAD,  /* not text, but holds <title> and <meta name=author> */
  ROLE_TITLE, /* meta.title */
  ROLE_BLOCK, /* its own line(s) */
  ROLE_PARA,  /* its own line(s), set off by an empty line */
  ROLE_LIST,  /* ul, ol: like ROLE_PARA, and items nest */
  ROLE_ITEM,  /* li */
  ROLE_ROW,   /* tr */
  ROLE_CELL,  /* td, th */
  ROLE_PRE,
  ROLE_BR
};

struct html_element {
  const char *name;
  enum html_role role;
};

/* Sorted by name for bsearch. */
static const struct html_element html_elements[] = {
  {"address", ROLE_BLOCK},  {"article", ROLE_BLOCK},    {"aside", ROLE_BLOCK},
  {"blockquote", ROLE_PARA}, {"body", ROLE_BLOCK},      {"br", ROLE_BR},
  {"caption", ROLE_BLOCK},  {"center", ROLE_BLOCK},     {"dd", ROLE_BLOCK},
  {"details", ROLE_BLOCK},  {"dir", ROLE_LIST},         {"div", ROLE_BLOCK},
  {"dl", ROLE_PARA},        {"dt", ROLE_BLOCK},         {"fieldset", ROLE_BLOCK},
  {"figcaption", ROLE_BLOCK}, {"figure", ROLE_BLOCK},   {"footer", ROLE_BLOCK},
  {"form", ROLE_BLOCK},     {"h1", ROLE_PARA},          {"h2", ROLE_PARA},
  {"h3", ROLE_PARA},        {"h4", ROLE_PARA},          {"h5", ROLE_PARA},
  {"h6", ROLE_PARA},        {"head", ROLE_HEAD},        {"header", ROLE_BLOCK},
  {"hr", ROLE_PARA},        {"iframe", ROLE_SKIP},      {"legend", ROLE_BLOCK},
  {"li", ROLE_ITEM},        {"main", ROLE_BLOCK},       {"menu", ROLE_LIST},
  {"nav", ROLE_BLOCK},      {"noscript", ROLE_SKIP},    {"ol", ROLE_LIST},
  {"p", ROLE_PARA},         {"pre", ROLE_PRE},          {"script", ROLE_SKIP},
  {"section", ROLE_BLOCK},  {"style", ROLE_SKIP},       {"summary", ROLE_BLOCK},
  {"table", ROLE_PARA},     {"td", ROLE_CELL},          {"template", ROLE_SKIP},
  {"th", ROLE_CELL},        {"title", ROLE_TITLE},      {"tr", ROLE_ROW},
  {"ul", ROLE_LIST},
};

static int element_cmp(const void *key, const void *elem)
{
  return strcmp(key, ((const struct html_element *)elem)->name);
}

static enum html_role role_of(const xmlNode *n)
{
  const char *name = (const char *)n->name;
  if(!name)
    return ROLE_INLINE;
  /* <h:p> in prefixed XHTML is a p. */
  const char *colon = strchr(name, ':');
  if(colon)
    name = colon + 1;
  const struct html_element *e =
      bsearch(name, html_elements, sizeof(html_elements) / sizeof(html_elements[0]),
              sizeof(html_elements[0]), element_cmp);
  return e ? e->role : ROLE_INLINE;
}

struct html_out {
  struct dp_buf *text;
  int want_lines; /* line breaks owed before the next text (the most asked for) */
  int space;      /* white space seen since the last text on this line */
  int cell_sep;   /* a cell began: " | " before its first text, mid-line */
  int bullet;     /* an item began: "- " before its first text */
  int lists;      /* enclosing ul/ol */
  int pre;        /* enclosing pre */
  int pre_start;  /* nothing of the current pre written yet */
};

static int trailing_newlines(const struct dp_buf *b)
{
  int k = 0;
  while(k < 2 && (size_t)k < b->len && b->mem[b->len - 1 - (size_t)k] == '\n')
    k++;
  return k;
}

static int at_line_start(const struct dp_buf *b)
{
  return b->len == 0 || b->mem[b->len - 1] == '\n';
}

static void want_lines(struct html_out *o, int n)
{
  if(o->want_lines < n)
    o->want_lines = n;
}

/* Pay the line breaks owed (none at the very start of the text). */
static void pay_lines(struct html_out *o)
{
  if(o->text->len)
    for(int k = trailing_newlines(o->text); k < o->want_lines; k++)
      dpi_buf_addc(o->text, '\n');
  o->want_lines = 0;
}

/* Everything owed before text that is about to be written. */
static void begin_text(struct html_out *o)
{
  pay_lines(o);
  if(o->bullet) {
    if(!at_line_start(o->text))
      dpi_buf_addc(o->text, '\n');
    for(int k = 1; k < o->lists; k++)
      dpi_buf_adds(o->text, "  ");
    dpi_buf_adds(o->text, "- ");
  } else if(!at_line_start(o->text)) {
    if(o->cell_sep)
      dpi_buf_adds(o->text, " | ");
    else if(o->space)
      dpi_buf_addc(o->text, ' ');
  }
  o->bullet = o->cell_sep = o->space = 0;
}

static int html_space(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

static void put_text(struct html_out *o, const char *s)
{
  if(o->pre) {
    if(o->pre_start && *s == '\n')
      s++;
    else if(o->pre_start && s[0] == '\r' && s[1] == '\n')
      s += 2;
    if(*s) {
      begin_text(o);
      dpi_buf_adds(o->text, s);
      o->pre_start = 0;
    }
    return;
  }
  const unsigned char *p = (const unsigned char *)s;
  while(*p) {
    if(html_space(*p)) {
      o->space = 1;
      p++;
      continue;
    }
    /* &nbsp; padding a cell (<td>&nbsp;</td> is how pages write an empty
     * one) is not its text. */
    if(o->cell_sep && p[0] == 0xC2 && p[1] == 0xA0) {
      p += 2;
      continue;
    }
    const unsigned char *word = p;
    while(*p && !html_space(*p))
      p++;
    begin_text(o);
    dpi_buf_add(o->text, word, (size_t)(p - word));
  }
}

/* Next node in document order below top; children only when descend. */
static xmlNode *next_node(xmlNode *n, const xmlNode *top, int descend)
{
  if(descend && n->children)
    return n->children;
  for(; n && n != top; n = n->parent)
    if(n->next)
      return n->next;
  return NULL;
}

/* Text below n (all of it, markup ignored). */
static void node_text(struct dp_buf *out, xmlNode *top)
{
  for(xmlNode *n = top; n; n = next_node(n, top, 1))
    if((n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) && n->content)
      dpi_buf_adds(out, (const char *)n->content);
}

static void set_meta_text(struct dp_record *rec, const char *key, xmlNode *n, const char *value)
{
  if(value) {
    dpi_meta_text(rec, key, value, strlen(value));
    return;
  }
  struct dp_buf raw;
  dpi_buf_init(&raw, DP_MAX_SHORT);
  node_text(&raw, n);
  dpi_meta_text(rec, key, raw.mem, raw.len);
  dpi_buf_free(&raw);
}

static int is_named(const xmlNode *n, const char *name)
{
  return n->type == XML_ELEMENT_NODE && n->name && ascii_ieq((const char *)n->name, name);
}

/* <head>: only <title> and <meta name="author" content="..."> matter. */
static void read_head(struct dp_record *rec, xmlNode *head)
{
  for(xmlNode *n = head; n; n = next_node(n, head, 1)) {
    if(is_named(n, "title")) {
      set_meta_text(rec, "title", n, NULL);
    } else if(is_named(n, "meta")) {
      const char *name = dpi_xml_attr(n, "name");
      const char *content = dpi_xml_attr(n, "content");
      if(name && content && ascii_ieq(name, "author"))
        set_meta_text(rec, "author", NULL, content);
    }
  }
}

/* Entering element n; returns 1 when its children are to be walked. */
static int enter_element(struct html_out *o, struct dp_record *rec, xmlNode *n)
{
  switch(role_of(n)) {
  case ROLE_SKIP:
    return 0;
  case ROLE_HEAD:
    read_head(rec, n);
    return 0;
  case ROLE_TITLE:
    set_meta_text(rec, "title", n, NULL);
    return 0;
  case ROLE_BR:
    pay_lines(o);
    if(o->text->len)
      dpi_buf_addc(o->text, '\n');
    o->space = o->cell_sep = 0;
    return 0;
  case ROLE_BLOCK:
    want_lines(o, 1);
    break;
  case ROLE_PARA:
    want_lines(o, 2);
    break;
  case ROLE_LIST:
    want_lines(o, o->lists ? 1 : 2);
    o->lists++;
    break;
  case ROLE_ITEM:
    want_lines(o, 1);
    o->bullet = 1;
    break;
  case ROLE_ROW:
    want_lines(o, 1);
    o->cell_sep = 0;
    break;
  case ROLE_CELL:
    o->cell_sep = 1;
    break;
  case ROLE_PRE:
    want_lines(o, 2);
    o->pre++;
    o->pre_start = 1;
    break;
  case ROLE_INLINE:
    break;
  }
  return 1;
}

static void leave_element(struct html_out *o, xmlNode *n)
{
  switch(role_of(n)) {
  case ROLE_BLOCK:
  case ROLE_ROW:
    want_lines(o, 1);
    break;
  case ROLE_ITEM:
    want_lines(o, 1);
    o->bullet = 0; /* an empty item leaves no marker */
    break;
  case ROLE_PARA:
    want_lines(o, 2);
    break;
  case ROLE_LIST:
    o->lists--;
    want_lines(o, o->lists ? 1 : 2);
    break;
  case ROLE_PRE:
    o->pre--;
    o->pre_start = 0;
    want_lines(o, 2);
    break;
  default:
    break;
  }
}

/* Entering any node; returns 1 when its children are to be walked. */
static int enter_node(struct html_out *o, struct dp_record *rec, xmlNode *n)
{
  switch(n->type) {
  case XML_ELEMENT_NODE:
    return enter_element(o, rec, n);
  case XML_TEXT_NODE:
  case XML_CDATA_SECTION_NODE:
    if(n->content)
      put_text(o, (const char *)n->content);
    return 0;
  case XML_DOCUMENT_NODE:
  case XML_HTML_DOCUMENT_NODE:
    return 1;
  default:
    return 0; /* comments, processing instructions, the DTD */
  }
}

/* Depth-first walk with an enter and a leave per element, no recursion. */
static void render(struct html_out *o, struct dp_record *rec, xmlNode *top)
{
  xmlNode *n = top;
  while(n) {
    int descend = enter_node(o, rec, n);
    if(descend && n->children) {
      n = n->children;
      continue;
    }
    if(descend && n->type == XML_ELEMENT_NODE)
      leave_element(o, n);
    for(;;) {
      if(n == top)
        return;
      if(n->next) {
        n = n->next;
        break;
      }
      n = n->parent;
      /* Its children were walked, so it was entered with descend. */
      if(n->type == XML_ELEMENT_NODE)
        leave_element(o, n);
    }
  }
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  /* libxml2 is only ever given UTF-8.  Left to convert other charsets
   * itself, it stops at the first byte iconv rejects (0x81, 0x8D, 0x8F,
   * 0x90, 0x9D have no character in Windows-1252) and drops the rest of the
   * page; dpi_to_utf8 puts U+FFFD there and goes on.  The <meta> charset
   * is the page's declaration; the bytes may still overrule it (charset.h). */
  struct dp_buf utf8;
  struct dp_charset cs;
  char declared[64];
  dpi_charset_decide(body, len,
                     meta_charset(body, len < DP_HTML_META_SCAN ? len : DP_HTML_META_SCAN,
                                  declared, sizeof(declared)) ? declared : NULL, &cs);
  /* dpi_to_utf8 reserves 4 bytes an input byte; none takes more. */
  dpi_buf_init(&utf8, len < (SIZE_MAX - 64) / 4 ? len * 4 + 64 : SIZE_MAX);
  if(strcmp(cs.name, "UTF-8") || cs.bom || !dpi_utf8_valid(body, len)) {
    if(dpi_charset_convert(&utf8, body, len, &cs)) {
      dpi_buf_free(&utf8);
      return dpi_record_fail(rec, DP_KIND_INTERNAL, "out of memory converting to UTF-8");
    }
    body = (const unsigned char *)dpi_buf_str(&utf8);
    len = utf8.len;
  }
  char why[256];
  xmlDocPtr doc = dpi_html_parse(body, len, "UTF-8", why, sizeof(why));
  dpi_buf_free(&utf8);
  if(!doc)
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "%s", why);
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  struct html_out o = {.text = &text};
  dpi_json_set_str(dpi_record_object(rec, "meta"), "charset", cs.name);
  render(&o, rec, (xmlNode *)doc);
  xmlFreeDoc(doc);
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_html = {
  .name = "html",
  .summary = "HTML and XHTML pages (libxml2 HTML parser), rendered as plain text",
  .format = "html",
  .mime = "text/html",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
