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
 *   - a list item's first paragraph starts with its label, as LibreOffice
 *     writes it: a bullet by level (U+2022, U+25E6, U+25AA), or the prefix,
 *     number(s) and suffix of a numbered level, counted from its
 *     start-value, or on from the list before (text:continue-numbering);
 *     list styles from content.xml's automatic styles, else styles.xml;
 *     nested lists are a level deeper, in their own style or their
 *     parent's;
 *   - sections, frames, text boxes, drawing shapes and the pages of a
 *     presentation (draw:page, with its presentation:notes) are read
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

/* Lists: the list style in force, the level, the counters of each level,
 * and the label the next paragraph owes. */
#define ODF_LEVELS 10

struct odf {
  const xmlNode *auto_styles; /* content.xml office:automatic-styles */
  const xmlNode *styles;      /* styles.xml office:styles, or NULL */
  const char *list_style;
  int level;
  long count[ODF_LEVELS + 1];
  char label[96];
};

static int render_blocks(struct odf *o, const xmlNode *parent, struct dp_buf *out, int depth);

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

static void render_inline(struct odf *o, const xmlNode *n, struct dp_buf *out, int depth)
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
      render_blocks(o, c, out, depth + 1);
    } else if(strcmp(name, "note-citation") && strcmp(name, "tracked-changes")) {
      render_inline(o, c, out, depth + 1); /* span, a, note, bookmarks, fields... */
    }
  }
}

static void render_rows(struct odf *o, const xmlNode *group, struct dp_buf *out,
                        struct dp_buf *cell, int depth)
{
  if(depth > DP_MAX_NESTING)
    return;
  for(const xmlNode *row = group->children; row; row = row->next) {
    if(!dpi_ox_is(row, "table-row")) {
      if(dpi_ox_is(row, "table-header-rows") || dpi_ox_is(row, "table-rows") ||
         dpi_ox_is(row, "table-row-group"))
        render_rows(o, row, out, cell, depth + 1);
      continue;
    }
    int cells = 0;
    for(const xmlNode *c = row->children; c; c = c->next) {
      if(!dpi_ox_is(c, "table-cell"))
        continue;
      dpi_buf_reset(cell);
      render_blocks(o, c, cell, depth + 1);
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

static void render_table(struct odf *o, const xmlNode *table, struct dp_buf *out, int sheet,
                         int depth)
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
  render_rows(o, table, out, &cell, depth + 1);
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

/* ---- list labels ----------------------------------------------------- */

static const xmlNode *list_style(const struct odf *o, const char *name)
{
  const xmlNode *where[] = {o->auto_styles, o->styles};
  for(int k = 0; k < 2 && name; k++)
    for(const xmlNode *c = where[k] ? where[k]->children : NULL; c; c = c->next) {
      const char *n = dpi_ox_is(c, "list-style") ? dpi_xml_attr(c, "name") : NULL;
      if(n && !strcmp(n, name))
        return c;
    }
  return NULL;
}

static void put_count(char *out, size_t cap, const char *fmt, long v)
{
  size_t w = strlen(out);
  if(w + 24 >= cap)
    return;
  if((*fmt == 'a' || *fmt == 'A') && v > 0) {
    for(long r = (v - 1) / 26; r >= 0 && w + 1 < cap; r--)
      out[w++] = (char)(*fmt + (v - 1) % 26);
    out[w] = '\0';
  } else if((*fmt == 'i' || *fmt == 'I') && v > 0 && v < 4000) {
    static const char *const rn[] = {"m", "cm", "d", "cd", "c", "xc", "l", "xl", "x", "ix",
                                     "v", "iv", "i"};
    static const int rv[] = {1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1};
    for(int i = 0; i < 13; i++)
      for(; v >= rv[i]; v -= rv[i])
        for(const char *c = rn[i]; *c && w + 1 < cap; c++)
          out[w++] = *fmt == 'I' ? (char)(*c - 'a' + 'A') : *c;
    out[w] = '\0';
  } else if(*fmt) {
    snprintf(out + w, cap - w, "%ld", v);
  }
}

/* The label of the item just counted at o->level, as LibreOffice writes
 * it: a bullet's character, or prefix, the numbers of the levels shown
 * (text:display-levels) joined by ".", and suffix. */
static const xmlNode *level_style(const xmlNode *style, long level)
{
  for(const xmlNode *c = style ? style->children : NULL; c; c = c->next) {
    const char *l = dpi_xml_attr(c, "level");
    if(l && strtol(l, NULL, 10) == level)
      return c;
  }
  return NULL;
}

static void make_label(struct odf *o)
{
  o->label[0] = '\0';
  const xmlNode *style = list_style(o, o->list_style), *lv = level_style(style, o->level);
  if(dpi_ox_is(lv, "list-level-style-bullet")) {
    /* LibreOffice's text export writes U+2022, U+25E6, U+25AA by level,
     * whatever the bullet's own (often Symbol-font) character. */
    static const char *const bullets[] = {"\xE2\x80\xA2 ", "\xE2\x97\xA6 ", "\xE2\x96\xAA "};
    snprintf(o->label, sizeof(o->label), "%s", bullets[(o->level - 1) % 3]);
  } else if(dpi_ox_is(lv, "list-level-style-number")) {
    const char *fmt = dpi_xml_attr(lv, "num-format"), *d = dpi_xml_attr(lv, "display-levels");
    const char *pre = dpi_xml_attr(lv, "num-prefix"), *suf = dpi_xml_attr(lv, "num-suffix");
    long shown = d ? strtol(d, NULL, 10) : 1;
    if(!fmt || !*fmt)
      return;
    snprintf(o->label, sizeof(o->label), "%s", pre ? pre : "");
    for(long k = o->level - (shown > 0 ? shown : 1) + 1; k <= o->level; k++) {
      if(k < 1)
        continue;
      const char *kf = k == o->level ? fmt : dpi_xml_attr(level_style(style, k), "num-format");
      put_count(o->label, sizeof(o->label), kf ? kf : "1", o->count[k]);
      if(k < o->level)
        strncat(o->label, ".", sizeof(o->label) - strlen(o->label) - 1);
    }
    strncat(o->label, suf ? suf : "", sizeof(o->label) - strlen(o->label) - 1);
    strncat(o->label, " ", sizeof(o->label) - strlen(o->label) - 1);
  }
}

/* A list: its items counted at one level deeper, in its own style or the
 * enclosing list's. */
static void render_list(struct odf *o, const xmlNode *list, struct dp_buf *out, int depth)
{
  const char *saved = o->list_style, *own = dpi_xml_attr(list, "style-name");
  if(own)
    o->list_style = own;
  if(o->level < ODF_LEVELS)
    o->level++;
  /* A list that continues the one before keeps counting; any other starts
   * at its level's start-value. */
  const char *cont = dpi_xml_attr(list, "continue-numbering");
  if(!(cont && !strcmp(cont, "true")) && !dpi_xml_attr(list, "continue-list")) {
    const char *first = dpi_xml_attr(level_style(list_style(o, o->list_style), o->level),
                                     "start-value");
    o->count[o->level] = first ? strtol(first, NULL, 10) - 1 : 0;
  }
  const char *start = NULL;
  for(const xmlNode *c = list->children; c; c = c->next) {
    if(dpi_ox_is(c, "list-item")) {
      start = dpi_xml_attr(c, "start-value");
      o->count[o->level] = start ? strtol(start, NULL, 10) : o->count[o->level] + 1;
      make_label(o);
      render_blocks(o, c, out, depth + 1);
      o->label[0] = '\0';
    } else if(dpi_ox_is(c, "list-header")) {
      render_blocks(o, c, out, depth + 1);
    }
  }
  o->level--;
  o->list_style = saved;
}

static int render_blocks(struct odf *o, const xmlNode *parent, struct dp_buf *out, int depth)
{
  if(depth > DP_MAX_NESTING)
    return -1;
  for(const xmlNode *c = parent->children; c; c = c->next) {
    if(c->type != XML_ELEMENT_NODE)
      continue;
    const char *name = (const char *)c->name;
    if(!strcmp(name, "p") || !strcmp(name, "h")) {
      size_t at = out->len;
      dpi_buf_adds(out, o->label);
      o->label[0] = '\0'; /* a label goes before the item's first paragraph only */
      size_t text = out->len;
      render_inline(o, c, out, depth + 1);
      if(out->len == text && !dpi_buf_failed(out))
        dpi_buf_truncate(out, at);
      dpi_lines_end(out);
    } else if(!strcmp(name, "list")) {
      render_list(o, c, out, depth + 1);
    } else if(!strcmp(name, "table")) {
      render_table(o, c, out, dpi_ox_is(parent, "spreadsheet"), depth + 1);
    } else if(!strcmp(name, "page")) {
      dpi_lines_gap(out);
      render_blocks(o, c, out, depth + 1);
    } else if(!skipped(c)) {
      render_blocks(o, c, out, depth + 1); /* sections, frames, shapes, notes... */
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
  xmlDocPtr styles = NULL;
  if(dpi_pkg_xml(&p, "styles.xml", 1, &styles) != DP_OK) {
    xmlFreeDoc(doc);
    dpi_pkg_close(&p);
    return DP_FAIL;
  }
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  const xmlNode *root = xmlDocGetRootElement(doc);
  struct odf o;
  memset(&o, 0, sizeof(o));
  o.auto_styles = dpi_xml_child(root, "automatic-styles");
  o.styles = styles ? dpi_xml_child(xmlDocGetRootElement(styles), "styles") : NULL;
  const xmlNode *body = dpi_xml_child(root, "body");
  if(body && render_blocks(&o, body, &text, 0))
    rc = dpi_record_fail(rec, DP_KIND_TOO_LARGE, "content.xml nested more than %d deep",
                         DP_MAX_NESTING);
  xmlFreeDoc(styles);
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
