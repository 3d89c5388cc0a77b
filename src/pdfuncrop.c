/* pdfuncrop.c - see pdfuncrop.h.
 *
 * A PDF is read here the way poppler's XRef and Parser read it, with less
 * forgiveness: offsets are relative to the "%PDF-" header (which may follow
 * junk, as PDFDoc::checkHeader allows), the newest definition of an object
 * wins, and an object is either "N G obj value" at its offset or the index-th
 * value of an object stream.  Anything unexpected makes the whole attempt
 * give up (return 0): the worst outcome is the crop box's text, which is
 * what poppler-glib gives anyway. */
#define _GNU_SOURCE 1 /* memmem */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pdfuncrop.h"

/* Bounds on what a hostile file can make this code do. */
#define MAX_OBJECTS (1u << 22) /* cross-reference entries (poppler's own cap is similar) */
#define MAX_SECTIONS 256       /* cross-reference sections in the /Prev chain */
#define MAX_DEPTH 64           /* nesting of arrays and dictionaries, and of the page tree */
#define MAX_NODES (1u << 20)   /* page-tree nodes visited */
#define MAX_STREAM (64u << 20) /* one decoded stream */
#define MAX_CACHED 16          /* decoded object streams kept at once */
/* Boxes closer than this (in points) count as equal. */
#define BOX_SLACK 0.01

struct span {
  const unsigned char *p, *end; /* p == NULL: absent */
};

enum { ENTRY_UNSET = 0, ENTRY_FREE, ENTRY_PLAIN, ENTRY_PACKED };

struct entry {
  uint8_t type;
  uint32_t gen;  /* generation (plain), index in the object stream (packed) */
  uint64_t where; /* offset (plain), number of the object stream (packed) */
};

struct objstm {
  uint32_t num;
  unsigned char *data;
  size_t len, first;
  uint32_t n;
};

/* A page-tree node that sets /CropBox itself. */
struct holder {
  uint32_t num, gen;
};

struct pdf {
  const unsigned char *base; /* the header: offsets count from here */
  size_t len;
  struct entry *xref;
  size_t n;
  long long size, startxref;
  struct span root, info, id, encrypt;
  struct objstm cache[MAX_CACHED];
  size_t cached, next_evict;
  unsigned char *visited; /* one bit per object: page-tree cycles */
  struct holder *holders;
  size_t n_holders, cap_holders;
  size_t nodes, narrow;
};

/* --- Lexing ---------------------------------------------------------------- */

static int is_ws(unsigned char c)
{
  return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' ';
}

static int is_delim(unsigned char c)
{
  return c == '(' || c == ')' || c == '<' || c == '>' || c == '[' || c == ']' || c == '{' ||
         c == '}' || c == '/' || c == '%';
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static const unsigned char *skip_ws(const unsigned char *p, const unsigned char *end)
{
  while(p < end) {
    if(is_ws(*p)) {
      p++;
    } else if(*p == '%') {
      while(p < end && *p != '\n' && *p != '\r')
        p++;
    } else {
      break;
    }
  }
  return p;
}

static const unsigned char *skip_regular(const unsigned char *p, const unsigned char *end)
{
  while(p < end && !is_ws(*p) && !is_delim(*p))
    p++;
  return p;
}

/* An unsigned integer at p (no sign), or -1. */
static long long read_uint(const unsigned char **pp, const unsigned char *end)
{
  const unsigned char *p = *pp;
  long long v = 0;
  if(p >= end || !is_digit(*p))
    return -1;
  while(p < end && is_digit(*p)) {
    if(v > (1LL << 50))
      return -1;
    v = v * 10 + (*p++ - '0');
  }
  *pp = p;
  return v;
}

/* After "n g R" at p, or NULL. */
static const unsigned char *skip_ref(const unsigned char *p, const unsigned char *end)
{
  if(read_uint(&p, end) < 0)
    return NULL;
  const unsigned char *q = skip_ws(p, end);
  if(q == p || read_uint(&q, end) < 0)
    return NULL;
  const unsigned char *r = skip_ws(q, end);
  if(r == q || r >= end || *r != 'R' || (r + 1 < end && !is_ws(r[1]) && !is_delim(r[1])))
    return NULL;
  return r + 1;
}

/* After the value at p (which starts on a token), or NULL. */
static const unsigned char *skip_value(const unsigned char *p, const unsigned char *end, int depth)
{
  if(p >= end || depth > MAX_DEPTH)
    return NULL;
  unsigned char c = *p;
  if(c == '<' && p + 1 < end && p[1] == '<') {
    for(p += 2;;) {
      p = skip_ws(p, end);
      if(p + 1 < end && p[0] == '>' && p[1] == '>')
        return p + 2;
      if(p >= end || *p != '/')
        return NULL;
      p = skip_regular(p + 1, end);
      p = skip_ws(p, end);
      if(!(p = skip_value(p, end, depth + 1)))
        return NULL;
    }
  }
  if(c == '<') {
    const unsigned char *q = memchr(p, '>', (size_t)(end - p));
    return q ? q + 1 : NULL;
  }
  if(c == '[') {
    for(p++;;) {
      p = skip_ws(p, end);
      if(p < end && *p == ']')
        return p + 1;
      if(!(p = skip_value(p, end, depth + 1)))
        return NULL;
    }
  }
  if(c == '(') {
    int nest = 0;
    for(; p < end; p++) {
      if(*p == '\\')
        p++;
      else if(*p == '(')
        nest++;
      else if(*p == ')' && --nest == 0)
        return p + 1;
    }
    return NULL;
  }
  if(c == '/')
    return skip_regular(p + 1, end);
  if(is_digit(c)) {
    const unsigned char *r = skip_ref(p, end);
    if(r)
      return r;
  }
  if(is_digit(c) || c == '-' || c == '+' || c == '.' || (c >= 'a' && c <= 'z'))
    return skip_regular(p + 1, end);
  return NULL;
}

/* Value of /key in the dictionary d (a span starting at "<<"); *entry, when
 * given, gets the whole "/key value" entry. */
static struct span dict_find(struct span d, const char *key, struct span *entry)
{
  struct span none = {NULL, NULL};
  size_t klen = strlen(key);
  if(!d.p || d.end - d.p < 2 || d.p[0] != '<' || d.p[1] != '<')
    return none;
  const unsigned char *p = d.p + 2, *end = d.end;
  for(;;) {
    p = skip_ws(p, end);
    if(p >= end || *p != '/')
      return none;
    const unsigned char *name = p + 1, *name_end = skip_regular(p + 1, end);
    const unsigned char *v = skip_ws(name_end, end);
    const unsigned char *v_end = skip_value(v, end, 1);
    if(!v_end)
      return none;
    if((size_t)(name_end - name) == klen && !memcmp(name, key, klen)) {
      if(entry)
        *entry = (struct span){p, v_end};
      return (struct span){v, v_end};
    }
    p = v_end;
  }
}

static struct span dict_get(struct span d, const char *key) { return dict_find(d, key, NULL); }

static int span_int(struct span s, long long *v)
{
  const unsigned char *p = s.p;
  if(!p)
    return 0;
  int neg = p < s.end && *p == '-';
  if(neg || (p < s.end && *p == '+'))
    p++;
  long long x = read_uint(&p, s.end);
  if(x < 0 || (p < s.end && !is_ws(*p) && !is_delim(*p)))
    return 0;
  *v = neg ? -x : x;
  return 1;
}

static int span_ref(struct span s, uint32_t *num, uint32_t *gen)
{
  const unsigned char *p = s.p;
  if(!p || !skip_ref(p, s.end))
    return 0;
  long long n = read_uint(&p, s.end);
  p = skip_ws(p, s.end);
  long long g = read_uint(&p, s.end);
  if(n < 0 || n >= MAX_OBJECTS || g < 0 || g > 65535)
    return 0;
  *num = (uint32_t)n;
  *gen = (uint32_t)g;
  return 1;
}

static int span_is(struct span s, const char *name)
{
  size_t n = strlen(name);
  return s.p && (size_t)(s.end - s.p) == n && !memcmp(s.p, name, n);
}

/* A real number (PDF's syntax: no exponent). */
static int read_real(const unsigned char **pp, const unsigned char *end, double *out)
{
  const unsigned char *p = *pp;
  double v = 0, scale = 1;
  int neg = 0, digits = 0, frac = 0;
  if(p < end && (*p == '-' || *p == '+'))
    neg = *p++ == '-';
  for(; p < end && (is_digit(*p) || (*p == '.' && !frac)); p++) {
    if(*p == '.') {
      frac = 1;
      continue;
    }
    digits++;
    if(frac)
      v += (*p - '0') * (scale /= 10);
    else if(v < 1e12)
      v = v * 10 + (*p - '0');
  }
  if(!digits)
    return 0;
  *out = neg ? -v : v;
  *pp = p;
  return 1;
}

/* --- Streams ----------------------------------------------------------------- */

static int inflate_all(const unsigned char *in, size_t len, unsigned char **out, size_t *out_len)
{
  z_stream z;
  memset(&z, 0, sizeof(z));
  if(inflateInit(&z) != Z_OK)
    return 0;
  size_t cap = len * 4 + 4096, n = 0;
  unsigned char *buf = malloc(cap);
  int rc = Z_OK;
  z.next_in = (unsigned char *)in;
  z.avail_in = (uInt)(len > UINT32_MAX ? UINT32_MAX : len);
  while(buf && rc == Z_OK) {
    if(n == cap) {
      if(cap >= MAX_STREAM)
        break;
      cap = cap * 2 > MAX_STREAM ? MAX_STREAM : cap * 2;
      unsigned char *b = realloc(buf, cap);
      if(!b) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = b;
    }
    z.next_out = buf + n;
    z.avail_out = (uInt)(cap - n);
    rc = inflate(&z, Z_NO_FLUSH);
    n = cap - z.avail_out;
  }
  inflateEnd(&z);
  /* A stream cut at its end still gives what it holds (poppler reads on). */
  if(!buf || (rc != Z_STREAM_END && rc != Z_BUF_ERROR && rc != Z_OK) || n == 0) {
    free(buf);
    return 0;
  }
  *out = buf;
  *out_len = n;
  return 1;
}

/* Undo a PNG predictor (/Predictor 10-15) on rows of `columns` bytes. */
static int unpredict(unsigned char *data, size_t *len, size_t columns)
{
  if(columns == 0 || columns > (1u << 20))
    return 0;
  size_t row = columns + 1, rows = *len / row;
  unsigned char *prev = calloc(columns, 1);
  if(!prev)
    return 0;
  size_t w = 0;
  for(size_t r = 0; r < rows; r++) {
    const unsigned char *in = data + r * row;
    unsigned char type = in[0];
    unsigned char *o = data + w;
    for(size_t i = 0; i < columns; i++) {
      unsigned a = i ? o[i - 1] : 0, b = prev[i], c = i ? prev[i - 1] : 0, x = in[i + 1];
      switch(type) {
      case 1: x += a; break;
      case 2: x += b; break;
      case 3: x += (a + b) / 2; break;
      case 4: {
        int p = (int)(a + b - c), pa = abs(p - (int)a), pb = abs(p - (int)b), pc = abs(p - (int)c);
        x += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        break;
      }
      default: break;
      }
      o[i] = (unsigned char)x;
    }
    memcpy(prev, o, columns);
    w += columns;
  }
  free(prev);
  *len = w;
  return 1;
}

static int get_plain(struct pdf *d, uint32_t num, struct span *value);

static int resolve_int(struct pdf *d, struct span s, long long *v)
{
  uint32_t num, gen;
  struct span target;
  if(span_int(s, v))
    return 1;
  return span_ref(s, &num, &gen) && get_plain(d, num, &target) && span_int(target, v);
}

/* The decoded data of the stream whose dictionary is dict (the value of an
 * object at the file's level).  *owned is set when it had to be decoded. */
static int stream_data(struct pdf *d, struct span dict, unsigned char **data, size_t *len)
{
  const unsigned char *end = d->base + d->len;
  const unsigned char *p = skip_ws(dict.end, end);
  if(end - p < 6 || memcmp(p, "stream", 6))
    return 0;
  p += 6;
  if(p < end && *p == '\r')
    p++;
  if(p < end && *p == '\n')
    p++;
  long long n = -1;
  struct span lv = dict_get(dict, "Length");
  if(!resolve_int(d, lv, &n) || n < 0 || n > end - p ||
     !memmem(p + n, (size_t)(end - p - n) < 32 ? (size_t)(end - p - n) : 32, "endstream", 9)) {
    const unsigned char *e = memmem(p, (size_t)(end - p), "endstream", 9);
    if(!e)
      return 0;
    n = e - p;
  }
  struct span filter = dict_get(dict, "Filter");
  struct span parms = dict_get(dict, "DecodeParms");
  if(filter.p && *filter.p == '[') { /* [/FlateDecode] */
    const unsigned char *f = skip_ws(filter.p + 1, filter.end);
    const unsigned char *f_end = skip_value(f, filter.end, 1);
    if(!f_end || *skip_ws(f_end, filter.end) != ']')
      return 0;
    filter = (struct span){f, f_end};
    if(parms.p && *parms.p == '[') {
      const unsigned char *q = skip_ws(parms.p + 1, parms.end);
      parms = (struct span){q, skip_value(q, parms.end, 1)};
    }
  }
  if(!filter.p) {
    if(!(*data = malloc((size_t)n + 1)))
      return 0;
    memcpy(*data, p, (size_t)n);
    *len = (size_t)n;
    return 1;
  }
  if(!span_is(filter, "/FlateDecode") && !span_is(filter, "/Fl"))
    return 0;
  if(!inflate_all(p, (size_t)n, data, len))
    return 0;
  long long predictor = 1, columns = 1;
  span_int(dict_get(parms, "Predictor"), &predictor);
  span_int(dict_get(parms, "Columns"), &columns);
  if(predictor >= 10 && !unpredict(*data, len, (size_t)columns)) {
    free(*data);
    return 0;
  }
  if(predictor > 1 && predictor < 10) { /* TIFF predictors: not in xref or object streams */
    free(*data);
    return 0;
  }
  return 1;
}

/* --- Objects ------------------------------------------------------------------ */

/* The value of "num gen obj" at offset off. */
static int object_at(struct pdf *d, uint64_t off, uint32_t num, struct span *value)
{
  if(off >= d->len)
    return 0;
  const unsigned char *p = d->base + off, *end = d->base + d->len;
  p = skip_ws(p, end);
  long long n = read_uint(&p, end);
  p = skip_ws(p, end);
  if(n != (long long)num || read_uint(&p, end) < 0)
    return 0;
  p = skip_ws(p, end);
  if(end - p < 3 || memcmp(p, "obj", 3))
    return 0;
  p = skip_ws(p + 3, end);
  const unsigned char *v_end = skip_value(p, end, 0);
  if(!v_end)
    return 0;
  *value = (struct span){p, v_end};
  return 1;
}

static int get_plain(struct pdf *d, uint32_t num, struct span *value)
{
  if(num >= d->n || d->xref[num].type != ENTRY_PLAIN)
    return 0;
  return object_at(d, d->xref[num].where, num, value);
}

static struct objstm *load_objstm(struct pdf *d, uint32_t num)
{
  for(size_t i = 0; i < d->cached; i++)
    if(d->cache[i].num == num)
      return &d->cache[i];
  struct span dict;
  if(!get_plain(d, num, &dict))
    return NULL;
  long long n, first;
  if(!span_is(dict_get(dict, "Type"), "/ObjStm") || !span_int(dict_get(dict, "N"), &n) ||
     !span_int(dict_get(dict, "First"), &first) || n < 0 || first < 0)
    return NULL;
  unsigned char *data;
  size_t len;
  if(!stream_data(d, dict, &data, &len))
    return NULL;
  if((size_t)first > len || (unsigned long long)n > len) {
    free(data);
    return NULL;
  }
  size_t slot = d->cached < MAX_CACHED ? d->cached++ : d->next_evict++ % MAX_CACHED;
  free(d->cache[slot].data);
  d->cache[slot] = (struct objstm){num, data, len, (size_t)first, (uint32_t)n};
  return &d->cache[slot];
}

/* The value of object num, wherever it is; *packed when in an object stream. */
static int get_object(struct pdf *d, uint32_t num, struct span *value, int *packed)
{
  *packed = 0;
  if(num >= d->n)
    return 0;
  if(d->xref[num].type == ENTRY_PLAIN)
    return get_plain(d, num, value);
  if(d->xref[num].type != ENTRY_PACKED || d->xref[num].where >= d->n)
    return 0;
  struct objstm *s = load_objstm(d, (uint32_t)d->xref[num].where);
  if(!s)
    return 0;
  const unsigned char *p = s->data, *head_end = s->data + s->first, *end = s->data + s->len;
  for(uint32_t i = 0; i < s->n; i++) {
    p = skip_ws(p, head_end);
    long long onum = read_uint(&p, head_end);
    p = skip_ws(p, head_end);
    long long off = read_uint(&p, head_end);
    if(onum < 0 || off < 0 || (size_t)off > s->len - s->first)
      return 0;
    if(onum == (long long)num) {
      const unsigned char *v = skip_ws(head_end + off, end);
      const unsigned char *v_end = skip_value(v, end, 0);
      if(!v_end)
        return 0;
      *value = (struct span){v, v_end};
      *packed = 1;
      return 1;
    }
  }
  return 0;
}

/* A value, or the object a reference names. */
static int deref(struct pdf *d, struct span s, struct span *out)
{
  uint32_t num, gen;
  int packed;
  if(span_ref(s, &num, &gen))
    return get_object(d, num, out, &packed);
  *out = s;
  return s.p != NULL;
}

/* --- Cross-reference sections --------------------------------------------------- */

static int ensure_xref(struct pdf *d, long long size)
{
  if(d->xref)
    return 1;
  if(size <= 0 || size > MAX_OBJECTS)
    return 0;
  d->n = (size_t)size;
  d->xref = calloc(d->n, sizeof(*d->xref));
  d->visited = calloc(d->n / 8 + 1, 1);
  return d->xref && d->visited;
}

static void set_entry(struct pdf *d, long long num, uint8_t type, uint64_t where, uint32_t gen)
{
  if(num >= 0 && (size_t)num < d->n && d->xref[num].type == ENTRY_UNSET)
    d->xref[num] = (struct entry){type, gen, where};
}

/* Keys of the newest trailer: the new one repeats them. */
static void take_trailer(struct pdf *d, struct span trailer)
{
  long long size = 0;
  if(span_int(dict_get(trailer, "Size"), &size) && size > d->size)
    d->size = size;
  if(!d->root.p) {
    d->root = dict_get(trailer, "Root");
    d->info = dict_get(trailer, "Info");
    d->id = dict_get(trailer, "ID");
    d->encrypt = dict_get(trailer, "Encrypt");
  }
}

/* A classic table at p ("xref" already matched); *trailer gets its trailer. */
static int read_table(struct pdf *d, const unsigned char *p, struct span *trailer)
{
  const unsigned char *end = d->base + d->len;
  for(p += 4;;) {
    p = skip_ws(p, end);
    if(end - p >= 7 && !memcmp(p, "trailer", 7))
      break;
    long long first = read_uint(&p, end);
    p = skip_ws(p, end);
    long long count = read_uint(&p, end);
    if(first < 0 || count < 0 || count > MAX_OBJECTS)
      return 0;
    for(long long i = 0; i < count; i++) {
      p = skip_ws(p, end);
      long long off = read_uint(&p, end);
      p = skip_ws(p, end);
      long long gen = read_uint(&p, end);
      p = skip_ws(p, end);
      if(off < 0 || gen < 0 || p >= end || (*p != 'n' && *p != 'f'))
        return 0;
      if(!d->xref) {
        /* The table comes before its trailer's /Size: read that first. */
        const unsigned char *t = memmem(p, (size_t)(end - p), "trailer", 7);
        long long size;
        if(!t || !span_int(dict_get((struct span){skip_ws(t + 7, end), end}, "Size"), &size) ||
           !ensure_xref(d, size))
          return 0;
      }
      set_entry(d, first + i, *p == 'n' ? ENTRY_PLAIN : ENTRY_FREE, (uint64_t)off,
                (uint32_t)gen);
      p++;
    }
  }
  const unsigned char *t = skip_ws(p + 7, end);
  const unsigned char *t_end = skip_value(t, end, 0);
  if(!t_end || *t != '<')
    return 0;
  *trailer = (struct span){t, t_end};
  return 1;
}

static uint64_t field(const unsigned char *p, long long w)
{
  uint64_t v = 0;
  for(long long i = 0; i < w; i++)
    v = v << 8 | p[i];
  return v;
}

/* An xref stream object at off; *trailer gets its dictionary. */
static int read_xref_stream(struct pdf *d, uint64_t off, struct span *trailer)
{
  const unsigned char *p = d->base + off, *end = d->base + d->len;
  p = skip_ws(p, end);
  long long num = read_uint(&p, end);
  struct span dict;
  if(num < 0 || num >= MAX_OBJECTS || !object_at(d, off, (uint32_t)num, &dict) ||
     !span_is(dict_get(dict, "Type"), "/XRef"))
    return 0;
  long long size, w[3];
  if(!span_int(dict_get(dict, "Size"), &size) || !ensure_xref(d, size))
    return 0;
  struct span ws = dict_get(dict, "W");
  if(!ws.p || *ws.p != '[')
    return 0;
  const unsigned char *q = ws.p + 1;
  for(int i = 0; i < 3; i++) {
    q = skip_ws(q, ws.end);
    if((w[i] = read_uint(&q, ws.end)) < 0 || w[i] > 8)
      return 0;
  }
  unsigned char *data;
  size_t len;
  if(!stream_data(d, dict, &data, &len))
    return 0;
  size_t row = (size_t)(w[0] + w[1] + w[2]), at = 0;
  struct span index = dict_get(dict, "Index");
  const unsigned char *ip = index.p ? index.p + 1 : NULL;
  int ok = row > 0;
  for(int section = 0; ok; section++) {
    long long first = 0, count = size;
    if(ip) {
      ip = skip_ws(ip, index.end);
      if(ip < index.end && *ip == ']')
        break;
      first = read_uint(&ip, index.end);
      ip = skip_ws(ip, index.end);
      count = read_uint(&ip, index.end);
      if(first < 0 || count < 0) {
        ok = 0;
        break;
      }
    } else if(section) {
      break;
    }
    for(long long i = 0; i < count && at + row <= len; i++, at += row) {
      uint64_t type = w[0] ? field(data + at, w[0]) : 1;
      uint64_t f2 = field(data + at + w[0], w[1]), f3 = field(data + at + w[0] + w[1], w[2]);
      if(type == 1)
        set_entry(d, first + i, ENTRY_PLAIN, f2, (uint32_t)f3);
      else if(type == 2)
        set_entry(d, first + i, ENTRY_PACKED, f2, (uint32_t)f3);
      else if(type == 0)
        set_entry(d, first + i, ENTRY_FREE, 0, 0);
    }
  }
  free(data);
  *trailer = dict;
  return ok;
}

/* Follow the cross-reference sections from the last startxref. */
static int read_xref(struct pdf *d)
{
  const unsigned char *end = d->base + d->len, *sx = NULL;
  for(const unsigned char *p = d->base; (p = memmem(p, (size_t)(end - p), "startxref", 9));
      p += 9)
    sx = p;
  if(!sx)
    return 0;
  const unsigned char *p = skip_ws(sx + 9, end);
  long long off = read_uint(&p, end);
  if(off < 0)
    return 0;
  d->startxref = off;
  long long seen[MAX_SECTIONS];
  size_t n_seen = 0;
  long long todo[MAX_SECTIONS];
  size_t n_todo = 0;
  todo[n_todo++] = off;
  while(n_todo) {
    off = todo[--n_todo];
    int again = 0;
    for(size_t i = 0; i < n_seen; i++)
      again |= seen[i] == off;
    if(again)
      continue;
    if(n_seen == MAX_SECTIONS || off < 0 || (size_t)off >= d->len)
      return 0;
    seen[n_seen++] = off;
    struct span trailer;
    const unsigned char *at = skip_ws(d->base + off, end);
    if(end - at >= 4 && !memcmp(at, "xref", 4)) {
      if(!read_table(d, at, &trailer))
        return 0;
    } else if(!read_xref_stream(d, (uint64_t)off, &trailer)) {
      return 0;
    }
    long long prev, stm, size;
    if(!d->xref && (!span_int(dict_get(trailer, "Size"), &size) || !ensure_xref(d, size)))
      return 0;
    take_trailer(d, trailer);
    /* /Prev after /XRefStm: the stream belongs to this revision. */
    if(span_int(dict_get(trailer, "Prev"), &prev) && n_todo < MAX_SECTIONS)
      todo[n_todo++] = prev;
    if(span_int(dict_get(trailer, "XRefStm"), &stm) && n_todo < MAX_SECTIONS)
      todo[n_todo++] = stm;
  }
  return d->xref && d->root.p;
}

/* --- The page tree ------------------------------------------------------------- */

struct pbox {
  double x1, y1, x2, y2;
  int set;
};

static struct pbox read_box(struct pdf *d, struct span s)
{
  struct pbox b = {0, 0, 0, 0, 0};
  struct span v;
  double c[4];
  if(!s.p || !deref(d, s, &v) || *v.p != '[')
    return b;
  const unsigned char *p = v.p + 1;
  for(int i = 0; i < 4; i++) {
    p = skip_ws(p, v.end);
    if(!read_real(&p, v.end, &c[i]))
      return b;
  }
  b.x1 = c[0] < c[2] ? c[0] : c[2];
  b.x2 = c[0] < c[2] ? c[2] : c[0];
  b.y1 = c[1] < c[3] ? c[1] : c[3];
  b.y2 = c[1] < c[3] ? c[3] : c[1];
  b.set = 1;
  return b;
}

/* Is the crop box, clipped to the media box as poppler clips it, smaller? */
static int narrower(struct pbox crop, struct pbox media)
{
  if(!crop.set)
    return 0;
  double x1 = crop.x1 > media.x1 ? crop.x1 : media.x1, x2 = crop.x2 < media.x2 ? crop.x2 : media.x2;
  double y1 = crop.y1 > media.y1 ? crop.y1 : media.y1, y2 = crop.y2 < media.y2 ? crop.y2 : media.y2;
  if(x2 <= x1 || y2 <= y1)
    return 1; /* no overlap: nothing of the page is left, pdftotext shows it all */
  return x1 - media.x1 > BOX_SLACK || media.x2 - x2 > BOX_SLACK || y1 - media.y1 > BOX_SLACK ||
         media.y2 - y2 > BOX_SLACK;
}

static int add_holder(struct pdf *d, uint32_t num, uint32_t gen)
{
  if(d->n_holders == d->cap_holders) {
    size_t cap = d->cap_holders ? d->cap_holders * 2 : 16;
    struct holder *h = realloc(d->holders, cap * sizeof(*h));
    if(!h)
      return 0;
    d->holders = h;
    d->cap_holders = cap;
  }
  d->holders[d->n_holders++] = (struct holder){num, gen};
  return 1;
}

static int walk_node(struct pdf *d, uint32_t num, uint32_t gen, struct span dict, int packed,
                     struct pbox media, struct pbox crop, int depth);

static int walk(struct pdf *d, struct span ref, struct pbox media, struct pbox crop, int depth)
{
  uint32_t num, gen;
  struct span dict;
  int packed;
  if(depth > MAX_DEPTH || ++d->nodes > MAX_NODES || !span_ref(ref, &num, &gen) || num >= d->n)
    return 0;
  if(d->visited[num / 8] & (1u << (num % 8)))
    return 1; /* a cycle, or a page listed twice: poppler skips it too */
  d->visited[num / 8] |= (unsigned char)(1u << (num % 8));
  if(!get_object(d, num, &dict, &packed) || *dict.p != '<')
    return 0;
  /* Copied: dict may be in a cached object stream that a later lookup evicts. */
  size_t dict_len = (size_t)(dict.end - dict.p);
  unsigned char *node = malloc(dict_len);
  if(!node)
    return 0;
  memcpy(node, dict.p, dict_len);
  dict = (struct span){node, node + dict_len};
  int ok = walk_node(d, num, gen, dict, packed, media, crop, depth);
  free(node);
  return ok;
}

static int walk_node(struct pdf *d, uint32_t num, uint32_t gen, struct span dict, int packed,
                     struct pbox media, struct pbox crop, int depth)
{
  struct pbox m = read_box(d, dict_get(dict, "MediaBox"));
  struct pbox c = read_box(d, dict_get(dict, "CropBox"));
  if(m.set)
    media = m;
  if(c.set) {
    crop = c;
    /* Strings in an encrypted file's object stream are not encrypted; the
     * same dictionary as a plain object would be decrypted, wrongly. */
    if(!(packed && d->encrypt.p) && !add_holder(d, num, gen))
      return 0;
  }
  struct span kids = dict_get(dict, "Kids"), arr;
  if(!kids.p) {
    d->narrow += narrower(crop, media);
    return 1;
  }
  if(!deref(d, kids, &arr) || *arr.p != '[')
    return 0;
  /* Copied too, for the same reason. */
  size_t n = (size_t)(arr.end - arr.p);
  unsigned char *copy = malloc(n);
  if(!copy)
    return 0;
  memcpy(copy, arr.p, n);
  const unsigned char *p = copy + 1, *end = copy + n;
  int ok = 1;
  while(ok) {
    p = skip_ws(p, end);
    if(p >= end || *p == ']')
      break;
    const unsigned char *r_end = skip_ref(p, end);
    if(!r_end) {
      ok = 0;
      break;
    }
    ok = walk(d, (struct span){p, r_end}, media, crop, depth + 1);
    p = r_end;
  }
  free(copy);
  return ok;
}

/* --- Writing the update ---------------------------------------------------------- */

static void add_span(struct dp_buf *out, struct span s)
{
  dpi_buf_add(out, s.p, (size_t)(s.end - s.p));
}

static int write_update(struct pdf *d, const unsigned char *file, size_t file_len,
                        struct dp_buf *out)
{
  size_t header = (size_t)(d->base - file);
  uint64_t *offsets = calloc(d->n_holders, sizeof(*offsets));
  if(!offsets)
    return -1;
  dpi_buf_add(out, file, file_len);
  dpi_buf_adds(out, "\n");
  /* A holder's dictionary may be in an object stream that later lookups
   * evicted: they are all read again here, from what is still cached or the
   * file. */
  for(size_t i = 0; i < d->n_holders; i++) {
    struct holder *h = &d->holders[i];
    struct span dict;
    int packed;
    if(!get_object(d, h->num, &dict, &packed)) {
      free(offsets);
      return 0;
    }
    struct span key;
    if(!dict_find(dict, "CropBox", &key).p) {
      free(offsets);
      return 0;
    }
    offsets[i] = dpi_buf_len(out) - header;
    dpi_buf_addf(out, "%u %u obj\n", h->num, h->gen);
    add_span(out, (struct span){dict.p, key.p});
    add_span(out, (struct span){key.end, dict.end});
    dpi_buf_adds(out, "\nendobj\n");
  }
  uint64_t xref_at = dpi_buf_len(out) - header;
  dpi_buf_adds(out, "xref\n");
  long long size = d->size > (long long)d->n ? d->size : (long long)d->n;
  for(size_t i = 0; i < d->n_holders; i++)
    dpi_buf_addf(out, "%u 1\n%010llu %05u n\r\n", d->holders[i].num,
                 (unsigned long long)offsets[i], d->holders[i].gen);
  dpi_buf_addf(out, "trailer\n<< /Size %lld /Root ", size);
  add_span(out, d->root);
  struct span *keys[] = {&d->info, &d->id, &d->encrypt};
  const char *names[] = {" /Info ", " /ID ", " /Encrypt "};
  for(int i = 0; i < 3; i++)
    if(keys[i]->p) {
      dpi_buf_adds(out, names[i]);
      add_span(out, *keys[i]);
    }
  dpi_buf_addf(out, " /Prev %lld >>\nstartxref\n%llu\n%%%%EOF\n", d->startxref,
               (unsigned long long)xref_at);
  free(offsets);
  return dpi_buf_failed(out) ? -1 : 1;
}

int dpi_pdf_uncrop(const unsigned char *pdf, size_t len, struct dp_buf *out)
{
  /* Most files can be passed over at once: a page's /CropBox is either in
   * plain sight or in an object stream. */
  if(!memmem(pdf, len, "/CropBox", 8) && !memmem(pdf, len, "/ObjStm", 7))
    return 0;
  const unsigned char *header = memmem(pdf, len < 1024 ? len : 1024, "%PDF-", 5);
  if(!header)
    return 0;
  struct pdf d;
  memset(&d, 0, sizeof(d));
  d.base = header;
  d.len = len - (size_t)(header - pdf);
  int rc = 0;
  struct span catalog, pages;
  struct pbox none = {0, 0, 0, 0, 0}, letter = {0, 0, 612, 792, 1}; /* poppler's default */
  if(read_xref(&d) && deref(&d, d.root, &catalog) && *catalog.p == '<' &&
     (pages = dict_get(catalog, "Pages")).p && walk(&d, pages, letter, none, 0) && d.narrow &&
     d.n_holders) {
    rc = write_update(&d, pdf, len, out);
    if(rc > 0)
      rc = d.narrow > 0x7fffffff ? 0x7fffffff : (int)d.narrow;
  }
  for(size_t i = 0; i < d.cached; i++)
    free(d.cache[i].data);
  free(d.holders);
  free(d.xref);
  free(d.visited);
  return rc;
}
