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

/* --state: how long the output may stand still with lines written past the
 * last checkpoint before they are recorded (checkpoints otherwise keep to
 * five a second, src/setup.c). */
#define DP_CHECKPOINT_IDLE 0.25

/* OCR (src/ocr.c).  A page at 300 dpi is 8.4 megapixels (US Letter) and
 * A0 at 200 dpi 69; an image header claiming more is a decompression bomb,
 * refused before any pixel is decoded. */
#define DP_MAX_IMAGE_PIXELS 100e6
/* The resolution PDF pages without text are rendered at for OCR. */
#define DP_OCR_DPI 300
/* --ocr-dpi: below 70 Tesseract reads nothing; above 1200 a page is
 * hundreds of megapixels (and is rendered lower, under the pixel cap). */
#define DP_OCR_MIN_DPI 70
#define DP_OCR_MAX_DPI 1200
/* --ocr auto: a PDF page with fewer characters than this in its text
 * layer, and images over this share of its area, is a scan. */
#define DP_OCR_SPARSE_TEXT 100
#define DP_OCR_IMAGE_COVER 0.5
/* A --ocr-lang list ("eng+deu+fra"), and a path to a language file. */
#define DP_OCR_MAX_LANGS 128
#define DP_OCR_MAX_PATH 4096

/* The network: http.c, auth.c, jose.c, check.c and scopes.c.  Values from
 * a server longer than their cap are cut, never overrun. */
/* An HTTP answer held in memory: a Base64 document and the JSON around it
 * (the network stages size it from --max-bytes instead, fhir.c). */
#define DP_MAX_RESPONSE (DP_MAX_DOCUMENT / 3 * 4 + 4096)
/* A URL requested (as given, after redirects, and the one that answered). */
#define DP_MAX_URL 4096
/* A URL a server names for docpipe to use: Location, Content-Location, the
 * SMART token and registration endpoints. */
#define DP_MAX_SERVER_URL 2048
/* "scheme://host:port", and a host name (DNS allows 253 characters). */
#define DP_MAX_ORIGIN 512
#define DP_MAX_HOST 256
/* Redirects followed for one request, unless the request says otherwise. */
#define DP_MAX_REDIRECTS 5
/* Response header values kept: Retry-After, ETag and Date; Content-Type and
 * X-Progress; the correlation ids together; WWW-Authenticate. */
#define DP_MAX_HEADER_SHORT 64
#define DP_MAX_HEADER_TYPE 128
#define DP_MAX_REQUEST_IDS 256
#define DP_MAX_CHALLENGE 512
/* The longest URL shown in a message, "..." included (dpi_http_safe_url). */
#define DP_SHOWN_URL 200
/* Idle libcurl handles kept for reuse, and the answers the pacer remembers
 * to measure the rate a server accepts (those of the last second count). */
#define DP_HTTP_HANDLE_POOL 64
#define DP_PACER_WINDOW 1024
/* Requests to the token endpoint for one token, the first one included
 * (the others after a 429, a 5xx or no answer). */
#define DP_TOKEN_TRIES 3
/* The form body of a token request, and the client assertion in it. */
#define DP_TOKEN_FORM_MAX ((size_t)64 * 1024)
/* A token cache file read back (a JSON object holding one token). */
#define DP_TOKEN_CACHE_MAX ((size_t)64 * 1024)
/* Scopes: the scope string made from an access list (and that list),
 * the scopes kept and reported (asked for, granted), the types left out
 * after an invalid_scope refusal, and the types one refusal names. */
#define DP_MAX_SCOPES 8192
#define DP_MAX_SCOPES_KEPT 2048
#define DP_MAX_DROPPED 256
#define DP_MAX_REFUSED 1024
/* Resource types in one access list, and a resource type's name. */
#define DP_MAX_SCOPE_TYPES 32
#define DP_MAX_RESOURCE_TYPE 64
/* One number of a public key in a JWK, base64url (an RSA modulus of 16384
 * bits takes 2731 characters). */
#define DP_MAX_JWK_NUMBER 4096

/* OLE2 compound files and mail (src/ole2read.c, filters/ole2.c, doc.c, xls.c,
 * ppt.c, msg.c, eml.c).  The sniff looks at this many directory entries of
 * the root storage, in a tree this deep (left links: right siblings cost
 * no depth; a real file has tens of entries). */
#define DP_OLE2_SNIFF_ENTRIES 4096
#define DP_OLE2_SNIFF_DEPTH 64
/* ... in a directory of at most this many sectors (4 or 32 entries each;
 * a real file has a few, and a longer directory is left to libgsf). */
#define DP_OLE2_SNIFF_DIR_SECTORS 1024
/* Pieces of a Word piece table, cells of one sheet, records of a
 * PowerPoint stream nested in each other, and attachments of one message. */
#define DP_DOC_MAX_PIECES 1000000
#define DP_XLS_MAX_CELLS 10000000
#define DP_PPT_MAX_NESTING 64
#define DP_MAIL_MAX_ATTACHMENTS 1000
/* MIME parts of one message nested in each other (multipart in multipart). */
#define DP_MAIL_MAX_NESTING 32

/* binindex.c, walk.c, runstate.c, runner.c (salvage_id) and the filters
 * files, resolve, search and export. */
/* A resource id or Type/id reference read from raw text or a reference
 * (the Binary index, resolve); a type's name is DP_MAX_RESOURCE_TYPE, above. */
#define DP_MAX_ID (DP_MAX_SHORT / 4)
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
#define DP_MAX_BUILT_URL 8192
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
