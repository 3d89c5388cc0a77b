/* opc.c - see opc.h.  Open Packaging Conventions (ECMA-376 part 2) as far
 * as text extraction needs them: parts read by name out of the ZIP,
 * _rels/<part>.rels resolved to package paths, docProps/core.xml.  Every
 * part is parsed by dpi_xml_parse: no network, no DTD, no entities. */
#include "opc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dplimits.h"
#include "extract.h"
#include "xmlsafe.h"

int dpi_ox_is(const xmlNode *n, const char *name)
{
  return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

const char *dpi_ox_rid(const xmlNode *n)
{
  static const char rel_ns[] = "/relationships";
  for(const xmlAttr *a = n ? n->properties : NULL; a; a = a->next) {
    const char *href = a->ns && a->ns->href ? (const char *)a->ns->href : NULL;
    size_t k = href ? strlen(href) : 0;
    if(!strcmp((const char *)a->name, "id") && k >= sizeof(rel_ns) - 1 &&
       !strcmp(href + k - (sizeof(rel_ns) - 1), rel_ns) && a->children && a->children->content)
      return (const char *)a->children->content;
  }
  return NULL;
}

static enum dp_kind zip_kind(enum dp_zip_err err)
{
  switch(err) {
  case DP_ZIP_ENCRYPTED: return DP_KIND_ENCRYPTED;
  case DP_ZIP_TOO_LARGE: return DP_KIND_TOO_LARGE;
  case DP_ZIP_NOMEM: return DP_KIND_INTERNAL;
  default: return DP_KIND_DAMAGED;
  }
}

enum dp_status dpi_pkg_fail(struct dp_pkg *p, enum dp_zip_err err, const char *name,
                            const char *why)
{
  if(err == DP_ZIP_NOT_FOUND)
    return dpi_record_fail(p->rec, DP_KIND_DAMAGED, "package has no part %s", name);
  return dpi_record_fail(p->rec, zip_kind(err), "part %s: %s", name, why);
}

enum dp_status dpi_pkg_open(struct dp_pkg *p, const struct dp_stage *st, struct dp_record *rec)
{
  size_t len;
  const unsigned char *body = dpi_record_body(rec, &len);
  char why[256];
  memset(p, 0, sizeof(*p));
  p->st = st;
  p->rec = rec;
  p->part_cap = st->ctx->max_document < DP_ZIP_MAX_MEMBER ? st->ctx->max_document
                                                           : DP_ZIP_MAX_MEMBER;
  enum dp_zip_err rc = dpi_zip_open(body, len, &p->zip, why, sizeof(why));
  if(rc != DP_ZIP_OK)
    return dpi_record_fail(rec, zip_kind(rc), "%s", why);
  if(!dpi_record_str(rec, "format")) /* run by name: no sniff before */
    dpi_record_set_str(rec, "format", st->ops->format);
  return DP_OK;
}

void dpi_pkg_close(struct dp_pkg *p)
{
  dpi_zip_close(p->zip);
  p->zip = NULL;
}

enum dp_status dpi_pkg_xml(struct dp_pkg *p, const char *name, int optional, xmlDocPtr *doc)
{
  *doc = NULL;
  if(dpi_zip_find(p->zip, name) < 0)
    return optional ? DP_OK : dpi_pkg_fail(p, DP_ZIP_NOT_FOUND, name, "");
  struct dp_buf b;
  char why[256];
  enum dp_kind kind = DP_KIND_DAMAGED;
  dpi_buf_init(&b, p->part_cap);
  enum dp_zip_err rc = dpi_zip_read_name(p->zip, name, &b, why, sizeof(why));
  if(rc == DP_ZIP_OK) {
    *doc = dpi_xml_parse(b.mem ? b.mem : "", b.len, &kind, why, sizeof(why));
    if(!*doc && !optional)
      dpi_record_fail(p->rec, kind, "part %s: %s", name, why);
  } else if(!optional || rc == DP_ZIP_NOMEM) {
    dpi_pkg_fail(p, rc, name, why);
  }
  dpi_buf_free(&b);
  if(*doc)
    return DP_OK;
  if(!optional || rc == DP_ZIP_NOMEM)
    return DP_FAIL;
  dpi_record_warn(p->rec, "part %s not read: %s", name, why);
  return DP_OK;
}

/* ---- relationships ---------------------------------------------------- */

/* The .rels part of a part: "word/document.xml" -> "word/_rels/document.xml.rels";
 * "" (the package) -> "_rels/.rels". */
static char *rels_name(const char *part)
{
  const char *slash = strrchr(part, '/');
  size_t dir = slash ? (size_t)(slash - part + 1) : 0;
  size_t n = strlen(part);
  char *s = malloc(n + 12);
  if(s)
    snprintf(s, n + 12, "%.*s_rels/%s.rels", (int)dir, part, part + dir);
  return s;
}

/* Target (relative to the part's folder, or absolute from the package
 * root) as a package path, with "." and ".." taken out. */
static char *resolve(const char *part, const char *target)
{
  const char *slash = strrchr(part, '/');
  size_t dir = target[0] == '/' || !slash ? 0 : (size_t)(slash - part + 1);
  size_t n = dir + strlen(target) + 1;
  char *joined = malloc(n), *out = malloc(n);
  if(!joined || !out) {
    free(joined);
    free(out);
    return NULL;
  }
  snprintf(joined, n, "%.*s%s", (int)dir, part, target);
  size_t w = 0;
  for(char *seg = joined, *next; seg; seg = next) {
    next = strchr(seg, '/');
    if(next)
      *next++ = '\0';
    if(!*seg || !strcmp(seg, "."))
      continue;
    if(!strcmp(seg, "..")) {
      while(w > 0 && out[--w] != '/')
        ;
      continue;
    }
    if(w)
      out[w++] = '/';
    size_t k = strlen(seg);
    memcpy(out + w, seg, k);
    w += k;
  }
  out[w] = '\0';
  free(joined);
  return out;
}

static int add_rel(struct dp_rels *rels, const char *part, const xmlNode *r)
{
  const char *id = dpi_xml_attr(r, "Id"), *type = dpi_xml_attr(r, "Type");
  const char *target = dpi_xml_attr(r, "Target"), *mode = dpi_xml_attr(r, "TargetMode");
  if(!id || !type || !target || (mode && !strcmp(mode, "External")))
    return 0;
  struct dp_rel *v = realloc(rels->v, (rels->n + 1) * sizeof(*v));
  if(!v)
    return -1;
  rels->v = v;
  struct dp_rel *e = &v[rels->n];
  e->id = strdup(id);
  e->type = strdup(type);
  e->target = resolve(part, target);
  rels->n++;
  return e->id && e->type && e->target ? 0 : -1;
}

enum dp_status dpi_pkg_rels(struct dp_pkg *p, const char *part, struct dp_rels *rels)
{
  rels->v = NULL;
  rels->n = 0;
  char *name = rels_name(part);
  if(!name)
    return dpi_record_fail(p->rec, DP_KIND_INTERNAL, "out of memory");
  xmlDocPtr doc;
  enum dp_status rc = dpi_pkg_xml(p, name, 1, &doc);
  free(name);
  if(rc != DP_OK || !doc)
    return rc;
  xmlNode *root = xmlDocGetRootElement(doc);
  for(xmlNode *r = root ? root->children : NULL; r && rc == DP_OK; r = r->next)
    if(dpi_ox_is(r, "Relationship") && rels->n < DP_ZIP_MAX_MEMBERS && add_rel(rels, part, r))
      rc = dpi_record_fail(p->rec, DP_KIND_INTERNAL, "out of memory");
  xmlFreeDoc(doc);
  return rc;
}

void dpi_rels_free(struct dp_rels *rels)
{
  for(size_t i = 0; i < rels->n; i++) {
    free(rels->v[i].id);
    free(rels->v[i].type);
    free(rels->v[i].target);
  }
  free(rels->v);
  rels->v = NULL;
  rels->n = 0;
}

const struct dp_rel *dpi_rels_id(const struct dp_rels *rels, const char *id)
{
  for(size_t i = 0; id && i < rels->n; i++)
    if(!strcmp(rels->v[i].id, id))
      return &rels->v[i];
  return NULL;
}

const struct dp_rel *dpi_rels_type(const struct dp_rels *rels, const char *suffix, size_t *from)
{
  size_t k = strlen(suffix);
  for(size_t i = *from; i < rels->n; i++) {
    const char *t = rels->v[i].type;
    size_t n = strlen(t);
    if(n > k && t[n - k - 1] == '/' && !strcmp(t + n - k, suffix)) {
      *from = i + 1;
      return &rels->v[i];
    }
  }
  *from = rels->n;
  return NULL;
}

char *dpi_pkg_main(struct dp_pkg *p, const char *fallback)
{
  struct dp_rels rels;
  size_t from = 0;
  char *main = NULL;
  if(dpi_pkg_rels(p, "", &rels) == DP_OK) {
    const struct dp_rel *r = dpi_rels_type(&rels, "officeDocument", &from);
    if(r && dpi_zip_find(p->zip, r->target) >= 0)
      main = strdup(r->target);
  }
  dpi_rels_free(&rels);
  return main ? main : strdup(fallback);
}

/* ---- document properties --------------------------------------------- */

static void meta_from(struct dp_record *rec, const char *key, const xmlNode *n)
{
  struct dp_buf b;
  dpi_buf_init(&b, DP_MAX_SHORT);
  if(n && !dpi_xml_text(&b, n))
    dpi_meta_text(rec, key, dpi_buf_str(&b), b.len);
  dpi_buf_free(&b);
}

enum dp_status dpi_pkg_core(struct dp_pkg *p)
{
  xmlDocPtr doc;
  enum dp_status rc = dpi_pkg_xml(p, "docProps/core.xml", 1, &doc);
  if(rc != DP_OK || !doc)
    return rc;
  xmlNode *root = xmlDocGetRootElement(doc);
  meta_from(p->rec, "title", dpi_xml_child(root, "title"));
  meta_from(p->rec, "author", dpi_xml_child(root, "creator"));
  xmlNode *created = dpi_xml_child(root, "created");
  struct dp_buf b;
  dpi_buf_init(&b, DP_MAX_SHORT);
  if(created && !dpi_xml_text(&b, created))
    dpi_doc_fact(p->rec, "date", dpi_buf_str(&b), b.len);
  dpi_buf_free(&b);
  xmlFreeDoc(doc);
  return DP_OK;
}

/* ---- the bid ---------------------------------------------------------- */

int dpi_ooxml_kind(const struct dp_peek *peek)
{
  /* The main part's content type, from [Content_Types].xml's Override;
   * macro-enabled documents and templates are read the same way. */
  static const char *const types[] = {
    "wordprocessingml.document.main+xml", "wordprocessingml.template.main+xml",
    "ms-word.document.macroEnabled.main+xml", "ms-word.template.macroEnabledTemplate.main+xml",
    "spreadsheetml.sheet.main+xml", "spreadsheetml.template.main+xml",
    "ms-excel.sheet.macroEnabled.main+xml", "ms-excel.template.macroEnabled.main+xml",
    "presentationml.presentation.main+xml", "presentationml.slideshow.main+xml",
    "presentationml.template.main+xml", "ms-powerpoint.presentation.macroEnabled.main+xml",
    "ms-powerpoint.slideshow.macroEnabled.main+xml",
    "ms-powerpoint.template.macroEnabled.main+xml", NULL};
  static const int kinds[] = {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2};
  if(!peek->all || !dpi_zip_peek_magic(peek->all, peek->total))
    return -1;
  int k = dpi_zip_peek_find(peek->all, peek->total, "[Content_Types].xml", types);
  return k < 0 ? -1 : kinds[k];
}

/* ---- lines ------------------------------------------------------------ */

void dpi_lines_put(struct dp_buf *t, const char *s)
{
  for(const unsigned char *c = (const unsigned char *)s; *c; c++)
    dpi_buf_addc(t, *c < 0x20 && *c != '\t' ? ' ' : (char)*c);
}

void dpi_lines_end(struct dp_buf *t)
{
  size_t n = t->len;
  while(n && (t->mem[n - 1] == ' ' || t->mem[n - 1] == '\t'))
    n--;
  if(dpi_buf_failed(t))
    return;
  dpi_buf_truncate(t, n);
  if(n && t->mem[n - 1] != '\n')
    dpi_buf_addc(t, '\n');
}

void dpi_lines_gap(struct dp_buf *t)
{
  dpi_lines_end(t);
  if(t->len && !(t->len >= 2 && t->mem[t->len - 2] == '\n'))
    dpi_buf_addc(t, '\n');
}
