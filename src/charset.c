/* charset.c - see charset.h */
#include "charset.h"

#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <uchardet.h>
#include <unicode/ucsdet.h>

#include "dplimits.h"
#include "textconv.h"

/* Labels that iconv does not take as they are, or that mean something else
 * in practice (WHATWG's encoding labels, HL7's own names are in hl7v2.c). */
static const struct {
  const char *label, *name;
} aliases[] = {
  {"utf8", "UTF-8"},           {"unicode-1-1-utf-8", "UTF-8"},
  {"ascii", "US-ASCII"},       {"us-ascii", "US-ASCII"},
  {"ansi_x3.4-1968", "US-ASCII"},
  {"latin1", "ISO-8859-1"},    {"l1", "ISO-8859-1"},
  {"iso8859-1", "ISO-8859-1"}, {"iso_8859-1", "ISO-8859-1"},
  {"latin2", "ISO-8859-2"},    {"l2", "ISO-8859-2"},
  {"cp1250", "WINDOWS-1250"},  {"x-cp1250", "WINDOWS-1250"},
  {"cp1251", "WINDOWS-1251"},  {"x-cp1251", "WINDOWS-1251"},
  {"cp1252", "WINDOWS-1252"},  {"x-cp1252", "WINDOWS-1252"},
  {"ansi", "WINDOWS-1252"},    {"cp866", "IBM866"},
  {"866", "IBM866"},           {"csibm866", "IBM866"},
  {"koi8", "KOI8-R"},          {"koi", "KOI8-R"},
  /* glibc's SHIFT_JIS reads 0x5C as a yen sign and 0x7E as an overline;
   * what is sent as Shift_JIS is Windows' CP932, whose low half is ASCII
   * (WHATWG reads the label the same way). */
  {"shift_jis", "CP932"},      {"shift-jis", "CP932"},
  {"sjis", "CP932"},           {"x-sjis", "CP932"},
  {"ms_kanji", "CP932"},       {"csshiftjis", "CP932"},
  {"windows-31j", "CP932"},    {"x-euc-jp", "EUC-JP"},
  {"gb2312", "GB18030"},       {"gbk", "GB18030"}, /* supersets, as browsers read them */
  {"x-gbk", "GB18030"},        {"euc-cn", "GB18030"},
  {"big5-hkscs", "BIG5-HKSCS"}, {"ks_c_5601-1987", "CP949"},
  {"utf-16", "UTF-16"},        {"ucs-2", "UTF-16"},
};

static int iconv_knows(const char *name)
{
  iconv_t cd = iconv_open("UTF-8", name);
  if(cd == (iconv_t)-1)
    return 0;
  iconv_close(cd);
  return 1;
}

int dpi_charset_canonical(const char *label, char *name, size_t cap)
{
  char low[48];
  size_t n = 0;
  if(!label || cap == 0)
    return 0;
  while(*label == ' ' || *label == '\t' || *label == '"' || *label == '\'')
    label++;
  for(; label[n] && n + 1 < sizeof(low); n++) {
    char c = label[n];
    if(c == ' ' || c == '\t' || c == '"' || c == '\'' || c == ';')
      break;
    low[n] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
  }
  low[n] = '\0';
  if(n == 0 || n + 1 >= cap)
    return 0;
  for(size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
    if(!strcmp(low, aliases[i].label)) {
      snprintf(name, cap, "%s", aliases[i].name);
      return 1;
    }
  for(size_t i = 0; i <= n; i++)
    name[i] = (char)(low[i] >= 'a' && low[i] <= 'z' ? low[i] - 32 : low[i]);
  /* Only names made of the characters charset names use reach iconv. */
  for(size_t i = 0; i < n; i++) {
    char c = name[i];
    if(!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
         c == ':'))
      return 0;
  }
  return iconv_knows(name);
}

/* What the bytes say about UTF-8. */
struct utf8_census {
  size_t multibyte; /* well-formed sequences of 2 to 4 bytes */
  size_t bad;       /* ill-formed subparts, each one U+FFFD */
  int cut;          /* the data ends inside a sequence */
  int nul;          /* NUL bytes occur */
};

static void utf8_census(const unsigned char *p, size_t len, struct utf8_census *c)
{
  memset(c, 0, sizeof(*c));
  size_t i = 0;
  while(i < len) {
    if(p[i] < 0x80) {
      if(!p[i])
        c->nul = 1;
      i++;
      continue;
    }
    size_t used;
    int n = dpi_utf8_sequence(p + i, len - i, &used);
    if(n > 0)
      c->multibyte++;
    else if(n < 0 && i + used == len)
      c->cut = 1;
    else
      c->bad++;
    i += used;
  }
}

static int has_c1_bytes(const unsigned char *p, size_t len)
{
  for(size_t i = 0; i < len; i++)
    if(p[i] >= 0x80 && p[i] <= 0x9F)
      return 1;
  return 0;
}

static void set(struct dp_charset *cs, const char *name, const char *how)
{
  snprintf(cs->name, sizeof(cs->name), "%s", name);
  cs->how = how;
}

/* The ISO-8859 charsets have C1 controls at 0x80-0x9F, where the Windows
 * code page built on the same letters has punctuation (curly quotes, the
 * euro sign, dashes).  Text holding those bytes is in the Windows code page,
 * whatever its label or a detector says (browsers read such labels the same
 * way). */
static void windows_sibling(struct dp_charset *cs, const unsigned char *p, size_t len)
{
  static const char *const siblings[][2] = {
    {"ISO-8859-1", "WINDOWS-1252"}, {"ISO-8859-2", "WINDOWS-1250"},
    {"ISO-8859-7", "WINDOWS-1253"}, {"ISO-8859-9", "WINDOWS-1254"},
    {"ISO-8859-13", "WINDOWS-1257"}, {"US-ASCII", "WINDOWS-1252"},
  };
  for(size_t i = 0; i < sizeof(siblings) / sizeof(siblings[0]); i++)
    if(!strcmp(cs->name, siblings[i][0])) {
      if(has_c1_bytes(p, len))
        set(cs, siblings[i][1], cs->how);
      return;
    }
}

static size_t bom_of(const unsigned char *p, size_t len, const char **name)
{
  if(len >= 4 && !memcmp(p, "\xFF\xFE\0\0", 4))
    return *name = "UTF-32LE", 4;
  if(len >= 4 && !memcmp(p, "\0\0\xFE\xFF", 4))
    return *name = "UTF-32BE", 4;
  if(len >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
    return *name = "UTF-8", 3;
  if(len >= 2 && !memcmp(p, "\xFF\xFE", 2))
    return *name = "UTF-16LE", 2;
  if(len >= 2 && !memcmp(p, "\xFE\xFF", 2))
    return *name = "UTF-16BE", 2;
  return 0;
}

/* A code unit of UTF-16 or UTF-32 text: a character that is not a control
 * (bar tab, newline, CR, FF, ESC) nor a noncharacter. */
static int text_unit(unsigned long u)
{
  if(u < 0x20)
    return u == '\t' || u == '\n' || u == '\r' || u == '\f' || u == 0x1B;
  return u != 0x7F && u != 0xFFFE && u != 0xFFFF && u <= 0x10FFFF;
}

/* How well data reads as `width`-byte units in one byte order: -1 when it
 * does not (more than 1 % of the units are not text characters, or a
 * surrogate is unpaired), else the number of ASCII units. */
static long wide_fit(const unsigned char *p, size_t units, int width, int big)
{
  size_t bad = 0, ascii = 0;
  int pending_high = 0;
  for(size_t i = 0; i < units; i++) {
    const unsigned char *q = p + i * (size_t)width;
    unsigned long u = 0;
    for(int k = 0; k < width; k++)
      u = u << 8 | q[big ? k : width - 1 - k];
    int high = u >= 0xD800 && u <= 0xDBFF, low = u >= 0xDC00 && u <= 0xDFFF;
    if(width == 2 && (pending_high != low))
      return -1;
    if(width == 4 && (high || low))
      return -1;
    pending_high = width == 2 && high;
    if(!high && !low && !text_unit(u))
      bad++;
    ascii += u < 0x80;
  }
  return pending_high || bad * 100 > units ? -1 : (long)ascii;
}

const char *dpi_charset_wide(const void *data, size_t len)
{
  const unsigned char *p = data;
  /* UTF-32: every unit at most 0x10FFFF, a structure nothing else has. */
  if(len >= 8) {
    long le = wide_fit(p, len / 4, 4, 0), be = wide_fit(p, len / 4, 4, 1);
    if(le >= 0 || be >= 0)
      return le >= be ? "UTF-32LE" : "UTF-32BE";
  }
  /* UTF-16: two ASCII letters read as one unit make a valid CJK character,
   * so structure alone would take 8-bit text with a stray NUL.  The NULs
   * must also be where UTF-16 puts them, in the ASCII characters (spaces,
   * digits, line ends) that text in every script has: two at least, and one
   * unit in 64. */
  size_t units = len / 2;
  if(units < 2)
    return NULL;
  long le = wide_fit(p, units, 2, 0), be = wide_fit(p, units, 2, 1);
  long best = le >= be ? le : be;
  if(best < 2 || (size_t)best * 64 < units)
    return NULL;
  return le >= be ? "UTF-16LE" : "UTF-16BE";
}

/* ICU's verdict, for text uchardet had no answer for. */
static int icu_detect(const unsigned char *p, size_t len, char *name, size_t cap)
{
  UErrorCode err = U_ZERO_ERROR;
  UCharsetDetector *det = ucsdet_open(&err);
  int found = 0;
  if(U_FAILURE(err))
    return 0;
  ucsdet_setText(det, (const char *)p, (int32_t)(len < DP_CHARSET_SAMPLE ? len : DP_CHARSET_SAMPLE),
                 &err);
  int32_t count = 0;
  const UCharsetMatch **all = U_SUCCESS(err) ? ucsdet_detectAll(det, &count, &err) : NULL;
  for(int32_t i = 0; all && i < count && !found; i++) {
    const char *n = ucsdet_getName(all[i], &err);
    int32_t confidence = ucsdet_getConfidence(all[i], &err);
    if(U_FAILURE(err) || !n)
      break;
    /* Below this ICU is guessing (every text gets UTF-16 at 10); the wide
     * forms were ruled out by dpi_charset_wide already. */
    if(confidence < DP_CHARSET_MIN_CONFIDENCE || !strncmp(n, "UTF-16", 6) ||
       !strncmp(n, "UTF-32", 6))
      continue;
    found = dpi_charset_canonical(n, name, cap);
  }
  ucsdet_close(det);
  return found;
}

static int uchardet_detect(const unsigned char *p, size_t len, char *name, size_t cap)
{
  uchardet_t det = uchardet_new();
  int found = 0;
  if(!det)
    return 0;
  size_t n = len < DP_CHARSET_SAMPLE ? len : DP_CHARSET_SAMPLE;
  if(uchardet_handle_data(det, (const char *)p, n) == 0) {
    uchardet_data_end(det);
    const char *got = uchardet_get_charset(det);
    /* "" is "no idea"; ASCII cannot be the answer for bytes that are not. */
    if(got && *got && strcmp(got, "ASCII"))
      found = dpi_charset_canonical(got, name, cap);
  }
  uchardet_delete(det);
  return found;
}

void dpi_charset_decide(const void *data, size_t len, const char *declared,
                        struct dp_charset *cs)
{
  const unsigned char *p = data;
  const char *bom_name;
  memset(cs, 0, sizeof(*cs));
  cs->bom = bom_of(p, len, &bom_name);
  if(cs->bom) {
    set(cs, bom_name, "bom");
    return;
  }
  char decl[sizeof(cs->name)] = "";
  if(declared && !dpi_charset_canonical(declared, decl, sizeof(decl)))
    decl[0] = '\0';

  struct utf8_census u;
  utf8_census(p, len, &u);
  const char *wide = u.nul ? dpi_charset_wide(p, len < DP_CHARSET_SAMPLE ? len
                                                                       : DP_CHARSET_SAMPLE)
                           : NULL;
  if(wide) {
    set(cs, wide, "detected");
    return;
  }
  if(u.nul && (!strncmp(decl, "UTF-16", 6) || !strncmp(decl, "UTF-32", 6))) {
    set(cs, decl, "declared");
    return;
  }
  if(!u.bad && (u.multibyte || u.cut)) {
    set(cs, "UTF-8", "utf-8");
    return;
  }
  if(!u.bad && !u.cut) { /* ASCII: any ASCII-based declaration reads it the same */
    if(decl[0] && strncmp(decl, "UTF-16", 6) && strncmp(decl, "UTF-32", 6))
      set(cs, decl, "declared");
    else
      set(cs, "UTF-8", "utf-8");
    return;
  }
  /* A few stray bytes among many well-formed sequences: UTF-8 that was
   * edited or concatenated with something else, not a legacy charset. */
  if(u.multibyte > u.bad) {
    set(cs, "UTF-8", "utf-8");
    return;
  }
  if(decl[0] && strcmp(decl, "UTF-8") && strcmp(decl, "US-ASCII")) {
    set(cs, decl, "declared");
  } else if(uchardet_detect(p, len, cs->name, sizeof(cs->name)) ||
            icu_detect(p, len, cs->name, sizeof(cs->name))) {
    cs->how = "detected";
  } else {
    set(cs, "WINDOWS-1252", "detected");
  }
  windows_sibling(cs, p, len);
}

int dpi_charset_decode(struct dp_buf *out, const void *data, size_t len, const char *declared,
                       struct dp_charset *cs)
{
  dpi_charset_decide(data, len, declared, cs);
  return dpi_charset_convert(out, data, len, cs);
}

int dpi_charset_convert(struct dp_buf *out, const void *data, size_t len, struct dp_charset *cs)
{
  const unsigned char *p = data;
  if(dpi_to_utf8(out, p + cs->bom, len - cs->bom, cs->name) == 0)
    return 0;
  if(dpi_buf_failed(out))
    return -1;
  /* iconv refused the name after all: the bytes still come through. */
  set(cs, "WINDOWS-1252", cs->how);
  return dpi_to_utf8(out, p + cs->bom, len - cs->bom, cs->name);
}
