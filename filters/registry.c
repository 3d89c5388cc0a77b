/* registry.c - every stage docpipe knows, in one table.
 *
 * Adding a stage or a format is a new file in filters/ plus one line here
 * (and one in CMakeLists.txt).  Order matters for extractors: when two bid
 * the same, the one listed first wins, so specific formats come before the
 * general ones and plain text comes last (file(1)'s cascade ends the same
 * way).  The front ends hand this table to the run (struct dp_context
 * stages); the core knows no stage but through it. */
#include "registry.h"

const struct dp_stage_ops *const dp_stage_registry[] = {
  /* pipeline stages, in the order a pipeline uses them */
  &dp_stage_files,
  &dp_stage_search,
  &dp_stage_export,
  &dp_stage_resolve,
  &dp_stage_decode,
  &dp_stage_sniff,
  &dp_stage_extract,
  &dp_stage_normalize,
  &dp_stage_update,
  /* output formats (docpipe --format) */
  &dp_stage_es_bulk,
  &dp_stage_jsonl_text,
  /* extractors, most specific first */
#ifdef DP_HAVE_POPPLER
  &dp_stage_pdf,
#endif
  &dp_stage_docx,
  &dp_stage_xlsx,
  &dp_stage_pptx,
  &dp_stage_odt,
  &dp_stage_ods,
  &dp_stage_odp,
  /* ZIPs that are none of the above, and gzip: their members are documents */
  &dp_stage_zip,
  &dp_stage_gzip,
  &dp_stage_cda,
  /* OLE2 compound files: by their streams, then any other (ole2.c) */
  &dp_stage_doc,
  &dp_stage_xls,
  &dp_stage_ppt,
  &dp_stage_msg,
  &dp_stage_ole2,
  &dp_stage_eml,
  &dp_stage_hl7v2,
  &dp_stage_rtf,
  &dp_stage_image,
  &dp_stage_html,
  &dp_stage_xml,
  /* FHIR JSON that holds documents: told to go through fhir-dump */
  &dp_stage_fhir,
  &dp_stage_text,
  NULL
};
