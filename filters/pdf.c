/* pdf.c - the PDF extractor (poppler-glib).
 *
 * Text of every page in reading order, as `pdftotext FILE -` gives it
 * (see "Page text" below for how that is had from glib), pages separated by
 * a blank line; page count, title and author from the document information,
 * its creation date as a date fact.  Encrypted and damaged files give error
 * records.
 *
 * What is damaged.  Whatever poppler can open is read, as pdftotext reads
 * it: bytes after %%EOF (mail gateways pad with NULs, a timestamp wrapper
 * adds its signature), a marker far from the end or none, junk before the
 * header; poppler rebuilds a cross-reference table it cannot find (and is
 * pointed at the file's own when its startxref is too far from the end for
 * poppler to look: see restate_startxref).  But that
 * same rebuilding makes a file that was cut short look whole: poppler opens
 * a prefix of a PDF when the prefix holds a catalog, and then reports fewer
 * pages, or pages it cannot load, or pages whose content is simply gone, and
 * nothing in glib says which.  So two checks come before and after poppler:
 *  - a file is truncated, and damaged, when neither `startxref` nor
 *    `trailer` follows the start of its last object ("N G obj").  Every
 *    complete PDF ends its last revision so (after the xref table, or the
 *    xref stream object; a few writers leave out the xref and startxref but
 *    not the trailer); a cut anywhere in the objects, in an incremental
 *    update or before the trailer leaves the last object without either.
 *    Junk after the end does not matter, and neither does a missing %%EOF.  This cannot tell how
 *    much was lost, so the whole document fails rather than passing with some
 *    of its pages: a cut transfer is worth fetching again.
 *  - a page poppler cannot load gives `damaged` too, naming it: the file is
 *    broken inside (an object missing from a rebuilt table), and the record
 *    would otherwise silently lack that page.
 * Only then is a file that poppler cannot open at all damaged for poppler's
 * reason.
 *
 * Scanned pages.  A page whose text layer is a scan's (see needs_ocr) is
 * rendered at --ocr-dpi in grey, as `pdftoppm -r 300 -gray` renders it, and
 * read by OCR (ocr.h) in its place, in page order: a mixed PDF keeps the
 * text of its real pages.  meta.ocr names the pages OCRed. */
#define _GNU_SOURCE 1 /* memmem */
#include <math.h>
#include <poppler.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "extract.h"
#include "ocr.h"
#include "pdfuncrop.h"
#include "registry.h"

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  if(peek->len >= 5 && !memcmp(peek->bytes, "%PDF-", 5))
    return 40;
  /* The header may follow some junk (mail gateways, BOMs) within 1 KiB. */
  size_t window = peek->len < 1024 ? peek->len : 1024;
  for(size_t i = 1; i + 5 <= window; i++)
    if(peek->bytes[i] == '%' && !memcmp(peek->bytes + i, "%PDF-", 5))
      return 30;
  return 0;
}

static int is_space(unsigned char c)
{
  return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == 0;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Where the last indirect object ("12 0 obj") starts, or NULL. */
static const unsigned char *last_object(const unsigned char *p, size_t len)
{
  for(size_t i = len >= 3 ? len - 3 : 0; i-- > 0;) {
    if(p[i] != 'o' || memcmp(p + i, "obj", 3) || !is_space(p[i - 1]))
      continue;
    if(i + 3 < len && !is_space(p[i + 3]) && p[i + 3] != '<' && p[i + 3] != '[' &&
       p[i + 3] != '/' && p[i + 3] != '(' && p[i + 3] != '%')
      continue;
    size_t j = i - 1;
    while(j > 0 && is_space(p[j]))
      j--;
    if(!is_digit(p[j]))
      continue; /* "endobj", or a word that ends in obj */
    while(j > 0 && is_digit(p[j]))
      j--;
    if(!is_space(p[j]))
      continue;
    while(j > 0 && is_space(p[j]))
      j--;
    if(!is_digit(p[j]))
      continue;
    while(j > 0 && is_digit(p[j]))
      j--;
    if(j == 0 || !is_digit(p[j]))
      j++;
    return p + j;
  }
  return NULL;
}

/* See the top of the file: nothing that ends a revision after the last
 * object means cut. */
static int is_truncated(const unsigned char *p, size_t len)
{
  const unsigned char *last = last_object(p, len);
  if(!last)
    return 0;
  size_t rest = len - (size_t)(last - p);
  return !memmem(last, rest, "startxref", 9) && !memmem(last, rest, "trailer", 7);
}

/* PDFDoc::getStartXRef looks for "startxref" in the last 24 KiB only, and
 * without it poppler rebuilds the cross-reference table, which fails on
 * some files whose objects are in object streams (a PDF padded with 30 KB
 * of NULs, which pdftotext cannot read either).  So when the file's last
 * startxref is farther from the end, a copy of its line is appended: poppler
 * then reads the table the file names.  Returns 1 when out holds that copy. */
#define STARTXREF_WINDOW 16384
static int restate_startxref(const unsigned char *p, size_t len, struct dp_buf *out)
{
  if(len <= STARTXREF_WINDOW ||
     memmem(p + len - STARTXREF_WINDOW, STARTXREF_WINDOW, "startxref", 9))
    return 0;
  const unsigned char *last = NULL;
  for(const unsigned char *q = p; (q = memmem(q, len - (size_t)(q - p), "startxref", 9)); q += 9)
    last = q;
  if(!last)
    return 0;
  const unsigned char *n = last + 9, *end = p + len;
  while(n < end && is_space(*n))
    n++;
  const unsigned char *digits = n;
  while(n < end && is_digit(*n) && n - digits < 20)
    n++;
  if(n == digits)
    return 0;
  dpi_buf_add(out, p, len);
  dpi_buf_adds(out, "\nstartxref\n");
  dpi_buf_add(out, digits, (size_t)(n - digits));
  dpi_buf_adds(out, "\n%%EOF\n");
  return !dpi_buf_failed(out);
}

/* Takes ownership of a string poppler allocated. */
static void set_meta_string(struct dp_record *rec, const char *key, gchar *value)
{
  if(value)
    dpi_meta_text(rec, key, value, strlen(value));
  g_free(value);
}

/* Poppler sets up some process-wide state (colour management profiles)
 * lazily, on the first document whose text it lays out; two threads doing
 * that first layout at once race.  So the first layout happens once, alone,
 * on a one-page document of our own. */
static const char warm_up_pdf[] =
  "%PDF-1.4\n"
  "1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
  "2 0 obj<</Type/Pages/Count 1/Kids[3 0 R]>>endobj\n"
  "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 99 99]/Contents 4 0 R"
  "/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
  "4 0 obj<</Length 28>>stream\nBT /F1 9 Tf 9 9 Td (w) Tj ET\nendstream endobj\n"
  "5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
  "trailer<</Root 1 0 R>>\n%%EOF\n";

static void warm_up(void)
{
  GBytes *bytes = g_bytes_new_static(warm_up_pdf, sizeof(warm_up_pdf) - 1);
  PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, NULL);
  g_bytes_unref(bytes);
  PopplerPage *page = doc ? poppler_document_get_page(doc, 0) : NULL;
  if(page) {
    g_free(poppler_page_get_text(page));
    g_object_unref(page);
  }
  if(doc)
    g_object_unref(doc);
}

/* --- Page text as pdftotext lays it out ------------------------------------
 *
 * pdftotext prints poppler's TextOutputDev layout (TextPage::dump): flows in
 * reading order, each block's lines one per line, a blank line after each
 * flow, and a line that ends in '-' joined to the next one of its flow
 * without the hyphen.  poppler-glib has no call that returns that text:
 * poppler_page_get_text() goes through the selection code
 * (TextPage::getSelectionText, TextSelectionDumper), which visits the same
 * lines in the same order but (1) glues the first line of a table cell to
 * the last line of the cell before it in the row, with no separator
 * ("Subtotal250.00": TextSelectionDumper::visitLine starts no new line
 * between blocks of one table row until the row's last cell), (2) puts no
 * blank line between flows and (3) keeps hyphens.  So the text is rebuilt
 * from what glib does expose about that same selection: the text, one box
 * per character of it (poppler_page_get_text_layout_for_area) and one box
 * per TextLine visited (poppler_page_get_selection_region, one rectangle per
 * TextSelectionVisitor::visitLine).  Every line break of the glib text is a
 * TextLine boundary; inside a glib line a new TextLine starts at the first
 * character that leaves the current line's box for the next one's.  With
 * the TextLines known, flows are approximated the way TextPage::coalesce
 * builds them (the next line starts below, overlaps horizontally, and is at
 * most maxBlockSpacing = 2.5 font sizes lower).
 *
 * The selection runs from far outside the page: glib's own rectangle starts
 * at (0,0), and TextPage::visitSelection then starts at the block nearest
 * that corner instead of the first one when some block touches the top or
 * left edge, silently skipping the blocks before it.  On a right-to-left
 * page it starts at the first block only from beyond the top right corner
 * (glib's rectangle lost all but the last line of some Hebrew pages), and
 * ends at the bottom left.  Right-to-left lines are then written as
 * pdftotext writes them (see write_rtl_line). */

/* Boxes of the TextLines are wanted to a 1/64 pt (the sizer rounds them
 * outwards to whole units of 1/scale). */
#define LINE_SCALE 64.0
#define FAR 1e6
/* TextPage::coalesce: maxBlockSpacing, blocks further apart are new flows. */
#define MAX_BLOCK_SPACING 2.5

/* (Not fmin/fmax: no libm for two comparisons.) */
static double dmin(double a, double b) { return a < b ? a : b; }
static double dmax(double a, double b) { return a > b ? a : b; }

struct box {
  double x1, y1, x2, y2;
};

/* One line as pdftotext prints it: a TextLine of poppler's layout, or a
 * form value or note placed among them (see extras below). */
struct unit {
  const char *text;
  size_t len;
  struct box bb;
  double widths; /* of its glyphs, and how many: the font size when the */
  unsigned glyphs; /* boxes' height cannot tell it */
  int own_flow; /* a form value or note: a block of its own */
};

struct units {
  struct unit *v;
  size_t n, cap;
};

static struct unit *units_add(struct units *u)
{
  if(u->n == u->cap) {
    size_t cap = u->cap ? u->cap * 2 : 64;
    struct unit *v = realloc(u->v, cap * sizeof(*v));
    if(!v)
      return NULL;
    u->v = v;
    u->cap = cap;
  }
  struct unit *x = &u->v[u->n++];
  memset(x, 0, sizeof(*x));
  x->bb = (struct box){FAR, FAR, -FAR, -FAR};
  return x;
}

static void box_grow(struct box *b, const PopplerRectangle *r)
{
  b->x1 = dmin(b->x1, dmin(r->x1, r->x2));
  b->y1 = dmin(b->y1, dmin(r->y1, r->y2));
  b->x2 = dmax(b->x2, dmax(r->x1, r->x2));
  b->y2 = dmax(b->y2, dmax(r->y1, r->y2));
}

static int box_inside(const PopplerRectangle *g, const struct box *b)
{
  const double eps = 2.0 / LINE_SCALE;
  return dmin(g->x1, g->x2) >= b->x1 - eps && dmax(g->x1, g->x2) <= b->x2 + eps &&
         dmin(g->y1, g->y2) >= b->y1 - eps && dmax(g->y1, g->y2) <= b->y2 + eps;
}

/* The selection sizer's rectangle of one TextLine, back in points. */
static struct box line_box(const PopplerRectangle *r)
{
  return (struct box){dmin(r->x1, r->x2) / LINE_SCALE, dmin(r->y1, r->y2) / LINE_SCALE,
                      dmax(r->x1, r->x2) / LINE_SCALE, dmax(r->y1, r->y2) / LINE_SCALE};
}

/* poppler's reorderText writes right-to-left runs between RLE (U+202B) and
 * PDF (U+202C), left-to-right runs inside them between LRE (U+202A) and
 * PDF.  Those marks have no box.  Returns 1 for an opening mark, -1 for the
 * closing one, 0 for any other character. */
static int bidi_mark(const char *p)
{
  if((unsigned char)p[0] != 0xE2 || (unsigned char)p[1] != 0x80)
    return 0;
  unsigned char c = (unsigned char)p[2];
  return c == 0xAA || c == 0xAB ? 1 : c == 0xAC ? -1 : 0;
}

/* Split the glib text of a page into TextLines.  Returns 0 when the pieces
 * do not fit together (a box count that differs from the text, lines that
 * cannot be matched): the caller then keeps glib's lines as they are. */
static int split_lines(const char *text, const PopplerRectangle *glyphs, guint n_glyphs,
                       GList *line_rects, struct units *out)
{
  size_t n_lines = g_list_length(line_rects);
  struct box *lines = n_lines ? malloc(n_lines * sizeof(*lines)) : NULL;
  if(n_lines && !lines)
    return 0;
  size_t k = 0;
  for(GList *l = line_rects; l; l = l->next)
    lines[k++] = line_box(l->data);

  size_t base = out->n;
  struct unit *cur = NULL;
  size_t line = 0; /* index of cur's TextLine + 1 */
  guint gi = 0;
  int ok = 1;
  const char *opened = NULL; /* an opening mark: it goes with what follows */
  for(const char *p = text; *p && ok; p = g_utf8_next_char(p)) {
    int mark = bidi_mark(p);
    if(mark > 0) {
      if(!opened)
        opened = p;
      continue;
    }
    if(mark < 0) {
      if(cur)
        cur->len = (size_t)(g_utf8_next_char(p) - cur->text);
      continue;
    }
    if(gi >= n_glyphs) {
      ok = 0;
      break;
    }
    const PopplerRectangle *g = &glyphs[gi++];
    if(*p == '\n') {
      cur = NULL;
      opened = NULL;
      continue;
    }
    /* A glib line starts a TextLine; inside one, a character that leaves
     * the current TextLine's box for a later one starts that one (a table
     * cell glued to the one before it).  TextLines that gave glib no text
     * (a glyph its selection left out) are passed over. */
    int start = !cur;
    if(cur && *p != ' ' && cur->len && !box_inside(g, &lines[line - 1]))
      start = 1;
    if(start) {
      size_t next = line;
      while(next < n_lines && !box_inside(g, &lines[next]))
        next++;
      if(next == n_lines) {
        if(!cur) {
          ok = 0;
          break;
        }
        start = 0; /* in no later box: stays where it is */
      } else if(!(cur = units_add(out))) {
        ok = 0;
        break;
      } else {
        line = next + 1;
        cur->text = opened ? opened : p;
      }
    }
    opened = NULL;
    cur->len = (size_t)(g_utf8_next_char(p) - cur->text);
    if(*p != ' ') {
      box_grow(&cur->bb, g);
      cur->widths += dmax(g->x2, g->x1) - dmin(g->x2, g->x1);
      cur->glyphs++;
    }
  }
  if(ok && gi != n_glyphs)
    ok = 0;
  if(!ok)
    out->n = base;
  free(lines);
  return ok;
}

/* Right-to-left text.  glib reorders each word on its own (pdftotext each
 * line): on a left-to-right page a run of right-to-left words comes out in
 * visual order, each word in its own RLE..PDF; on a right-to-left page every
 * word is wrapped so, and its spaces are misplaced (TextSelectionDumper
 * reverses the words but keeps each word's spaceAfter).  These write a line
 * the way pdftotext's reorderText does. */

/* End of the run opened at s[i] (just after its closing mark). */
static size_t run_end(const char *s, size_t len, size_t i)
{
  int depth = 0;
  while(i < len) {
    int m = i + 2 < len ? bidi_mark(s + i) : 0;
    if(m) {
      depth += m;
      i += 3; /* every mark is three bytes */
      if(depth == 0)
        return i;
    } else {
      i++;
    }
  }
  return len;
}

/* A left-to-right page: consecutive right-to-left runs separated by single
 * spaces become one run, their words in reading order. */
static void write_ltr_line(struct dp_buf *out, const char *s, size_t len)
{
  size_t i = 0;
  while(i < len) {
    if(!(i + 2 < len && bidi_mark(s + i) > 0 && (unsigned char)s[i + 2] == 0xAB)) {
      dpi_buf_addc(out, s[i++]);
      continue;
    }
    size_t starts[64], ends[64], n = 0, j = i, e = i;
    while(n < 64) {
      e = run_end(s, len, j);
      starts[n] = j + 3;
      ends[n] = e >= j + 6 && bidi_mark(s + e - 3) < 0 ? e - 3 : e;
      n++;
      if(!(e + 3 < len && s[e] == ' ' && bidi_mark(s + e + 1) > 0 &&
           (unsigned char)s[e + 3] == 0xAB))
        break;
      j = e + 1;
    }
    j = e;
    dpi_buf_adds(out, "\u202b");
    for(size_t k = n; k-- > 0;) {
      dpi_buf_add(out, s + starts[k], ends[k] - starts[k]);
      if(k)
        dpi_buf_addc(out, ' ');
    }
    dpi_buf_adds(out, "\u202c");
    i = j;
  }
}

/* A right-to-left page: the words (each in its own RLE..PDF) one space
 * apart, the line in one RLE..PDF. */
static void write_rtl_line(struct dp_buf *out, const char *s, size_t len)
{
  dpi_buf_adds(out, "\u202b");
  int depth = 0, space = 0, any = 0;
  for(size_t i = 0; i < len;) {
    int m = i + 2 < len ? bidi_mark(s + i) : 0;
    if(m) {
      if((depth == 0 && m > 0) || (depth == 1 && m < 0)) {
        if(depth == 0 && any)
          space = 1; /* a new word */
      } else {
        if(space)
          dpi_buf_addc(out, ' ');
        space = 0;
        dpi_buf_add(out, s + i, 3);
      }
      depth += m;
      if(depth < 0)
        depth = 0;
      i += 3;
      continue;
    }
    if(s[i] == ' ') {
      space = any;
      i++;
      continue;
    }
    if(space)
      dpi_buf_addc(out, ' ');
    space = 0;
    any = 1;
    dpi_buf_addc(out, s[i++]);
  }
  dpi_buf_adds(out, "\u202c");
}

static void write_text(struct dp_buf *out, const char *s, size_t len, int rtl)
{
  if(!memmem(s, len, "\xe2\x80", 2))
    dpi_buf_add(out, s, len);
  else if(rtl)
    write_rtl_line(out, s, len);
  else
    write_ltr_line(out, s, len);
}

/* A line's font size, as near as the boxes tell: their height (the font's
 * ascent to descent), unless a font without those metrics left them flat,
 * then twice the mean glyph width. */
static double font_size(const struct unit *u)
{
  double h = u->bb.y2 - u->bb.y1;
  double w = u->glyphs ? 2 * u->widths / u->glyphs : 0;
  return h < 0.5 * w ? w : h;
}

/* Does b continue the flow that a ends?  TextPage::coalesce puts a block
 * into the flow of the block before it when it is below it, at most
 * maxBlockSpacing font sizes lower and within the flow's column
 * (TextBlock::isBelow, TextFlow::blockFits; here: overlapping the flow's
 * lines horizontally). */
static int same_flow(const struct unit *a, const struct unit *b, double flow_x1, double flow_x2)
{
  if(a->own_flow || b->own_flow)
    return 0;
  return b->bb.y1 > a->bb.y1 && b->bb.y1 - a->bb.y2 <= MAX_BLOCK_SPACING * font_size(a) &&
         b->bb.x1 < flow_x2 && b->bb.x2 > flow_x1;
}

/* Write the units of one page: lines of a flow one per line, a blank line
 * between flows, and a line ending in '-' joined to the next line of its
 * flow without the hyphen, as TextPage::dump does. */
static void write_units(const struct units *u, int rtl, struct dp_buf *out)
{
  double flow_x1 = 0, flow_x2 = 0;
  for(size_t i = 0; i < u->n; i++) {
    const struct unit *a = &u->v[i];
    if(i == 0 || a->own_flow || u->v[i - 1].own_flow) {
      flow_x1 = a->bb.x1;
      flow_x2 = a->bb.x2;
    }
    size_t len = a->len;
    const char *sep = "";
    if(i + 1 < u->n) {
      const struct unit *b = &u->v[i + 1];
      if(same_flow(a, b, flow_x1, flow_x2)) {
        if(len && a->text[len - 1] == '-')
          len--;
        else
          sep = "\n";
        flow_x1 = dmin(flow_x1, b->bb.x1);
        flow_x2 = dmax(flow_x2, b->bb.x2);
      } else {
        sep = "\n\n";
        flow_x1 = b->bb.x1;
        flow_x2 = b->bb.x2;
      }
    }
    if(a->own_flow)
      dpi_buf_add(out, a->text, len);
    else
      write_text(out, a->text, len, rtl);
    dpi_buf_adds(out, sep);
  }
}

/* --- Form values and notes -------------------------------------------------
 *
 * pdftotext draws annotations (Page::displaySlice), so the text of form
 * fields and FreeText notes is in its output wherever their appearance
 * streams put it; glib's text page does not draw them (Page::display(Gfx*)
 * runs the content stream only), and there is no glib call for an
 * appearance stream's text.  So what glib does expose is added, as blocks of
 * their own placed among the lines the way a reader finds them: a value
 * after its label (the line to its left on the same row, else the line
 * above it), a check mark before its label (the line to its right), a note
 * after the line above it.  The values are the fields' values: a text
 * field's text (not a password field's), the chosen items of a list or combo
 * box (a list box's appearance shows every option, but only the chosen ones
 * are the answer, and the others would make a search find what was not
 * chosen), a check mark for a checked box or radio button.  Push-button
 * captions have no glib call and are left out.  Notes are the contents of
 * FreeText and Text (sticky-note) annotations.  Hidden ones are skipped, as
 * pdftotext skips them.  A value that the page's own text already shows
 * inside the field's box (a flattened form, or a poppler that draws
 * annotations) is not added again. */

enum extra_kind { EXTRA_VALUE, EXTRA_CHECK, EXTRA_NOTE };

struct extra {
  char *text;
  struct box bb;
  enum extra_kind kind;
  size_t slot; /* 2i: before line i, 2i+1: after it */
};

struct extras {
  struct extra *v;
  size_t n, cap;
};

static void extras_add(struct extras *x, char *text, struct box bb, enum extra_kind kind)
{
  if(!text || !*text || x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 16;
    struct extra *v = text && *text ? realloc(x->v, cap * sizeof(*v)) : NULL;
    if(!v) {
      g_free(text);
      return;
    }
    x->v = v;
    x->cap = cap;
  }
  x->v[x->n++] = (struct extra){text, bb, kind, 0};
}

static void extras_free(struct extras *x)
{
  for(size_t i = 0; i < x->n; i++)
    g_free(x->v[i].text);
  free(x->v);
}

/* Page geometry: glib gives field rectangles in the unrotated page space
 * (from the crop box's corner, y up), annotation rectangles in the rotated
 * one, and text boxes in device space (y down). */
struct geom {
  double w, h;   /* crop box, unrotated */
  double rw, rh; /* page as displayed */
  int rotate;    /* 0 or 90: glib tells no more than that the sides swapped */
};

static struct geom page_geom(PopplerPage *page)
{
  PopplerRectangle crop;
  struct geom g;
  poppler_page_get_crop_box(page, &crop);
  g.w = dmax(crop.x2, crop.x1) - dmin(crop.x2, crop.x1);
  g.h = dmax(crop.y2, crop.y1) - dmin(crop.y2, crop.y1);
  poppler_page_get_size(page, &g.rw, &g.rh);
  g.rotate = g.w - g.h > 1 || g.h - g.w > 1 ? ((g.rw - g.w > 1 || g.w - g.rw > 1) ? 90 : 0) : 0;
  return g;
}

/* GfxState's page transformation for /Rotate 0 and 90. */
static struct box field_box(const struct geom *g, const PopplerRectangle *r)
{
  double x1 = dmin(r->x1, r->x2), x2 = dmax(r->x1, r->x2);
  double y1 = dmin(r->y1, r->y2), y2 = dmax(r->y1, r->y2);
  if(g->rotate == 90)
    return (struct box){y1, x1, y2, x2};
  return (struct box){x1, g->h - y2, x2, g->h - y1};
}

static struct box annot_box(const struct geom *g, const PopplerRectangle *r)
{
  return (struct box){dmin(r->x1, r->x2), g->rh - dmax(r->y1, r->y2), dmax(r->x1, r->x2),
                      g->rh - dmin(r->y1, r->y2)};
}

/* "\r\n" and "\r" as "\n": multi-line fields use either. */
static char *lines_of(char *s)
{
  if(!s)
    return NULL;
  char *w = s;
  for(char *r = s; *r; r++) {
    if(*r == '\r') {
      *w++ = '\n';
      if(r[1] == '\n')
        r++;
    } else {
      *w++ = *r;
    }
  }
  *w = 0;
  return s;
}

static char *choice_value(PopplerFormField *f)
{
  gchar *typed = poppler_form_field_choice_is_editable(f) ? poppler_form_field_choice_get_text(f)
                                                          : NULL;
  if(typed && *typed)
    return typed;
  g_free(typed);
  GString *v = g_string_new(NULL);
  int n = poppler_form_field_choice_get_n_items(f);
  for(int i = 0; i < n; i++) {
    if(!poppler_form_field_choice_is_item_selected(f, i))
      continue;
    gchar *item = poppler_form_field_choice_get_item(f, i);
    if(item && *item) {
      if(v->len)
        g_string_append_c(v, '\n');
      g_string_append(v, item);
    }
    g_free(item);
  }
  return g_string_free(v, FALSE);
}

static int same_area(const PopplerRectangle *a, const PopplerRectangle *b)
{
  double e = 0.01;
  return a->x1 - b->x1 < e && b->x1 - a->x1 < e && a->y1 - b->y1 < e && b->y1 - a->y1 < e &&
         a->x2 - b->x2 < e && b->x2 - a->x2 < e && a->y2 - b->y2 < e && b->y2 - a->y2 < e;
}

static void collect_extras(PopplerPage *page, struct extras *x)
{
  struct geom g = page_geom(page);
  GList *annots = poppler_page_get_annot_mapping(page);
  for(GList *l = annots; l; l = l->next) {
    PopplerAnnotMapping *m = l->data;
    PopplerAnnotType type = poppler_annot_get_annot_type(m->annot);
    if(type != POPPLER_ANNOT_FREE_TEXT && type != POPPLER_ANNOT_TEXT)
      continue;
    if(poppler_annot_get_flags(m->annot) & (POPPLER_ANNOT_FLAG_HIDDEN | POPPLER_ANNOT_FLAG_NO_VIEW))
      continue;
    extras_add(x, lines_of(poppler_annot_get_contents(m->annot)), annot_box(&g, &m->area),
               EXTRA_NOTE);
  }
  GList *fields = poppler_page_get_form_field_mapping(page);
  for(GList *l = fields; l; l = l->next) {
    PopplerFormFieldMapping *m = l->data;
    PopplerFormField *f = m->field;
    int hidden = 0;
    for(GList *a = annots; a && !hidden; a = a->next) {
      PopplerAnnotMapping *am = a->data;
      hidden = poppler_annot_get_annot_type(am->annot) == POPPLER_ANNOT_WIDGET &&
               same_area(&am->area, &m->area) &&
               (poppler_annot_get_flags(am->annot) &
                (POPPLER_ANNOT_FLAG_HIDDEN | POPPLER_ANNOT_FLAG_NO_VIEW));
    }
    if(hidden)
      continue;
    struct box bb = field_box(&g, &m->area);
    switch(poppler_form_field_get_field_type(f)) {
    case POPPLER_FORM_FIELD_TEXT:
      if(!poppler_form_field_text_is_password(f))
        extras_add(x, lines_of(poppler_form_field_text_get_text(f)), bb, EXTRA_VALUE);
      break;
    case POPPLER_FORM_FIELD_CHOICE:
      extras_add(x, choice_value(f), bb, EXTRA_VALUE);
      break;
    case POPPLER_FORM_FIELD_BUTTON:
      /* The marks ZapfDingbats draws for pdftotext by default: a check, a bullet. */
      if(poppler_form_field_button_get_button_type(f) == POPPLER_FORM_BUTTON_CHECK &&
         poppler_form_field_button_get_state(f))
        extras_add(x, g_strdup("\u2714"), bb, EXTRA_CHECK);
      else if(poppler_form_field_button_get_button_type(f) == POPPLER_FORM_BUTTON_RADIO &&
              poppler_form_field_button_get_state(f))
        extras_add(x, g_strdup("\u25cf"), bb, EXTRA_CHECK);
      break;
    default:
      break;
    }
  }
  poppler_page_free_form_field_mapping(fields);
  poppler_page_free_annot_mapping(annots);
}

/* Texts compared with all white space taken out. */
static char *squeezed(const char *s, size_t len)
{
  char *out = malloc(len + 1), *w = out;
  if(!out)
    return NULL;
  for(size_t i = 0; i < len; i++)
    if(!is_space((unsigned char)s[i]))
      *w++ = s[i];
  *w = 0;
  return out;
}

static double center_y(const struct box *b) { return (b->y1 + b->y2) / 2; }

/* Is e's text already in the lines that lie inside e's box? */
static int already_shown(const struct units *u, const struct extra *e)
{
  const double tol = 1;
  GString *inside = g_string_new(NULL);
  for(size_t i = 0; i < u->n; i++) {
    const struct box *b = &u->v[i].bb;
    double cx = (b->x1 + b->x2) / 2, cy = center_y(b);
    if(cx >= e->bb.x1 - tol && cx <= e->bb.x2 + tol && cy >= e->bb.y1 - tol &&
       cy <= e->bb.y2 + tol)
      g_string_append_len(inside, u->v[i].text, (gssize)u->v[i].len);
  }
  int shown = 0;
  if(inside->len) {
    char *have = squeezed(inside->str, inside->len);
    char *want = squeezed(e->text, strlen(e->text));
    shown = have && want && *want && strstr(have, want);
    free(have);
    free(want);
  }
  g_string_free(inside, TRUE);
  return shown;
}

/* Where e goes among the n lines of u (see struct extra's slot). */
static size_t place(const struct units *u, const struct extra *e)
{
  const double tol = 2;
  double ey = center_y(&e->bb);
  size_t left = SIZE_MAX, right = SIZE_MAX, above = SIZE_MAX;
  for(size_t i = 0; i < u->n; i++) {
    const struct box *b = &u->v[i].bb;
    int row = (ey >= b->y1 && ey <= b->y2) || (center_y(b) >= e->bb.y1 && center_y(b) <= e->bb.y2);
    if(row && b->x2 <= e->bb.x1 + tol && (left == SIZE_MAX || b->x2 > u->v[left].bb.x2))
      left = i;
    if(row && b->x1 >= e->bb.x2 - tol && (right == SIZE_MAX || b->x1 < u->v[right].bb.x1))
      right = i;
    if(b->y2 <= e->bb.y1 + tol && b->x1 < e->bb.x2 && b->x2 > e->bb.x1 &&
       (above == SIZE_MAX || b->y2 >= u->v[above].bb.y2))
      above = i;
  }
  if(e->kind == EXTRA_CHECK && right != SIZE_MAX)
    return 2 * right;
  if(e->kind != EXTRA_NOTE && left != SIZE_MAX)
    return 2 * left + 1;
  if(above != SIZE_MAX)
    return 2 * above + 1;
  return 2 * u->n;
}

static int by_slot(const void *a, const void *b)
{
  const struct extra *x = a, *y = b;
  if(x->slot != y->slot)
    return x->slot < y->slot ? -1 : 1;
  if(x->bb.y1 != y->bb.y1)
    return x->bb.y1 < y->bb.y1 ? -1 : 1;
  return x->bb.x1 < y->bb.x1 ? -1 : x->bb.x1 > y->bb.x1;
}

/* The page's lines with the extras put in their places. */
static int merge_extras(const struct units *lines, struct extras *x, struct units *out)
{
  size_t n = 0;
  for(size_t i = 0; i < x->n; i++)
    if(!already_shown(lines, &x->v[i])) {
      x->v[n] = x->v[i];
      x->v[n].slot = place(lines, &x->v[n]);
      n++;
    } else {
      g_free(x->v[i].text);
    }
  x->n = n;
  if(x->n)
    qsort(x->v, x->n, sizeof(*x->v), by_slot);
  size_t k = 0;
  for(size_t slot = 0; slot <= 2 * lines->n; slot++) {
    for(; k < x->n && x->v[k].slot == slot; k++) {
      struct unit *un = units_add(out);
      if(!un)
        return -1;
      un->text = x->v[k].text;
      un->len = strlen(un->text);
      un->bb = x->v[k].bb;
      un->own_flow = 1;
    }
    if(slot % 2 == 0 && slot / 2 < lines->n) {
      struct unit *un = units_add(out);
      if(!un)
        return -1;
      *un = lines->v[slot / 2];
    }
  }
  return 0;
}

/* Is the page right-to-left (TextPage::primaryLR false)?  reorderText then
 * starts every line with RLE; on a left-to-right page a line starts so only
 * when its first word is right-to-left. */
static int right_to_left(const char *text)
{
  if(!text || !*text)
    return 0;
  for(const char *l = text; l; l = strchr(l, '\n')) {
    if(*l == '\n')
      l++;
    if(*l && *l != '\n' && !(bidi_mark(l) > 0 && (unsigned char)l[2] == 0xAB))
      return 0;
  }
  return 1;
}

/* Append the text of one page (nothing when it has none). */
static void page_text(PopplerPage *page, struct dp_buf *out)
{
  PopplerRectangle all = {-FAR, -FAR, FAR, FAR};
  gchar *text = poppler_page_get_selected_text(page, POPPLER_SELECTION_GLYPH, &all);
  int rtl = right_to_left(text), whole_lines = 0;
  if(rtl || !text || !*text) {
    /* From the top right corner to the bottom left one (see above); and
     * whole lines, which the line style selects where the glyph style
     * selects no character of some right-to-left lines (nor, then, tells
     * that the page is right-to-left).  The longer text wins; the glyph
     * boxes go with the glyph style only. */
    PopplerRectangle rl = {FAR, -FAR, -FAR, FAR};
    gchar *glyph = poppler_page_get_selected_text(page, POPPLER_SELECTION_GLYPH, &rl);
    gchar *line = poppler_page_get_selected_text(page, POPPLER_SELECTION_LINE, &rl);
    size_t lt = text ? strlen(text) : 0, lg = glyph ? strlen(glyph) : 0;
    size_t ll = line ? strlen(line) : 0;
    if(ll > lg && ll > lt) {
      g_free(text);
      g_free(glyph);
      text = line;
      whole_lines = 1;
    } else if(lg >= lt && lg) {
      g_free(text);
      g_free(line);
      text = glyph;
      all = rl;
    } else {
      g_free(glyph);
      g_free(line);
    }
    rtl = right_to_left(text);
  }
  struct extras x = {0};
  collect_extras(page, &x);
  if((!text || !*text) && !x.n) {
    g_free(text);
    return;
  }
  PopplerRectangle *glyphs = NULL;
  guint n_glyphs = 0;
  GList *line_rects = NULL;
  if(text && *text && !whole_lines) {
    if(!poppler_page_get_text_layout_for_area(page, &all, &glyphs, &n_glyphs))
      n_glyphs = 0;
    G_GNUC_BEGIN_IGNORE_DEPRECATIONS
    /* The only call that gives the TextLines one by one (its successor,
     * poppler_page_get_selected_region, merges them into one region). */
    line_rects = poppler_page_get_selection_region(page, LINE_SCALE, POPPLER_SELECTION_GLYPH, &all);
    G_GNUC_END_IGNORE_DEPRECATIONS
  }

  struct units lines = {0}, all_units = {0};
  if(out->len)
    dpi_buf_adds(out, "\n\n");
  if(!text || !*text || split_lines(text, glyphs, n_glyphs, line_rects, &lines)) {
    if(merge_extras(&lines, &x, &all_units) == 0)
      write_units(&all_units, rtl, out);
    else
      dpi_buf_adds(out, text ? text : ""); /* out of memory: the plain text */
  } else {
    /* The lines could not be told apart: glib's lines, then the extras. */
    for(const char *l = text; *l;) {
      const char *nl = strchr(l, '\n');
      size_t n = nl ? (size_t)(nl - l) : strlen(l);
      write_text(out, l, n, rtl);
      if(!nl)
        break;
      dpi_buf_addc(out, '\n');
      l = nl + 1;
    }
    for(size_t i = 0; i < x.n; i++) {
      dpi_buf_adds(out, "\n\n");
      dpi_buf_adds(out, x.v[i].text);
    }
  }
  free(lines.v);
  free(all_units.v);
  extras_free(&x);
  g_list_free_full(line_rects, (GDestroyNotify)poppler_rectangle_free);
  g_free(glyphs);
  g_free(text);
}

/* A page's text layer in characters: all but white space, and those that
 * mean nothing (C0 and C1 controls, U+FFFD), which poppler gives for the
 * glyphs of a font that maps none of them to Unicode. */
struct layer_count {
  size_t chars, unmapped;
};

static struct layer_count count_layer(const char *text, size_t len)
{
  struct layer_count n = {0, 0};
  const unsigned char *u = (const unsigned char *)text;
  for(size_t i = 0; i < len; i++) {
    if((u[i] & 0xC0) == 0x80 || u[i] == ' ' || u[i] == '\t' || u[i] == '\n' ||
       u[i] == '\r' || u[i] == '\f')
      continue; /* one per character, not per byte */
    n.chars++;
    n.unmapped += u[i] < ' ' || u[i] == 0x7F ||
                  (u[i] == 0xC2 && i + 1 < len && u[i + 1] >= 0x80 && u[i + 1] <= 0x9F) ||
                  (u[i] == 0xEF && i + 2 < len && u[i + 1] == 0xBF && u[i + 2] == 0xBD);
  }
  return n;
}

/* A text layer that is mostly glyphs without a character reads as nothing:
 * its few letters are stray ones (a heading in another font). */
static int unmapped_layer(struct layer_count n)
{
  return n.unmapped > 2 * (n.chars - n.unmapped);
}

/* Whether a page's text layer is a scan's, under --ocr auto: it holds no
 * text at all, or next to none (DP_OCR_SPARSE_TEXT characters: a fax header,
 * a stamped page number) on a page mostly covered by images.  (A layer of
 * unmapped glyphs is not OCRed unasked: at seconds a page, a long document
 * would pass --max-time; it gets a warning.) */
static int needs_ocr(const struct dp_context *ctx, PopplerPage *page, struct layer_count n)
{
  if(ctx->ocr != DP_OCR_AUTO)
    return ctx->ocr == DP_OCR_ALWAYS;
  if(n.chars == 0)
    return 1;
  if(n.chars >= DP_OCR_SPARSE_TEXT)
    return 0;
  double w = 0, h = 0, covered = 0;
  poppler_page_get_size(page, &w, &h);
  GList *images = poppler_page_get_image_mapping(page);
  for(GList *l = images; l; l = l->next) {
    const PopplerRectangle *r = &((PopplerImageMapping *)l->data)->area;
    double x1 = dmax(dmin(r->x1, r->x2), 0), x2 = dmin(dmax(r->x1, r->x2), w);
    double y1 = dmax(dmin(r->y1, r->y2), 0), y2 = dmin(dmax(r->y1, r->y2), h);
    if(x2 > x1 && y2 > y1)
      covered += (x2 - x1) * (y2 - y1);
  }
  poppler_page_free_image_mapping(images);
  return covered >= DP_OCR_IMAGE_COVER * w * h;
}

/* Render a page in grey at --ocr-dpi (less for a page so large that it
 * would pass DP_MAX_IMAGE_PIXELS) and OCR it into text. */
static int ocr_page(const struct dp_context *ctx, PopplerPage *page, unsigned number,
                    struct dp_buf *text, struct dp_ocr_stats *stats, char *why, size_t whylen)
{
  double w = 0, h = 0, dpi = ctx->ocr_dpi;
  poppler_page_get_size(page, &w, &h);
  double pixels = (w * dpi / 72) * (h * dpi / 72);
  if(pixels > DP_MAX_IMAGE_PIXELS)
    dpi *= sqrt(DP_MAX_IMAGE_PIXELS / pixels);
  int pw = (int)ceil(w * dpi / 72), ph = (int)ceil(h * dpi / 72);
  if(pw < 1 || ph < 1)
    return 0; /* a page of no size holds nothing to read */
  cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, pw, ph);
  unsigned char *gray = malloc((size_t)pw * (size_t)ph);
  if(cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS || !gray) {
    cairo_surface_destroy(surface);
    free(gray);
    snprintf(why, whylen, "out of memory rendering page %u (%dx%d)", number, pw, ph);
    return -1;
  }
  cairo_t *cr = cairo_create(surface);
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  cairo_scale(cr, dpi / 72, dpi / 72);
  poppler_page_render(page, cr);
  cairo_destroy(cr);
  cairo_surface_flush(surface);
  const unsigned char *data = cairo_image_surface_get_data(surface);
  int stride = cairo_image_surface_get_stride(surface);
  for(int y = 0; y < ph; y++) {
    const uint32_t *row = (const uint32_t *)(const void *)(data + (size_t)y * (size_t)stride);
    for(int x = 0; x < pw; x++) { /* ITU-R BT.601 luma, as pdftoppm -gray */
      uint32_t p = row[x], r = (p >> 16) & 0xFF, g = (p >> 8) & 0xFF, b = p & 0xFF;
      gray[(size_t)y * (size_t)pw + (size_t)x] = (unsigned char)((r * 77 + g * 150 + b * 29) >> 8);
    }
  }
  cairo_surface_destroy(surface);
  int rc = dpi_ocr_gray(ctx->ocr_lang, number, gray, pw, ph, pw, (int)lround(dpi), text, stats,
                        why, whylen);
  free(gray);
  return rc;
}

/* Pages, text and information of an open document into rec and text. */
static enum dp_status read_document(struct dp_stage *st, struct dp_record *rec,
                                    PopplerDocument *doc, struct dp_buf *text)
{
  int pages = poppler_document_get_n_pages(doc);
  if(pages < 0 || (unsigned)pages > st->ctx->max_pages) {
    dpi_record_hint(rec, "raise --max-pages to convert it");
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "PDF has %d pages, over the cap of %u", pages,
                           st->ctx->max_pages);
  }
  struct dp_ocr_stats ocr = {0};
  int unreadable = 0, first_unreadable = 0; /* pages of unmapped glyphs, not OCRed */
  for(int i = 0; i < pages && !dpi_buf_failed(text); i++) {
    PopplerPage *page = poppler_document_get_page(doc, i);
    if(!page) {
      dpi_ocr_stats_free(&ocr);
      return dpi_record_fail(rec, DP_KIND_DAMAGED, "PDF page %d of %d cannot be read", i + 1,
                             pages);
    }
    size_t before = text->len;
    page_text(page, text);
    char why[256];
    if(dpi_buf_failed(text)) { /* over the cap: the buffer is gone, and its length 0 */
      g_object_unref(page);
      break;
    }
    struct layer_count layer = count_layer(dpi_buf_at(text, before), text->len - before);
    if(needs_ocr(st->ctx, page, layer)) {
      dpi_buf_truncate(text, before);
      if(ocr_page(st->ctx, page, (unsigned)i + 1, text, &ocr, why, sizeof(why)) != 0) {
        g_object_unref(page);
        dpi_ocr_stats_free(&ocr);
        return dpi_record_fail(rec, DP_KIND_DAMAGED, "PDF page %d of %d: %s", i + 1, pages,
                               why);
      }
    } else if(unmapped_layer(layer) && !unreadable++) {
      first_unreadable = i + 1;
    }
    g_object_unref(page);
  }
  dpi_ocr_describe(rec, &ocr, st->ctx->ocr_lang, text->len);
  if(unreadable)
    dpi_record_warn(rec, "garbled text: %d page%s from page %d on use fonts that map most "
                    "glyphs to no character (--ocr always reads them from the page image)",
                    unreadable, unreadable == 1 ? "" : "s", first_unreadable);
  json_object *meta = dpi_record_object(rec, "meta");
  json_object_object_add(meta, "pages", json_object_new_int(pages));
  set_meta_string(rec, "title", poppler_document_get_title(doc));
  set_meta_string(rec, "author", poppler_document_get_author(doc));
  GDateTime *created = poppler_document_get_creation_date_time(doc);
  if(created) {
    gchar *iso = g_date_time_format(created, "%Y-%m-%d");
    if(iso)
      dpi_doc_fact(rec, "date", iso, strlen(iso));
    g_free(iso);
    g_date_time_unref(created);
  }
  return DP_OK;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  static pthread_once_t warmed = PTHREAD_ONCE_INIT;
  pthread_once(&warmed, warm_up);
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  if(!body || len == 0)
    return dpi_record_fail(rec, DP_KIND_EMPTY, "PDF is empty");
  if(is_truncated(body, len))
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "PDF is truncated: it ends inside its objects, before the "
                           "cross-reference section (%zu bytes)",
                           len);

  /* Poppler-glib lays out the crop box only, pdftotext the media box: see
   * pdfuncrop.h. */
  struct dp_buf uncropped;
  dpi_buf_init(&uncropped, len + 64 * DP_MIB);
  if(dpi_pdf_uncrop(body, len, &uncropped) > 0) {
    body = (const unsigned char *)uncropped.mem;
    len = uncropped.len;
  } else if(restate_startxref(body, len, &uncropped)) {
    body = (const unsigned char *)uncropped.mem;
    len = uncropped.len;
  }
  GBytes *bytes = g_bytes_new_static(body, len);
  GError *err = NULL;
  PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &err);
  g_bytes_unref(bytes);
  enum dp_status rc;
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  if(!doc) {
    if(err && err->domain == POPPLER_ERROR && err->code == POPPLER_ERROR_ENCRYPTED) {
      dpi_record_hint(rec, "ask the source system for an unprotected copy");
      rc = dpi_record_fail(rec, DP_KIND_ENCRYPTED, "PDF is encrypted and needs a password");
    } else {
      rc = dpi_record_fail(rec, DP_KIND_DAMAGED, "PDF cannot be opened: %s",
                           err && err->message ? err->message : "unknown error");
    }
    if(err)
      g_error_free(err);
  } else {
    rc = read_document(st, rec, doc, &text);
    g_object_unref(doc);
  }
  dpi_buf_free(&uncropped);
  if(rc != DP_OK) {
    dpi_buf_free(&text);
    return rc;
  }
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_pdf = {
  .name = "pdf",
  .summary = "PDF text of every page, page count, title, author (poppler)",
  .format = "pdf",
  .mime = "application/pdf",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .open = dpi_extract_open,
  .process = process,
};
