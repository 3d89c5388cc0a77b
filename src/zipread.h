/* zipread.h - members of a ZIP held in memory, by name or in order.
 *
 * OOXML, ODF and plain ZIP containers all read their members through here,
 * so the caps of a hostile archive are kept in one place (src/dplimits.h):
 * at most DP_ZIP_MAX_MEMBERS members, each at most the cap of the buffer it
 * is read into, and at most DP_ZIP_MAX_TOTAL bytes read out of one archive
 * in all.  A member that would pass a cap is DP_ZIP_TOO_LARGE (a ZIP bomb is
 * too-large, before more than the cap is inflated); a member that needs a
 * passphrase is DP_ZIP_ENCRYPTED.
 *
 * Reading is libarchive's: its seekable ZIP reader (the central directory),
 * or its streaming reader (the local headers) when the central directory is
 * missing, as in a file cut short.  Members are read forwards; asking for
 * an earlier one reopens the archive, which costs a central directory read.
 *
 * The peek functions at the end are for bidders: pure (no allocation, no
 * I/O), with zlib inflating into an arena on the stack. */
#ifndef DP_ZIPREAD_H
#define DP_ZIPREAD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum dp_zip_err {
  DP_ZIP_OK = 0,
  DP_ZIP_NOT_FOUND,
  DP_ZIP_DAMAGED,
  DP_ZIP_ENCRYPTED,
  DP_ZIP_TOO_LARGE,
  DP_ZIP_NOMEM
};

struct dp_zip_member {
  char *name;      /* the path in the archive, as stored (NUL-terminated) */
  size_t name_len;
  int64_t size;    /* uncompressed size the archive declares, -1 when unknown */
  int dir;         /* a directory entry: no data */
  int encrypted;   /* needs a passphrase */
};

struct dp_zip;

/* Open the ZIP in data[0..len) (not copied: it must outlive z) and read its
 * list of members.  On failure *z is NULL and why says what is wrong in one
 * line (DP_ZIP_DAMAGED: not a ZIP or unreadable; DP_ZIP_TOO_LARGE: more
 * than DP_ZIP_MAX_MEMBERS members). */
enum dp_zip_err dpi_zip_open(const void *data, size_t len, struct dp_zip **z, char *why,
                             size_t whylen);
void dpi_zip_close(struct dp_zip *z);

size_t dpi_zip_count(const struct dp_zip *z);
const struct dp_zip_member *dpi_zip_member(const struct dp_zip *z, size_t i);
/* The index of the first member called name, or -1. */
long dpi_zip_find(const struct dp_zip *z, const char *name);
/* Set when the members after those listed could not be read (a cut or
 * corrupt archive whose list was read by the streaming reader). */
int dpi_zip_truncated(const struct dp_zip *z);

/* Append member i to out, whose cap is the member cap.  why gets a
 * one-line reason on failure (never the member's bytes). */
enum dp_zip_err dpi_zip_read(struct dp_zip *z, size_t i, struct dp_buf *out, char *why,
                             size_t whylen);
/* The same by name (DP_ZIP_NOT_FOUND when there is none). */
enum dp_zip_err dpi_zip_read_name(struct dp_zip *z, const char *name, struct dp_buf *out,
                                  char *why, size_t whylen);

/* Inflate a gzip file (RFC 1952; members one after the other, as gunzip
 * reads them) into out, whose cap is the document cap. */
enum dp_zip_err dpi_gzip_read(const void *data, size_t len, struct dp_buf *out, char *why,
                              size_t whylen);

/* ---- pure peeks, for bidders ---------------------------------------- */

/* Does data look like a ZIP: a local file header first, or an empty
 * archive's end record? */
int dpi_zip_peek_magic(const unsigned char *data, size_t len);
/* Is there a member called name (central directory, else local headers)? */
int dpi_zip_peek_has(const unsigned char *data, size_t len, const char *name);
/* Inflate member name (stored or deflated) and look for the needles in
 * its first DP_ZIP_PEEK_SCAN bytes: the index of the needle found first,
 * or -1 (no such member, none found, or it cannot be read). */
int dpi_zip_peek_find(const unsigned char *data, size_t len, const char *name,
                      const char *const *needles);

#endif
