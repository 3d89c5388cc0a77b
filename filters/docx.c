/* docx.c - Word documents (OOXML WordprocessingML, ECMA-376 part 1) to text.
 *
 * The package is read through src/opc.h (libarchive for the ZIP, libxml2
 * through dpi_xml_parse for the parts: no network, no DTD, no entities).
 * The main part is the officeDocument relationship of _rels/.rels (so a
 * document whose main part is not word/document.xml still reads), and its
 * relationships name the other parts.
 *
 * Output, in this order, an empty line between the parts that give text:
 *   - the body in document order: each paragraph (w:p) one line, its runs'
 *     w:t text with w:tab as a tab and w:br / w:cr as line breaks; a list
 *     paragraph (w:numPr) is labelled as Word numbers it (see numbering);
 *     each table row (w:tr) one line with its cells joined by " | " (the
 *     paragraphs of a cell, and tables nested in it, joined by spaces);
 *     structured document tags, smart tags, custom XML, hyperlinks,
 *     simple fields and tracked insertions are read through;
 *   - footnotes and endnotes, then headers and footers, then comments: the
 *     same way, one part after the other as the main part lists them.
 * Left out: deleted text (w:del, w:delText), field instructions
 * (w:instrText), and the fallback of mc:AlternateContent (a second copy of
 * the text of its choice).
 * Title and author come from docProps/core.xml, its created date is the
 * document's date.  A missing main part is damaged; a part that cannot be
 * read beside it is named in meta.warnings. */
#include <libxml/tree.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "extract.h"
#include "opc.h"
#include "registry.h"
#include "xmlsafe.h"

/* List levels of a w:num: the format and text of each of 9 levels, and
 * the counters they have reached. */
#define DOCX_LEVELS 9
#define DOCX_MAX_LISTS 1024

struct list_def {
  long num_id;
  char fmt[DOCX_LEVELS][16];
  char text[DOCX_LEVELS][32];
  long start[DOCX_LEVELS];
  long count[DOCX_LEVELS];
};

struct docx {
  const struct dp_stage *st;
  struct dp_record *rec;
  struct list_def *lists;
  size_t nlists;
};

static int render_blocks(struct docx *d, const xmlNode *parent, struct dp_buf *out, int depth);

/* ---- numbering ------------------------------------------------------ */

static const xmlNode *abstract_num(const xmlNode *root, const char *id)
{
  for(const xmlNode *a = root->children; a; a = a->next) {
    const char *aid = dpi_ox_is(a, "abstractNum") ? dpi_xml_attr(a, "abstractNumId") : NULL;
    if(aid && !strcmp(aid, id))
      return a;
  }
  return NULL;
}

static void copy_val(char *dst, size_t cap, const xmlNode *n)
{
  const char *v = dpi_xml_attr(n, "val");
  snprintf(dst, cap, "%s", v ? v : "");
}

static void read_levels(struct list_def *l, const xmlNode *abs)
{
  for(const xmlNode *lv = abs ? abs->children : NULL; lv; lv = lv->next) {
    const char *il = dpi_ox_is(lv, "lvl") ? dpi_xml_attr(lv, "ilvl") : NULL;
    long k = il ? strtol(il, NULL, 10) : -1;
    if(k < 0 || k >= DOCX_LEVELS)
      continue;
    copy_val(l->fmt[k], sizeof(l->fmt[k]), dpi_xml_child(lv, "numFmt"));
    copy_val(l->text[k], sizeof(l->text[k]), dpi_xml_child(lv, "lvlText"));
    const char *s = dpi_xml_attr(dpi_xml_child(lv, "start"), "val");
    l->start[k] = s ? strtol(s, NULL, 10) : 1;
  }
}

/* word/numbering.xml: each w:num with the levels of its w:abstractNum. */
static void read_numbering(struct docx *d, const xmlNode *root)
{
  size_t n = 0;
  for(const xmlNode *c = root->children; c; c = c->next)
    n += dpi_ox_is(c, "num");
  if(n > DOCX_MAX_LISTS)
    n = DOCX_MAX_LISTS;
  d->lists = calloc(n ? n : 1, sizeof(*d->lists));
  if(!d->lists)
    return;
  for(const xmlNode *c = root->children; c && d->nlists < n; c = c->next) {
    const char *id = dpi_ox_is(c, "num") ? dpi_xml_attr(c, "numId") : NULL;
    const char *abs = dpi_xml_attr(dpi_xml_child(c, "abstractNumId"), "val");
    if(!id || !abs)
      continue;
    struct list_def *l = &d->lists[d->nlists++];
    l->num_id = strtol(id, NULL, 10);
    read_levels(l, abstract_num(root, abs));
  }
}

static void put_number(struct dp_buf *out, const char *fmt, long v)
{
  static const char *const roman[] = {"m", "cm", "d", "cd", "c", "xc", "l", "xl", "x", "ix",
                                      "v", "iv", "i"};
  static const int values[] = {1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1};
  int upper = !strncmp(fmt, "upper", 5);
  if(strstr(fmt, "Letter") && v > 0) {
    for(long r = (v - 1) / 26; r >= 0; r--)
      dpi_buf_addc(out, (char)((upper ? 'A' : 'a') + (v - 1) % 26));
  } else if(strstr(fmt, "Roman") && v > 0 && v < 4000) {
    for(int i = 0; i < 13; i++)
      for(; v >= values[i]; v -= values[i])
        for(const char *r = roman[i]; *r; r++)
          dpi_buf_addc(out, upper ? (char)(*r - 'a' + 'A') : *r);
  } else {
    dpi_buf_addf(out, "%ld", v);
  }
}

/* The label of a list paragraph, and a space, as LibreOffice writes it:
 * bullets by level, numbers from lvlText with %1..%9 replaced. */
static void put_label(struct docx *d, const xmlNode *numpr, struct dp_buf *out)
{
  const char *id = dpi_xml_attr(dpi_xml_child(numpr, "numId"), "val");
  const char *il = dpi_xml_attr(dpi_xml_child(numpr, "ilvl"), "val");
  long num = id ? strtol(id, NULL, 10) : 0, k = il ? strtol(il, NULL, 10) : 0;
  struct list_def *l = NULL;
  for(size_t i = 0; i < d->nlists && !l; i++)
    if(d->lists[i].num_id == num)
      l = &d->lists[i];
  if(!l || num == 0 || k < 0 || k >= DOCX_LEVELS || !strcmp(l->fmt[k], "none"))
    return;
  l->count[k] = l->count[k] ? l->count[k] + 1 : l->start[k];
  for(long j = k + 1; j < DOCX_LEVELS; j++)
    l->count[j] = 0;
  if(!strcmp(l->fmt[k], "bullet")) {
    /* LibreOffice's text export writes U+2022, U+25E6, U+25AA by level,
     * whatever the bullet's own (often Symbol-font) character. */
    static const char *const bullets[] = {"\xE2\x80\xA2 ", "\xE2\x97\xA6 ", "\xE2\x96\xAA "};
    dpi_buf_adds(out, bullets[k % 3]);
    return;
  }
  for(const char *t = l->text[k]; *t; t++) {
    if(t[0] == '%' && t[1] >= '1' && t[1] <= '9') {
      long j = t[1] - '1';
      put_number(out, l->fmt[j], l->count[j] ? l->count[j] : l->start[j]);
      t++;
    } else {
      dpi_buf_addc(out, *t);
    }
  }
  dpi_buf_addc(out, ' ');
}

/* ---- paragraphs ----------------------------------------------------- */

static void render_inline(struct docx *d, const xmlNode *n, struct dp_buf *out, int depth)
{
  if(depth > DP_MAX_NESTING)
    return;
  for(const xmlNode *c = n->children; c; c = c->next) {
    if(c->type != XML_ELEMENT_NODE)
      continue;
    const char *name = (const char *)c->name;
    if(!strcmp(name, "t")) {
      struct dp_buf t;
      dpi_buf_init(&t, out->max);
      dpi_xml_text(&t, c);
      dpi_lines_put(out, dpi_buf_str(&t));
      dpi_buf_free(&t);
    } else if(!strcmp(name, "tab") || !strcmp(name, "ptab")) {
      dpi_buf_addc(out, '\t');
    } else if(!strcmp(name, "br") || !strcmp(name, "cr")) {
      dpi_lines_end(out);
    } else if(!strcmp(name, "noBreakHyphen")) {
      dpi_buf_addc(out, '-');
    } else if(!strcmp(name, "txbxContent")) {
      dpi_lines_end(out); /* a text box: its own paragraphs */
      render_blocks(d, c, out, depth + 1);
    } else if(strcmp(name, "del") && strcmp(name, "delText") && strcmp(name, "instrText") &&
              strcmp(name, "Fallback") && strcmp(name, "pPr") && strcmp(name, "rPr")) {
      render_inline(d, c, out, depth + 1); /* r, hyperlink, ins, fldSimple, sdt... */
    }
  }
}

static void render_paragraph(struct docx *d, const xmlNode *p, struct dp_buf *out, int depth)
{
  const xmlNode *numpr = dpi_xml_child(dpi_xml_child(p, "pPr"), "numPr");
  size_t at = out->len;
  if(numpr)
    put_label(d, numpr, out);
  size_t label = out->len;
  render_inline(d, p, out, depth + 1);
  if(out->len == label && !dpi_buf_failed(out))
    dpi_buf_truncate(out, at); /* an empty list item keeps no label */
  dpi_lines_end(out);
}

/* ---- tables --------------------------------------------------------- */

/* A cell's text on one line: its paragraphs (and nested tables) joined by
 * spaces. */
static void render_cell(struct docx *d, const xmlNode *tc, struct dp_buf *cell, int depth)
{
  dpi_buf_reset(cell);
  render_blocks(d, tc, cell, depth + 1);
  while(cell->len && cell->mem[cell->len - 1] == '\n')
    cell->len--;
  for(size_t i = 0; i < cell->len; i++)
    if(cell->mem[i] == '\n')
      cell->mem[i] = ' ';
}

static void render_table(struct docx *d, const xmlNode *tbl, struct dp_buf *out, int depth)
{
  struct dp_buf cell;
  dpi_buf_init(&cell, out->max);
  dpi_lines_end(out);
  for(const xmlNode *tr = tbl->children; tr; tr = tr->next) {
    if(!dpi_ox_is(tr, "tr"))
      continue;
    int cells = 0;
    for(const xmlNode *tc = tr->children; tc; tc = tc->next) {
      const xmlNode *c = tc;
      if(dpi_ox_is(tc, "sdt")) /* a content control around the cell */
        c = dpi_xml_child(dpi_xml_child(tc, "sdtContent"), "tc");
      if(!dpi_ox_is(c, "tc"))
        continue;
      render_cell(d, c, &cell, depth + 1);
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

/* Block content (a body, a cell, a header, a note): paragraphs and tables,
 * through the containers that may hold them. */
static int render_blocks(struct docx *d, const xmlNode *parent, struct dp_buf *out, int depth)
{
  if(depth > DP_MAX_NESTING)
    return -1;
  for(const xmlNode *c = parent->children; c; c = c->next) {
    if(dpi_ox_is(c, "p"))
      render_paragraph(d, c, out, depth + 1);
    else if(dpi_ox_is(c, "tbl"))
      render_table(d, c, out, depth + 1);
    else if(dpi_ox_is(c, "sdt") || dpi_ox_is(c, "sdtContent") || dpi_ox_is(c, "customXml") ||
            dpi_ox_is(c, "ins") || dpi_ox_is(c, "smartTag") || dpi_ox_is(c, "footnote") ||
            dpi_ox_is(c, "endnote") || dpi_ox_is(c, "comment") || dpi_ox_is(c, "body") ||
            dpi_ox_is(c, "AlternateContent") || dpi_ox_is(c, "Choice"))
      render_blocks(d, c, out, depth + 1);
  }
  return 0;
}

/* ---- parts ---------------------------------------------------------- */

static enum dp_status render_part(struct dp_pkg *p, struct docx *d, const char *name,
                                  int optional, struct dp_buf *text)
{
  xmlDocPtr doc;
  enum dp_status rc = dpi_pkg_xml(p, name, optional, &doc);
  if(rc != DP_OK || !doc)
    return rc;
  dpi_lines_gap(text);
  xmlNode *root = xmlDocGetRootElement(doc);
  if(root && render_blocks(d, root, text, 0))
    rc = dpi_record_fail(p->rec, DP_KIND_TOO_LARGE, "part %s nested more than %d deep", name,
                         DP_MAX_NESTING);
  xmlFreeDoc(doc);
  return rc;
}

static enum dp_status render_related(struct dp_pkg *p, struct docx *d,
                                     const struct dp_rels *rels, struct dp_buf *text)
{
  static const char *const kinds[] = {"footnotes", "endnotes", "header", "footer", "comments"};
  enum dp_status rc = DP_OK;
  for(size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]) && rc == DP_OK; k++) {
    size_t from = 0;
    const struct dp_rel *r;
    while(rc == DP_OK && (r = dpi_rels_type(rels, kinds[k], &from)))
      rc = render_part(p, d, r->target, 1, text);
  }
  return rc;
}

static enum dp_status load_numbering(struct dp_pkg *p, struct docx *d, const struct dp_rels *rels)
{
  size_t from = 0;
  const struct dp_rel *r = dpi_rels_type(rels, "numbering", &from);
  xmlDocPtr doc;
  if(!r || dpi_pkg_xml(p, r->target, 1, &doc) != DP_OK)
    return r ? DP_FAIL : DP_OK;
  if(doc) {
    xmlNode *root = xmlDocGetRootElement(doc);
    if(root)
      read_numbering(d, root);
    xmlFreeDoc(doc);
  }
  return DP_OK;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  struct dp_pkg p;
  if(dpi_pkg_open(&p, st, rec) != DP_OK)
    return DP_FAIL;
  struct docx d = {st, rec, NULL, 0};
  struct dp_rels rels = {NULL, 0};
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  char *main = dpi_pkg_main(&p, "word/document.xml");
  enum dp_status rc = main ? DP_OK : dpi_record_fail(rec, DP_KIND_INTERNAL, "out of memory");
  if(rc == DP_OK)
    rc = dpi_pkg_rels(&p, main, &rels);
  if(rc == DP_OK)
    rc = load_numbering(&p, &d, &rels);
  if(rc == DP_OK)
    rc = render_part(&p, &d, main, 0, &text);
  if(rc == DP_OK)
    rc = render_related(&p, &d, &rels, &text);
  if(rc == DP_OK)
    rc = dpi_pkg_core(&p);
  free(main);
  free(d.lists);
  dpi_rels_free(&rels);
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
  return dpi_ooxml_kind(peek) == 0 ? 80 : 0;
}

const struct dp_stage_ops dp_stage_docx = {
  .name = "docx",
  .summary = "Word documents (DOCX): body, notes, headers, footers and comments as lines",
  .format = "docx",
  .mime = "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
