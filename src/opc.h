/* opc.h - what the OOXML and ODF extractors share (src/opc.c):
 * the package (a ZIP read through src/zipread.h, its parts parsed through
 * src/xmlsafe.h), OPC relationships, document properties, the bid, and a
 * few rules for writing lines of text. */
#ifndef DP_OPC_H
#define DP_OPC_H

#include <libxml/tree.h>
#include <stddef.h>

#include "buf.h"
#include "stage.h"
#include "zipread.h"

struct dp_pkg {
  const struct dp_stage *st;
  struct dp_record *rec;
  struct dp_zip *zip;
  size_t part_cap; /* bytes one part may inflate to */
};

/* Open rec's body as a package; DP_FAIL with rec failed (damaged,
 * too-large...) when it is not a readable ZIP. */
enum dp_status dpi_pkg_open(struct dp_pkg *p, const struct dp_stage *st, struct dp_record *rec);
void dpi_pkg_close(struct dp_pkg *p);
/* Fail rec for a zipread error about part `name`. */
enum dp_status dpi_pkg_fail(struct dp_pkg *p, enum dp_zip_err err, const char *name,
                            const char *why);

/* Parse part name into *doc.  A part that is missing, or that cannot be
 * read when optional, leaves *doc NULL: a required part fails rec
 * (DP_FAIL); an optional one that is there but unreadable adds a line to
 * meta.warnings and returns DP_OK; an optional one that is missing returns
 * DP_OK silently (most documents have no comments part). */
enum dp_status dpi_pkg_xml(struct dp_pkg *p, const char *name, int optional, xmlDocPtr *doc);

/* OPC relationships of one part (its _rels/<name>.rels), targets made
 * package paths; external targets are left out. */
struct dp_rel {
  char *id, *type, *target;
};
struct dp_rels {
  struct dp_rel *v;
  size_t n;
};
/* An unreadable .rels is a warning and no relationships. */
enum dp_status dpi_pkg_rels(struct dp_pkg *p, const char *part, struct dp_rels *rels);
void dpi_rels_free(struct dp_rels *rels);
const struct dp_rel *dpi_rels_id(const struct dp_rels *rels, const char *id);
/* The first relationship at or after *from whose type ends in "/suffix";
 * *from is moved past it.  NULL when none is left. */
const struct dp_rel *dpi_rels_type(const struct dp_rels *rels, const char *suffix, size_t *from);

/* The package's main part (the officeDocument relationship of _rels/.rels),
 * else `fallback`; a new string.  NULL when out of memory. */
char *dpi_pkg_main(struct dp_pkg *p, const char *fallback);
/* docProps/core.xml to meta.title, meta.author and the date fact. */
enum dp_status dpi_pkg_core(struct dp_pkg *p);

/* The bid of the OOXML formats: which main-part content type
 * [Content_Types].xml declares (0 docx, 1 xlsx, 2 pptx), or -1. */
int dpi_ooxml_kind(const struct dp_peek *peek);

/* Text rules.  Text from the XML goes in with line breaks and other
 * control characters as spaces and tabs kept; a line ends with its blanks
 * dropped and only when it holds something; a gap is one empty line. */
void dpi_lines_put(struct dp_buf *t, const char *s);
void dpi_lines_end(struct dp_buf *t);
void dpi_lines_gap(struct dp_buf *t);
/* The r:id of an element: its attribute "id" in the relationships
 * namespace (p:sldId has an "id" of its own beside it), or NULL. */
const char *dpi_ox_rid(const xmlNode *n);
/* Is n element `name` (local name, any namespace)? */
int dpi_ox_is(const xmlNode *n, const char *name);

#endif
