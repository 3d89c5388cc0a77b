/* xmlsafe.h - libxml2 with the safety catches on.
 *
 * Documents are untrusted: no network, no DTD loading, no external or
 * substituted entities, libxml2's default size limits, and no messages
 * printed to stderr (the reason comes back in `why`).  Also a tiny, pure
 * scanner for bidders that finds the root element without parsing. */
#ifndef DP_XMLSAFE_H
#define DP_XMLSAFE_H

#include <libxml/tree.h>
#include <stddef.h>

#include "buf.h"
#include "errors.h"

/* Parse XML; NULL on error with a one-line reason (no document text) in why
 * and the error kind in *kind: damaged for XML that is not well-formed,
 * unsupported for XML that declares entities in its DTD (refused outright:
 * clinical XML never needs them, and they are how XXE and "billion laughs"
 * attacks work; libxml2's own amplification limits guard the parse itself). */
xmlDocPtr dpi_xml_parse(const void *data, size_t len, enum dp_kind *kind, char *why,
                        size_t whylen);
/* Parse HTML leniently (libxml2's HTML parser); NULL only when hopeless.
 * `encoding` may be NULL to let <meta charset> decide. */
xmlDocPtr dpi_html_parse(const void *data, size_t len, const char *encoding, char *why,
                         size_t whylen);

/* The charset a document parsed by dpi_xml_parse was read in, written into
 * name (an iconv name, upper case): the code unit width and byte order found
 * in its first bytes (UTF-16LE, UTF-16BE, UCS-4...), else the encoding its
 * XML declaration names, else UTF-8, XML's default.  Returns name. */
const char *dpi_xml_charset(const void *data, size_t len, const xmlDoc *doc, char *name,
                            size_t cap);

struct dp_xml_root {
  char name[64];   /* local name of the root element */
  char prefix[32]; /* its namespace prefix, "" when none */
  char ns[128];    /* namespace URI bound to that prefix in the root tag, "" when none */
  int doctype_html; /* a <!DOCTYPE html ...> came before the root */
};

/* Scan UTF-8 text for the root element: skips an XML declaration, comments,
 * processing instructions and a DOCTYPE.  Returns 1 when a root start tag was
 * found within len bytes, else 0.  Pure. */
int dpi_xml_peek_root(const char *text, size_t len, struct dp_xml_root *root);

/* Concatenated text of an element (text and CDATA children, recursively),
 * appended to out.  Entity references are not expanded. */
int dpi_xml_text(struct dp_buf *out, const xmlNode *node);
/* First child element with the given local name (any namespace), or NULL. */
xmlNode *dpi_xml_child(const xmlNode *node, const char *name);
/* Attribute value (a pointer into the tree) or NULL. */
const char *dpi_xml_attr(const xmlNode *node, const char *name);

#endif
