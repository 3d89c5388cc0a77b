/* ole2read.c - see ole2read.h.
 *
 * The sniff reads the header (sector size, first directory sector, the 109
 * FAT sectors the header lists) and follows the directory's sector chain
 * through the FAT, with a cap on every loop; a file whose directory lies
 * past what the header lists, or past the bytes given, is UNREADABLE and
 * left to libgsf. */
#include "ole2read.h"

#include <glib.h>
#include <gsf/gsf-infile-msole.h>
#include <gsf/gsf-input-memory.h>
#include <gsf/gsf-utils.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "dplimits.h"

#define OLE2_NOSTREAM 0xFFFFFFFFUL
#define OLE2_HEADER_FAT 109

unsigned dpi_le16(const unsigned char *p, size_t len, size_t at)
{
  return at <= len && len - at >= 2 ? (unsigned)(p[at] | p[at + 1] << 8) : 0;
}

unsigned long dpi_le32(const unsigned char *p, size_t len, size_t at)
{
  if(at > len || len - at < 4)
    return 0;
  return (unsigned long)p[at] | (unsigned long)p[at + 1] << 8 |
         (unsigned long)p[at + 2] << 16 | (unsigned long)p[at + 3] << 24;
}

int dpi_ole2_magic(const unsigned char *p, size_t len)
{
  return len >= 8 && !memcmp(p, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);
}

/* ---- the sniff's walk ---- */

struct walk {
  const unsigned char *p;
  size_t len;
  unsigned shift;  /* sector size is 1 << shift */
  unsigned visits; /* directory entries looked at, against DP_OLE2_SNIFF_ENTRIES */
  size_t dir[DP_OLE2_SNIFF_DIR_SECTORS]; /* offsets of the directory's sectors, in chain order */
  size_t dir_sectors;                    /* how many of them were read */
  int doc, xls, ppt, msg;
};

/* Offset of sector s, or 0 when it is not inside the bytes. */
static size_t sector_at(const struct walk *w, unsigned long s)
{
  size_t size = (size_t)1 << w->shift;
  if(s >= 0xFFFFFFFAUL || s + 1 >= (w->len >> w->shift))
    return 0;
  size_t off = (size_t)(s + 1) << w->shift;
  return off + size <= w->len ? off : 0;
}

/* The sector after s in its chain, or OLE2_NOSTREAM. */
static unsigned long fat_next(const struct walk *w, unsigned long s)
{
  unsigned long per = ((unsigned long)1 << w->shift) / 4;
  unsigned long idx = s / per;
  if(idx >= OLE2_HEADER_FAT)
    return OLE2_NOSTREAM;
  size_t fat = sector_at(w, dpi_le32(w->p, w->len, 0x4C + idx * 4));
  if(!fat)
    return OLE2_NOSTREAM;
  return dpi_le32(w->p, w->len, fat + (s % per) * 4);
}

/* The directory's sectors, read once along its FAT chain.  The chain ends
 * at the first link that leaves the bytes, or at the cap: a cycle (which a
 * hostile file may have) is cut there rather than followed for ever, and
 * looking an entry up costs no walk, whatever its number (up to 2^32). */
static void read_directory_chain(struct walk *w, unsigned long s)
{
  size_t off;
  while(w->dir_sectors < DP_OLE2_SNIFF_DIR_SECTORS && (off = sector_at(w, s)) != 0) {
    w->dir[w->dir_sectors++] = off;
    s = fat_next(w, s);
  }
}

/* Offset of directory entry i, or 0 when the chain does not reach it. */
static size_t dir_entry(const struct walk *w, unsigned long i)
{
  unsigned long per = ((unsigned long)1 << w->shift) / 128;
  return i / per < w->dir_sectors ? w->dir[i / per] + (i % per) * 128 : 0;
}

/* Does entry e's UTF-16 name start with (or, when whole, equal) ascii? */
static int name_is(const struct walk *w, size_t e, const char *ascii, int whole)
{
  size_t n = strlen(ascii);
  unsigned bytes = dpi_le16(w->p, w->len, e + 0x40);
  if(bytes < 2 || bytes > 64 || (whole && bytes / 2 - 1 != n) || bytes / 2 - 1 < n)
    return 0;
  for(size_t k = 0; k < n; k++)
    if(dpi_le16(w->p, w->len, e + 2 * k) != (unsigned char)ascii[k])
      return 0;
  return 1;
}

/* Visit the red-black tree of a storage's children; -1 when it cannot be
 * read within the caps.  Right siblings are followed in a loop: writers
 * such as libgsf chain every child to the right, a list that would
 * otherwise cost a level of depth per entry. */
static int visit(struct walk *w, unsigned long i, int depth)
{
  while(i != OLE2_NOSTREAM) {
    if(depth > DP_OLE2_SNIFF_DEPTH || ++w->visits > DP_OLE2_SNIFF_ENTRIES)
      return -1;
    size_t e = dir_entry(w, i);
    if(!e)
      return -1;
    unsigned type = w->p[e + 0x42];
    if(type == 2) {
      w->doc |= name_is(w, e, "WordDocument", 1);
      w->xls |= name_is(w, e, "Workbook", 1) || name_is(w, e, "Book", 1);
      w->ppt |= name_is(w, e, "PowerPoint Document", 1);
    }
    w->msg |= name_is(w, e, "__substg1.0_", 0);
    if(visit(w, dpi_le32(w->p, w->len, e + 0x44), depth + 1))
      return -1;
    i = dpi_le32(w->p, w->len, e + 0x48);
  }
  return 0;
}

enum dp_ole2_kind dpi_ole2_sniff(const unsigned char *p, size_t len)
{
  if(!dpi_ole2_magic(p, len))
    return DP_OLE2_NONE;
  struct walk w = {.p = p, .len = len, .shift = dpi_le16(p, len, 0x1E)};
  if((w.shift != 9 && w.shift != 12) || len < 512)
    return DP_OLE2_UNREADABLE;
  read_directory_chain(&w, dpi_le32(p, len, 0x30));
  size_t root = dir_entry(&w, 0);
  if(!root || p[root + 0x42] != 5)
    return DP_OLE2_UNREADABLE;
  if(visit(&w, dpi_le32(p, len, root + 0x4C), 0))
    return DP_OLE2_UNREADABLE;
  return w.doc ? DP_OLE2_DOC
         : w.xls ? DP_OLE2_XLS
         : w.ppt ? DP_OLE2_PPT
         : w.msg ? DP_OLE2_MSG
                 : DP_OLE2_OTHER;
}

/* ---- libgsf ---- */

/* libgsf reports what it thinks of a broken file through g_warning; stderr
 * is docpipe's, and the reason reaches the record anyway. */
static void quiet_log(const gchar *domain, GLogLevelFlags level, const gchar *msg, gpointer data)
{
  (void)domain, (void)level, (void)msg, (void)data;
}

static pthread_once_t gsf_once = PTHREAD_ONCE_INIT;

static void gsf_setup(void)
{
  gsf_init();
  /* NULL: the parts of libgsf built without a log domain (its OLE2
   * directory lookups, "Unable to get child[...]"). */
  static const char *const domains[] = {"libgsf", "libgsf:msole", "libgsf:utils", NULL};
  for(size_t i = 0; i < sizeof(domains) / sizeof(domains[0]); i++)
    g_log_set_handler(domains[i], G_LOG_LEVEL_MASK | G_LOG_FLAG_RECURSION, quiet_log, NULL);
}

GsfInfile *dpi_ole2_open(const void *bytes, size_t len, char *why, size_t whylen)
{
  pthread_once(&gsf_once, gsf_setup);
  GsfInput *in = gsf_input_memory_new(bytes, (gsf_off_t)len, FALSE);
  if(!in) {
    snprintf(why, whylen, "cannot read the OLE2 compound file");
    return NULL;
  }
  GError *err = NULL;
  GsfInfile *root = gsf_infile_msole_new(in, &err);
  g_object_unref(in);
  if(!root) {
    /* libgsf's messages name the structure, never the content. */
    snprintf(why, whylen, "OLE2 compound file is damaged: %s",
             err && err->message ? err->message : "its directory cannot be read");
    if(err)
      g_error_free(err);
    return NULL;
  }
  return root;
}

enum dp_ole2_kind dpi_ole2_kind_of(GsfInfile *root)
{
  static const struct {
    const char *name;
    enum dp_ole2_kind kind;
  } names[] = {{"WordDocument", DP_OLE2_DOC},
               {"Workbook", DP_OLE2_XLS},
               {"Book", DP_OLE2_XLS},
               {"PowerPoint Document", DP_OLE2_PPT}};
  for(size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    GsfInput *c = gsf_infile_child_by_name(root, names[i].name);
    if(c) {
      g_object_unref(c);
      return names[i].kind;
    }
  }
  int n = gsf_infile_num_children(root);
  for(int i = 0; i < n; i++) {
    const char *name = gsf_infile_name_by_index(root, i);
    if(name && !strncmp(name, "__substg1.0_", 12))
      return DP_OLE2_MSG;
  }
  return DP_OLE2_OTHER;
}

enum dp_ole2_read dpi_ole2_read(GsfInfile *dir, const char *name, size_t max, struct dp_buf *out)
{
  dpi_buf_reset(out);
  GsfInput *in = gsf_infile_child_by_name(dir, name);
  if(!in) {
    /* Listed in the directory, yet libgsf cannot open it: its sectors are
     * not all there, which is damage, not absence. */
    for(int i = 0; i < gsf_infile_num_children(dir); i++) {
      const char *listed = gsf_infile_name_by_index(dir, i);
      if(listed && !strcmp(listed, name))
        return DP_OLE2_READ_CUT;
    }
    return DP_OLE2_READ_MISSING;
  }
  if(GSF_IS_INFILE(in) && gsf_infile_num_children(GSF_INFILE(in)) >= 0) {
    g_object_unref(in); /* a storage, not a stream */
    return DP_OLE2_READ_MISSING;
  }
  gsf_off_t size = gsf_input_size(in);
  enum dp_ole2_read rc = DP_OLE2_READ_OK;
  if(size < 0 || (guint64)size > max) {
    rc = DP_OLE2_READ_TOO_BIG;
  } else if(size > 0) {
    char *dst = dpi_buf_reserve(out, (size_t)size);
    if(!dst)
      rc = DP_OLE2_READ_TOO_BIG;
    else if(!gsf_input_read(in, (size_t)size, (guint8 *)dst))
      rc = DP_OLE2_READ_CUT;
    else
      dpi_buf_commit(out, (size_t)size);
  }
  g_object_unref(in);
  return rc;
}
