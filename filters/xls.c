/* xls.c - text of Excel 97-2003 workbooks (.xls, BIFF8; BIFF5 too).
 *
 * The Workbook stream (Book in Excel 5/95 files) is a run of records, each
 * a 16-bit type and length and its data ([MS-XLS] 2.1.4).  The workbook
 * globals come first: BOUNDSHEET names each sheet and gives the offset of
 * its BOF, SST holds the shared strings (its strings run on into CONTINUE
 * records, and a string cut there starts again with an option byte that
 * says whether the rest is 8- or 16-bit), FILEPASS means the file is
 * encrypted, CODEPAGE names the charset of BIFF5's 8-bit strings.  Each
 * sheet's substream then holds its cells: LABELSST (an index into the SST),
 * LABEL (a string of its own), NUMBER, RK and MULRK (numbers), BOOLERR, and
 * FORMULA with its cached result (a number, or a string in the STRING
 * record after it).  Charts have substreams of their own, nested in a
 * sheet's or not, and are skipped.
 *
 * Output: per sheet, its name on a line, then its rows in order, the cells
 * of a row joined by " | " in column order (empty cells leave nothing), and
 * a blank line.  Numbers are written with up to 15 significant digits, as a
 * person would read them (1, 2.5, 0.1), without their number formats.
 * FILEPASS is `encrypted`; an SST that runs past its records, `damaged`. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "ole2read.h"
#include "registry.h"
#include "textconv.h"

enum {
  XLS_FORMULA = 0x0006,
  XLS_EOF = 0x000A,
  XLS_FILEPASS = 0x002F,
  XLS_CONTINUE = 0x003C,
  XLS_CODEPAGE = 0x0042,
  XLS_BOUNDSHEET = 0x0085,
  XLS_MULRK = 0x00BD,
  XLS_SST = 0x00FC,
  XLS_LABELSST = 0x00FD,
  XLS_NUMBER = 0x0203,
  XLS_LABEL = 0x0204,
  XLS_BOOLERR = 0x0205,
  XLS_STRING = 0x0207,
  XLS_RK = 0x027E,
  XLS_BOF = 0x0809
};

struct xls_cell {
  uint32_t row;
  uint32_t col;
  size_t off, len; /* its text in xls.cells */
};

struct xls_sheet_name {
  unsigned long pos; /* offset of the sheet's BOF */
  size_t off, len;   /* in xls.names */
};

struct xls {
  const struct dp_stage *st;
  struct dp_record *rec;
  const unsigned char *s; /* the Workbook stream */
  size_t len;
  int biff8;
  unsigned codepage;
  struct dp_buf strings; /* the SST's strings, one after the other */
  size_t *sst_off;       /* nsst + 1 offsets into strings */
  size_t nsst;
  struct dp_buf names;
  struct xls_sheet_name *sheets;
  size_t nsheets, cap_sheets;
  struct dp_buf cells; /* the current sheet's cell texts */
  struct xls_cell *cell;
  size_t ncell, cap_cell;
  int formula_string; /* a FORMULA said its string comes in the next STRING */
  uint32_t fs_row, fs_col;
  struct dp_buf *text;
};

/* ---- reading across CONTINUE records ---- */

struct cursor {
  const struct xls *x;
  size_t pos, end; /* in the stream: the current record's data */
  int broken;      /* read past the last CONTINUE */
};

static int next_segment(struct cursor *c)
{
  if(dpi_le16(c->x->s, c->x->len, c->end) != XLS_CONTINUE || c->x->len - c->end < 4) {
    c->broken = 1;
    return -1;
  }
  size_t n = dpi_le16(c->x->s, c->x->len, c->end + 2);
  c->pos = c->end + 4;
  c->end = c->pos + n <= c->x->len ? c->pos + n : c->x->len;
  return 0;
}

static unsigned cur_byte(struct cursor *c)
{
  if(c->pos >= c->end && next_segment(c))
    return 0;
  return c->x->s[c->pos++];
}

static unsigned long cur_le(struct cursor *c, int bytes)
{
  unsigned long v = 0;
  for(int i = 0; i < bytes; i++)
    v |= (unsigned long)cur_byte(c) << (8 * i);
  return v;
}

static void cur_skip(struct cursor *c, size_t n)
{
  while(n && !c->broken) {
    if(c->pos >= c->end && next_segment(c))
      return;
    size_t k = c->end - c->pos < n ? c->end - c->pos : n;
    c->pos += k;
    n -= k;
  }
}

/* cch characters, 8-bit (Latin-1) or UTF-16; at each CONTINUE the rest
 * starts with an option byte of its own. */
static void cur_chars(struct cursor *c, size_t cch, int high, struct dp_buf *out)
{
  uint32_t hi_sur = 0;
  while(cch && !c->broken) {
    if(c->pos >= c->end) {
      if(next_segment(c))
        return;
      high = c->x->s[c->pos++] & 1;
      continue;
    }
    uint32_t u = high ? (uint32_t)cur_le(c, 2) : cur_byte(c);
    cch--;
    if(hi_sur && u >= 0xDC00 && u <= 0xDFFF) {
      dpi_utf8_put(out, 0x10000 + ((hi_sur - 0xD800) << 10) + (u - 0xDC00));
      hi_sur = 0;
      continue;
    }
    if(hi_sur)
      dpi_utf8_put(out, 0xFFFD);
    hi_sur = u >= 0xD800 && u <= 0xDBFF ? u : 0;
    if(!hi_sur)
      dpi_utf8_put(out, u);
  }
  if(hi_sur)
    dpi_utf8_put(out, 0xFFFD);
}

/* An XLUnicodeRichExtendedString (cch of 16 bits) or, with short, a
 * ShortXLUnicodeString (8 bits); BIFF5's are 8-bit in the code page. */
static void cur_string(struct cursor *c, int short_len, struct dp_buf *out)
{
  size_t cch = short_len ? cur_byte(c) : cur_le(c, 2);
  if(!c->x->biff8) {
    char cp[16];
    snprintf(cp, sizeof(cp), "CP%u", c->x->codepage ? c->x->codepage : 1252);
    size_t n = c->end - c->pos < cch ? c->end - c->pos : cch;
    if(dpi_to_utf8(out, c->x->s + c->pos, n, cp) && !dpi_buf_failed(out))
      dpi_to_utf8(out, c->x->s + c->pos, n, "CP1252");
    c->pos += n;
    return;
  }
  unsigned flags = cur_byte(c);
  size_t runs = flags & 0x08 ? cur_le(c, 2) : 0;
  size_t ext = flags & 0x04 ? cur_le(c, 4) : 0;
  cur_chars(c, cch, flags & 1, out);
  cur_skip(c, 4 * runs);
  cur_skip(c, ext);
}

/* ---- workbook globals ---- */

static enum dp_status read_sst(struct xls *x, size_t at, size_t n)
{
  struct cursor c = {x, at, at + n, 0};
  cur_le(&c, 4); /* cstTotal */
  unsigned long unique = cur_le(&c, 4);
  /* Each string takes 3 bytes at least: that bounds the table. */
  size_t max = x->len / 3 + 1;
  x->nsst = unique < max ? unique : max;
  free(x->sst_off); /* a second SST record replaces the first */
  x->sst_off = calloc(x->nsst + 1, sizeof(*x->sst_off));
  if(!x->sst_off)
    return dpi_record_fail(x->rec, DP_KIND_INTERNAL, "out of memory");
  for(size_t i = 0; i < x->nsst; i++) {
    x->sst_off[i] = x->strings.len;
    if(c.pos >= c.end && (next_segment(&c) || c.broken)) {
      x->nsst = i; /* fewer strings than announced: cells past them stay empty */
      dpi_record_warn(x->rec, "the shared string table holds %zu of %lu strings", i, unique);
      break;
    }
    cur_string(&c, 0, &x->strings);
    if(dpi_buf_failed(&x->strings))
      return dpi_record_fail(x->rec, DP_KIND_TOO_LARGE,
                             "shared strings exceed %zu bytes", x->strings.max);
  }
  x->sst_off[x->nsst] = x->strings.len;
  return DP_OK;
}

static enum dp_status add_sheet_name(struct xls *x, size_t at, size_t n)
{
  if(n < 7)
    return DP_OK;
  if(x->nsheets == x->cap_sheets) {
    size_t cap = x->cap_sheets ? x->cap_sheets * 2 : 8;
    struct xls_sheet_name *m = realloc(x->sheets, cap * sizeof(*m));
    if(!m)
      return dpi_record_fail(x->rec, DP_KIND_INTERNAL, "out of memory");
    x->sheets = m;
    x->cap_sheets = cap;
  }
  struct xls_sheet_name *sh = &x->sheets[x->nsheets++];
  sh->pos = dpi_le32(x->s, x->len, at);
  sh->off = x->names.len;
  struct cursor c = {x, at + 6, at + n, 0};
  cur_string(&c, 1, &x->names);
  sh->len = x->names.len - sh->off;
  return DP_OK;
}

/* ---- cells ---- */

static enum dp_status add_cell(struct xls *x, uint32_t row, uint32_t col, size_t off)
{
  if(x->cells.len == off)
    return DP_OK; /* empty */
  if(x->ncell == x->cap_cell) {
    if(x->ncell >= DP_XLS_MAX_CELLS)
      return dpi_record_fail(x->rec, DP_KIND_TOO_LARGE, "a sheet has more than %d cells",
                             DP_XLS_MAX_CELLS);
    size_t cap = x->cap_cell ? x->cap_cell * 2 : 256;
    struct xls_cell *m = realloc(x->cell, cap * sizeof(*m));
    if(!m)
      return dpi_record_fail(x->rec, DP_KIND_INTERNAL, "out of memory");
    x->cell = m;
    x->cap_cell = cap;
  }
  x->cell[x->ncell++] = (struct xls_cell){row, col, off, x->cells.len - off};
  return DP_OK;
}

static void put_number(struct dp_buf *out, double v)
{
  /* The range first: converting a double outside long long's is UB. */
  if(v > -1e15 && v < 1e15 && v == (double)(long long)v)
    dpi_buf_addf(out, "%lld", (long long)v);
  else
    dpi_buf_addf(out, "%.15g", v);
}

static double le_double(const unsigned char *p)
{
  uint64_t bits = 0;
  for(int i = 7; i >= 0; i--)
    bits = bits << 8 | p[i];
  double v;
  memcpy(&v, &bits, sizeof(v));
  return v;
}

static double rk_value(unsigned long rk)
{
  double v;
  if(rk & 2) {
    v = (double)((int32_t)(uint32_t)rk >> 2);
  } else {
    uint64_t bits = (uint64_t)(rk & 0xFFFFFFFCUL) << 32;
    memcpy(&v, &bits, sizeof(v));
  }
  return rk & 1 ? v / 100 : v;
}

static enum dp_status number_cell(struct xls *x, uint32_t row, uint32_t col, double v)
{
  size_t off = x->cells.len;
  put_number(&x->cells, v);
  return add_cell(x, row, col, off);
}

static enum dp_status string_cell(struct xls *x, uint32_t row, uint32_t col, size_t at,
                                  size_t n)
{
  size_t off = x->cells.len;
  struct cursor c = {x, at, at + n, 0};
  cur_string(&c, 0, &x->cells);
  return add_cell(x, row, col, off);
}

static enum dp_status formula_cell(struct xls *x, uint32_t row, uint32_t col,
                                   const unsigned char *d, size_t n)
{
  if(n < 14)
    return DP_OK;
  const unsigned char *r = d + 6;
  if(r[6] != 0xFF || r[7] != 0xFF)
    return number_cell(x, row, col, le_double(r));
  if(r[0] == 0) { /* a string, in the STRING record that follows */
    x->formula_string = 1;
    x->fs_row = row;
    x->fs_col = col;
  } else if(r[0] == 1) {
    size_t off = x->cells.len;
    dpi_buf_adds(&x->cells, r[2] ? "TRUE" : "FALSE");
    return add_cell(x, row, col, off);
  }
  return DP_OK;
}

/* A record of a sheet's substream. */
static enum dp_status sheet_record(struct xls *x, unsigned type, size_t at, size_t n)
{
  const unsigned char *d = x->s + at;
  uint32_t row = dpi_le16(d, n, 0), col = dpi_le16(d, n, 2);
  int was_formula = x->formula_string;
  x->formula_string = 0;
  switch(type) {
  case XLS_LABELSST: {
    unsigned long i = dpi_le32(d, n, 6);
    if(n < 10 || i >= x->nsst)
      return DP_OK;
    size_t off = x->cells.len, len = x->sst_off[i + 1] - x->sst_off[i];
    if(len) /* (an empty table has no buffer to point into) */
      dpi_buf_add(&x->cells, x->strings.mem + x->sst_off[i], len);
    return add_cell(x, row, col, off);
  }
  case XLS_LABEL:
    return n > 8 ? string_cell(x, row, col, at + 6, n - 6) : DP_OK;
  case XLS_STRING:
    return was_formula ? string_cell(x, x->fs_row, x->fs_col, at, n) : DP_OK;
  case XLS_NUMBER:
    return n >= 14 ? number_cell(x, row, col, le_double(d + 6)) : DP_OK;
  case XLS_RK:
    return n >= 10 ? number_cell(x, row, col, rk_value(dpi_le32(d, n, 6))) : DP_OK;
  case XLS_MULRK:
    for(size_t k = 0; n >= 6 && 4 + 6 * (k + 1) <= n - 2; k++)
      if(number_cell(x, row, col + (uint32_t)k, rk_value(dpi_le32(d, n, 4 + 6 * k + 2))))
        return DP_FAIL;
    return DP_OK;
  case XLS_BOOLERR:
    if(n >= 8 && !d[7]) {
      size_t off = x->cells.len;
      dpi_buf_adds(&x->cells, d[6] ? "TRUE" : "FALSE");
      return add_cell(x, row, col, off);
    }
    return DP_OK;
  case XLS_FORMULA:
    return formula_cell(x, row, col, d, n);
  default:
    return DP_OK;
  }
}

static int cell_cmp(const void *a, const void *b)
{
  const struct xls_cell *p = a, *q = b;
  if(p->row != q->row)
    return p->row < q->row ? -1 : 1;
  if(p->col != q->col)
    return p->col < q->col ? -1 : 1;
  return p->off < q->off ? -1 : p->off > q->off;
}

/* The sheet that ends: its name, its rows, a blank line. */
static void flush_sheet(struct xls *x, size_t sheet)
{
  if(sheet < x->nsheets && x->sheets[sheet].len) {
    dpi_buf_add(x->text, x->names.mem + x->sheets[sheet].off, x->sheets[sheet].len);
    dpi_buf_addc(x->text, '\n');
  }
  if(x->ncell) /* (qsort may not be handed NULL, even for nothing) */
    qsort(x->cell, x->ncell, sizeof(*x->cell), cell_cmp);
  for(size_t i = 0; i < x->ncell; i++) {
    const struct xls_cell *c = &x->cell[i];
    int same_row = i && x->cell[i - 1].row == c->row;
    if(same_row)
      dpi_buf_adds(x->text, " | ");
    else if(i)
      dpi_buf_addc(x->text, '\n');
    /* A cell's own line breaks would split its row. */
    for(size_t k = 0; k < c->len; k++) {
      char ch = x->cells.mem[c->off + k];
      dpi_buf_addc(x->text, ch == '\n' || ch == '\r' ? ' ' : ch);
    }
  }
  if(x->ncell)
    dpi_buf_addc(x->text, '\n');
  dpi_buf_addc(x->text, '\n');
  x->ncell = 0;
  dpi_buf_reset(&x->cells);
}

static size_t sheet_at(const struct xls *x, size_t pos)
{
  for(size_t i = 0; i < x->nsheets; i++)
    if(x->sheets[i].pos == pos)
      return i;
  return x->nsheets;
}

static enum dp_status globals_record(struct xls *x, unsigned type, size_t at, size_t n)
{
  switch(type) {
  case XLS_FILEPASS:
    return dpi_record_fail(x->rec, DP_KIND_ENCRYPTED, "Excel workbook is encrypted");
  case XLS_CODEPAGE:
    x->codepage = dpi_le16(x->s, x->len, at);
    if(x->codepage == 1200 || x->codepage == 0x8000 || x->codepage == 0x8001)
      x->codepage = 0; /* UTF-16 (BIFF8 only) and Mac: the default */
    return DP_OK;
  case XLS_BOUNDSHEET:
    return add_sheet_name(x, at, n);
  case XLS_SST:
    return x->biff8 ? read_sst(x, at, n) : DP_OK;
  default:
    return DP_OK;
  }
}

/* Walk the records: globals, then each sheet's substream. */
static enum dp_status walk(struct xls *x)
{
  int depth = 0, globals_done = 0, in_sheet = 0;
  size_t sheet = 0, pos = 0;
  while(x->len - pos >= 4 && !dpi_buf_failed(x->text)) {
    unsigned type = dpi_le16(x->s, x->len, pos), n = dpi_le16(x->s, x->len, pos + 2);
    size_t at = pos + 4;
    if(n > x->len - at)
      break; /* a cut record: what came before stands */
    enum dp_status rc = DP_OK;
    if(type == XLS_BOF) {
      if(depth == 0 && !globals_done) {
        x->biff8 = dpi_le16(x->s, x->len, at) == 0x0600;
      } else if(depth == 0) {
        sheet = sheet_at(x, pos);
        in_sheet = n >= 4 && dpi_le16(x->s, x->len, at + 2) == 0x0010;
      }
      depth++;
    } else if(type == XLS_EOF) {
      if(depth == 1 && globals_done && in_sheet)
        flush_sheet(x, sheet);
      if(depth == 1)
        globals_done = 1, in_sheet = 0;
      depth = depth ? depth - 1 : 0;
    } else if(!globals_done) {
      rc = globals_record(x, type, at, n);
    } else if(depth == 1 && in_sheet) {
      rc = sheet_record(x, type, at, n);
    }
    if(rc != DP_OK)
      return rc;
    pos = at + n;
  }
  if(in_sheet)
    flush_sheet(x, sheet); /* a stream cut inside a sheet keeps its cells */
  return DP_OK;
}

static enum dp_status read_xls(const struct dp_stage *st, struct dp_record *rec,
                               GsfInfile *root, struct dp_buf *text)
{
  struct dp_buf book;
  dpi_buf_init(&book, st->ctx->max_document);
  const char *name = "Workbook";
  enum dp_ole2_read rc = dpi_ole2_read(root, name, st->ctx->max_document, &book);
  if(rc == DP_OLE2_READ_MISSING)
    rc = dpi_ole2_read(root, name = "Book", st->ctx->max_document, &book);
  if(rc != DP_OLE2_READ_OK) {
    dpi_buf_free(&book);
    return dpi_ole2_read_fail(rec, name, rc, st->ctx->max_document);
  }
  struct xls x = {.st = st, .rec = rec, .text = text};
  x.s = (const unsigned char *)book.mem;
  x.len = book.len;
  dpi_buf_init(&x.strings, st->ctx->max_text);
  dpi_buf_init(&x.names, DP_MAX_SHORT * 16);
  dpi_buf_init(&x.cells, st->ctx->max_text);
  enum dp_status status = DP_OK;
  if(x.len < 8 || dpi_le16(x.s, x.len, 0) != XLS_BOF)
    status = dpi_record_fail(rec, DP_KIND_DAMAGED, "%s stream does not start with a BOF record",
                             name);
  else
    status = walk(&x);
  free(x.sst_off);
  free(x.sheets);
  free(x.cell);
  dpi_buf_free(&x.strings);
  dpi_buf_free(&x.names);
  dpi_buf_free(&x.cells);
  dpi_buf_free(&book);
  return status;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return dpi_ole2_bid(peek, DP_OLE2_XLS);
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  return dpi_ole2_process(st, rec, out, read_xls);
}

const struct dp_stage_ops dp_stage_xls = {
  .name = "xls",
  .summary = "Excel 97-2003 workbooks (.xls): every sheet's cells, row by row",
  .format = "xls",
  .mime = "application/vnd.ms-excel",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
