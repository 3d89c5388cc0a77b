/* pptx.c - PowerPoint presentations (OOXML PresentationML, ECMA-376 part 1)
 * to text.
 *
 * The package is read through src/opc.h (libarchive, and libxml2 through
 * dpi_xml_parse: no network, no DTD, no entities).  The presentation is
 * the officeDocument relationship of _rels/.rels; its p:sldIdLst gives the
 * slides in show order (each through its r:id), and each slide's
 * notesSlide relationship its speaker notes.
 *
 * Output per slide, an empty line between slides: the text of its shape
 * tree in document order (p:sp text bodies, groups read through, tables
 * of graphic frames as rows with cells joined by " | "), each DrawingML
 * paragraph (a:p) one line, a:br a line break; then the notes: the text of
 * the notes slide's shapes, but for its placeholders for the slide image,
 * the slide number, header, footer and date.  Text inherited from layouts and masters (placeholder
 * prompts, footers) is not the slide's and is not read.  Title and author
 * come from docProps/core.xml.  At most DP_OOXML_MAX_SLIDES slides. */
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "extract.h"
#include "opc.h"
#include "registry.h"
#include "xmlsafe.h"

static void put_runs(const xmlNode *p, struct dp_buf *out, int depth)
{
  if(depth > DP_MAX_NESTING)
    return;
  for(const xmlNode *c = p->children; c; c = c->next) {
    if(dpi_ox_is(c, "t")) {
      struct dp_buf t;
      dpi_buf_init(&t, out->max);
      dpi_xml_text(&t, c);
      dpi_lines_put(out, dpi_buf_str(&t));
      dpi_buf_free(&t);
    } else if(dpi_ox_is(c, "br")) {
      dpi_lines_end(out);
    } else if(dpi_ox_is(c, "r") || dpi_ox_is(c, "fld")) {
      put_runs(c, out, depth + 1);
    }
  }
}

/* A text body (p:txBody, a:txBody): one line per a:p. */
static void put_body(const xmlNode *body, struct dp_buf *out)
{
  for(const xmlNode *p = body ? body->children : NULL; p; p = p->next)
    if(dpi_ox_is(p, "p")) {
      put_runs(p, out, 0);
      dpi_lines_end(out);
    }
}

static void put_table(const xmlNode *tbl, struct dp_buf *out)
{
  struct dp_buf cell;
  dpi_buf_init(&cell, out->max);
  for(const xmlNode *tr = tbl->children; tr; tr = tr->next) {
    if(!dpi_ox_is(tr, "tr"))
      continue;
    int cells = 0;
    for(const xmlNode *tc = tr->children; tc; tc = tc->next) {
      if(!dpi_ox_is(tc, "tc"))
        continue;
      dpi_buf_reset(&cell);
      put_body(dpi_xml_child(tc, "txBody"), &cell);
      while(cell.len && cell.mem[cell.len - 1] == '\n')
        cell.len--;
      for(size_t i = 0; i < cell.len; i++)
        if(cell.mem[i] == '\n')
          cell.mem[i] = ' ';
      if(!cell.len)
        continue;
      if(cells++)
        dpi_buf_adds(out, " | ");
      dpi_buf_add(out, cell.mem, cell.len);
    }
    dpi_lines_end(out);
  }
  if(dpi_buf_failed(&cell))
    (void)dpi_buf_reserve(out, out->max + 1); /* a cell passed the cap: so does the text */
  dpi_buf_free(&cell);
}

/* The placeholder type of a shape (p:nvSpPr/p:nvPr/p:ph type), or NULL. */
static const char *placeholder(const xmlNode *sp)
{
  const xmlNode *ph = dpi_xml_child(dpi_xml_child(dpi_xml_child(sp, "nvSpPr"), "nvPr"), "ph");
  if(!ph)
    return NULL;
  const char *type = dpi_xml_attr(ph, "type");
  return type ? type : "body"; /* a placeholder without a type is a body */
}

/* Placeholders of a notes slide that are not notes: the slide's image,
 * its number, the header, the footer and the date. */
static int notes_furniture(const char *ph)
{
  static const char *const types[] = {"sldImg", "sldNum", "hdr", "ftr", "dt", NULL};
  for(int i = 0; ph && types[i]; i++)
    if(!strcmp(ph, types[i]))
      return 1;
  return 0;
}

/* A shape tree (p:spTree, p:grpSp) in document order; of notes, what is
 * not furniture. */
static void put_tree(const xmlNode *tree, struct dp_buf *out, int notes, int depth)
{
  if(depth > DP_MAX_NESTING)
    return;
  for(const xmlNode *c = tree->children; c; c = c->next) {
    if(dpi_ox_is(c, "sp")) {
      if(!notes || !notes_furniture(placeholder(c)))
        put_body(dpi_xml_child(c, "txBody"), out);
    } else if(dpi_ox_is(c, "grpSp") || dpi_ox_is(c, "AlternateContent") ||
              dpi_ox_is(c, "Choice")) {
      put_tree(c, out, notes, depth + 1);
    } else if(dpi_ox_is(c, "graphicFrame") && !notes) {
      const xmlNode *data = dpi_xml_child(dpi_xml_child(c, "graphic"), "graphicData");
      const xmlNode *tbl = dpi_xml_child(data, "tbl");
      if(tbl)
        put_table(tbl, out);
    }
  }
}

static enum dp_status put_slide_part(struct dp_pkg *p, const char *part, int notes,
                                     struct dp_buf *out)
{
  xmlDocPtr doc;
  enum dp_status rc = dpi_pkg_xml(p, part, 1, &doc);
  if(rc != DP_OK || !doc)
    return rc;
  const xmlNode *csld = dpi_xml_child(xmlDocGetRootElement(doc), "cSld");
  const xmlNode *tree = dpi_xml_child(csld, "spTree");
  if(tree)
    put_tree(tree, out, notes, 0);
  xmlFreeDoc(doc);
  return DP_OK;
}

static enum dp_status put_slide(struct dp_pkg *p, const char *part, struct dp_buf *out)
{
  if(dpi_zip_find(p->zip, part) < 0) {
    dpi_record_warn(p->rec, "slide not read: the package has no part %s", part);
    return DP_OK;
  }
  dpi_lines_gap(out);
  enum dp_status rc = put_slide_part(p, part, 0, out);
  if(rc != DP_OK)
    return rc;
  struct dp_rels rels;
  rc = dpi_pkg_rels(p, part, &rels);
  size_t from = 0;
  const struct dp_rel *r = dpi_rels_type(&rels, "notesSlide", &from);
  if(rc == DP_OK && r)
    rc = put_slide_part(p, r->target, 1, out);
  dpi_rels_free(&rels);
  return rc;
}

static enum dp_status put_slides(struct dp_pkg *p, const xmlNode *pres,
                                 const struct dp_rels *rels, struct dp_buf *out)
{
  const xmlNode *list = dpi_xml_child(pres, "sldIdLst");
  size_t k = 0;
  enum dp_status rc = DP_OK;
  for(const xmlNode *s = list ? list->children : NULL; s && rc == DP_OK; s = s->next) {
    if(!dpi_ox_is(s, "sldId"))
      continue;
    if(k++ == DP_OOXML_MAX_SLIDES)
      return dpi_record_fail(p->rec, DP_KIND_TOO_LARGE, "presentation has more than %d slides",
                             DP_OOXML_MAX_SLIDES);
    const struct dp_rel *r = dpi_rels_id(rels, dpi_ox_rid(s));
    if(r)
      rc = put_slide(p, r->target, out);
    else
      dpi_record_warn(p->rec, "slide %zu not read: no relationship names its part", k);
  }
  return rc;
}

static enum dp_status render(struct dp_pkg *p, struct dp_buf *text)
{
  char *main = dpi_pkg_main(p, "ppt/presentation.xml");
  if(!main)
    return dpi_record_fail(p->rec, DP_KIND_INTERNAL, "out of memory");
  struct dp_rels rels = {NULL, 0};
  xmlDocPtr pres = NULL;
  enum dp_status rc = dpi_pkg_xml(p, main, 0, &pres);
  if(rc == DP_OK)
    rc = dpi_pkg_rels(p, main, &rels);
  if(rc == DP_OK && xmlDocGetRootElement(pres))
    rc = put_slides(p, xmlDocGetRootElement(pres), &rels, text);
  if(rc == DP_OK)
    rc = dpi_pkg_core(p);
  xmlFreeDoc(pres);
  dpi_rels_free(&rels);
  free(main);
  return rc;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  struct dp_pkg p;
  if(dpi_pkg_open(&p, st, rec) != DP_OK)
    return DP_FAIL;
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  enum dp_status rc = render(&p, &text);
  dpi_pkg_close(&p);
  if(rc != DP_OK) {
    dpi_buf_free(&text);
    return rc;
  }
  dpi_lines_end(&text);
  return dpi_extract_finish(st, rec, &text, out);
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return dpi_ooxml_kind(peek) == 2 ? 80 : 0;
}

const struct dp_stage_ops dp_stage_pptx = {
  .name = "pptx",
  .summary = "PowerPoint presentations (PPTX): slide text in show order, with speaker notes",
  .format = "pptx",
  .mime = "application/vnd.openxmlformats-officedocument.presentationml.presentation",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
