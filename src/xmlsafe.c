/* xmlsafe.c - see xmlsafe.h */
#include "xmlsafe.h"

#include <libxml/HTMLparser.h>
#include <libxml/encoding.h>
#include <libxml/hash.h>
#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>

/* No network, no DTD, no entity substitution, quiet.  XML_PARSE_HUGE is
 * deliberately absent so libxml2 keeps its default size and depth limits. */
#define XML_SAFE_OPTIONS (XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | \
                          XML_PARSE_NOCDATA)

/* The error a reader should be told about: libxml2 reports every problem
 * it meets, and after the first fatal one it keeps scanning (in 2.9, with
 * SAX off), so the last message is often an after-effect far below the
 * real fault.  We keep the first error of the worst level seen, with its
 * line. */
struct xml_error {
  int level; /* xmlErrorLevel of the kept error; XML_ERR_NONE when none */
  int line;
  char msg[200];
};

/* Does s look like a name (element, attribute, prefix, entity, encoding)
 * rather than a run of document text? */
static int name_like(const char *s)
{
  size_t n = strlen(s);
  if(n == 0 || n > 64)
    return 0;
  for(size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if(c <= ' ' || c == '<' || c == '>' || c == '&' || c == '"' || c == '\'')
      return 0;
  }
  return 1;
}

/* libxml2's message, cut to what may go into an error record: its first
 * line, and never the document's own text.  Most messages quote names
 * only; a few quote content through str1..str3 (the comment in "Double
 * hyphen within comment: <!--..."), and those are cut before the quote. */
static void keep_message(struct xml_error *k, const xmlError *e)
{
  const char *m = e->message ? e->message : "";
  size_t n = strcspn(m, "\r\n");
  if(e->code == XML_ERR_HYPHEN_IN_COMMENT) {
    /* Its argument is the comment's text, even when that is one word. */
    const char *colon = memchr(m, ':', n);
    if(colon)
      n = (size_t)(colon - m);
  }
  const char *quoted[] = {e->str1, e->str2, e->str3};
  for(size_t i = 0; i < 3; i++) {
    if(!quoted[i] || !*quoted[i] || name_like(quoted[i]))
      continue;
    /* Text that is not a name: cut where it starts (or where its first
     * line starts, when libxml2 printed only part of it). */
    char head[17];
    size_t hl = strcspn(quoted[i], "\r\n");
    if(hl > sizeof(head) - 1)
      hl = sizeof(head) - 1;
    memcpy(head, quoted[i], hl);
    head[hl] = '\0';
    const char *at = hl ? strstr(m, head) : NULL;
    if(at && (size_t)(at - m) < n)
      n = (size_t)(at - m);
  }
  while(n && (m[n - 1] == ' ' || m[n - 1] == ':' || m[n - 1] == '\t'))
    n--;
  k->line = e->line;
  snprintf(k->msg, sizeof(k->msg), "%.*s", (int)n, m);
}

#if LIBXML_VERSION >= 21200
static void on_error(void *data, const xmlError *e)
#else
static void on_error(void *data, xmlErrorPtr e)
#endif
{
  xmlParserCtxtPtr ctxt = data;
  struct xml_error *k = ctxt ? ctxt->_private : NULL;
  if(!k || !e || (int)e->level <= k->level)
    return; /* the first of the worst level wins */
  k->level = (int)e->level;
  keep_message(k, e);
}

static void report(const struct xml_error *k, const char *what, char *why, size_t whylen)
{
  if(!why || !whylen)
    return;
  if(k->level != XML_ERR_NONE && k->msg[0])
    snprintf(why, whylen, "%s line %d: %s", what, k->line, k->msg);
  else
    snprintf(why, whylen, "%s: cannot be parsed", what);
}

/* Route libxml2's errors to on_error for this context only (no global
 * handler: stages may run in several threads).  XML_PARSE_NOERROR silences
 * the printing callbacks, not this structured one. */
static void watch_errors(xmlParserCtxtPtr ctxt, struct xml_error *k)
{
  memset(k, 0, sizeof(*k));
  k->level = XML_ERR_NONE;
  ctxt->_private = k;
  if(ctxt->sax) {
    ctxt->sax->serror = on_error;
    ctxt->userData = ctxt;
  }
}

static int declares_entities(xmlDocPtr doc)
{
  xmlDtdPtr dtds[2] = {doc->intSubset, doc->extSubset};
  for(int i = 0; i < 2; i++)
    if(dtds[i] && ((dtds[i]->entities && xmlHashSize(dtds[i]->entities) > 0) ||
                   (dtds[i]->pentities && xmlHashSize(dtds[i]->pentities) > 0)))
      return 1;
  return 0;
}

/* Does the prolog hold a DOCTYPE declaring entities?  Checked before
 * libxml2 sees the document, so that no entity is ever evaluated (libxml2
 * also limits expansion, as a second line).  A reference to an external DTD
 * is harmless: it is never loaded. */
static int risky_doctype(const char *s, size_t len)
{
  size_t scan = len < 65536 ? len : 65536;
  const char *d = NULL;
  for(size_t i = 0; i + 9 <= scan && !d; i++)
    if(s[i] == '<' && !memcmp(s + i, "<!DOCTYPE", 9))
      d = s + i;
  if(!d)
    return 0;
  const char *end = s + len;
  int depth = 0;
  for(const char *p = d + 9; p < end; p++) {
    if(*p == '[')
      depth++;
    else if(*p == ']')
      depth--;
    else if(*p == '>' && depth <= 0)
      end = p;
    if((size_t)(end - p) >= 8 && !memcmp(p, "<!ENTITY", 8))
      return 1;
  }
  return 0;
}

xmlDocPtr dpi_xml_parse(const void *data, size_t len, enum dp_kind *kind, char *why,
                        size_t whylen)
{
  *kind = DP_KIND_DAMAGED;
  if(risky_doctype(data, len)) {
    *kind = DP_KIND_UNSUPPORTED;
    snprintf(why, whylen, "XML declares entities; refused (protection against XXE and entity "
                          "expansion)");
    return NULL;
  }
  if(len > (size_t)0x7fffffff) {
    *kind = DP_KIND_TOO_LARGE;
    snprintf(why, whylen, "XML document too large to parse");
    return NULL;
  }
  xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
  if(!ctxt) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  struct xml_error k;
  watch_errors(ctxt, &k);
  xmlDocPtr doc = xmlCtxtReadMemory(ctxt, data, (int)len, NULL, NULL, XML_SAFE_OPTIONS);
  if(!doc || !ctxt->wellFormed) {
    report(&k, "XML not well-formed", why, whylen);
    xmlFreeDoc(doc);
    doc = NULL;
  } else if(declares_entities(doc)) {
    *kind = DP_KIND_UNSUPPORTED;
    snprintf(why, whylen, "XML declares entities; refused (protection against XXE and entity "
                          "expansion)");
    xmlFreeDoc(doc);
    doc = NULL;
  }
  xmlFreeParserCtxt(ctxt);
  return doc;
}

xmlDocPtr dpi_html_parse(const void *data, size_t len, const char *encoding, char *why,
                         size_t whylen)
{
  if(len > (size_t)0x7fffffff) {
    snprintf(why, whylen, "HTML document too large to parse");
    return NULL;
  }
  htmlParserCtxtPtr ctxt = htmlNewParserCtxt();
  if(!ctxt) {
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  struct xml_error k;
  watch_errors(ctxt, &k);
  htmlDocPtr doc = htmlCtxtReadMemory(ctxt, data, (int)len, NULL, encoding,
                                      HTML_PARSE_NONET | HTML_PARSE_NOERROR |
                                          HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER);
  if(!doc)
    report(&k, "HTML", why, whylen);
  htmlFreeParserCtxt(ctxt);
  return doc;
}

const char *dpi_xml_charset(const void *data, size_t len, const xmlDoc *doc, char *name,
                            size_t cap)
{
  /* The code unit width comes from the bytes (BOM or "<?xml" in UTF-16/32):
   * a declaration can only say "UTF-16", not the byte order. */
  xmlCharEncoding enc = len >= 4 ? xmlDetectCharEncoding((const unsigned char *)data, 4)
                                 : XML_CHAR_ENCODING_NONE;
  const char *label;
  switch(enc) {
  case XML_CHAR_ENCODING_UTF16LE: label = "UTF-16LE"; break;
  case XML_CHAR_ENCODING_UTF16BE: label = "UTF-16BE"; break;
  case XML_CHAR_ENCODING_UCS4LE:  label = "UTF-32LE"; break;
  case XML_CHAR_ENCODING_UCS4BE:  label = "UTF-32BE"; break;
  default:
    label = doc && doc->encoding ? (const char *)doc->encoding : "UTF-8";
    break;
  }
  size_t i = 0;
  for(; label[i] && i + 1 < cap; i++)
    name[i] = (char)(label[i] >= 'a' && label[i] <= 'z' ? label[i] - 'a' + 'A' : label[i]);
  if(cap)
    name[i] = '\0';
  return name;
}

static int name_char(unsigned char c)
{
  return c == '_' || c == '-' || c == '.' || c == ':' || (c >= 'a' && c <= 'z') ||
         (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

static int skip_until(const char *s, size_t len, size_t *i, const char *end)
{
  size_t el = strlen(end);
  for(; *i + el <= len; (*i)++)
    if(!memcmp(s + *i, end, el)) {
      *i += el;
      return 1;
    }
  return 0;
}

/* Copy [s, s+n) into dst (size cap) as a C string; 0 when it does not fit. */
static int copy_name(char *dst, size_t cap, const char *s, size_t n)
{
  if(n >= cap)
    return 0;
  memcpy(dst, s, n);
  dst[n] = '\0';
  return 1;
}

static int ascii_prefix_ci(const char *s, size_t len, const char *lit)
{
  size_t n = strlen(lit);
  if(len < n)
    return 0;
  for(size_t i = 0; i < n; i++) {
    char a = s[i], b = lit[i];
    if(a >= 'A' && a <= 'Z')
      a = (char)(a - 'A' + 'a');
    if(a != b)
      return 0;
  }
  return 1;
}

/* The root start tag's attributes from s[i]: the xmlns or xmlns:prefix
 * that binds the root's prefix sets root->ns.  A value cut off by the end
 * of the text leaves the namespace unknown. */
static void root_namespace(const char *s, size_t len, size_t i, struct dp_xml_root *root)
{
  while(i < len && s[i] != '>') {
    while(i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n' || s[i] == '/'))
      i++;
    size_t a0 = i;
    while(i < len && name_char((unsigned char)s[i]))
      i++;
    size_t alen = i - a0;
    if(alen == 0) {
      if(i < len && s[i] != '>')
        i++;
      continue;
    }
    while(i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
      i++;
    if(i >= len || s[i] != '=')
      continue;
    i++;
    while(i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
      i++;
    if(i >= len || (s[i] != '"' && s[i] != '\''))
      continue;
    char q = s[i++];
    size_t v0 = i;
    while(i < len && s[i] != q)
      i++;
    if(i >= len)
      return;
    size_t vlen = i - v0;
    i++;
    const char *an = s + a0;
    int match = 0;
    if(alen == 5 && !memcmp(an, "xmlns", 5))
      match = root->prefix[0] == '\0';
    else if(alen > 6 && !memcmp(an, "xmlns:", 6))
      match = alen - 6 == strlen(root->prefix) && !memcmp(an + 6, root->prefix, alen - 6);
    if(match)
      copy_name(root->ns, sizeof(root->ns), s + v0, vlen);
  }
}

int dpi_xml_peek_root(const char *s, size_t len, struct dp_xml_root *root)
{
  memset(root, 0, sizeof(*root));
  size_t i = 0;
  if(len >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3))
    i = 3;
  for(;;) {
    while(i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
      i++;
    if(i >= len || s[i] != '<')
      return 0;
    if(i + 1 < len && s[i + 1] == '?') {
      if(!skip_until(s, len, &i, "?>"))
        return 0;
    } else if(i + 3 < len && !memcmp(s + i, "<!--", 4)) {
      if(!skip_until(s, len, &i, "-->"))
        return 0;
    } else if(i + 1 < len && s[i + 1] == '!') {
      if(ascii_prefix_ci(s + i, len - i, "<!doctype html"))
        root->doctype_html = 1;
      /* A DOCTYPE may hold an internal subset in brackets. */
      int depth = 0;
      for(; i < len; i++) {
        if(s[i] == '[')
          depth++;
        else if(s[i] == ']')
          depth--;
        else if(s[i] == '>' && depth <= 0)
          break;
      }
      if(i >= len)
        return 0;
      i++;
    } else {
      break;
    }
  }
  /* s[i] == '<': the root start tag. */
  size_t n0 = ++i;
  while(i < len && name_char((unsigned char)s[i]))
    i++;
  if(i == n0 || i >= len)
    return 0;
  const char *qname = s + n0;
  size_t qlen = i - n0;
  const char *colon = memchr(qname, ':', qlen);
  if(colon) {
    if(!copy_name(root->prefix, sizeof(root->prefix), qname, (size_t)(colon - qname)) ||
       !copy_name(root->name, sizeof(root->name), colon + 1, qlen - (size_t)(colon - qname) - 1))
      return 0;
  } else if(!copy_name(root->name, sizeof(root->name), qname, qlen)) {
    return 0;
  }
  root_namespace(s, len, i, root);
  return 1;
}

int dpi_xml_text(struct dp_buf *out, const xmlNode *node)
{
  for(const xmlNode *c = node ? node->children : NULL; c; c = c->next) {
    if((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
      if(dpi_buf_adds(out, (const char *)c->content))
        return -1;
    } else if(c->type == XML_ELEMENT_NODE) {
      if(dpi_xml_text(out, c))
        return -1;
    }
  }
  return 0;
}

xmlNode *dpi_xml_child(const xmlNode *node, const char *name)
{
  for(xmlNode *c = node ? node->children : NULL; c; c = c->next)
    if(c->type == XML_ELEMENT_NODE && !strcmp((const char *)c->name, name))
      return c;
  return NULL;
}

const char *dpi_xml_attr(const xmlNode *node, const char *name)
{
  for(const xmlAttr *a = node ? node->properties : NULL; a; a = a->next)
    if(!strcmp((const char *)a->name, name) && a->children && a->children->content)
      return (const char *)a->children->content;
  return NULL;
}
