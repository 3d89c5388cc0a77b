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
/* How far the markup bidders may look for a root element (past comments,
 * processing instructions and a DOCTYPE): real C-CDA documents carry
 * kilobytes of licence and generator comments before it. */
#define DP_SNIFF_MARKUP (256 * 1024)
/* Windows of DP_SNIFF_PREFIX bytes, spread over a document, that must all
 * look like text for the text bidder to take it (documents up to that many
 * windows are read whole). */
#define DP_TEXT_SAMPLE_WINDOWS 16
/* Bytes of a document the charset detectors read (charset.h). */
#define DP_CHARSET_SAMPLE DP_MIB
/* ICU's confidence (0-100) below which its answer is not taken (it is asked
 * when uchardet had none). */
#define DP_CHARSET_MIN_CONFIDENCE 25
/* How far into an HTML page a <meta charset> is looked for (browsers look
 * at 1 KiB; pages made by Word put kilobytes of style before it). */
#define DP_HTML_META_SCAN (64 * 1024)
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
/* A Bulk export (filters/export.c): manifest pages followed through their
 * "next" links, files downloaded at once (also bounded by --concurrency),
 * and the longest piece of a server's plain-text answer quoted in a message. */
#define DP_BULK_MAX_PAGES 100000
#define DP_BULK_MAX_DOWNLOADS 64
#define DP_SERVER_TEXT 200
/* Short strings: ids, titles, content types, dates. */
#define DP_MAX_SHORT 4096
/* One line of arguments on stdin: a path, a patient id, or an error record
 * fed back to retry (its id and input may hold an escaped path, names.h). */
#define DP_MAX_ARG_LINE ((size_t)64 * 1024)

/* binindex.c, walk.c, runstate.c, runner.c (salvage_id) and the filters
 * files, resolve, search and export. */
/* A resource id or Type/id reference read from raw text or a reference, and
 * a resource type's name (the Binary index, resolve). */
#define DP_MAX_ID (DP_MAX_SHORT / 4)
#define DP_MAX_RESOURCE_TYPE 64
/* An input that is not valid JSON is named by the resourceType and id found
 * in its first DP_SALVAGE_SCAN bytes, when its id is shorter than
 * DP_SALVAGE_ID. */
#define DP_SALVAGE_SCAN 4096
#define DP_SALVAGE_ID 128
/* Folders below a folder that the files stage reads, and progress
 * measures, before it stops going deeper (walk.h: links are not followed,
 * so this bounds bind-mount loops and absurd trees). */
#define DP_MAX_WALK_DEPTH 64
/* A file is read this many bytes at a time. */
#define DP_READ_CHUNK (1 << 16)
/* Pipelines that docpipe pipelines lists, over all its folders. */
#define DP_MAX_LISTED_PIPELINES 256
/* Pages of one search followed through Bundle.link "next". */
#define DP_SEARCH_MAX_PAGES 100000
/* A URL docpipe builds or follows: a search page, an export kick-off. */
#define DP_MAX_URL 8192
/* A Bulk export's status URL and manifest page URLs. */
#define DP_MAX_STATUS_URL 4096
/* Kick-off parameters of one export (_type, _since and every --param). */
#define DP_BULK_MAX_PARAMS 64
/* Seconds a Bulk export is polled before it is given up (option --wait). */
#define DP_BULK_WAIT 86400
/* Bytes of a failed export file's answer kept to explain the failure. */
#define DP_BULK_ERROR_BODY 65536
/* resolve --prefer: the renditions (content[] entries) of one resource
 * that are ranked, and the longest list of content types taken. */
#define DP_MAX_RENDITIONS 64
#define DP_MAX_PREFER 1024
/* A run state file (--state) read back. */
#define DP_MAX_STATE_FILE ((size_t)1 << 20)
/* A limit as a string, for the default of an option: DP_STR(DP_BULK_WAIT). */
#define DP_STR_(x) #x
#define DP_STR(x) DP_STR_(x)

#endif
