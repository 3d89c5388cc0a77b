/* rtf.c - text of RTF documents (a hand-written tokenizer).
 *
 * Clinical notes leave Word, WordPad and EHR editors (Cerner's among them)
 * as RTF.  No Debian library reads RTF into text, so this stage tokenizes it
 * itself: groups `{...}` with a stack of group state, control words `\word`
 * with an optional signed parameter and the one space that may end them,
 * control symbols `\x`, and plain text.
 *
 * Characters:
 *   - `\'hh` bytes and literal 8-bit bytes are in the code page of the
 *     current font (its \fcharset or \cpg in the font table), else of the
 *     document (\ansicpg, default 1252; meta.charset names it).  Consecutive
 *     bytes are gathered into one run and converted together, so double-byte
 *     code pages (932, 936, 949, 950) decode, even when a trail byte is
 *     written as a literal character; a control word, control symbol or
 *     brace ends the run (as in LibreOffice), so a lone lead byte becomes
 *     U+FFFD instead of eating the next word's first letter.  The Symbol
 *     charset has no Unicode table in iconv; it is read as 1252, which keeps
 *     ASCII and turns its bullet (0xB7) into a middle dot.
 *   - `\uN` is UTF-16 (negative N means N + 65536; surrogate pairs are
 *     joined) followed by \ucN fallback characters (default 1, group
 *     scoped) that are skipped: a character, a \'hh, a control word or
 *     symbol each count as one, a brace ends the skipping.
 *   - \par \line \sect \page \row -> newline, \tab -> tab, \cell -> " | "
 *     between the non-empty cells of a row (so a row is one line, and never
 *     starts or ends with a separator; blanks padding a cell are dropped),
 *     \~ -> U+00A0, \_ -> "-", \- dropped,
 *     \emdash \endash \bullet \lquote \rquote \ldblquote \rdblquote -> their
 *     characters; a \'h without its second hex digit is dropped; CR and LF
 *     in the source are not text; \binN skips N raw bytes; text marked
 *     hidden (\v) is dropped.
 *
 * Lists are labelled as LibreOffice labels them: from \ls and \ilvl and the
 * list table (\listtable, \listoverridetable: \levelnfc, \levelstartat,
 * \leveltext), one counter per list level running through the document,
 * bullet levels as U+2022, U+25E6, U+25AA; old-style numbering from \pn
 * (bullets, one decimal count).  The label and a space open the paragraph.
 * The \listtext and \pntext copies of the labels are dropped, as
 * LibreOffice drops them, and \list text never leaks, in its table or not.
 *
 * Destinations that are not body text are skipped: every `{\*\...}` group
 * (\* counts only at the start of a group, as RTF places it; elsewhere it
 * means nothing), and fonttbl, colortbl, stylesheet, the text of list
 * tables, revtbl, rsidtbl, generator, pict, object, headers and footers,
 * fldinst (the field's
 * result, fldrslt, is kept), bookmarks, and the rest listed in rtf_words.
 * From \info, \title and \author go to meta.title and meta.author, and
 * \creatim to the document's date fact.
 *
 * Broken input:
 *   - bytes that do not start with `{\rtf` (after an optional BOM and white
 *     space): damaged, "not RTF";
 *   - groups nested deeper than DP_MAX_NESTING: too-large, as for every cap
 *     (Word itself nests a few dozen deep at most);
 *   - a file that ends with groups still open (a cut transfer) keeps the text
 *     read so far and is not an error, because what was read is right;
 *     but when it ends before any text at all, it was cut inside its header
 *     (font table, style sheet...), and an empty record would hide the loss,
 *     so that is damaged.
 *   - bytes after the document's closing brace (padding) are ignored. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "date.h"
#include "dplimits.h"
#include "extract.h"
#include "registry.h"
#include "textconv.h"

/* Fonts remembered from the font table; later ones keep the document code
 * page (a real table has tens of fonts). */
#define RTF_MAX_FONTS 1024
/* Control words are at most 32 letters (RTF 1.9.1). */
#define RTF_MAX_WORD 32

/* List definitions remembered from \listtable and \listoverridetable (Word
 * writes a few dozen at most). */
#define RTF_MAX_LISTS 256
/* Levels of a list (RTF 1.9: nine). */
#define RTF_LIST_LEVELS 9
/* Characters of one \leveltext (its length byte says at most 255; real
 * ones are a handful: "\'02\'00." is "1."). */
#define RTF_MAX_LEVELTEXT 32

enum rtf_sink { SINK_TEXT, SINK_NONE, SINK_TITLE, SINK_AUTHOR, SINK_LEVELTEXT };

/* The destination a group is in, for the control words whose meaning
 * depends on it (\listid, \ls, \levelnfc...). */
enum rtf_dest {
  DEST_BODY,
  DEST_OTHER,
  DEST_LISTTABLE,
  DEST_LIST,
  DEST_LISTLEVEL,
  DEST_OVERRIDETABLE,
  DEST_OVERRIDE,
  DEST_PN
};

/* What a group changes; a nested group starts as a copy of its parent's.
 * Paragraph properties (\ls, \ilvl, \pn) are group state too, as RTF
 * says: \pard inside a {\listtext ...} group ends with it. */
struct rtf_state {
  unsigned char sink;    /* where its text goes */
  unsigned char dest;    /* enum rtf_dest */
  unsigned char fonttbl; /* inside the font table: \f defines a font */
  unsigned char info;    /* inside \info */
  unsigned char creatim; /* inside \info's \creatim */
  unsigned char hidden;  /* \v */
  unsigned char ilvl;    /* \ilvl: the paragraph's list level */
  unsigned char pn;      /* old-style numbering of the paragraph: PN_* */
  int ls;                /* \ls: the paragraph's list (override number), 0 for none */
  int uc;                /* fallback characters after \uN */
  int font;              /* \f in force, -1 for the default font (\deff) */
};

enum { PN_NONE, PN_BULLET, PN_NUMBER };

struct rtf_level {
  int nfc;                            /* \levelnfc: 0 decimal, 23 bullet... */
  int start;                          /* \levelstartat */
  uint32_t text[RTF_MAX_LEVELTEXT];   /* \leveltext: 0..8 are level numbers */
  int text_len;                       /* -1 until its length byte came */
  int text_want;                      /* that length byte */
  int counter;                        /* the number given last */
  int used;                           /* counter is set */
};

struct rtf_list {
  int id;
  int nlevels;
  struct rtf_level levels[RTF_LIST_LEVELS];
};

struct rtf_override {
  int ls, listid;
};

struct rtf_font {
  int num;
  int codepage;
};

struct rtf_parser {
  const unsigned char *start, *p, *end;
  struct rtf_state stack[DP_MAX_NESTING];
  int depth; /* open groups; stack[depth - 1] is the current one */
  struct dp_buf *text;
  struct dp_buf title, author;
  /* Code-page bytes not yet converted, all for one sink and code page. */
  struct dp_buf run;
  int run_sink, run_cp;
  int ansicpg, deff;
  struct rtf_font fonts[RTF_MAX_FONTS]; /* sorted by num */
  size_t nfonts;
  int defining_font; /* the \f being described in the font table */
  int defining_list, defining_level, defining_override; /* indexes, -1 for none */
  uint32_t high;     /* a high surrogate waiting for its low half, or 0 */
  int skip;          /* \uN fallback characters still to skip */
  int cell_sep;      /* a cell ended: " | " before more text on this line */
  int line_text;     /* the current line of the body has text */
  int para_open;     /* the current paragraph of the body has begun (its label is out) */
  int group_start;   /* nothing came yet since the last "{" (for \*) */
  struct rtf_list lists[RTF_MAX_LISTS];
  size_t nlists;
  struct rtf_override overrides[RTF_MAX_LISTS];
  size_t noverrides;
  int pn_count;      /* the last old-style (\pn) number given, 0 before the first */
  int pn_start;      /* \pnstart of the first numbered \pn */
  int wrote_text;    /* the body has text other than white space */
  int run_overflow;  /* the run outgrew the text cap */
  int yr, mo, dy;    /* \creatim */
};

static struct rtf_state *cur(struct rtf_parser *r)
{
  return &r->stack[r->depth - 1];
}

/* ---- code pages ---- */

/* \fcharset to a Windows code page; 0 for "the document's". */
static int charset_codepage(long charset)
{
  switch(charset) {
  case 0:   /* ANSI */
  case 2:   /* Symbol: see the top of the file */
    return 1252;
  case 77:  return 10000; /* Mac Roman */
  case 128: return 932;
  case 129: return 949;
  case 130: return 1361;
  case 134: return 936;
  case 136: return 950;
  case 161: return 1253;
  case 162: return 1254;
  case 163: return 1258;
  case 177: return 1255;
  case 178: return 1256;
  case 186: return 1257;
  case 204: return 1251;
  case 222: return 874;
  case 238: return 1250;
  case 255: return 437; /* OEM */
  default:  return 0;
  }
}

static const char *codepage_name(int cp, char *buf, size_t len)
{
  switch(cp) {
  case 10000: return "MACINTOSH";
  case 65001: return "UTF-8";
  case 1361:  return "JOHAB";
  default:
    snprintf(buf, len, "CP%d", cp);
    return buf;
  }
}

/* The document's code page as meta.charset names charsets: the iconv
 * name the other extractors use (WINDOWS-1252 for code page 1252). */
static const char *codepage_charset(int cp, char *buf, size_t len)
{
  if(cp >= 1250 && cp <= 1258) {
    snprintf(buf, len, "WINDOWS-%d", cp);
    return buf;
  }
  return codepage_name(cp, buf, len);
}

static struct rtf_font *font_find(struct rtf_parser *r, int num)
{
  size_t lo = 0, hi = r->nfonts;
  while(lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if(r->fonts[mid].num == num)
      return &r->fonts[mid];
    if(r->fonts[mid].num < num)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

static void font_set_codepage(struct rtf_parser *r, int num, int cp)
{
  struct rtf_font *f = font_find(r, num);
  if(f) {
    f->codepage = cp;
    return;
  }
  if(r->nfonts == RTF_MAX_FONTS)
    return;
  size_t i = r->nfonts;
  while(i > 0 && r->fonts[i - 1].num > num) {
    r->fonts[i] = r->fonts[i - 1];
    i--;
  }
  r->fonts[i].num = num;
  r->fonts[i].codepage = cp;
  r->nfonts++;
}

static int current_codepage(struct rtf_parser *r)
{
  int num = cur(r)->font >= 0 ? cur(r)->font : r->deff;
  const struct rtf_font *f = num >= 0 ? font_find(r, num) : NULL;
  return f && f->codepage ? f->codepage : r->ansicpg;
}

/* ---- output ---- */

static struct dp_buf *sink_buf(struct rtf_parser *r, int sink)
{
  switch(sink) {
  case SINK_TEXT:   return r->text;
  case SINK_TITLE:  return &r->title;
  case SINK_AUTHOR: return &r->author;
  default:          return NULL;
  }
}

static void run_flush(struct rtf_parser *r)
{
  if(!r->run.len)
    return;
  struct dp_buf *dst = sink_buf(r, r->run_sink);
  char name[16];
  if(dst && dpi_to_utf8(dst, r->run.mem, r->run.len,
                        codepage_name(r->run_cp, name, sizeof(name))) &&
     !dpi_buf_failed(dst))
    /* A code page iconv does not know: 1252 is the best guess. */
    dpi_to_utf8(dst, r->run.mem, r->run.len, "CP1252");
  dpi_buf_reset(&r->run);
}

/* The sink the current group writes to, or -1 when its text is dropped. */
static int active_sink(struct rtf_parser *r)
{
  const struct rtf_state *s = cur(r);
  return s->sink == SINK_NONE || s->sink == SINK_LEVELTEXT || s->hidden ? -1 : s->sink;
}

static void emit_ascii(struct rtf_parser *r, int sink, const char *s, size_t n)
{
  if(r->run.len) {
    /* ASCII is the same in every code page RTF uses, so it may join the
     * run; it may even be the trail byte of a double-byte character. */
    if(r->run_sink == sink) {
      if(dpi_buf_add(&r->run, s, n))
        r->run_overflow = 1;
      return;
    }
    run_flush(r);
  }
  dpi_buf_add(sink_buf(r, sink), s, n);
}

/* A high surrogate that no low one followed. */
static void drop_high(struct rtf_parser *r, int sink)
{
  if(r->high) {
    r->high = 0;
    run_flush(r);
    dpi_utf8_put(sink_buf(r, sink), 0xFFFD);
  }
}

/* ---- list labels ---- */

/* The bullets LibreOffice writes for bullet levels 0, 1, 2 (then again),
 * whatever glyph the list names: the glyph is usually a Symbol or Wingdings
 * code with no Unicode meaning (U+F0B7). */
static const char *const level_bullets[] = {"\xE2\x80\xA2", "\xE2\x97\xA6", "\xE2\x96\xAA"};

static void put_roman(struct dp_buf *out, int n, int upper)
{
  static const struct {
    int value;
    const char *digits;
  } numerals[] = {{1000, "m"}, {900, "cm"}, {500, "d"}, {400, "cd"}, {100, "c"}, {90, "xc"},
                  {50, "l"},   {40, "xl"},  {10, "x"},  {9, "ix"},   {5, "v"},   {4, "iv"},
                  {1, "i"}};
  if(n <= 0 || n >= 4000) {
    dpi_buf_addf(out, "%d", n);
    return;
  }
  for(size_t i = 0; i < sizeof(numerals) / sizeof(numerals[0]); i++)
    for(; n >= numerals[i].value; n -= numerals[i].value)
      for(const char *d = numerals[i].digits; *d; d++)
        dpi_buf_addc(out, upper ? (char)(*d - 'a' + 'A') : *d);
}

/* A level's number in its \levelnfc style (RTF 1.9: 0 decimal, 1 and 2
 * upper and lower Roman, 3 and 4 upper and lower letters, 22 two digits;
 * the rest are written as decimal). */
static void put_number(struct dp_buf *out, int n, int nfc)
{
  switch(nfc) {
  case 1:
  case 2:
    put_roman(out, n, nfc == 1);
    break;
  case 3:
  case 4:
    if(n <= 0) {
      dpi_buf_addf(out, "%d", n);
      break;
    }
    /* A..Z, then AA..ZZ, as Word counts. */
    for(int k = 0; k <= (n - 1) / 26 && k < 64; k++)
      dpi_buf_addc(out, (char)((nfc == 3 ? 'A' : 'a') + (n - 1) % 26));
    break;
  case 22:
    dpi_buf_addf(out, "%02d", n);
    break;
  default:
    dpi_buf_addf(out, "%d", n);
    break;
  }
}

static struct rtf_list *list_for(struct rtf_parser *r, int ls)
{
  for(size_t i = 0; i < r->noverrides; i++) {
    if(r->overrides[i].ls != ls)
      continue;
    for(size_t k = 0; k < r->nlists; k++)
      if(r->lists[k].id == r->overrides[i].listid)
        return &r->lists[k];
    return NULL;
  }
  return NULL;
}

/* The label of a paragraph in list override `ls` at level `ilvl`, as
 * LibreOffice numbers it: one counter per level of each list, running on
 * through the document (paragraphs outside the list do not reset it), a
 * level's counter restarting when a higher level is numbered. */
static void list_label(struct rtf_parser *r, int ls, int ilvl, struct dp_buf *out)
{
  struct rtf_list *list = list_for(r, ls);
  if(!list || ilvl >= list->nlevels)
    return;
  struct rtf_level *lv = &list->levels[ilvl];
  lv->counter = lv->used && lv->counter < 1000000000 ? lv->counter + 1 : lv->start;
  lv->used = 1;
  for(int k = ilvl + 1; k < list->nlevels; k++)
    list->levels[k].used = 0;
  if(lv->nfc == 23) {
    dpi_buf_adds(out, level_bullets[ilvl % 3]);
    return;
  }
  if(lv->nfc == 255)
    return; /* no number */
  for(int i = 0; i < lv->text_len; i++) {
    uint32_t v = lv->text[i];
    if(v >= RTF_LIST_LEVELS) {
      dpi_utf8_put(out, v);
    } else if((int)v < list->nlevels) {
      const struct rtf_level *ref = &list->levels[v];
      if(ref->nfc != 23 && ref->nfc != 255)
        put_number(out, ref->used ? ref->counter : ref->start, ref->nfc);
    }
  }
}

/* The paragraph's label, if it has one, and the space after it (LibreOffice
 * writes a space whatever \levelfollow says). */
static void put_label(struct rtf_parser *r)
{
  const struct rtf_state *s = cur(r);
  size_t before = r->text->len;
  if(s->ls > 0)
    list_label(r, s->ls, s->ilvl, r->text);
  if(r->text->len == before && s->pn == PN_BULLET) {
    dpi_buf_adds(r->text, level_bullets[0]);
  } else if(r->text->len == before && s->pn == PN_NUMBER) {
    r->pn_count = r->pn_count ? r->pn_count + (r->pn_count < 1000000000)
                              : r->pn_start ? r->pn_start : 1;
    dpi_buf_addf(r->text, "%d.", r->pn_count);
  }
  if(r->text->len > before) {
    dpi_buf_addc(r->text, ' ');
    r->wrote_text = 1;
  }
}

/* The body's paragraph begins: its list label goes first. */
static void open_paragraph(struct rtf_parser *r)
{
  if(r->para_open)
    return;
  r->para_open = 1;
  run_flush(r);
  put_label(r);
}

/* Before text in `sink`: a pending lone surrogate, a cell separator, the
 * paragraph's list label.  Returns 0 when a blank is to be dropped: white
 * space that pads a cell before its text would otherwise follow the " | ". */
static int before_text(struct rtf_parser *r, int sink, int blank)
{
  drop_high(r, sink);
  if(sink != SINK_TEXT)
    return 1;
  if(r->cell_sep && blank)
    return 0;
  if(r->cell_sep && r->line_text)
    emit_ascii(r, sink, " | ", 3);
  r->cell_sep = 0;
  r->line_text = 1;
  open_paragraph(r);
  if(!blank)
    r->wrote_text = 1;
  return 1;
}

/* A character of a \leveltext: its first one is the length of the rest,
 * and values 0..8 stand for the numbers of levels 1..9. */
static void leveltext_add(struct rtf_parser *r, uint32_t v)
{
  if(r->defining_list < 0 || r->defining_level < 0)
    return;
  struct rtf_level *lv = &r->lists[r->defining_list].levels[r->defining_level];
  if(lv->text_len < 0) {
    lv->text_want = (int)(v & 0xFF);
    lv->text_len = 0;
  } else if(lv->text_len < lv->text_want && lv->text_len < RTF_MAX_LEVELTEXT) {
    lv->text[lv->text_len++] = v;
  }
}

/* A text byte in the current code page (literal or \'hh). */
static void put_byte(struct rtf_parser *r, unsigned char c)
{
  if(cur(r)->sink == SINK_LEVELTEXT) {
    /* Literal characters of a label: ASCII, or Latin-1 in the usual 1252. */
    int latin = c < 0x80 || (c >= 0xA0 && current_codepage(r) == 1252);
    leveltext_add(r, latin ? c : 0xFFFD);
    return;
  }
  int sink = active_sink(r);
  if(sink < 0)
    return;
  if(!before_text(r, sink, c == ' ' || c == '\t'))
    return;
  if(c < 0x80) {
    char ch = (char)c;
    emit_ascii(r, sink, &ch, 1);
    return;
  }
  int cp = current_codepage(r);
  if(r->run.len && (r->run_sink != sink || r->run_cp != cp))
    run_flush(r);
  r->run_sink = sink;
  r->run_cp = cp;
  if(dpi_buf_addc(&r->run, (char)c))
    r->run_overflow = 1;
}

static void put_codepoint(struct rtf_parser *r, uint32_t cp)
{
  if(cur(r)->sink == SINK_LEVELTEXT) {
    leveltext_add(r, cp >= RTF_LIST_LEVELS ? cp : 0xFFFD);
    return;
  }
  int sink = active_sink(r);
  if(sink < 0)
    return;
  if(r->high) {
    if(cp >= 0xDC00 && cp <= 0xDFFF) {
      cp = 0x10000 + ((r->high - 0xD800) << 10) + (cp - 0xDC00);
      r->high = 0;
    } else {
      drop_high(r, sink);
    }
  }
  if(cp >= 0xD800 && cp <= 0xDBFF) {
    r->high = cp;
    return;
  }
  if(cp == 0)
    return;
  if(!before_text(r, sink, cp == 0xA0 || cp == 0x2002 || cp == 0x2003))
    return;
  run_flush(r);
  dpi_utf8_put(sink_buf(r, sink), cp); /* a lone low surrogate becomes U+FFFD */
}

static void put_newline(struct rtf_parser *r, char c)
{
  int sink = active_sink(r);
  if(sink < 0)
    return;
  drop_high(r, sink);
  if(c == '\t') {
    if(!before_text(r, sink, 1))
      return;
  } else if(sink == SINK_TEXT) {
    r->line_text = 0;
    r->cell_sep = 0;
  }
  emit_ascii(r, sink, &c, 1);
}

/* ---- control words ---- */

enum rtf_action {
  A_SKIP,      /* a destination that is not text */
  A_CHAR,      /* a character (arg) */
  A_NEWLINE,
  A_TAB,
  A_CELL,
  A_UNICODE,
  A_UC,
  A_BIN,
  A_FONT,
  A_FONTTBL,
  A_FCHARSET,
  A_CPG,
  A_DEFF,
  A_CODEPAGE,  /* \ansicpgN, or a fixed one (arg) for \mac \pc \pca */
  A_PLAIN,
  A_HIDDEN,
  A_INFO,
  A_TITLE,
  A_AUTHOR,
  A_CREATIM,
  A_YR,
  A_MO,
  A_DY,
  A_PAR,           /* a paragraph (arg 1) or table row (0) ends: newline, and
                      the next paragraph gets its label */
  A_PARD,          /* paragraph properties back to their defaults */
  A_LS,
  A_ILVL,
  A_LISTTABLE,
  A_LIST,
  A_LISTLEVEL,
  A_LEVELTEXT,
  A_LEVELNFC,
  A_LEVELSTART,
  A_LISTID,
  A_OVERRIDETABLE,
  A_OVERRIDE,
  A_PN,
  A_PNLVL,         /* \pnlvlblt, \pnlvlbody, \pnlvlN, \pnlvlcont: arg is PN_* */
  A_PNSTART
};

struct rtf_word {
  const char *word;
  enum rtf_action action;
  int arg;
};

/* Sorted by strcmp for bsearch (upper case sorts first). */
static const struct rtf_word rtf_words[] = {
  {"aftncn", A_SKIP, 0},
  {"aftnsep", A_SKIP, 0},
  {"aftnsepc", A_SKIP, 0},
  {"ansicpg", A_CODEPAGE, 0},
  {"author", A_AUTHOR, 0},
  {"bin", A_BIN, 0},
  {"bkmkend", A_SKIP, 0},
  {"bkmkstart", A_SKIP, 0},
  {"bullet", A_CHAR, 0x2022},
  {"cell", A_CELL, 0},
  {"colorschememapping", A_SKIP, 0},
  {"colortbl", A_SKIP, 0},
  {"column", A_NEWLINE, 0},
  {"cpg", A_CPG, 0},
  {"creatim", A_CREATIM, 0},
  {"datastore", A_SKIP, 0},
  {"deff", A_DEFF, 0},
  {"docvar", A_SKIP, 0},
  {"dy", A_DY, 0},
  {"emdash", A_CHAR, 0x2014},
  {"emspace", A_CHAR, 0x2003},
  {"endash", A_CHAR, 0x2013},
  {"enspace", A_CHAR, 0x2002},
  {"f", A_FONT, 0},
  {"fcharset", A_FCHARSET, 0},
  {"filetbl", A_SKIP, 0},
  {"fldinst", A_SKIP, 0},
  {"fonttbl", A_FONTTBL, 0},
  {"footer", A_SKIP, 0},
  {"footerf", A_SKIP, 0},
  {"footerl", A_SKIP, 0},
  {"footerr", A_SKIP, 0},
  {"ftncn", A_SKIP, 0},
  {"ftnsep", A_SKIP, 0},
  {"ftnsepc", A_SKIP, 0},
  {"generator", A_SKIP, 0},
  {"header", A_SKIP, 0},
  {"headerf", A_SKIP, 0},
  {"headerl", A_SKIP, 0},
  {"headerr", A_SKIP, 0},
  {"ilvl", A_ILVL, 0},
  {"info", A_INFO, 0},
  {"latentstyles", A_SKIP, 0},
  {"ldblquote", A_CHAR, 0x201C},
  {"levelnfc", A_LEVELNFC, 0},
  {"levelnfcn", A_LEVELNFC, 0},
  {"levelnumbers", A_SKIP, 0},
  {"levelstartat", A_LEVELSTART, 0},
  {"leveltext", A_LEVELTEXT, 0},
  {"lfolevel", A_SKIP, 0},
  {"line", A_NEWLINE, 0},
  {"list", A_LIST, 0},
  {"listid", A_LISTID, 0},
  {"listlevel", A_LISTLEVEL, 0},
  {"listname", A_SKIP, 0},
  {"listoverride", A_OVERRIDE, 0},
  {"listoverridetable", A_OVERRIDETABLE, 0},
  {"listpicture", A_SKIP, 0},
  {"listtable", A_LISTTABLE, 0},
  {"listtext", A_SKIP, 0}, /* the same: labels come from \ls and the list table */
  {"lquote", A_CHAR, 0x2018},
  {"ls", A_LS, 0},
  {"mac", A_CODEPAGE, 10000},
  {"mmathPr", A_SKIP, 0},
  {"mo", A_MO, 0},
  {"nestcell", A_CELL, 0},
  {"nestrow", A_PAR, 0},
  {"objdata", A_SKIP, 0},
  {"object", A_SKIP, 0},
  {"page", A_NEWLINE, 0},
  {"par", A_PAR, 1},
  {"pard", A_PARD, 0},
  {"pc", A_CODEPAGE, 437},
  {"pca", A_CODEPAGE, 850},
  {"pgdsctbl", A_SKIP, 0},
  {"pict", A_SKIP, 0},
  {"plain", A_PLAIN, 0},
  {"pn", A_PN, 0},
  {"pnlvl", A_PNLVL, PN_NONE},
  {"pnlvlblt", A_PNLVL, PN_BULLET},
  {"pnlvlbody", A_PNLVL, PN_NUMBER},
  {"pnlvlcont", A_PNLVL, PN_NONE},
  {"pnstart", A_PNSTART, 0},
  {"pntext", A_SKIP, 0}, /* LibreOffice numbers from \pn, not from this copy */
  {"private", A_SKIP, 0},
  {"protusertbl", A_SKIP, 0},
  {"rdblquote", A_CHAR, 0x201D},
  {"revtbl", A_SKIP, 0},
  {"row", A_PAR, 0},
  {"rquote", A_CHAR, 0x2019},
  {"rsidtbl", A_SKIP, 0},
  {"rxe", A_SKIP, 0},
  {"sect", A_PAR, 1},
  {"shpinst", A_SKIP, 0},
  {"sp", A_SKIP, 0},
  {"stylesheet", A_SKIP, 0},
  {"tab", A_TAB, 0},
  {"tc", A_SKIP, 0},
  {"themedata", A_SKIP, 0},
  {"title", A_TITLE, 0},
  {"txe", A_SKIP, 0},
  {"u", A_UNICODE, 0},
  {"uc", A_UC, 0},
  {"userprops", A_SKIP, 0},
  {"v", A_HIDDEN, 0},
  {"xe", A_SKIP, 0},
  {"xmlnstbl", A_SKIP, 0},
  {"yr", A_YR, 0},
};

static int word_cmp(const void *key, const void *elem)
{
  return strcmp(key, ((const struct rtf_word *)elem)->word);
}

static void control_word(struct rtf_parser *r, const char *word, int has_param, long param)
{
  /* checksrc: long, a flat switch on the word's action */
  const struct rtf_word *w =
      bsearch(word, rtf_words, sizeof(rtf_words) / sizeof(rtf_words[0]), sizeof(rtf_words[0]),
              word_cmp);
  if(!w)
    return;
  struct rtf_state *s = cur(r);
  switch(w->action) {
  case A_SKIP:
    s->sink = SINK_NONE;
    s->dest = DEST_OTHER;
    break;
  case A_CHAR:
    put_codepoint(r, (uint32_t)w->arg);
    break;
  case A_NEWLINE:
    put_newline(r, '\n');
    break;
  case A_PAR:
    if(active_sink(r) == SINK_TEXT) {
      if(w->arg)
        open_paragraph(r); /* an empty list item still has its label */
      r->para_open = 0;
    }
    put_newline(r, '\n');
    break;
  case A_PARD:
    s->ls = 0;
    s->ilvl = 0;
    s->pn = PN_NONE;
    break;
  case A_LS:
    if(s->dest == DEST_OVERRIDE && r->defining_override >= 0)
      r->overrides[r->defining_override].ls = (int)param;
    else if(s->dest == DEST_BODY)
      s->ls = param > 0 ? (int)param : 0;
    break;
  case A_ILVL:
    s->ilvl = param > 0 && param < RTF_LIST_LEVELS ? (unsigned char)param : 0;
    break;
  case A_LISTTABLE:
  case A_OVERRIDETABLE:
    s->sink = SINK_NONE;
    s->dest = w->action == A_LISTTABLE ? DEST_LISTTABLE : DEST_OVERRIDETABLE;
    break;
  case A_LIST:
    /* A \list outside the list table defines nothing; its text is never
     * body text either. */
    s->sink = SINK_NONE;
    r->defining_list = r->defining_level = -1;
    if(s->dest == DEST_LISTTABLE && r->nlists < RTF_MAX_LISTS) {
      r->defining_list = (int)r->nlists++;
      memset(&r->lists[r->defining_list], 0, sizeof(r->lists[0]));
    }
    s->dest = s->dest == DEST_LISTTABLE ? DEST_LIST : DEST_OTHER;
    break;
  case A_LISTLEVEL:
    s->sink = SINK_NONE;
    r->defining_level = -1;
    if(s->dest == DEST_LIST && r->defining_list >= 0 &&
       r->lists[r->defining_list].nlevels < RTF_LIST_LEVELS) {
      struct rtf_list *l = &r->lists[r->defining_list];
      r->defining_level = l->nlevels++;
      struct rtf_level *lv = &l->levels[r->defining_level];
      memset(lv, 0, sizeof(*lv));
      lv->start = 1; /* Word always writes \levelstartat */
      lv->text_len = -1;
    }
    s->dest = s->dest == DEST_LIST ? DEST_LISTLEVEL : DEST_OTHER;
    break;
  case A_LEVELTEXT:
    s->sink = s->dest == DEST_LISTLEVEL && r->defining_level >= 0 ? SINK_LEVELTEXT : SINK_NONE;
    if(s->sink == SINK_LEVELTEXT)
      r->lists[r->defining_list].levels[r->defining_level].text_len = -1;
    s->dest = DEST_OTHER;
    break;
  case A_LEVELNFC:
  case A_LEVELSTART:
    if(s->dest == DEST_LISTLEVEL && r->defining_level >= 0) {
      struct rtf_level *lv = &r->lists[r->defining_list].levels[r->defining_level];
      int v = param >= 0 && param < 1000000 ? (int)param : 0;
      *(w->action == A_LEVELNFC ? &lv->nfc : &lv->start) = v;
    }
    break;
  case A_LISTID:
    if(s->dest == DEST_LIST && r->defining_list >= 0)
      r->lists[r->defining_list].id = (int)param;
    else if(s->dest == DEST_OVERRIDE && r->defining_override >= 0)
      r->overrides[r->defining_override].listid = (int)param;
    break;
  case A_OVERRIDE:
    s->sink = SINK_NONE;
    r->defining_override = -1;
    if(s->dest == DEST_OVERRIDETABLE && r->noverrides < RTF_MAX_LISTS) {
      r->defining_override = (int)r->noverrides++;
      r->overrides[r->defining_override].ls = 0;
      r->overrides[r->defining_override].listid = 0;
    }
    s->dest = s->dest == DEST_OVERRIDETABLE ? DEST_OVERRIDE : DEST_OTHER;
    break;
  case A_PN:
    s->sink = SINK_NONE;
    s->dest = s->dest == DEST_BODY ? DEST_PN : DEST_OTHER;
    break;
  case A_PNLVL:
    /* The {\*\pn ...} group describes the paragraph around it: set the
     * numbering there (and here, for the rest of this group). */
    if(s->dest == DEST_PN) {
      s->pn = (unsigned char)w->arg;
      for(int i = r->depth - 2; i >= 0; i--)
        if(r->stack[i].dest == DEST_BODY) {
          r->stack[i].pn = (unsigned char)w->arg;
          break;
        }
    }
    break;
  case A_PNSTART:
    if(s->dest == DEST_PN && !r->pn_count && !r->pn_start)
      r->pn_start = param > 0 && param < 1000000 ? (int)param : 1;
    break;
  case A_TAB:
    put_newline(r, '\t');
    break;
  case A_CELL:
    if(active_sink(r) == SINK_TEXT) {
      r->cell_sep = 1;
      r->para_open = 0;
    }
    break;
  case A_UNICODE: {
    /* A signed 16-bit value; larger ones are taken as code points. */
    long v = param < 0 ? param + 65536 : param;
    put_codepoint(r, v >= 0 && v <= 0x10FFFF ? (uint32_t)v : 0xFFFD);
    r->skip = s->uc;
    break;
  }
  case A_UC:
    s->uc = param >= 0 && param < 1000 ? (int)param : 1;
    break;
  case A_BIN: {
    size_t left = (size_t)(r->end - r->p);
    size_t n = param > 0 ? (size_t)param : 0;
    r->p += n < left ? n : left;
    break;
  }
  case A_FONT:
    if(s->fonttbl)
      r->defining_font = (int)param;
    else
      s->font = (int)param;
    break;
  case A_FONTTBL:
    s->sink = SINK_NONE;
    s->fonttbl = 1;
    r->defining_font = -1;
    break;
  case A_FCHARSET:
    if(s->fonttbl && r->defining_font >= 0)
      font_set_codepage(r, r->defining_font, charset_codepage(param));
    break;
  case A_CPG:
    if(s->fonttbl && r->defining_font >= 0 && param > 0)
      font_set_codepage(r, r->defining_font, (int)param);
    break;
  case A_DEFF:
    r->deff = (int)param;
    break;
  case A_CODEPAGE:
    if(w->arg)
      r->ansicpg = w->arg;
    else if(param > 0)
      r->ansicpg = (int)param;
    break;
  case A_PLAIN:
    s->font = -1;
    s->hidden = 0;
    break;
  case A_HIDDEN:
    s->hidden = !has_param || param != 0;
    break;
  case A_INFO:
    s->sink = SINK_NONE;
    s->info = 1;
    break;
  case A_TITLE:
  case A_AUTHOR:
    if(s->info)
      s->sink = w->action == A_TITLE ? SINK_TITLE : SINK_AUTHOR;
    break;
  case A_CREATIM:
    if(s->info) {
      s->creatim = 1;
      r->yr = r->mo = r->dy = 0;
    }
    break;
  case A_YR:
  case A_MO:
  case A_DY:
    if(s->creatim) {
      int v = param >= 0 && param <= 9999 ? (int)param : 0;
      *(w->action == A_YR ? &r->yr : w->action == A_MO ? &r->mo : &r->dy) = v;
    }
    break;
  }
}

static int is_alpha(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned char c)
{
  return c >= '0' && c <= '9';
}

static int hex_value(unsigned char c)
{
  if(c >= '0' && c <= '9')
    return c - '0';
  if(c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if(c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* A control word and its parameter, at r->p (a letter after a backslash). */
static void control_word_at(struct rtf_parser *r)
{
  char word[RTF_MAX_WORD + 1];
  size_t wl = 0;
  while(r->p < r->end && is_alpha(*r->p)) {
    if(wl < RTF_MAX_WORD)
      word[wl] = (char)*r->p;
    wl++;
    r->p++;
  }
  long param = 0;
  int has_param = 0, negative = 0, digits = 0;
  if(r->end - r->p >= 2 && r->p[0] == '-' && is_digit(r->p[1])) {
    negative = 1;
    r->p++;
  }
  while(r->p < r->end && is_digit(*r->p)) {
    /* Parameters are 16 or 32 bits; more digits saturate. */
    if(param < 100000000000L)
      param = param * 10 + (*r->p - '0');
    digits++;
    r->p++;
  }
  if(digits) {
    has_param = 1;
    if(param > INT32_MAX)
      param = INT32_MAX;
    if(negative)
      param = -param;
  }
  if(r->p < r->end && *r->p == ' ')
    r->p++;
  int skipped = r->skip > 0;
  if(skipped)
    r->skip--;
  if(wl > RTF_MAX_WORD)
    return; /* no such word */
  word[wl] = '\0';
  /* \bin's data is skipped even as a fallback character. */
  if(skipped && strcmp(word, "bin"))
    return;
  control_word(r, word, has_param, param);
}

/* \'hh, after the quote: one code-page byte. */
static void hex_byte_at(struct rtf_parser *r)
{
  int v = 0, n = 0;
  while(n < 2 && r->p < r->end && hex_value(*r->p) >= 0) {
    v = v * 16 + hex_value(*r->p);
    r->p++;
    n++;
  }
  if(r->skip > 0)
    r->skip--;
  else if(n == 2) /* one digit is a broken escape, not a byte */
    put_byte(r, (unsigned char)v);
}

/* After a backslash. */
static void control(struct rtf_parser *r)
{
  if(r->p >= r->end)
    return;
  unsigned char c = *r->p;
  int at_group_start = r->group_start;
  r->group_start = 0;
  /* Code-page bytes wait in the run for a trail byte, but only until the
   * next control word or symbol, as in LibreOffice: a double-byte font's
   * lead byte before \tab (a bullet) must not take the next word's first
   * letter as its trail byte.  \'hh bytes, and literal text, join it. */
  if(c != '\'')
    run_flush(r);
  if(is_alpha(c)) {
    control_word_at(r);
    return;
  }
  r->p++;
  if(c == '\'') {
    hex_byte_at(r);
    return;
  }
  if(r->skip > 0) {
    r->skip--;
    return;
  }
  switch(c) {
  case '\\':
  case '{':
  case '}':
    put_byte(r, c);
    break;
  case '~':
    put_codepoint(r, 0xA0);
    break;
  case '_':
    put_byte(r, '-');
    break;
  case '*':
    /* {\*\dest ...}: a destination to skip unless known (the known ones
     * we read, \listtable and \pn, set their own state next).  Anywhere
     * else \* means nothing, as in LibreOffice and Word. */
    if(at_group_start)
      cur(r)->sink = SINK_NONE;
    break;
  case '\r':
  case '\n':
    put_newline(r, '\n'); /* a backslash before a line break is \par */
    break;
  case '\t':
    put_newline(r, '\t');
    break;
  default:
    break; /* \- (optional hyphen), \| \: (formulas, index), unknown */
  }
}

/* The group ending; reports \creatim once its group closes. */
static void end_group(struct rtf_parser *r, struct dp_record *rec)
{
  const struct rtf_state *s = cur(r);
  if(s->creatim && (r->depth < 2 || !r->stack[r->depth - 2].creatim)) {
    char date[16], norm[11];
    snprintf(date, sizeof(date), "%04d-%02d-%02d", r->yr, r->mo, r->dy);
    if(!dpi_date_normalize(date, norm))
      dpi_doc_fact(rec, "date", norm, strlen(norm));
  }
  r->depth--;
}

/* Bytes before `{\rtf`: an optional UTF-8 BOM and white space. */
static size_t header_offset(const unsigned char *p, size_t n)
{
  size_t i = 0;
  if(n >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
    i = 3;
  while(i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
    i++;
  return n - i >= 5 && !memcmp(p + i, "{\\rtf", 5) ? i : n;
}

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return header_offset(peek->bytes, peek->len) < peek->len ? 40 : 0;
}

static void set_meta(struct dp_record *rec, const char *key, const struct dp_buf *value)
{
  if(dpi_buf_failed(value) || !value->len)
    return; /* an overlong value is dropped rather than cut */
  dpi_meta_text(rec, key, value->mem, value->len);
}

/* Tokenize the document; returns DP_OK or DP_FAIL with rec's error set. */
static enum dp_status parse(struct rtf_parser *r, struct dp_record *rec)
{
  int closed = 0;
  while(r->p < r->end && !closed && !r->run_overflow && !dpi_buf_failed(r->text)) {
    unsigned char c = *r->p++;
    switch(c) {
    case '{':
      if(r->depth == DP_MAX_NESTING)
        return dpi_record_fail(rec, DP_KIND_TOO_LARGE,
                               "RTF groups nested more than %d deep at byte %zu",
                               DP_MAX_NESTING, (size_t)(r->p - 1 - r->start));
      run_flush(r); /* a group boundary ends a run, like a control word */
      r->stack[r->depth] = r->stack[r->depth - 1];
      r->depth++;
      r->skip = 0;
      r->group_start = 1;
      break;
    case '}':
      run_flush(r);
      r->skip = 0;
      r->group_start = 0;
      end_group(r, rec);
      closed = r->depth == 0;
      break;
    case '\\':
      control(r);
      break;
    case '\r':
    case '\n':
    case '\0':
      break; /* not text */
    default:
      r->group_start = 0;
      if(r->skip > 0)
        r->skip--;
      else
        put_byte(r, c);
      break;
    }
  }
  if(r->run_overflow)
    return DP_OK; /* reported by the caller */
  if(!closed && !r->wrote_text && !dpi_buf_failed(r->text))
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "RTF ends at byte %zu inside its header (%d groups open), "
                           "before any text",
                           (size_t)(r->end - r->start), r->depth);
  int sink = r->depth ? active_sink(r) : SINK_TEXT;
  drop_high(r, sink < 0 ? SINK_TEXT : sink);
  run_flush(r);
  return DP_OK;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  size_t at = header_offset(body, len);
  if(at == len)
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "not RTF: no {\\rtf header at the start");
  struct rtf_parser *r = calloc(1, sizeof(*r));
  if(!r)
    return dpi_record_fail(rec, DP_KIND_INTERNAL, "out of memory");
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  r->start = body;
  r->p = body + at + 1; /* past the opening brace */
  r->end = body + len;
  r->text = &text;
  dpi_buf_init(&r->title, DP_MAX_SHORT);
  dpi_buf_init(&r->author, DP_MAX_SHORT);
  dpi_buf_init(&r->run, st->ctx->max_text);
  r->ansicpg = 1252;
  r->deff = -1;
  r->defining_font = -1;
  r->defining_list = r->defining_level = r->defining_override = -1;
  r->depth = 1;
  r->stack[0].sink = SINK_TEXT;
  r->stack[0].uc = 1;
  r->stack[0].font = -1;

  enum dp_status rc = parse(r, rec);
  if(rc == DP_OK && r->run_overflow) {
    dpi_record_hint(rec, "raise --max-text to keep more text");
    rc = dpi_record_fail(rec, DP_KIND_TOO_LARGE, "extracted text exceeds %zu bytes",
                         st->ctx->max_text);
  }
  if(rc == DP_OK) {
    set_meta(rec, "title", &r->title);
    set_meta(rec, "author", &r->author);
    char name[16];
    dpi_json_set_str(dpi_record_object(rec, "meta"), "charset",
                     codepage_charset(r->ansicpg, name, sizeof(name)));
  }
  dpi_buf_free(&r->title);
  dpi_buf_free(&r->author);
  dpi_buf_free(&r->run);
  free(r);
  if(rc != DP_OK) {
    dpi_buf_free(&text);
    return rc;
  }
  return dpi_extract_finish(st, rec, &text, out);
}

const struct dp_stage_ops dp_stage_rtf = {
  .name = "rtf",
  .summary = "RTF documents (Word, WordPad, EHR editors): body text, title and author",
  .format = "rtf",
  .mime = "text/rtf",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
