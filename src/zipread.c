/* zipread.c - see zipread.h.  libarchive reads the members; the peeks for
 * bidders walk the ZIP structures (APPNOTE.TXT: the end of central
 * directory record, central directory headers, local file headers) by hand,
 * because a bid may not allocate, and inflate with zlib on a stack arena. */
#include "zipread.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "dplimits.h"

struct dp_zip {
  const void *data;
  size_t len;
  struct archive *a;
  size_t cursor;   /* index of the next header a will give */
  struct dp_zip_member *members;
  size_t n, cap;
  size_t total;    /* bytes read out of the archive so far */
  int truncated;
};

static struct archive *reader(const void *data, size_t len)
{
  struct archive *a = archive_read_new();
  if(!a)
    return NULL;
  /* Seekable (the central directory) when the archive has one; libarchive's
   * bidding gives the streaming reader the archives that do not. */
  if(archive_read_support_format_zip_seekable(a) != ARCHIVE_OK ||
     archive_read_support_format_zip_streamable(a) != ARCHIVE_OK ||
     archive_read_open_memory(a, data, len) != ARCHIVE_OK) {
    archive_read_free(a);
    return NULL;
  }
  return a;
}

static void reason(char *why, size_t whylen, const char *what, struct archive *a)
{
  const char *msg = a ? archive_error_string(a) : NULL;
  snprintf(why, whylen, "%s%s%s", what, msg ? ": " : "", msg ? msg : "");
}

static int add_member(struct dp_zip *z, struct archive_entry *e)
{
  if(z->n == z->cap) {
    size_t cap = z->cap ? z->cap * 2 : 32;
    struct dp_zip_member *m = realloc(z->members, cap * sizeof(*m));
    if(!m)
      return -1;
    z->members = m;
    z->cap = cap;
  }
  const char *name = archive_entry_pathname_utf8(e);
  if(!name)
    name = archive_entry_pathname(e); /* not UTF-8: the bytes as stored */
  if(!name)
    name = "";
  struct dp_zip_member *m = &z->members[z->n];
  m->name_len = strlen(name);
  m->name = dpi_memdup(name, m->name_len);
  if(!m->name)
    return -1;
  m->size = archive_entry_size_is_set(e) ? (int64_t)archive_entry_size(e) : -1;
  m->dir = archive_entry_filetype(e) == AE_IFDIR;
  m->encrypted = archive_entry_is_encrypted(e) != 0;
  z->n++;
  return 0;
}

/* The list of members: every header, data skipped. */
static enum dp_zip_err list_members(struct dp_zip *z, char *why, size_t whylen)
{
  struct archive_entry *e;
  for(;;) {
    int rc = archive_read_next_header(z->a, &e);
    if(rc == ARCHIVE_EOF)
      return DP_ZIP_OK;
    if(rc < ARCHIVE_WARN) {
      if(z->n == 0) {
        reason(why, whylen, "not a readable ZIP archive", z->a);
        return DP_ZIP_DAMAGED;
      }
      z->truncated = 1; /* keep the members read so far */
      return DP_ZIP_OK;
    }
    if(z->n == DP_ZIP_MAX_MEMBERS) {
      snprintf(why, whylen, "ZIP archive has more than %d members", DP_ZIP_MAX_MEMBERS);
      return DP_ZIP_TOO_LARGE;
    }
    if(add_member(z, e)) {
      snprintf(why, whylen, "out of memory");
      return DP_ZIP_NOMEM;
    }
    /* Skipping a member the streaming reader must inflate can fail too. */
    if(archive_read_data_skip(z->a) < ARCHIVE_WARN) {
      z->truncated = 1;
      return DP_ZIP_OK;
    }
  }
}

enum dp_zip_err dpi_zip_open(const void *data, size_t len, struct dp_zip **out, char *why,
                             size_t whylen)
{
  *out = NULL;
  struct dp_zip *z = calloc(1, sizeof(*z));
  if(!z || !(z->a = reader(data, len))) {
    free(z);
    snprintf(why, whylen, "out of memory");
    return DP_ZIP_NOMEM;
  }
  z->data = data;
  z->len = len;
  enum dp_zip_err rc = list_members(z, why, whylen);
  if(rc != DP_ZIP_OK) {
    dpi_zip_close(z);
    return rc;
  }
  /* The listing read every header: start again for the data. */
  archive_read_free(z->a);
  z->a = NULL;
  *out = z;
  return DP_ZIP_OK;
}

void dpi_zip_close(struct dp_zip *z)
{
  if(!z)
    return;
  if(z->a)
    archive_read_free(z->a);
  for(size_t i = 0; i < z->n; i++)
    free(z->members[i].name);
  free(z->members);
  free(z);
}

size_t dpi_zip_count(const struct dp_zip *z)
{
  return z->n;
}

const struct dp_zip_member *dpi_zip_member(const struct dp_zip *z, size_t i)
{
  return i < z->n ? &z->members[i] : NULL;
}

long dpi_zip_find(const struct dp_zip *z, const char *name)
{
  for(size_t i = 0; i < z->n; i++)
    if(!strcmp(z->members[i].name, name))
      return (long)i;
  return -1;
}

int dpi_zip_truncated(const struct dp_zip *z)
{
  return z->truncated;
}

/* Position the reader on member i's data. */
static enum dp_zip_err seek_member(struct dp_zip *z, size_t i, char *why, size_t whylen)
{
  if(!z->a || z->cursor > i) {
    if(z->a)
      archive_read_free(z->a);
    z->cursor = 0;
    if(!(z->a = reader(z->data, z->len))) {
      snprintf(why, whylen, "out of memory");
      return DP_ZIP_NOMEM;
    }
  }
  struct archive_entry *e;
  while(z->cursor <= i) {
    if(archive_read_next_header(z->a, &e) < ARCHIVE_WARN) {
      reason(why, whylen, "ZIP member header unreadable", z->a);
      archive_read_free(z->a);
      z->a = NULL;
      return DP_ZIP_DAMAGED;
    }
    z->cursor++;
  }
  return DP_ZIP_OK;
}

/* The reader is at member i's data: read it all into out. */
static enum dp_zip_err read_data(struct dp_zip *z, const struct dp_zip_member *m,
                                 const char *what, struct dp_buf *out, char *why, size_t whylen)
{
  char chunk[16384];
  for(;;) {
    la_ssize_t got = archive_read_data(z->a, chunk, sizeof(chunk));
    if(got == 0)
      return DP_ZIP_OK;
    if(got < 0) {
      if(m->encrypted || archive_read_has_encrypted_entries(z->a) > 0) {
        snprintf(why, whylen, "%s is encrypted", what);
        return DP_ZIP_ENCRYPTED;
      }
      char lead[64];
      snprintf(lead, sizeof(lead), "%s data unreadable", what);
      reason(why, whylen, lead, z->a);
      return DP_ZIP_DAMAGED;
    }
    if(z->total + (size_t)got > DP_ZIP_MAX_TOTAL) {
      snprintf(why, whylen, "archive inflates to more than %zu bytes in all",
               (size_t)DP_ZIP_MAX_TOTAL);
      return DP_ZIP_TOO_LARGE;
    }
    z->total += (size_t)got;
    if(dpi_buf_add(out, chunk, (size_t)got)) {
      if(out->state != DP_BUF_TOO_BIG) {
        snprintf(why, whylen, "out of memory");
        return DP_ZIP_NOMEM;
      }
      snprintf(why, whylen, "%s inflates to more than %zu bytes", what, out->max);
      return DP_ZIP_TOO_LARGE;
    }
  }
}

enum dp_zip_err dpi_zip_read(struct dp_zip *z, size_t i, struct dp_buf *out, char *why,
                             size_t whylen)
{
  const struct dp_zip_member *m = dpi_zip_member(z, i);
  if(!m) {
    snprintf(why, whylen, "no such ZIP member");
    return DP_ZIP_NOT_FOUND;
  }
  if(m->encrypted) {
    snprintf(why, whylen, "ZIP member is encrypted");
    return DP_ZIP_ENCRYPTED;
  }
  /* A declared size past the cap is refused before anything is inflated;
   * one that lies is caught by the buffer's cap. */
  if(m->size >= 0 && (uint64_t)m->size > out->max - out->len) {
    snprintf(why, whylen, "ZIP member inflates to %lld bytes, more than %zu",
             (long long)m->size, out->max);
    return DP_ZIP_TOO_LARGE;
  }
  enum dp_zip_err rc = seek_member(z, i, why, whylen);
  if(rc != DP_ZIP_OK)
    return rc;
  rc = read_data(z, m, "ZIP member", out, why, whylen);
  if(rc != DP_ZIP_OK) { /* the reader's state is unknown: start again next time */
    archive_read_free(z->a);
    z->a = NULL;
  }
  return rc;
}

enum dp_zip_err dpi_zip_read_name(struct dp_zip *z, const char *name, struct dp_buf *out,
                                  char *why, size_t whylen)
{
  long i = dpi_zip_find(z, name);
  if(i < 0) {
    snprintf(why, whylen, "no ZIP member %s", name);
    return DP_ZIP_NOT_FOUND;
  }
  return dpi_zip_read(z, (size_t)i, out, why, whylen);
}

enum dp_zip_err dpi_gzip_read(const void *data, size_t len, struct dp_buf *out, char *why,
                              size_t whylen)
{
  struct archive *a = archive_read_new();
  struct archive_entry *e;
  if(!a || archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
     archive_read_support_format_raw(a) != ARCHIVE_OK) {
    snprintf(why, whylen, "out of memory");
    archive_read_free(a);
    return DP_ZIP_NOMEM;
  }
  enum dp_zip_err rc = DP_ZIP_OK;
  if(archive_read_open_memory(a, data, len) != ARCHIVE_OK ||
     archive_read_next_header(a, &e) < ARCHIVE_WARN ||
     archive_filter_code(a, 0) != ARCHIVE_FILTER_GZIP) {
    reason(why, whylen, "not a readable gzip file", a);
    rc = DP_ZIP_DAMAGED;
  } else {
    struct dp_zip z = {.a = a};
    struct dp_zip_member m = {.size = -1};
    rc = read_data(&z, &m, "gzip file", out, why, whylen);
  }
  archive_read_free(a);
  return rc;
}

/* ---- pure peeks ------------------------------------------------------- */

static unsigned u16(const unsigned char *p)
{
  return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static size_t u32(const unsigned char *p)
{
  return (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 | (size_t)p[3] << 24;
}

int dpi_zip_peek_magic(const unsigned char *data, size_t len)
{
  return len >= 22 && data[0] == 'P' && data[1] == 'K' &&
         ((data[2] == 3 && data[3] == 4) || (data[2] == 5 && data[3] == 6));
}

/* Where a member's compressed data is. */
struct peek_member {
  size_t data;  /* offset of its data */
  size_t csize; /* compressed size (stored members), clipped to the buffer */
  unsigned method;
};

/* Member name's local header at off: fill pm from it. */
static int at_local(const unsigned char *d, size_t len, size_t off, size_t csize,
                    struct peek_member *pm)
{
  if(off > len || len - off < 30 || memcmp(d + off, "PK\3\4", 4))
    return 0;
  if(u16(d + off + 6) & 1)
    return 0; /* encrypted: nothing to read */
  size_t start = off + 30 + u16(d + off + 26) + u16(d + off + 28);
  if(start > len)
    return 0;
  pm->data = start;
  pm->method = u16(d + off + 8);
  pm->csize = csize < len - start ? csize : len - start;
  return 1;
}

/* The end of central directory record: in the last 64 KiB + 22 bytes. */
static int find_eocd(const unsigned char *d, size_t len, size_t *at)
{
  if(len < 22)
    return 0;
  size_t lowest = len > 65535 + 22 ? len - 65535 - 22 : 0;
  for(size_t i = len - 22 + 1; i-- > lowest;)
    if(!memcmp(d + i, "PK\5\6", 4)) {
      *at = i;
      return 1;
    }
  return 0;
}

static int peek_central(const unsigned char *d, size_t len, const char *name,
                        struct peek_member *pm)
{
  size_t eocd, nlen = strlen(name);
  if(!find_eocd(d, len, &eocd))
    return -1;
  size_t count = u16(d + eocd + 10), off = u32(d + eocd + 16);
  for(size_t k = 0; k < count && k < DP_ZIP_MAX_MEMBERS; k++) {
    if(off > len || len - off < 46 || memcmp(d + off, "PK\1\2", 4))
      return -1; /* zip64 or broken: the local headers may still tell */
    size_t n = u16(d + off + 28), next = off + 46 + n + u16(d + off + 30) + u16(d + off + 32);
    if(next > len)
      return -1;
    if(n == nlen && !memcmp(d + off + 46, name, n))
      return at_local(d, len, u32(d + off + 42), u32(d + off + 20), pm);
    off = next;
  }
  return 0;
}

/* No usable central directory (a file cut short): walk the local headers
 * from the start, as long as each says how long its data is. */
static int peek_local(const unsigned char *d, size_t len, const char *name,
                      struct peek_member *pm)
{
  size_t off = 0, nlen = strlen(name);
  for(size_t k = 0; k < DP_ZIP_MAX_MEMBERS; k++) {
    if(len - off < 30 || memcmp(d + off, "PK\3\4", 4))
      return 0;
    size_t n = u16(d + off + 26), csize = u32(d + off + 18);
    size_t start = off + 30 + n + u16(d + off + 28);
    if(start > len)
      return 0;
    if(n == nlen && !memcmp(d + off + 30, name, n))
      return at_local(d, len, off, csize ? csize : len - start, pm);
    if((u16(d + off + 6) & 8) && !csize)
      return 0; /* the size is in a data descriptor after the data */
    if(csize > len - start)
      return 0;
    off = start + csize;
  }
  return 0;
}

static int peek_locate(const unsigned char *d, size_t len, const char *name,
                       struct peek_member *pm)
{
  int rc = peek_central(d, len, name, pm);
  return rc >= 0 ? rc : peek_local(d, len, name, pm);
}

int dpi_zip_peek_has(const unsigned char *data, size_t len, const char *name)
{
  struct peek_member pm;
  return dpi_zip_peek_magic(data, len) && peek_locate(data, len, name, &pm);
}

/* zlib's memory on the stack: its inflate state and 32 KiB window fit. */
struct arena {
  union {
    max_align_t align;
    unsigned char mem[DP_ZIP_PEEK_ARENA];
  } u;
  size_t used;
};

static voidpf arena_alloc(voidpf opaque, uInt items, uInt size)
{
  struct arena *a = opaque;
  size_t n = ((size_t)items * size + 15) & ~(size_t)15;
  if(n > sizeof(a->u.mem) - a->used)
    return Z_NULL;
  void *p = a->u.mem + a->used;
  a->used += n;
  return p;
}

static void arena_free(voidpf opaque, voidpf p)
{
  (void)opaque;
  (void)p;
}

/* Look for the needles in window[0..n); the index of the first, or -1. */
static int scan_window(const char *w, size_t n, const char *const *needles)
{
  for(size_t i = 0; i < n; i++)
    for(int k = 0; needles[k]; k++) {
      size_t m = strlen(needles[k]);
      if(m <= n - i && !memcmp(w + i, needles[k], m))
        return k;
    }
  return -1;
}

/* Stream the member through a window that keeps the last DP_ZIP_PEEK_KEEP
 * bytes of the previous one, so a needle across two chunks is found. */
static int peek_inflate(const unsigned char *in, size_t len, const char *const *needles)
{
  struct arena a = {.used = 0};
  z_stream z;
  memset(&z, 0, sizeof(z));
  z.zalloc = arena_alloc;
  z.zfree = arena_free;
  z.opaque = &a;
  if(inflateInit2(&z, -15) != Z_OK)
    return -1;
  char w[DP_ZIP_PEEK_KEEP + 4096];
  size_t keep = 0, seen = 0;
  int found = -1;
  z.next_in = (Bytef *)in;
  z.avail_in = len > (uInt)-1 ? (uInt)-1 : (uInt)len;
  while(found < 0 && seen < DP_ZIP_PEEK_SCAN) {
    z.next_out = (Bytef *)w + keep;
    z.avail_out = (uInt)(sizeof(w) - keep);
    int rc = inflate(&z, Z_NO_FLUSH);
    size_t n = sizeof(w) - keep - z.avail_out;
    found = scan_window(w, keep + n, needles);
    seen += n;
    if(rc != Z_OK || n == 0)
      break;
    keep = keep + n < DP_ZIP_PEEK_KEEP ? keep + n : DP_ZIP_PEEK_KEEP;
    memmove(w, w + sizeof(w) - z.avail_out - keep, keep);
  }
  inflateEnd(&z);
  return found;
}

int dpi_zip_peek_find(const unsigned char *data, size_t len, const char *name,
                      const char *const *needles)
{
  struct peek_member pm;
  if(!dpi_zip_peek_magic(data, len) || !peek_locate(data, len, name, &pm))
    return -1;
  if(pm.method == 0) {
    size_t n = pm.csize < DP_ZIP_PEEK_SCAN ? pm.csize : DP_ZIP_PEEK_SCAN;
    return scan_window((const char *)data + pm.data, n, needles);
  }
  if(pm.method != 8)
    return -1;
  return peek_inflate(data + pm.data, len - pm.data, needles);
}
