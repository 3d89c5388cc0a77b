/* binindex.h - the Binary NDJSON files of resolve --binaries (a Bulk Data
 * export's Binary.ndjson), indexed by id and read back one Binary at a time.
 *
 * The index keeps the file and offset of each Binary only, never its data,
 * so memory stays small whatever the size of the files; a lookup reads and
 * parses the one line.  The first Binary with an id wins.
 *
 * The id scanner is also what names an input that is not valid JSON (the
 * runner), so there is one reading of "which resource is this" from raw
 * text. */
#ifndef DP_BININDEX_H
#define DP_BININDEX_H

#include <json-c/json.h>
#include <stddef.h>

struct dp_binindex;

/* An empty index; NULL when out of memory. */
struct dp_binindex *dpi_binindex_new(void);
void dpi_binindex_free(struct dp_binindex *bi);

/* Index the Binaries of one NDJSON file, which stays open for lookups.
 * 0, or -1 with a reason. */
int dpi_binindex_add_file(struct dp_binindex *bi, const char *path, char *why, size_t whylen);

/* How many files were added. */
size_t dpi_binindex_files(const struct dp_binindex *bi);

/* The Binary with this id, read and parsed from its file (a new object the
 * caller puts), or NULL when it is not indexed or cannot be read. */
json_object *dpi_binindex_load(const struct dp_binindex *bi, const char *id);

/* The top-level string members "resourceType" and "id" of the JSON object in
 * s[0, n), found without parsing it: a Binary line is mostly one huge
 * "data" string, which this skips with memchr, and the text of an input
 * that is not valid JSON (cut short) still names its resource.  A value
 * that holds an escape, does not fit its buffer, or is cut off by the end
 * of s is not taken.  Returns 1 when both were found. */
int dpi_json_scan_id(const char *s, size_t n, char *type, size_t typecap, char *id,
                     size_t idcap);

#endif
