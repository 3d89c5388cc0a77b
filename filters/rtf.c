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
 *     document (\ansicpg, default 1252).  Consecutive bytes are gathered into
 *     one run and converted together, so double-byte code pages (932, 936,
 *     949, 950) decode, even when a trail byte is written as a literal
 *     character.  The Symbol charset has no Unicode table in iconv; it is
 *     read as 1252, which keeps ASCII and turns its bullet (0xB7) into a
 *     middle dot.
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
 * Destinations that are not body text are skipped: every `{\*\...}` group,
 * and fonttbl, colortbl, stylesheet, list tables, revtbl, rsidtbl,
 * generator, pict, object, headers and footers, fldinst (the field's
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

enum rtf_sink { SINK_TEXT, SINK_NONE, SINK_TITLE, SINK_AUTHOR };

/* What a group changes; a nested group starts as a copy of its parent's. */
struct rtf_state {
  unsigned char sink;    /* where its text goes */
  unsigned char fonttbl; /* inside the font table: \f defines a font */
  unsigned char info;    /* inside \info */
  unsigned char creatim; /* inside \info's \creatim */
  unsigned char hidden;  /* \v */
  int uc;                /* fallback characters after \uN */
  int font;              /* \f in force, -1 for the default font (\deff) */
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
  uint32_t high;     /* a high surrogate waiting for its low half, or 0 */
  int skip;          /* \uN fallback characters still to skip */
  int cell_sep;      /* a cell ended: " | " before more text on this line */
  int line_text;     /* the current line of the body has text */
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
  return s->sink == SINK_NONE || s->hidden ? -1 : s->sink;
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

/* Before text in `sink`: a pending lone surrogate, a cell separator.
 * Returns 0 when a blank is to be dropped: white space that pads a cell
 * before its text would otherwise follow the " | ". */
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
  if(!blank)
    r->wrote_text = 1;
  return 1;
}

/* A text byte in the current code page (literal or \'hh). */
static void put_byte(struct rtf_parser *r, unsigned char c)
{
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
  A_DY
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
  {"info", A_INFO, 0},
  {"latentstyles", A_SKIP, 0},
  {"ldblquote", A_CHAR, 0x201C},
  {"line", A_NEWLINE, 0},
  {"listoverridetable", A_SKIP, 0},
  {"listtable", A_SKIP, 0},
  {"lquote", A_CHAR, 0x2018},
  {"mac", A_CODEPAGE, 10000},
  {"mmathPr", A_SKIP, 0},
  {"mo", A_MO, 0},
  {"nestcell", A_CELL, 0},
  {"nestrow", A_NEWLINE, 0},
  {"objdata", A_SKIP, 0},
  {"object", A_SKIP, 0},
  {"page", A_NEWLINE, 0},
  {"par", A_NEWLINE, 0},
  {"pc", A_CODEPAGE, 437},
  {"pca", A_CODEPAGE, 850},
  {"pgdsctbl", A_SKIP, 0},
  {"pict", A_SKIP, 0},
  {"plain", A_PLAIN, 0},
  {"pn", A_SKIP, 0}, /* old-style numbering; its text is repeated in \pntext */
  {"private", A_SKIP, 0},
  {"protusertbl", A_SKIP, 0},
  {"rdblquote", A_CHAR, 0x201D},
  {"revtbl", A_SKIP, 0},
  {"row", A_NEWLINE, 0},
  {"rquote", A_CHAR, 0x2019},
  {"rsidtbl", A_SKIP, 0},
  {"rxe", A_SKIP, 0},
  {"sect", A_NEWLINE, 0},
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
  const struct rtf_word *w =
      bsearch(word, rtf_words, sizeof(rtf_words) / sizeof(rtf_words[0]), sizeof(rtf_words[0]),
              word_cmp);
  if(!w)
    return;
  struct rtf_state *s = cur(r);
  switch(w->action) {
  case A_SKIP:
    s->sink = SINK_NONE;
    break;
  case A_CHAR:
    put_codepoint(r, (uint32_t)w->arg);
    break;
  case A_NEWLINE:
    put_newline(r, '\n');
    break;
  case A_TAB:
    put_newline(r, '\t');
    break;
  case A_CELL:
    if(active_sink(r) == SINK_TEXT)
      r->cell_sep = 1;
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

/* After a backslash. */
static void control(struct rtf_parser *r)
{
  if(r->p >= r->end)
    return;
  unsigned char c = *r->p;
  if(is_alpha(c)) {
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
    return;
  }
  r->p++;
  if(c == '\'') {
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
      r->stack[r->depth] = r->stack[r->depth - 1];
      r->depth++;
      r->skip = 0;
      break;
    case '}':
      r->skip = 0;
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
