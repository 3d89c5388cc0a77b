/* registry.h - the one list of stages (filters/registry.c), for the front ends. */
#ifndef DP_REGISTRY_H
#define DP_REGISTRY_H

#include "stage.h"

extern const struct dp_stage_ops dp_stage_files;
extern const struct dp_stage_ops dp_stage_search;
extern const struct dp_stage_ops dp_stage_export;
extern const struct dp_stage_ops dp_stage_resolve;
extern const struct dp_stage_ops dp_stage_decode;
extern const struct dp_stage_ops dp_stage_sniff;
extern const struct dp_stage_ops dp_stage_extract;
extern const struct dp_stage_ops dp_stage_normalize;
extern const struct dp_stage_ops dp_stage_update;
extern const struct dp_stage_ops dp_stage_es_bulk;
extern const struct dp_stage_ops dp_stage_jsonl_text;
extern const struct dp_stage_ops dp_stage_pdf;
extern const struct dp_stage_ops dp_stage_docx;
extern const struct dp_stage_ops dp_stage_xlsx;
extern const struct dp_stage_ops dp_stage_pptx;
extern const struct dp_stage_ops dp_stage_odt;
extern const struct dp_stage_ops dp_stage_ods;
extern const struct dp_stage_ops dp_stage_odp;
extern const struct dp_stage_ops dp_stage_zip;
extern const struct dp_stage_ops dp_stage_gzip;
extern const struct dp_stage_ops dp_stage_cda;
extern const struct dp_stage_ops dp_stage_hl7v2;
extern const struct dp_stage_ops dp_stage_rtf;
extern const struct dp_stage_ops dp_stage_image;
extern const struct dp_stage_ops dp_stage_html;
extern const struct dp_stage_ops dp_stage_xml;
extern const struct dp_stage_ops dp_stage_fhir;
extern const struct dp_stage_ops dp_stage_text;
extern const struct dp_stage_ops dp_stage_doc;
extern const struct dp_stage_ops dp_stage_xls;
extern const struct dp_stage_ops dp_stage_ppt;
extern const struct dp_stage_ops dp_stage_msg;
extern const struct dp_stage_ops dp_stage_ole2;
extern const struct dp_stage_ops dp_stage_eml;

/* NULL-terminated, in bidding order: what a front end puts in ctx->stages
 * (pipeline.h dpi_stage_find and sniff.h dpi_extractor_for look in it). */
extern const struct dp_stage_ops *const dp_stage_registry[];

#endif
