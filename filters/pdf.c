/* pdf.c - the PDF extractor (poppler-glib).
 *
 * Text of every page in reading order (poppler's text layout, as pdftotext
 * without -layout), pages separated by a blank line; page count, title and
 * author from the document information, its creation date as a date fact.
 * Encrypted and damaged files give error records.  A file cut short is
 * damaged even when poppler could rebuild part of it: without %%EOF near the
 * end (Acrobat's rule: in the last 1024 bytes) the text would silently be
 * incomplete. */
#include <poppler.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "extract.h"
#include "registry.h"

#define EOF_WINDOW 1024

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

static int has_eof_marker(const unsigned char *p, size_t len)
{
  size_t from = len > EOF_WINDOW ? len - EOF_WINDOW : 0;
  for(size_t i = len >= 5 ? len - 5 + 1 : 0; i-- > from;)
    if(!memcmp(p + i, "%%EOF", 5))
      return 1;
  return 0;
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
 * left edge, silently skipping the blocks before it. */

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
  for(const char *p = text; *p && ok; p = g_utf8_next_char(p), gi++) {
    if(gi >= n_glyphs) {
      ok = 0;
      break;
    }
    if(*p == '\n') {
      cur = NULL;
      continue;
    }
    const PopplerRectangle *g = &glyphs[gi];
    int start = !cur;
    if(cur && *p != ' ' && cur->len && line < n_lines && !box_inside(g, &lines[line - 1]) &&
       box_inside(g, &lines[line]))
      start = 1; /* a table cell glued to the one before it */
    if(start) {
      if(line >= n_lines || !(cur = units_add(out))) {
        ok = 0;
        break;
      }
      line++;
      cur->text = p;
    }
    cur->len = (size_t)(g_utf8_next_char(p) - cur->text);
    if(*p != ' ')
      box_grow(&cur->bb, g);
  }
  if(ok && (gi != n_glyphs || line != n_lines))
    ok = 0;
  if(!ok)
    out->n = base;
  free(lines);
  return ok;
}

/* Does b continue a's flow?  TextPage::coalesce puts a block into the flow
 * of the one before it when it is below it, within its column and at most
 * maxBlockSpacing font sizes lower; lines of one block always are. */
static int same_flow(const struct unit *a, const struct unit *b)
{
  if(a->own_flow || b->own_flow)
    return 0;
  double h = a->bb.y2 - a->bb.y1;
  return b->bb.y1 > a->bb.y1 && b->bb.y1 - a->bb.y2 <= MAX_BLOCK_SPACING * h &&
         b->bb.x1 < a->bb.x2 && b->bb.x2 > a->bb.x1;
}

/* Write the units of one page: lines of a flow one per line, a blank line
 * between flows, and a line ending in '-' joined to the next line of its
 * flow without the hyphen, as TextPage::dump does. */
static void write_units(const struct units *u, struct dp_buf *out)
{
  for(size_t i = 0; i < u->n; i++) {
    const struct unit *a = &u->v[i];
    size_t len = a->len;
    const char *sep = "";
    if(i + 1 < u->n) {
      if(same_flow(a, &u->v[i + 1])) {
        if(len && a->text[len - 1] == '-')
          len--;
        else
          sep = "\n";
      } else {
        sep = "\n\n";
      }
    }
    dpi_buf_add(out, a->text, len);
    dpi_buf_adds(out, sep);
  }
}

/* Append the text of one page (nothing when it has none). */
static void page_text(PopplerPage *page, struct dp_buf *out)
{
  PopplerRectangle all = {-FAR, -FAR, FAR, FAR};
  gchar *text = poppler_page_get_selected_text(page, POPPLER_SELECTION_GLYPH, &all);
  if(!text || !*text) {
    g_free(text);
    return;
  }
  PopplerRectangle *glyphs = NULL;
  guint n_glyphs = 0;
  if(!poppler_page_get_text_layout_for_area(page, &all, &glyphs, &n_glyphs))
    n_glyphs = 0;
  G_GNUC_BEGIN_IGNORE_DEPRECATIONS
  /* The only call that gives the TextLines one by one (its successor,
   * poppler_page_get_selected_region, merges them into one region). */
  GList *line_rects =
      poppler_page_get_selection_region(page, LINE_SCALE, POPPLER_SELECTION_GLYPH, &all);
  G_GNUC_END_IGNORE_DEPRECATIONS

  struct units u = {0};
  if(out->len)
    dpi_buf_adds(out, "\n\n");
  if(split_lines(text, glyphs, n_glyphs, line_rects, &u))
    write_units(&u, out);
  else
    dpi_buf_adds(out, text);
  free(u.v);
  g_list_free_full(line_rects, (GDestroyNotify)poppler_rectangle_free);
  g_free(glyphs);
  g_free(text);
}


static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  static pthread_once_t warmed = PTHREAD_ONCE_INIT;
  pthread_once(&warmed, warm_up);
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  if(!body || len == 0)
    return dpi_record_fail(rec, DP_KIND_EMPTY, "PDF is empty");
  if(!has_eof_marker(body, len))
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "PDF is truncated: no %%%%EOF marker in its last %d bytes (%zu bytes)",
                           EOF_WINDOW, len);

  GBytes *bytes = g_bytes_new_static(body, len);
  GError *err = NULL;
  PopplerDocument *doc = poppler_document_new_from_bytes(bytes, NULL, &err);
  g_bytes_unref(bytes);
  if(!doc) {
    enum dp_status rc;
    if(err && err->domain == POPPLER_ERROR && err->code == POPPLER_ERROR_ENCRYPTED) {
      dpi_record_hint(rec, "ask the source system for an unprotected copy");
      rc = dpi_record_fail(rec, DP_KIND_ENCRYPTED, "PDF is encrypted and needs a password");
    } else {
      rc = dpi_record_fail(rec, DP_KIND_DAMAGED, "PDF cannot be opened: %s",
                           err && err->message ? err->message : "unknown error");
    }
    if(err)
      g_error_free(err);
    return rc;
  }

  int pages = poppler_document_get_n_pages(doc);
  if(pages < 0 || (unsigned)pages > st->ctx->max_pages) {
    g_object_unref(doc);
    dpi_record_hint(rec, "raise --max-pages to convert it");
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "PDF has %d pages, over the cap of %u", pages,
                           st->ctx->max_pages);
  }
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  for(int i = 0; i < pages && !dpi_buf_failed(&text); i++) {
    PopplerPage *page = poppler_document_get_page(doc, i);
    if(!page)
      continue;
    page_text(page, &text);
    g_object_unref(page);
  }

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
  g_object_unref(doc);
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_pdf = {
  .name = "pdf",
  .summary = "PDF text of every page, page count, title, author (poppler)",
  .format = "pdf",
  .mime = "application/pdf",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
