/* xlsx.c - Excel workbooks (OOXML SpreadsheetML, ECMA-376 part 1) to text.
 *
 * The package is read through src/opc.h (libarchive, and libxml2 through
 * dpi_xml_parse: no network, no DTD, no entities).  The workbook is the
 * officeDocument relationship of _rels/.rels; its xl/sharedStrings.xml (the
 * text of most cells) is read first, then each worksheet in the order the
 * workbook lists them (xl/workbook.xml, sheets/sheet, through its r:id).
 *
 * Output per sheet: its name on a line of its own, then one line per row
 * (sheetData/row) with the row's non-empty cells joined by " | ", and an
 * empty line before the next sheet.  A cell's value:
 *   - t="s": the shared string its <v> indexes (rich-text runs joined, the
 *     phonetic guide rPh left out); t="inlineStr": its <is> text;
 *   - t="str" (a formula's text), t="e" (an error such as #DIV/0!): <v>;
 *   - t="b": TRUE or FALSE;
 *   - numbers: <v> as written, unless the cell's style (xl/styles.xml,
 *     cellXfs) is a date format, when the serial becomes YYYY-MM-DD
 *     (1900 date system; 1904 when workbookPr says so).
 * Chart sheets, drawings and cell comments are not read.  Title and author
 * come from docProps/core.xml.  Caps: DP_OOXML_MAX_SHEETS sheets,
 * DP_OOXML_MAX_STRINGS shared strings (more is too-large). */
#include <libxml/tree.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "extract.h"
#include "opc.h"
#include "registry.h"
#include "xmlsafe.h"

struct xlsx {
  struct dp_pkg *p;
  struct dp_buf strings; /* the shared strings, each NUL-terminated */
  size_t *offsets;
  size_t nstrings;
  unsigned char *date_style; /* cellXfs index -> is a date format */
  size_t nstyles;
  int date1904;
};

/* ---- shared strings ----------------------------------------------- */

/* The text of an <si> or <is>: every t, the phonetic runs (rPh) excepted. */
static void rich_text(const xmlNode *n, struct dp_buf *out)
{
  for(const xmlNode *c = n->children; c; c = c->next) {
    if(dpi_ox_is(c, "t"))
      dpi_xml_text(out, c);
    else if(dpi_ox_is(c, "r"))
      rich_text(c, out);
  }
}

static enum dp_status read_strings(struct xlsx *x, const xmlNode *sst)
{
  size_t n = 0;
  for(const xmlNode *si = sst->children; si; si = si->next)
    n += dpi_ox_is(si, "si");
  if(n > DP_OOXML_MAX_STRINGS)
    return dpi_record_fail(x->p->rec, DP_KIND_TOO_LARGE,
                           "workbook has %zu shared strings, more than %d", n,
                           DP_OOXML_MAX_STRINGS);
  x->offsets = malloc((n ? n : 1) * sizeof(*x->offsets));
  if(!x->offsets)
    return dpi_record_fail(x->p->rec, DP_KIND_INTERNAL, "out of memory");
  for(const xmlNode *si = sst->children; si; si = si->next) {
    if(!dpi_ox_is(si, "si"))
      continue;
    x->offsets[x->nstrings++] = x->strings.len;
    rich_text(si, &x->strings);
    dpi_buf_addc(&x->strings, '\0');
  }
  if(dpi_buf_failed(&x->strings))
    return dpi_record_fail(x->p->rec, DP_KIND_TOO_LARGE,
                           "shared strings exceed %zu bytes of text", x->strings.max);
  return DP_OK;
}

/* ---- styles: which cell formats are dates ------------------------- */

/* A number format code that shows a date or time: y, m, d, h or s outside
 * quotes, brackets ([Red], [$-409]) and escapes. */
static int date_code(const char *code)
{
  int quoted = 0;
  for(const char *c = code; *c; c++) {
    if(*c == '"')
      quoted = !quoted;
    else if(quoted)
      continue;
    else if(*c == '\\' && c[1])
      c++;
    else if(*c == '[')
      c += strcspn(c, "]") - (c[strcspn(c, "]")] ? 0 : 1);
    else if(strchr("ymdhsYMDHS", *c))
      return 1;
  }
  return 0;
}

static int date_format(const xmlNode *numfmts, long id)
{
  if((id >= 14 && id <= 22) || (id >= 45 && id <= 47) || (id >= 27 && id <= 36) ||
     (id >= 50 && id <= 58))
    return 1; /* built-in date and time formats (and their East Asian forms) */
  for(const xmlNode *f = numfmts ? numfmts->children : NULL; f; f = f->next) {
    const char *fid = dpi_ox_is(f, "numFmt") ? dpi_xml_attr(f, "numFmtId") : NULL;
    const char *code = dpi_xml_attr(f, "formatCode");
    if(fid && code && strtol(fid, NULL, 10) == id)
      return date_code(code);
  }
  return 0;
}

static void read_styles(struct xlsx *x, const xmlNode *root)
{
  const xmlNode *xfs = dpi_xml_child(root, "cellXfs");
  const xmlNode *numfmts = dpi_xml_child(root, "numFmts");
  size_t n = 0;
  for(const xmlNode *xf = xfs ? xfs->children : NULL; xf; xf = xf->next)
    n += dpi_ox_is(xf, "xf");
  if(!n || !(x->date_style = calloc(n, 1)))
    return;
  for(const xmlNode *xf = xfs->children; xf; xf = xf->next) {
    if(!dpi_ox_is(xf, "xf"))
      continue;
    const char *id = dpi_xml_attr(xf, "numFmtId");
    x->date_style[x->nstyles++] = id && date_format(numfmts, strtol(id, NULL, 10));
  }
}

/* ---- cells -------------------------------------------------------- */

/* Days since 1899-12-30 (1900 system, whose serial 60 is the 29 February
 * 1900 that never was) or 1904-01-01, to a civil date. */
static void put_date(struct dp_buf *out, double serial, int date1904)
{
  long days = (long)floor(serial) + (date1904 ? 1462 : 0);
  if(!date1904 && days == 60) {
    dpi_buf_adds(out, "1900-02-29"); /* Lotus 1-2-3's leap day, kept by Excel */
    return;
  }
  if(!date1904 && days < 60)
    days += 1; /* before the phantom 29 February */
  long z = days - 25569 + 719468; /* days from 0000-03-01 to 1970-01-01 = 719468 */
  long era = (z >= 0 ? z : z - 146096) / 146097;
  long doe = z - era * 146097;
  long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  long mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
  long m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
  dpi_buf_addf(out, "%04ld-%02ld-%02ld", y, m, d);
}

static void put_cell(struct xlsx *x, const xmlNode *c, struct dp_buf *out)
{
  const char *t = dpi_xml_attr(c, "t"), *s = dpi_xml_attr(c, "s");
  const xmlNode *v = dpi_xml_child(c, "v");
  struct dp_buf val;
  dpi_buf_init(&val, DP_MAX_SHORT * 16);
  if(v)
    dpi_xml_text(&val, v);
  const char *text = dpi_buf_str(&val);
  if(t && !strcmp(t, "inlineStr")) {
    const xmlNode *is = dpi_xml_child(c, "is");
    if(is)
      rich_text(is, out);
  } else if(t && !strcmp(t, "s")) {
    char *end;
    unsigned long k = strtoul(text, &end, 10);
    if(end != text && k < x->nstrings)
      dpi_lines_put(out, dpi_buf_at(&x->strings, x->offsets[k]));
  } else if(t && !strcmp(t, "b")) {
    dpi_buf_adds(out, strtol(text, NULL, 10) ? "TRUE" : "FALSE");
  } else {
    char *end;
    double d = strtod(text, &end);
    size_t style = s ? strtoul(s, NULL, 10) : 0;
    int is_num = !t || !strcmp(t, "n");
    if(is_num && val.len && !*end && style < x->nstyles && x->date_style[style] &&
       d >= 1 && d < 2958466)
      put_date(out, d, x->date1904);
    else
      dpi_lines_put(out, text);
  }
  dpi_buf_free(&val);
}

static void put_row(struct xlsx *x, const xmlNode *row, struct dp_buf *out, struct dp_buf *cell)
{
  int cells = 0;
  size_t k = 0;
  for(const xmlNode *c = row->children; c && k < DP_OOXML_MAX_COLUMNS; c = c->next) {
    if(!dpi_ox_is(c, "c"))
      continue;
    k++;
    dpi_buf_reset(cell);
    put_cell(x, c, cell);
    dpi_lines_end(cell);
    if(cell->len && cell->mem[cell->len - 1] == '\n')
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
  if(dpi_buf_failed(cell))
    (void)dpi_buf_reserve(out, out->max + 1); /* a cell passed the cap: so does the text */
  dpi_lines_end(out);
}

/* ---- sheets ------------------------------------------------------- */

static enum dp_status put_sheet(struct xlsx *x, const char *name, const char *part,
                                struct dp_buf *out)
{
  xmlDocPtr doc;
  enum dp_status rc = dpi_pkg_xml(x->p, part, 1, &doc);
  if(rc != DP_OK)
    return rc;
  if(!doc) {
    if(dpi_zip_find(x->p->zip, part) < 0)
      dpi_record_warn(x->p->rec, "sheet %s not read: the package has no part %s",
                      name ? name : "(unnamed)", part);
    return DP_OK;
  }
  dpi_lines_gap(out);
  if(name) {
    dpi_lines_put(out, name);
    dpi_lines_end(out);
  }
  struct dp_buf cell;
  dpi_buf_init(&cell, out->max);
  const xmlNode *data = dpi_xml_child(xmlDocGetRootElement(doc), "sheetData");
  for(const xmlNode *row = data ? data->children : NULL; row; row = row->next)
    if(dpi_ox_is(row, "row"))
      put_row(x, row, out, &cell);
  dpi_buf_free(&cell);
  xmlFreeDoc(doc);
  return DP_OK;
}

static enum dp_status put_sheets(struct xlsx *x, const xmlNode *wb, const struct dp_rels *rels,
                                 struct dp_buf *out)
{
  const char *d1904 = dpi_xml_attr(dpi_xml_child(wb, "workbookPr"), "date1904");
  x->date1904 = d1904 && (!strcmp(d1904, "1") || !strcmp(d1904, "true"));
  const xmlNode *sheets = dpi_xml_child(wb, "sheets");
  size_t k = 0;
  enum dp_status rc = DP_OK;
  for(const xmlNode *s = sheets ? sheets->children : NULL; s && rc == DP_OK; s = s->next) {
    if(!dpi_ox_is(s, "sheet"))
      continue;
    if(k++ == DP_OOXML_MAX_SHEETS)
      return dpi_record_fail(x->p->rec, DP_KIND_TOO_LARGE, "workbook has more than %d sheets",
                             DP_OOXML_MAX_SHEETS);
    const char *name = dpi_xml_attr(s, "name");
    const struct dp_rel *r = dpi_rels_id(rels, dpi_ox_rid(s));
    size_t n = r ? strlen(r->type) : 0;
    if(!r)
      dpi_record_warn(x->p->rec, "sheet %zu not read: no relationship names its part", k);
    else if(n >= 9 && !strcmp(r->type + n - 9, "worksheet"))
      rc = put_sheet(x, name, r->target, out);
  }
  return rc;
}

/* sharedStrings and styles, as the workbook's relationships name them. */
static enum dp_status load_tables(struct xlsx *x, const struct dp_rels *rels)
{
  size_t from = 0;
  const struct dp_rel *r = dpi_rels_type(rels, "sharedStrings", &from);
  xmlDocPtr doc = NULL;
  enum dp_status rc = r ? dpi_pkg_xml(x->p, r->target, 0, &doc) : DP_OK;
  if(doc && xmlDocGetRootElement(doc))
    rc = read_strings(x, xmlDocGetRootElement(doc));
  xmlFreeDoc(doc);
  doc = NULL;
  from = 0;
  r = rc == DP_OK ? dpi_rels_type(rels, "styles", &from) : NULL;
  if(r && (rc = dpi_pkg_xml(x->p, r->target, 1, &doc)) == DP_OK && doc &&
     xmlDocGetRootElement(doc))
    read_styles(x, xmlDocGetRootElement(doc));
  xmlFreeDoc(doc);
  return rc;
}

static enum dp_status render(struct dp_pkg *p, struct xlsx *x, struct dp_buf *text)
{
  char *main = dpi_pkg_main(p, "xl/workbook.xml");
  if(!main)
    return dpi_record_fail(p->rec, DP_KIND_INTERNAL, "out of memory");
  struct dp_rels rels = {NULL, 0};
  xmlDocPtr wb = NULL;
  enum dp_status rc = dpi_pkg_xml(p, main, 0, &wb);
  if(rc == DP_OK)
    rc = dpi_pkg_rels(p, main, &rels);
  if(rc == DP_OK)
    rc = load_tables(x, &rels);
  if(rc == DP_OK && xmlDocGetRootElement(wb))
    rc = put_sheets(x, xmlDocGetRootElement(wb), &rels, text);
  if(rc == DP_OK)
    rc = dpi_pkg_core(p);
  xmlFreeDoc(wb);
  dpi_rels_free(&rels);
  free(main);
  return rc;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  struct dp_pkg p;
  if(dpi_pkg_open(&p, st, rec) != DP_OK)
    return DP_FAIL;
  struct xlsx x = {.p = &p};
  dpi_buf_init(&x.strings, st->ctx->max_text);
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  enum dp_status rc = render(&p, &x, &text);
  dpi_buf_free(&x.strings);
  free(x.offsets);
  free(x.date_style);
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
  return dpi_ooxml_kind(peek) == 1 ? 80 : 0;
}

const struct dp_stage_ops dp_stage_xlsx = {
  .name = "xlsx",
  .summary = "Excel workbooks (XLSX): each sheet's name and its rows of cells",
  .format = "xlsx",
  .mime = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
