/* dplimits.h - every hard cap docpipe applies to untrusted input, in one place.
 *
 * Each cap has a default here; options may lower or raise the ones marked
 * "option" at run time.  A cap that is hit gives the document an error record
 * of kind "too-large", never a crash or an unbounded allocation. */
#ifndef DP_DPLIMITS_H
#define DP_DPLIMITS_H

#define DP_MIB ((size_t)1024 * 1024)

/* One NDJSON input line (option --max-line). */
#define DP_MAX_LINE (512 * DP_MIB)
/* A whole-file JSON value (a pretty-printed Bundle). */
#define DP_MAX_JSON_FILE (512 * DP_MIB)
/* One decoded document (option --max-bytes). */
#define DP_MAX_DOCUMENT (256 * DP_MIB)
/* Extracted text of one document (option --max-text). */
#define DP_MAX_TEXT (64 * DP_MIB)
/* Wall-clock seconds for one isolated extraction (option --max-time). */
#define DP_MAX_TIME 120.0
/* Address space of one extraction helper (option --max-memory). */
#define DP_MAX_MEMORY ((size_t)4 << 30)
/* Documents nested in documents (CDA nonXMLBody, HL7 ED, Base64 of Base64). */
#define DP_MAX_EMBED_DEPTH 4
/* Prefix handed to format bidders. */
#define DP_SNIFF_PREFIX 4096
/* Pages extracted from one PDF (option --max-pages). */
#define DP_MAX_PAGES 10000
/* HL7 v2 messages in one batch file. */
#define DP_MAX_HL7_MESSAGES 100000
/* Element nesting accepted from XML and RTF documents. */
#define DP_MAX_NESTING 256
/* The ordered writer's window (engine.c): lines (records, error records)
 * that are ready while an earlier document is still in work wait in memory,
 * up to DP_ORDER_WINDOW_PER_JOB per worker (at least DP_ORDER_WINDOW_MIN)
 * and DP_ORDER_WINDOW_BYTES of text; past either, no new work is taken until
 * the earlier document is written. */
#define DP_ORDER_WINDOW_MIN 1024
#define DP_ORDER_WINDOW_PER_JOB 256
#define DP_ORDER_WINDOW_BYTES (256 * DP_MIB)
/* Short strings: ids, titles, content types, dates. */
#define DP_MAX_SHORT 4096
/* One line of arguments on stdin: a path, a patient id, or an error record
 * fed back to retry (its id and input may hold an escaped path, names.h). */
#define DP_MAX_ARG_LINE ((size_t)64 * 1024)

#endif
