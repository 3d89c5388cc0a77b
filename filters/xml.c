/* xml.c - generic XML: the text of every element, one line per text run.
 *
 * The fallback for well-formed XML that no specific extractor claims (a
 * FHIR XML resource, an export of some system).  Nothing is known about the
 * vocabulary, so there is no rendering beyond this: each element that
 * directly holds non-blank text (text or CDATA children) gives a line of that
 * text with white space collapsed, in document order.  When child elements
 * interrupt an element's own text, the text before and after the child are
 * separate lines, so reading order is kept and words of different elements
 * never run together.  Attributes are ignored (they hold codes and ids far
 * more often than prose).
 *
 * libxml2 runs through dpi_xml_parse (no network, no DTD, no entity
 * substitution); entity references left in the tree are skipped, never
 * expanded. */
#include <json-c/json.h>
#include <libxml/tree.h>
#include <string.h>

#include "dplimits.h"
#include "extract.h"
#include "registry.h"
#include "textconv.h"
#include "xmlsafe.h"

static int xml_space(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The line being collected: an element's own text up to the next child
 * element, white space collapsed as it is appended. */
struct line {
  struct dp_buf *out;
  int open;  /* a line has been started in out */
  int space; /* a space is owed before the next word */
};

static void line_text(struct line *l, const char *s)
{
  while(*s) {
    if(xml_space((unsigned char)*s)) {
      l->space = 1;
      s++;
      continue;
    }
    size_t n = 0;
    while(s[n] && !xml_space((unsigned char)s[n]))
      n++;
    if(!l->open) {
      l->open = 1;
    } else if(l->space) {
      dpi_buf_addc(l->out, ' ');
    }
    l->space = 0;
    dpi_buf_add(l->out, s, n);
    s += n;
  }
}

static void line_end(struct line *l)
{
  if(l->open)
    dpi_buf_addc(l->out, '\n');
  l->open = 0;
  l->space = 0;
}

/* Returns -1 when the tree is nested deeper than DP_MAX_NESTING (libxml2's
 * own depth limit normally stops such a document first). */
static int element_lines(const xmlNode *el, struct dp_buf *out, int depth)
{
  if(depth > DP_MAX_NESTING)
    return -1;
  struct line l = {out, 0, 0};
  for(const xmlNode *c = el->children; c; c = c->next) {
    if((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content) {
      line_text(&l, (const char *)c->content);
    } else if(c->type == XML_ELEMENT_NODE) {
      line_end(&l);
      if(element_lines(c, out, depth + 1))
        return -1;
    }
    /* Entity references, comments and processing instructions: skipped. */
  }
  line_end(&l);
  return 0;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  struct dp_xml_root root;
  if(!dpi_xml_peek_root(peek->text, peek->text_len, &root))
    return 0;
  if(!strcmp(root.name, "html") || !strcmp(root.name, "HTML"))
    return 0; /* the HTML extractor's */
  /* An XML declaration (after the BOM, which peek->text no longer has). */
  const char *t = peek->text;
  int declared = peek->text_len >= 6 && !memcmp(t, "<?xml", 5) && xml_space((unsigned char)t[5]);
  return declared || root.ns[0] ? 20 : 10;
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
  if(!root) {
    xmlFreeDoc(doc);
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "XML document has no root element");
  }
  if(!dpi_record_str(rec, "format"))
    dpi_record_set_str(rec, "format", st->ops->format);
  char charset[32];
  dpi_json_set_str(dpi_record_object(rec, "meta"), "charset",
                   dpi_xml_charset(body, len, doc, charset, sizeof(charset)));

  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  if(element_lines(root, &text, 1)) {
    dpi_buf_free(&text);
    xmlFreeDoc(doc);
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "XML elements nested more than %d deep",
                           DP_MAX_NESTING);
  }

  const xmlNode *title = dpi_xml_child(root, "title");
  if(title) {
    struct dp_buf raw;
    dpi_buf_init(&raw, DP_MAX_SHORT);
    if(!dpi_xml_text(&raw, title))
      dpi_meta_text(rec, "title", raw.mem, raw.len);
    dpi_buf_free(&raw);
  }
  xmlFreeDoc(doc);
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_xml = {
  .name = "xml",
  .summary = "generic XML: the text of every element, one line per element",
  .format = "xml",
  .mime = "application/xml",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
