/* zip.c - ZIP archives and gzip files: containers whose documents are
 * records of their own.
 *
 * A ZIP that is not an OOXML or ODF package (those bid higher: they are
 * told apart by [Content_Types].xml and mimetype, read in their bids) is a
 * bundle of documents.  Each member that is a file gives one record, or
 * one error record, with the id "<container id>!<member path>" (RECORD.md):
 * its bytes are sniffed and extracted as any document's, through
 * dpi_extract_member, so a ZIP in a ZIP is read the same way, nested at
 * most ctx->max_depth deep, and meta.embedded names the chain
 * (["zip","zip","pdf"]).  Directories and the AppleDouble copies macOS adds
 * under __MACOSX/ hold no document and give nothing.  An Office package
 * that no extractor took (.xlsb, .vsdx, .odg...) is one `unsupported`
 * error, not a record per part.
 *
 * Caps (src/zipread.h, src/dplimits.h): DP_ZIP_MAX_MEMBERS members (more is
 * too-large, for the archive), a member at most --max-bytes and
 * DP_ZIP_MAX_MEMBER, DP_ZIP_MAX_TOTAL bytes inflated from one archive: a
 * member past a cap is a too-large error record of its own.  An encrypted
 * member is `encrypted`.  An archive cut short keeps the records of the
 * members read before the cut and adds an error record (damaged) under
 * the archive's own id; an archive without files is `empty`.
 *
 * A gzip file holds one document: it is inflated (at most --max-bytes and
 * DP_ZIP_MAX_MEMBER) and that document is the record, under the gzip
 * file's id, with meta.embedded ["gzip", ...]. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "dplimits.h"
#include "extract.h"
#include "names.h"
#include "registry.h"
#include "zipread.h"

static enum dp_kind zip_kind(enum dp_zip_err err)
{
  switch(err) {
  case DP_ZIP_ENCRYPTED: return DP_KIND_ENCRYPTED;
  case DP_ZIP_TOO_LARGE: return DP_KIND_TOO_LARGE;
  case DP_ZIP_NOMEM: return DP_KIND_INTERNAL;
  default: return DP_KIND_DAMAGED;
  }
}

static size_t member_cap(const struct dp_stage *st)
{
  return st->ctx->max_document < DP_ZIP_MAX_MEMBER ? st->ctx->max_document : DP_ZIP_MAX_MEMBER;
}

/* "<container id>!<member path>", the path escaped as file names are when
 * it is not UTF-8 (names.h). */
static int member_id(struct dp_buf *id, const struct dp_record *rec, const struct dp_zip_member *m)
{
  const char *parent = dpi_record_str(rec, "id");
  dpi_buf_reset(id);
  dpi_buf_adds(id, parent ? parent : "");
  dpi_buf_addc(id, '!');
  return dpi_name_escape(id, m->name, m->name_len) || dpi_buf_failed(id) ? -1 : 0;
}

static enum dp_status member_error(const struct dp_record *rec, const char *id,
                                   struct dp_emitter *out, enum dp_kind kind, const char *why)
{
  struct dp_record *err = dpi_record_derive(rec);
  if(!err)
    return DP_FATAL;
  dpi_record_set_str(err, "id", id);
  json_object_object_del(err->obj, "format");
  dpi_record_fail(err, kind, "%s", why);
  return dpi_emit_fail(out, err);
}

static int holds_document(const struct dp_zip_member *m)
{
  return !m->dir && m->name_len && m->name[m->name_len - 1] != '/' &&
         strncmp(m->name, "__MACOSX/", 9);
}

/* Every member that is a file: its record or its error record. */
static enum dp_status each_member(struct dp_stage *st, struct dp_record *rec, struct dp_zip *z,
                                  struct dp_emitter *out, size_t *files)
{
  struct dp_buf id, bytes;
  char why[256];
  enum dp_status rc = DP_OK;
  dpi_buf_init(&id, DP_MAX_SHORT * 4);
  for(size_t i = 0; i < dpi_zip_count(z) && rc != DP_FATAL; i++) {
    const struct dp_zip_member *m = dpi_zip_member(z, i);
    if(!holds_document(m))
      continue;
    (*files)++;
    if(member_id(&id, rec, m)) {
      rc = DP_FATAL;
      break;
    }
    dpi_buf_init(&bytes, member_cap(st));
    enum dp_zip_err err = dpi_zip_read(z, i, &bytes, why, sizeof(why));
    if(err == DP_ZIP_OK) {
      rc = dpi_extract_member(st, rec, dpi_buf_str(&id), &bytes, out);
    } else {
      dpi_buf_free(&bytes);
      rc = member_error(rec, dpi_buf_str(&id), out, zip_kind(err), why);
    }
  }
  dpi_buf_free(&id);
  return rc;
}

/* An OPC package ([Content_Types].xml) or an OpenDocument one (its
 * mimetype) that came here is of a kind no extractor bid for (.xlsb,
 * .vsdx, .odg...): its parts are not documents of their own. */
static int office_package(const struct dp_zip *z, const unsigned char *body, size_t len)
{
  static const char *const odf[] = {"application/vnd.oasis.opendocument.", NULL};
  return dpi_zip_find(z, "[Content_Types].xml") >= 0 ||
         dpi_zip_peek_find(body, len, "mimetype", odf) == 0;
}

static enum dp_status process_zip(struct dp_stage *st, struct dp_record *rec,
                                  struct dp_emitter *out)
{
  if((unsigned)rec->depth + 1 > st->ctx->max_depth)
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "documents nested more than %u deep",
                           st->ctx->max_depth);
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  struct dp_zip *z;
  char why[256];
  enum dp_zip_err err = dpi_zip_open(body, len, &z, why, sizeof(why));
  if(err != DP_ZIP_OK)
    return dpi_record_fail(rec, zip_kind(err), "%s", why);
  if(!dpi_record_str(rec, "format")) /* run by name: no sniff before */
    dpi_record_set_str(rec, "format", st->ops->format);
  if(office_package(z, body, len)) {
    dpi_zip_close(z);
    return dpi_record_fail(rec, DP_KIND_UNSUPPORTED,
                           "an Office package of a kind docpipe does not read (not a "
                           "Word, Excel or PowerPoint document, nor OpenDocument text, "
                           "spreadsheet or presentation)");
  }
  size_t files = 0;
  enum dp_status rc = each_member(st, rec, z, out, &files);
  int truncated = dpi_zip_truncated(z);
  size_t listed = dpi_zip_count(z);
  dpi_zip_close(z);
  if(rc == DP_FATAL) {
    dpi_record_free(rec);
    return DP_FATAL;
  }
  if(truncated) {
    dpi_record_fail(rec, DP_KIND_DAMAGED,
                    "ZIP archive is cut short or corrupt after its first %zu members", listed);
    return dpi_emit_fail(out, rec);
  }
  if(!files)
    return dpi_record_fail(rec, DP_KIND_EMPTY, "ZIP archive holds no files");
  dpi_record_free(rec);
  return DP_OK;
}

static enum dp_status process_gzip(struct dp_stage *st, struct dp_record *rec,
                                   struct dp_emitter *out)
{
  if((unsigned)rec->depth + 1 > st->ctx->max_depth)
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "documents nested more than %u deep",
                           st->ctx->max_depth);
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  struct dp_buf bytes;
  char why[256];
  dpi_buf_init(&bytes, member_cap(st));
  enum dp_zip_err err = dpi_gzip_read(body, len, &bytes, why, sizeof(why));
  if(err != DP_ZIP_OK) {
    dpi_buf_free(&bytes);
    return dpi_record_fail(rec, zip_kind(err), "%s", why);
  }
  if(!dpi_record_str(rec, "format"))
    dpi_record_set_str(rec, "format", st->ops->format);
  enum dp_status rc = dpi_extract_member(st, rec, NULL, &bytes, out);
  dpi_record_free(rec);
  return rc;
}

/* A local file header, or the end record of an empty archive. */
static int bid_zip(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return dpi_zip_peek_magic(peek->bytes, peek->len) ? 32 : 0;
}

/* ID1 ID2 and CM = 8 (deflate), the only method RFC 1952 defines. */
static int bid_gzip(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  const unsigned char *p = peek->bytes;
  return peek->len >= 18 && p[0] == 0x1F && p[1] == 0x8B && p[2] == 8 ? 24 : 0;
}

const struct dp_stage_ops dp_stage_zip = {
  .name = "zip",
  .summary = "ZIP archives: each member a document of its own, id <archive id>!<member path>",
  .format = "zip",
  .mime = "application/zip",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid_zip,
  .process = process_zip,
};

const struct dp_stage_ops dp_stage_gzip = {
  .name = "gzip",
  .summary = "gzip files: the one document inside, under the file's id",
  .format = "gzip",
  .mime = "application/gzip",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid_gzip,
  .process = process_gzip,
};
