/* odf.c - OpenDocument text, spreadsheets and presentations (ODT, ODS, ODP;
 * OASIS ODF 1.2/1.3) to text.
 *
 * The package is a ZIP whose first member, `mimetype`, names the kind; it
 * is read through src/opc.h (libarchive, and libxml2 through dpi_xml_parse:
 * no network, no DTD, no entities).  content.xml holds the text, meta.xml
 * the title (dc:title), the author (meta:initial-creator, else dc:creator)
 * and the creation date.  A package without content.xml is damaged.
 *
 * Output, in document order:
 *   - each paragraph or heading (text:p, text:h) one line; text:s is its
 *     count of spaces, text:tab a tab, text:line-break a line break, runs of
 *     white space in the XML one space (as ODF says); notes (text:note) and
 *     comments (office:annotation) are read where they are anchored, their
 *     citation marks left out;
 *   - lists, sections, frames, text boxes, drawing shapes and the pages of
 *     a presentation (draw:page, with its presentation:notes) are read
 *     through;
 *   - each table row (table:table-row) one line with its non-empty cells
 *     joined by " | "; a table of a spreadsheet starts with its name on a
 *     line of its own, and an empty line comes before each sheet and each
 *     page.
 * Left out: tracked changes (text:tracked-changes: deleted text), forms,
 * and declarations (text:sequence-decls...), which are not text. */
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "extract.h"
#include "opc.h"
#include "registry.h"
#include "xmlsafe.h"

#define DC_NS "http://purl.org/dc/elements/1.1/"

static int render_blocks(const xmlNode *parent, struct dp_buf *out, int depth);

/* Text content with XML white space collapsed, as ODF reads it. */
static void put_collapsed(struct dp_buf *out, const char *s)
{
  for(; *s; s++) {
    int blank = *s == ' ' || *s == '\n' || *s == '\r' || *s == '\t';
    if(!blank)
      dpi_buf_addc(out, *s);
    else if(out->len && out->mem[out->len - 1] != ' ' && out->mem[out->len - 1] != '\n')
      dpi_buf_addc(out, ' ');
  }
}

static void render_inline(const xmlNode *n, struct dp_buf *out, int depth)
{
  if(depth > DP_MAX_NESTING)
    return;
  for(const xmlNode *c = n->children; c; c = c->next) {
    if(c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) {
      if(c->content)
        put_collapsed(out, (const char *)c->content);
      continue;
    }
    if(c->type != XML_ELEMENT_NODE)
      continue;
    const char *name = (const char *)c->name;
    if(!strcmp(name, "s")) {
      const char *k = dpi_xml_attr(c, "c");
      long count = k ? strtol(k, NULL, 10) : 1;
      for(long i = 0; i < count && i < 1024; i++)
        dpi_buf_addc(out, ' ');
    } else if(!strcmp(name, "tab")) {
      dpi_buf_addc(out, '\t');
    } else if(!strcmp(name, "line-break")) {
      dpi_lines_end(out);
    } else if(!strcmp(name, "note-body") || !strcmp(name, "annotation") ||
              !strcmp(name, "frame") || !strcmp(name, "text-box")) {
      dpi_lines_end(out); /* paragraphs of their own, then the rest of ours */
      render_blocks(c, out, depth + 1);
    } else if(strcmp(name, "note-citation") && strcmp(name, "tracked-changes")) {
      render_inline(c, out, depth + 1); /* span, a, note, bookmarks, fields... */
    }
  }
}

static void render_table(const xmlNode *table, struct dp_buf *out, int sheet, int depth);

static void render_rows(const xmlNode *group, struct dp_buf *out, struct dp_buf *cell, int depth)
{
  if(depth > DP_MAX_NESTING)
    return;
  for(const xmlNode *row = group->children; row; row = row->next) {
    if(!dpi_ox_is(row, "table-row")) {
      if(dpi_ox_is(row, "table-header-rows") || dpi_ox_is(row, "table-rows") ||
         dpi_ox_is(row, "table-row-group"))
        render_rows(row, out, cell, depth + 1);
      continue;
    }
    int cells = 0;
    for(const xmlNode *c = row->children; c; c = c->next) {
      if(!dpi_ox_is(c, "table-cell"))
        continue;
      dpi_buf_reset(cell);
      render_blocks(c, cell, depth + 1);
      while(cell->len && cell->mem[cell->len - 1] == '\n')
        cell->len--;
      for(size_t i = 0; i < cell->len; i++)
        if(cell->mem[i] == '\n')
          cell->mem[i] = ' ';
      if(!cell->len)
        continue;
      if(cells++)
        dpi_buf_adds(out, " | ");
      dpi_buf_add(out, cell->mem, cell->len);
    }
    dpi_lines_end(out);
  }
}

static void render_table(const xmlNode *table, struct dp_buf *out, int sheet, int depth)
{
  const char *name = dpi_xml_attr(table, "name");
  dpi_lines_end(out);
  if(sheet) {
    dpi_lines_gap(out);
    if(name) {
      dpi_lines_put(out, name);
      dpi_lines_end(out);
    }
  }
  struct dp_buf cell;
  dpi_buf_init(&cell, out->max);
  render_rows(table, out, &cell, depth + 1);
  if(dpi_buf_failed(&cell))
    (void)dpi_buf_reserve(out, out->max + 1); /* a cell passed the cap: so does the text */
  dpi_buf_free(&cell);
}

/* Elements whose content is not text: declarations, and the author and
 * date of a comment (Dublin Core). */
static int skipped(const xmlNode *n)
{
  const char *name = (const char *)n->name;
  if(n->ns && n->ns->href && !strcmp((const char *)n->ns->href, DC_NS))
    return 1;
  static const char *const names[] = {
    "tracked-changes", "forms", "sequence-decls", "variable-decls", "user-field-decls",
    "dde-connection-decls", "named-expressions", "database-ranges", "calculation-settings",
    "content-validations", "label-ranges", "note-citation", NULL};
  for(int i = 0; names[i]; i++)
    if(!strcmp(name, names[i]))
      return 1;
  return 0;
}

static int render_blocks(const xmlNode *parent, struct dp_buf *out, int depth)
{
  if(depth > DP_MAX_NESTING)
    return -1;
  for(const xmlNode *c = parent->children; c; c = c->next) {
    if(c->type != XML_ELEMENT_NODE)
      continue;
    const char *name = (const char *)c->name;
    if(!strcmp(name, "p") || !strcmp(name, "h")) {
      render_inline(c, out, depth + 1);
      dpi_lines_end(out);
    } else if(!strcmp(name, "table")) {
      render_table(c, out, dpi_ox_is(parent, "spreadsheet"), depth + 1);
    } else if(!strcmp(name, "page")) {
      dpi_lines_gap(out);
      render_blocks(c, out, depth + 1);
    } else if(!skipped(c)) {
      render_blocks(c, out, depth + 1); /* lists, sections, frames, shapes, notes... */
    }
  }
  return 0;
}

static void read_meta(struct dp_pkg *p)
{
  xmlDocPtr doc;
  if(dpi_pkg_xml(p, "meta.xml", 1, &doc) != DP_OK || !doc)
    return;
  const xmlNode *meta = dpi_xml_child(xmlDocGetRootElement(doc), "meta");
  static const char *const keys[][2] = {{"title", "title"}, {"author", "initial-creator"},
                                        {"author", "creator"}};
  struct dp_buf b;
  dpi_buf_init(&b, DP_MAX_SHORT);
  for(size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
    const xmlNode *n = dpi_xml_child(meta, keys[k][1]);
    dpi_buf_reset(&b);
    if(n && !dpi_xml_text(&b, n))
      dpi_meta_text(p->rec, keys[k][0], dpi_buf_str(&b), b.len);
  }
  const xmlNode *created = dpi_xml_child(meta, "creation-date");
  dpi_buf_reset(&b);
  if(created && !dpi_xml_text(&b, created))
    dpi_doc_fact(p->rec, "date", dpi_buf_str(&b), b.len);
  dpi_buf_free(&b);
  xmlFreeDoc(doc);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  struct dp_pkg p;
  if(dpi_pkg_open(&p, st, rec) != DP_OK)
    return DP_FAIL;
  xmlDocPtr doc;
  enum dp_status rc = dpi_pkg_xml(&p, "content.xml", 0, &doc);
  if(rc != DP_OK) {
    dpi_pkg_close(&p);
    return rc;
  }
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  const xmlNode *body = dpi_xml_child(xmlDocGetRootElement(doc), "body");
  if(body && render_blocks(body, &text, 0))
    rc = dpi_record_fail(rec, DP_KIND_TOO_LARGE, "content.xml nested more than %d deep",
                         DP_MAX_NESTING);
  xmlFreeDoc(doc);
  if(rc == DP_OK)
    read_meta(&p);
  dpi_pkg_close(&p);
  if(rc != DP_OK) {
    dpi_buf_free(&text);
    return rc;
  }
  dpi_lines_end(&text);
  return dpi_extract_finish(st, rec, &text, out);
}

/* The mimetype member: 0 text, 1 spreadsheet, 2 presentation, or -1.
 * Templates and master documents are read as their kind. */
static int odf_kind(const struct dp_peek *peek)
{
  static const char *const types[] = {"application/vnd.oasis.opendocument.text",
                                      "application/vnd.oasis.opendocument.spreadsheet",
                                      "application/vnd.oasis.opendocument.presentation", NULL};
  if(!peek->all || !dpi_zip_peek_magic(peek->all, peek->total))
    return -1;
  return dpi_zip_peek_find(peek->all, peek->total, "mimetype", types);
}

static int bid_odt(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return odf_kind(peek) == 0 ? 80 : 0;
}

static int bid_ods(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return odf_kind(peek) == 1 ? 80 : 0;
}

static int bid_odp(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return odf_kind(peek) == 2 ? 80 : 0;
}

const struct dp_stage_ops dp_stage_odt = {
  .name = "odt",
  .summary = "OpenDocument text (ODT): paragraphs, lists, tables, notes and comments as lines",
  .format = "odt",
  .mime = "application/vnd.oasis.opendocument.text",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid_odt,
  .process = process,
};

const struct dp_stage_ops dp_stage_ods = {
  .name = "ods",
  .summary = "OpenDocument spreadsheets (ODS): each sheet's name and its rows of cells",
  .format = "ods",
  .mime = "application/vnd.oasis.opendocument.spreadsheet",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid_ods,
  .process = process,
};

const struct dp_stage_ops dp_stage_odp = {
  .name = "odp",
  .summary = "OpenDocument presentations (ODP): each page's text, with its notes",
  .format = "odp",
  .mime = "application/vnd.oasis.opendocument.presentation",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid_odp,
  .process = process,
};
