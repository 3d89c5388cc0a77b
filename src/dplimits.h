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

/* OCR (src/ocr.c).  A page at 300 dpi is 8.4 megapixels (US Letter) and
 * A0 at 200 dpi 69; an image header claiming more is a decompression bomb,
 * refused before any pixel is decoded. */
#define DP_MAX_IMAGE_PIXELS 100e6
/* The resolution PDF pages without text are rendered at for OCR. */
#define DP_OCR_DPI 300
/* --ocr auto: a PDF page with fewer characters than this in its text
 * layer, and images over this share of its area, is a scan. */
#define DP_OCR_SPARSE_TEXT 100
#define DP_OCR_IMAGE_COVER 0.5
/* A --ocr-lang list ("eng+deu+fra"), and a path to a language file. */
#define DP_OCR_MAX_LANGS 128
#define DP_OCR_MAX_PATH 4096

/* ZIP, OOXML and ODF (src/zipread.c, src/opc.c; filters/docx.c, xlsx.c,
 * pptx.c, odf.c, zip.c).  Members of one archive, the bytes one member may
 * inflate to (also at most --max-bytes), and the bytes read out of one
 * archive in all: a ZIP bomb stops at the first cap it hits.  ZIPs in ZIPs
 * nest at most DP_MAX_EMBED_DEPTH deep, as every embedded document. */
#define DP_ZIP_MAX_MEMBERS 10000
#define DP_ZIP_MAX_MEMBER (256 * DP_MIB)
#define DP_ZIP_MAX_TOTAL (1024 * DP_MIB)
/* The bidders' peek into a member ([Content_Types].xml, mimetype): zlib's
 * stack arena (its state and 32 KiB window), the inflated bytes scanned,
 * and the overlap kept between two windows (longer than any needle). */
#define DP_ZIP_PEEK_ARENA (48 * 1024)
#define DP_ZIP_PEEK_SCAN (256 * 1024)
#define DP_ZIP_PEEK_KEEP 128
/* Sheets, slides and cells: a workbook's sheets and a presentation's
 * slides read, and the columns of one row (XFD is column 16384). */
#define DP_OOXML_MAX_SHEETS 4096
#define DP_OOXML_MAX_SLIDES 10000
#define DP_OOXML_MAX_COLUMNS 16384
/* Shared strings of a workbook kept for its cells. */
#define DP_OOXML_MAX_STRINGS 4000000

#endif
