/* ole2read.h - OLE2 compound files (Word, Excel, PowerPoint 97-2003, Outlook
 * .msg): a pure sniff of the directory, and libgsf for reading streams.
 *
 * The sniff walks the root storage's directory entries in the bytes given,
 * without allocating (bids are pure), and names the application from its
 * streams: WordDocument, Workbook or Book, "PowerPoint Document", and the
 * __substg1.0_ property streams of a message.  Only the root's children
 * count: a Word file may hold an embedded workbook in its ObjectPool.
 * Everything else (reading streams, storages of attachments) goes through
 * libgsf's gsf-infile-msole, which copes with the FAT, the mini stream and
 * the DIFAT chains that a sniff has no need to follow far. */
#ifndef DP_OLE2READ_H
#define DP_OLE2READ_H

#include <gsf/gsf-infile.h>
#include <stddef.h>

#include "buf.h"
#include "stage.h"

enum dp_ole2_kind {
  DP_OLE2_NONE,       /* not an OLE2 file: no signature */
  DP_OLE2_UNREADABLE, /* the signature, but a directory the sniff cannot walk */
  DP_OLE2_OTHER,      /* a readable directory without any stream below */
  DP_OLE2_DOC,        /* WordDocument */
  DP_OLE2_XLS,        /* Workbook (BIFF8) or Book (BIFF5) */
  DP_OLE2_PPT,        /* PowerPoint Document */
  DP_OLE2_MSG         /* __substg1.0_* */
};

/* Does the document start with the OLE2 signature D0 CF 11 E0 A1 B1 1A E1? */
int dpi_ole2_magic(const unsigned char *p, size_t len);
/* Pure: the kind of OLE2 file in p (the whole document, len bytes). */
enum dp_ole2_kind dpi_ole2_sniff(const unsigned char *p, size_t len);

/* Open a compound file held in memory (not copied: bytes must outlive the
 * result).  NULL with a one-line reason when libgsf refuses it. */
GsfInfile *dpi_ole2_open(const void *bytes, size_t len, char *why, size_t whylen);
/* The kind of an open compound file, from its root's children. */
enum dp_ole2_kind dpi_ole2_kind_of(GsfInfile *root);

enum dp_ole2_read {
  DP_OLE2_READ_OK,
  DP_OLE2_READ_MISSING, /* no such stream */
  DP_OLE2_READ_TOO_BIG, /* longer than max */
  DP_OLE2_READ_CUT      /* the stream's sectors are not all in the file */
};
/* Read the whole stream `name` of storage dir into out (reset first). */
enum dp_ole2_read dpi_ole2_read(GsfInfile *dir, const char *name, size_t max,
                                struct dp_buf *out);

/* Little-endian fields of a buffer; 0 past its end. */
unsigned dpi_le16(const unsigned char *p, size_t len, size_t at);
unsigned long dpi_le32(const unsigned char *p, size_t len, size_t at);

/* ---- for the stages of filters/ole2.c, doc.c, xls.c, ppt.c, msg.c ---- */

/* A stage's reader: append the document's text to `text`; DP_OK, or
 * DP_FAIL with rec's error set. */
typedef enum dp_status (*dp_ole2_reader)(const struct dp_stage *st, struct dp_record *rec,
                                         GsfInfile *root, struct dp_buf *text);
/* The bid of a stage for files of `kind`: 80 when the sniff names it. */
int dpi_ole2_bid(const struct dp_peek *peek, enum dp_ole2_kind kind);
/* A stage's process(): open the record's body (damaged when libgsf cannot),
 * run `read`, take title, author and date from \005SummaryInformation, and
 * finish the record. */
enum dp_status dpi_ole2_process(struct dp_stage *st, struct dp_record *rec,
                                struct dp_emitter *out, dp_ole2_reader read);
/* Fail rec for a stream that could not be read (rc is not OK). */
enum dp_status dpi_ole2_read_fail(struct dp_record *rec, const char *name,
                                  enum dp_ole2_read rc, size_t max);

#endif
