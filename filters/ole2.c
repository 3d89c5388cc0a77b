/* ole2.c - OLE2 compound files: the stage for those the sniff cannot name,
 * and what the stages of Word, Excel, PowerPoint and Outlook files share.
 *
 * The stages doc, xls, ppt and msg each bid on the streams the sniff finds
 * in the root storage (src/ole2read.h).  This stage bids on the signature
 * alone, lower, so that it gets the rest: a compound file whose directory
 * the sniff could not walk is opened with libgsf and handed to the stage
 * its streams name; one libgsf cannot open either (a truncated file) is
 * damaged; one holding none of those streams (a Visio drawing, an MSI
 * package) is unsupported.
 *
 * Every stage reads title, author and creation date from the
 * \005SummaryInformation property set through libgsf's metadata reader. */
#include <gsf/gsf-doc-meta-data.h>
#include <gsf/gsf-meta-names.h>
#include <gsf/gsf-msole-utils.h>
#include <gsf/gsf-timestamp.h>
#include <string.h>

#include "extract.h"
#include "ole2read.h"
#include "registry.h"

int dpi_ole2_bid(const struct dp_peek *peek, enum dp_ole2_kind kind)
{
  if(!dpi_ole2_magic(peek->bytes, peek->len) || !peek->all)
    return 0;
  return dpi_ole2_sniff(peek->all, peek->total) == kind ? 80 : 0;
}

enum dp_status dpi_ole2_read_fail(struct dp_record *rec, const char *name,
                                  enum dp_ole2_read rc, size_t max)
{
  switch(rc) {
  case DP_OLE2_READ_MISSING:
    return dpi_record_fail(rec, DP_KIND_DAMAGED, "OLE2 file has no %s stream", name);
  case DP_OLE2_READ_TOO_BIG:
    return dpi_record_fail(rec, DP_KIND_TOO_LARGE, "OLE2 stream %s is larger than %zu bytes",
                           name, max);
  default:
    return dpi_record_fail(rec, DP_KIND_DAMAGED,
                           "OLE2 stream %s is cut short: the file ends before its sectors",
                           name);
  }
}

static void meta_string(struct dp_record *rec, GsfDocMetaData *md, const char *name,
                        const char *key)
{
  GsfDocProp *prop = gsf_doc_meta_data_lookup(md, name);
  const GValue *v = prop ? gsf_doc_prop_get_val(prop) : NULL;
  if(v && G_VALUE_HOLDS_STRING(v) && g_value_get_string(v)) {
    const char *s = g_value_get_string(v);
    dpi_meta_text(rec, key, s, strlen(s));
  }
}

/* Title, author and creation date, when the property set is there; a
 * property set that does not parse costs nothing but these fields. */
static void summary_meta(struct dp_record *rec, GsfInfile *root)
{
  GsfInput *in = gsf_infile_child_by_name(root, "\005SummaryInformation");
  if(!in)
    return;
  GsfDocMetaData *md = gsf_doc_meta_data_new();
  GError *err = gsf_doc_meta_data_read_from_msole(md, in);
  if(err) {
    g_error_free(err);
  } else {
    meta_string(rec, md, GSF_META_NAME_TITLE, "title");
    meta_string(rec, md, GSF_META_NAME_CREATOR, "author");
    GsfDocProp *prop = gsf_doc_meta_data_lookup(md, GSF_META_NAME_DATE_CREATED);
    const GValue *v = prop ? gsf_doc_prop_get_val(prop) : NULL;
    if(v && G_VALUE_HOLDS(v, GSF_TIMESTAMP_TYPE) && g_value_get_boxed(v)) {
      char *when = gsf_timestamp_as_string(g_value_get_boxed(v));
      /* Word leaves 1601-01-01 (a FILETIME of 0) in files never saved. */
      if(when && strncmp(when, "1601", 4))
        dpi_doc_fact(rec, "date", when, strlen(when));
      g_free(when);
    }
  }
  g_object_unref(md);
  g_object_unref(in);
}

/* The record's compound file opened, or NULL with the record failed
 * (damaged: no signature, or a directory libgsf cannot read). */
static GsfInfile *open_root(struct dp_record *rec)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  if(!dpi_ole2_magic(body, len)) {
    dpi_record_fail(rec, DP_KIND_DAMAGED, "not an OLE2 compound file (no signature)");
    return NULL;
  }
  char why[256];
  GsfInfile *root = dpi_ole2_open(body, len, why, sizeof(why));
  if(!root)
    dpi_record_fail(rec, DP_KIND_DAMAGED, "%s", why);
  return root;
}

enum dp_status dpi_ole2_process(struct dp_stage *st, struct dp_record *rec,
                                struct dp_emitter *out, dp_ole2_reader read)
{
  GsfInfile *root = open_root(rec);
  if(!root)
    return DP_FAIL;
  if(!dpi_record_str(rec, "format"))
    dpi_record_set_str(rec, "format", st->ops->format);
  struct dp_buf text;
  dpi_text_buf_init(st, &text);
  enum dp_status status = read(st, rec, root, &text);
  if(status == DP_OK)
    summary_meta(rec, root);
  g_object_unref(root);
  if(status != DP_OK) {
    dpi_buf_free(&text);
    return status;
  }
  return dpi_extract_finish(st, rec, &text, out);
}

/* ---- the stage for the rest ---- */

static int bid(const struct dp_peek *peek, const char **mime)
{
  (void)mime;
  return dpi_ole2_magic(peek->bytes, peek->len) ? 64 : 0;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  GsfInfile *root = open_root(rec);
  if(!root)
    return DP_FAIL;
  enum dp_ole2_kind kind = dpi_ole2_kind_of(root);
  g_object_unref(root);
  const struct dp_stage_ops *ops = kind == DP_OLE2_DOC   ? &dp_stage_doc
                                   : kind == DP_OLE2_XLS ? &dp_stage_xls
                                   : kind == DP_OLE2_PPT ? &dp_stage_ppt
                                   : kind == DP_OLE2_MSG ? &dp_stage_msg
                                                         : NULL;
  if(!ops) {
    dpi_record_hint(rec, "docpipe reads the Word, Excel, PowerPoint and Outlook files of "
                         "OLE2 compound files");
    return dpi_record_fail(rec, DP_KIND_UNSUPPORTED,
                           "OLE2 compound file holds no WordDocument, Workbook, PowerPoint "
                           "Document or message stream");
  }
  struct dp_stage sub = *st;
  sub.ops = ops;
  dpi_record_set_str(rec, "format", ops->format);
  dpi_json_set_str(dpi_record_object(rec, "source"), "contentType", ops->mime);
  return ops->process(&sub, rec, out);
}

const struct dp_stage_ops dp_stage_ole2 = {
  .name = "ole2",
  .summary = "OLE2 compound files the sniff cannot name: opened and handed on by their streams",
  .format = "ole2",
  .mime = "application/x-ole-storage",
  .flags = DP_STAGE_EXTRACTOR,
  .bid = bid,
  .process = process,
};
