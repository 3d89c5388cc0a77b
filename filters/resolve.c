/* resolve.c - the "resolve" stage: FHIR resources become one record per
 * document attachment, with the attachment's Base64 data attached.
 *
 * Inputs: DocumentReference (content[].attachment), DiagnosticReport
 * (presentedForm[]), Binary (one document), and Bundles of them (searchset,
 * collection: entries are flattened; Binary entries of the Bundle resolve
 * its attachments).  An attachment carries its data inline or points at a
 * Binary by url: relative ("Binary/XR-1"), absolute, contained ("#b1") or by
 * the Bundle's fullUrl.  Offline, Binaries come from Binary NDJSON files
 * (--binaries, e.g. a Bulk Data export): they are indexed by id at start,
 * by offset only, so memory stays small whatever their size (binindex.h).
 *
 * Over the network (--fhir-base), Binaries not found locally are fetched,
 * as FHIR JSON or raw bytes.  FHIR says the content[] entries of one
 * DocumentReference are the same document in other formats: with --prefer,
 * one record is made from the best rendition that can be had, falling back
 * when one fails (Oracle Health answers 404 for XR- PDFs where the reporting
 * solution is not installed), and meta.fallback says what failed.
 *
 * Other resource types (Patient, OperationOutcome...), and DiagnosticReports
 * without a presentedForm, hold no document and are counted as skipped.
 * Records already resolved pass through unchanged, so the stage can run
 * twice in a pipe. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "binindex.h"
#include "dplimits.h"
#include "ndjson.h"
#include "fhir.h"
#include "registry.h"
#include "scopes.h"
#include "walk.h"

static const struct dp_option_spec resolve_options[] = {
  {"binaries", "FILE", DP_OPT_PATH | DP_OPT_MULTI, "DOCPIPE_BINARIES", NULL,
   "Binary NDJSON (or a folder of *.ndjson) that attachment urls refer to"},
  {"accept", "fhir|raw", 0, "DOCPIPE_ACCEPT", "fhir",
   "fetch Binaries as FHIR JSON (application/fhir+json) or as raw bytes"},
  {"prefer", "TYPES", 0, "DOCPIPE_PREFER", NULL,
   "one record per resource from the first rendition (content[] entry) that can be had, "
   "trying content types in this order, e.g. application/pdf,text/html,*"},
  {NULL, NULL, 0, NULL, NULL, NULL},
};

static int ends_with(const char *s, const char *tail)
{
  size_t a = strlen(s), b = strlen(tail);
  return a >= b && !strcmp(s + a - b, tail);
}

/* A --binaries folder being indexed. */
struct folder {
  struct dp_binindex *bi;
  const char *dir;
  char *why;
  size_t whylen;
  int rc;
};

static enum dp_walk_next index_entry(void *user, const struct dp_walk_entry *e)
{
  struct folder *f = user;
  if(e->type == DP_WALK_UNREADABLE) {
    snprintf(f->why, f->whylen, "cannot read --binaries %s: %s", f->dir, strerror(e->err));
    f->rc = -1;
    return DP_WALK_STOP;
  }
  if(e->depth == 0 || !ends_with(e->name, ".ndjson"))
    return e->depth == 0 ? DP_WALK_GO : DP_WALK_SKIP;
  /* The path as the user would write it, whatever the folder ends with. */
  char *path = malloc(strlen(f->dir) + strlen(e->name) + 2);
  if(!path) {
    snprintf(f->why, f->whylen, "out of memory");
    f->rc = -1;
    return DP_WALK_STOP;
  }
  sprintf(path, "%s/%s", f->dir, e->name);
  f->rc = dpi_binindex_add_file(f->bi, path, f->why, f->whylen);
  free(path);
  return f->rc ? DP_WALK_STOP : DP_WALK_SKIP;
}

/* A folder (a Bulk export's output): every *.ndjson in it, in name order,
 * not the folders below it. */
static int index_folder(struct dp_binindex *bi, const char *dir, char *why, size_t whylen)
{
  struct folder f = {bi, dir, why, whylen, 0};
  if(dpi_walk(dir, index_entry, &f) < 0) {
    snprintf(why, whylen, "cannot read --binaries %s: %s", dir, strerror(errno));
    return -1;
  }
  return f.rc;
}

static void resolve_close(struct dp_stage *st)
{
  dpi_binindex_free(st->state);
  st->state = NULL;
}

static enum dp_status resolve_open(struct dp_stage *st, char *why, size_t whylen)
{
  struct dp_binindex *bi = dpi_binindex_new();
  if(!bi) {
    snprintf(why, whylen, "out of memory");
    return DP_FATAL;
  }
  st->state = bi;
  const char *path;
  for(size_t i = 0; (path = dpi_opt_nth(st, "binaries", i)); i++) {
    struct stat sb;
    int rc = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? index_folder(bi, path, why, whylen)
                                                          : dpi_binindex_add_file(bi, path, why,
                                                                                  whylen);
    if(rc) {
      resolve_close(st);
      return DP_FATAL;
    }
  }
  return DP_OK;
}

/* ---- FHIR helpers ------------------------------------------------------ */

/* Records go to other threads: they share no json-c object (its reference
 * counts are not atomic), so members are copied, never shared. */
static void copy_member(json_object *to, const char *tokey, json_object *from, const char *key)
{
  json_object *v = dpi_json_member(from, key), *copy = NULL;
  if(v && json_object_deep_copy(v, &copy, NULL) == 0)
    json_object_object_add(to, tokey, copy);
}

/* Move a string member into a record without copying it: take the
 * reference and remove it from its old parent, so only the record holds it. */
static void move_member(json_object *to, const char *tokey, json_object *from, const char *key)
{
  json_object *v = dpi_json_member(from, key);
  if(!v)
    return;
  json_object_object_add(to, tokey, json_object_get(v));
  json_object_object_del(from, key);
}

/* "Type/id" from a reference that may be relative, absolute or versioned
 * (".../Patient/12/_history/3"); empty when it does not name `type`. */
static void reference_of(const char *ref, const char *type, char *out, size_t cap)
{
  out[0] = '\0';
  if(!ref)
    return;
  size_t tl = strlen(type);
  const char *p = ref, *hit = NULL;
  while((p = strstr(p, type))) {
    if((p == ref || p[-1] == '/') && p[tl] == '/')
      hit = p;
    p += tl;
  }
  if(!hit)
    return;
  const char *id = hit + tl + 1;
  size_t n = strcspn(id, "/?#");
  if(n == 0 || tl + 1 + n >= cap)
    return;
  snprintf(out, cap, "%s/%.*s", type, (int)n, id);
}

struct bundle_binaries {
  json_object *entries; /* Bundle.entry, or NULL */
};

/* A Binary resource the attachment url refers to, from the resource's
 * contained list, the enclosing Bundle, or the indexed files.  Returns a new
 * reference, or NULL; *own is set when nothing else refers to it (a Binary
 * read from the files), so its data may be moved rather than copied. */
static json_object *find_binary(const struct dp_binindex *bi, json_object *resource,
                                const struct bundle_binaries *bundle, const char *url, int *own)
{
  *own = 0;
  if(url[0] == '#') {
    json_object *contained = dpi_json_member(resource, "contained");
    size_t n = contained && json_object_is_type(contained, json_type_array)
                   ? json_object_array_length(contained) : 0;
    for(size_t i = 0; i < n; i++) {
      json_object *c = json_object_array_get_idx(contained, i);
      const char *t = dpi_json_member_str(c, "resourceType"), *cid = dpi_json_member_str(c, "id");
      if(t && cid && !strcmp(t, "Binary") && !strcmp(cid, url + 1))
        return json_object_get(c);
    }
    return NULL;
  }
  char ref[DP_MAX_ID];
  reference_of(url, "Binary", ref, sizeof(ref));
  size_t n = bundle->entries && json_object_is_type(bundle->entries, json_type_array)
                 ? json_object_array_length(bundle->entries) : 0;
  for(size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(bundle->entries, i);
    json_object *r = dpi_json_member(e, "resource");
    const char *t = dpi_json_member_str(r, "resourceType"), *bid = dpi_json_member_str(r, "id");
    const char *full = dpi_json_member_str(e, "fullUrl");
    if(!t || strcmp(t, "Binary"))
      continue;
    if((full && !strcmp(full, url)) || (ref[0] && bid && !strcmp(bid, ref + 7)))
      return json_object_get(r);
  }
  *own = 1;
  return ref[0] ? dpi_binindex_load(bi, ref + 7) : NULL;
}

/* ---- records ------------------------------------------------------------ */

struct doc_source {
  json_object *resource;
  const char *type;       /* "DocumentReference" */
  const char *id;
  json_object *facts;     /* _fhir template: type, category, date, description */
  const char *patient;    /* "Patient/1" or NULL */
  json_object *input;     /* _input of the input record */
  int one_record;         /* --prefer: one record per resource, from its best rendition */
};

/* Fetch an attachment over the network: a FHIR Binary (Accept:
 * application/fhir+json, the default) or, with --accept raw, the bytes with
 * their Content-Type.  Fills r's "data" or its body; DP_FAIL with the
 * diagnosis otherwise.  A 404 here is "not-visible": the server itself
 * referenced this Binary. */
static enum dp_status fetch_attachment(struct dp_stage *st, struct dp_record *r, const char *url,
                                       const char *declared)
{
  struct dp_net *net = st->ctx->net;
  char full[4096], shown[512], what[600];
  dpi_http_safe_url(url, shown, sizeof(shown));
  snprintf(what, sizeof(what), "GET %s", shown);
  if(dpi_fhir_url(net, url, full, sizeof(full))) {
    dpi_record_hint(r, "give --fhir-base so relative attachment urls can be fetched");
    return dpi_record_fail(r, DP_KIND_NOT_FOUND, "attachment url %s is relative and no FHIR "
                                                 "server is set", shown);
  }
  if(!dpi_http_trusted_origin(net->http, full)) {
    /* A dump may name any URL: only the FHIR server's origin, and those the
     * user trusts, are read (no cloud metadata, no intranet service). */
    char origin[512];
    if(dpi_http_origin(full, origin, sizeof(origin)))
      snprintf(origin, sizeof(origin), "ORIGIN");
    dpi_record_hint(r, "docpipe reads attachments from the FHIR server's origin only; if %s "
                       "is to be trusted, give --allow-origin %s (no credentials go there)",
                    origin, origin);
    return dpi_record_fail(r, DP_KIND_UNTRUSTED_ORIGIN, "attachment url %s is not on the FHIR "
                           "server's origin (%s): not fetched", shown, net->base);
  }
  const char *mode = dpi_opt(st, "accept");
  int raw = mode && !strcmp(mode, "raw");
  struct dp_http_request req = {.url = full,
                                .accept = raw ? (declared ? declared : "*/*")
                                              : "application/fhir+json"};
  struct dp_http_response res;
  json_object *source = dpi_record_object(r, "source");
  if(dpi_http_do(net->http, &req, &res) || res.status != 200) {
    dpi_fhir_fail(r, &res, what, "Binary", DP_FHIR_LISTED);
    dpi_http_response_free(&res);
    return DP_FAIL;
  }
  char safe_full[4096];
  dpi_http_safe_url(full, safe_full, sizeof(safe_full));
  dpi_json_set_str(source, "url", safe_full);
  json_object *binary = NULL;
  char why[256];
  int json = !strncasecmp(res.content_type, "application/fhir+json", 21) ||
             !strncasecmp(res.content_type, "application/json", 16);
  if(json && !dpi_json_parse(dpi_buf_str(&res.body), res.body.len, &binary, why, sizeof(why))) {
    const char *type = dpi_json_member_str(binary, "resourceType");
    json_object *data = dpi_json_member(binary, "data");
    if(!type || strcmp(type, "Binary") || !data || !json_object_is_type(data, json_type_string)) {
      json_object_put(binary);
      dpi_http_response_free(&res);
      return dpi_record_fail(r, DP_KIND_EMPTY, "%s: the answer is not a Binary with data", what);
    }
    if(!declared)
      dpi_json_set_str(source, "declaredContentType", dpi_json_member_str(binary, "contentType"));
    move_member(r->obj, "data", binary, "data");
    json_object_put(binary);
    dpi_http_response_free(&res);
    return DP_OK;
  }
  json_object_put(binary);
  /* Raw bytes: they are the document. */
  if(res.body.len > st->ctx->max_document) {
    dpi_http_response_free(&res);
    return dpi_record_fail(r, DP_KIND_TOO_LARGE, "%s: document over the %zu-byte cap", what,
                           st->ctx->max_document);
  }
  if(!declared && res.content_type[0])
    dpi_json_set_str(source, "declaredContentType", res.content_type);
  enum dp_status rc = DP_OK;
  if(res.body.len == 0)
    rc = dpi_record_fail(r, DP_KIND_EMPTY, "%s: empty answer", what);
  else if(dpi_record_set_body(r, &res.body))
    rc = dpi_record_fail(r, DP_KIND_INTERNAL, "cannot hash the document");
  dpi_http_response_free(&res);
  return rc;
}

/* The record of attachment `index`, its data found inline, in the Binary
 * files, in the input, or over the network.  DP_OK with *out ready to emit,
 * DP_FAIL with *out carrying the error, DP_FATAL when out of memory. */
static enum dp_status build_attachment(struct dp_stage *st, const struct doc_source *src,
                                       const struct bundle_binaries *bundle, size_t index,
                                       json_object *att, struct dp_record **out)
{
  const struct dp_binindex *bi = st->state;
  struct dp_record *r = *out = dpi_record_new();
  if(!r)
    return DP_FATAL;
  char id[DP_MAX_SHORT + 32], ref[DP_MAX_SHORT];
  snprintf(ref, sizeof(ref), "%s/%s", src->type, src->id);
  if(index == 0 || src->one_record)
    snprintf(id, sizeof(id), "%s", ref);
  else
    snprintf(id, sizeof(id), "%s#%zu", ref, index);
  dpi_record_set_str(r, "id", id);
  if(src->input) {
    json_object *input = NULL;
    json_object_deep_copy(src->input, &input, NULL);
    json_object_object_add(r->obj, "_input", input);
  }

  json_object *source = dpi_record_object(r, "source");
  int is_docref = !strcmp(src->type, "DocumentReference");
  dpi_json_set_str(source, "documentReference", is_docref ? ref : NULL);
  if(!is_docref && strcmp(src->type, "Binary"))
    dpi_json_set_str(source, "diagnosticReport", ref);
  json_object_object_add(source, "attachment", json_object_new_int64((int64_t)index));
  const char *url = dpi_json_member_str(att, "url");
  json_object *data = dpi_json_member(att, "data");
  const char *declared = dpi_json_member_str(att, "contentType");
  dpi_json_set_str(source, "binary", !strcmp(src->type, "Binary") ? ref : data ? NULL : url);
  dpi_json_set_str(source, "declaredContentType", declared);
  dpi_json_set_str(source, "patient", src->patient);
  dpi_json_set_str(source, "title", dpi_json_member_str(att, "title"));

  json_object *facts = NULL;
  json_object_deep_copy(src->facts, &facts, NULL);
  if(!facts)
    facts = json_object_new_object();
  copy_member(facts, "creation", att, "creation");
  copy_member(facts, "size", att, "size");
  copy_member(facts, "hash", att, "hash");
  json_object_object_add(r->obj, "_fhir", facts);

  if(data && json_object_is_type(data, json_type_string)) {
    if(src->one_record) /* other renditions may still be tried: keep the input whole */
      copy_member(r->obj, "data", att, "data");
    else
      move_member(r->obj, "data", att, "data");
    return DP_OK;
  }
  if(!url)
    return dpi_record_fail(r, DP_KIND_EMPTY, "attachment %zu has neither data nor url", index);
  int own = 0;
  json_object *binary = find_binary(bi, src->resource, bundle, url, &own);
  char shown[512];
  dpi_http_safe_url(url, shown, sizeof(shown));
  if(!binary) {
    if(st->ctx->net)
      return fetch_attachment(st, r, url, declared);
    if(!dpi_binindex_files(bi))
      dpi_record_hint(r, "give the Binary NDJSON of the same export with --binaries FILE, or "
                         "the FHIR server with --fhir-base");
    else
      dpi_record_hint(r, "the Binary files given with --binaries do not hold it; check that "
                         "they come from the same export");
    return dpi_record_fail(r, DP_KIND_NOT_FOUND, "attachment url %s: no such Binary", shown);
  }
  json_object *bdata = dpi_json_member(binary, "data");
  if(!bdata || !json_object_is_type(bdata, json_type_string)) {
    json_object_put(binary);
    return dpi_record_fail(r, DP_KIND_EMPTY, "Binary %s has no data", shown);
  }
  if(!declared)
    dpi_json_set_str(source, "declaredContentType", dpi_json_member_str(binary, "contentType"));
  if(own)
    move_member(r->obj, "data", binary, "data");
  else /* a Binary of the input that other attachments may share */
    copy_member(r->obj, "data", binary, "data");
  json_object_put(binary);
  return DP_OK;
}

static enum dp_status emit_attachment(struct dp_stage *st, const struct doc_source *src,
                                      const struct bundle_binaries *bundle, size_t index,
                                      json_object *att, struct dp_emitter *out)
{
  struct dp_record *r;
  enum dp_status rc = build_attachment(st, src, bundle, index, att, &r);
  if(rc == DP_OK)
    return dpi_emit(out, r);
  if(rc == DP_FAIL)
    return dpi_emit_fail(out, r);
  dpi_record_free(r);
  return rc;
}

/* How well a content type matches the --prefer list: 0 best, larger worse,
 * n when it matches nothing (then document order decides). */
static size_t preference(const char *prefer, const char *type, size_t n)
{
  char list[DP_MAX_PREFER];
  snprintf(list, sizeof(list), "%s", prefer);
  size_t rank = 0;
  for(char *save = NULL, *p = strtok_r(list, ", ", &save); p; p = strtok_r(NULL, ", ", &save),
           rank++) {
    size_t pl = strlen(p);
    if(!strcmp(p, "*") || (type && !strncasecmp(type, p, pl) &&
                           (type[pl] == '\0' || type[pl] == ';' || type[pl] == ' ')) ||
       (type && pl > 2 && !strcmp(p + pl - 2, "/*") && !strncasecmp(type, p, pl - 1)))
      return rank;
  }
  return n;
}

/* The contentType of rendition i: list is content[] (of attachments) or
 * presentedForm[] (attachments themselves). */
static const char *rendition_type(json_object *list, size_t i, int content)
{
  json_object *item = json_object_array_get_idx(list, i);
  return dpi_json_member_str(content ? dpi_json_member(item, "attachment") : item, "contentType");
}

/* --prefer: the content[] entries are renditions of one document (as FHIR
 * defines them); emit one record from the most preferred rendition that
 * can be had, falling back in order, and say in meta.fallback what failed. */
static enum dp_status emit_rendition(struct dp_stage *st, const struct doc_source *src,
                                     const struct bundle_binaries *bundle, json_object *list,
                                     int content, struct dp_emitter *out)
{
  const char *prefer = dpi_opt(st, "prefer");
  size_t n = json_object_array_length(list);
  size_t order[DP_MAX_RENDITIONS];
  size_t count = n < DP_MAX_RENDITIONS ? n : DP_MAX_RENDITIONS;
  for(size_t i = 0; i < count; i++)
    order[i] = i;
  /* A stable insertion sort by preference rank keeps document order among
   * equals. */
  for(size_t i = 1; i < count; i++) {
    size_t v = order[i], j = i;
    size_t rv = preference(prefer, rendition_type(list, v, content), count + 1);
    while(j > 0) {
      size_t rb = preference(prefer, rendition_type(list, order[j - 1], content), count + 1);
      if(rb <= rv)
        break;
      order[j] = order[j - 1];
      j--;
    }
    order[j] = v;
  }
  json_object *tried = json_object_new_array();
  struct dp_record *first_failure = NULL;
  enum dp_status rc = DP_FAIL;
  for(size_t k = 0; k < count && rc == DP_FAIL; k++) {
    json_object *item = json_object_array_get_idx(list, order[k]);
    json_object *att = content ? dpi_json_member(item, "attachment") : item;
    struct dp_record *r;
    rc = build_attachment(st, src, bundle, order[k], att, &r);
    if(rc == DP_OK) {
      if(json_object_array_length(tried))
        json_object_object_add(dpi_record_object(r, "meta"), "fallback", json_object_get(tried));
      rc = dpi_emit(out, r);
      break;
    }
    if(rc == DP_FATAL) {
      dpi_record_free(r);
      break;
    }
    json_object *t = json_object_new_object();
    json_object_object_add(t, "attachment", json_object_new_int64((int64_t)order[k]));
    dpi_json_set_str(t, "contentType", dpi_json_member_str(att, "contentType"));
    dpi_json_set_str(t, "kind", dpi_kind_name(r->err_kind));
    json_object_array_add(tried, t);
    if(!first_failure)
      first_failure = r;
    else
      dpi_record_free(r);
  }
  if(rc == DP_FAIL && first_failure) {
    if(count > 1)
      dpi_record_fail(first_failure, first_failure->err_kind, "%s (and %zu other renditions "
                      "failed too)", first_failure->err_message, count - 1);
    rc = dpi_emit_fail(out, first_failure);
    first_failure = NULL;
  }
  dpi_record_free(first_failure);
  json_object_put(tried);
  return rc;
}

/* The _fhir facts normalize needs, taken once per resource. */
static json_object *resource_facts(json_object *res, const char *type)
{
  json_object *f = json_object_new_object();
  dpi_json_set_str(f, "resourceType", type);
  if(!strcmp(type, "DiagnosticReport")) {
    copy_member(f, "type", res, "code");
    copy_member(f, "category", res, "category");
    copy_member(f, "date", res, "effectiveDateTime");
    if(!dpi_json_member(f, "date"))
      copy_member(f, "date", res, "issued");
  } else {
    copy_member(f, "type", res, "type");
    copy_member(f, "category", res, "category");
    copy_member(f, "date", res, "date");
    copy_member(f, "description", res, "description");
  }
  return f;
}

static enum dp_status process_resource(struct dp_stage *st, json_object *res, json_object *input,
                                       const struct bundle_binaries *bundle,
                                       struct dp_emitter *out, unsigned long *made,
                                       struct dp_record *failure)
{
  const char *type = dpi_json_member_str(res, "resourceType");
  const char *list_key = !type ? NULL
                         : !strcmp(type, "DocumentReference") ? "content"
                         : !strcmp(type, "DiagnosticReport") ? "presentedForm"
                         : !strcmp(type, "Binary") ? "" : NULL;
  if(!list_key)
    return DP_OK; /* holds no document */
  const char *id = dpi_json_member_str(res, "id");
  if(!id || !*id) {
    dpi_record_fail(failure, DP_KIND_INVALID_INPUT, "%s without an id", type);
    return DP_FAIL;
  }
  char patient[DP_MAX_ID];
  json_object *subject = dpi_json_member(res, "subject");
  reference_of(dpi_json_member_str(subject, "reference"), "Patient", patient, sizeof(patient));
  struct doc_source src = {res, type, id, resource_facts(res, type), patient[0] ? patient : NULL,
                           input, 0};
  enum dp_status rc = DP_OK;
  if(!*list_key) {
    /* A Binary on its own is one document. */
    json_object *att = json_object_new_object();
    copy_member(att, "contentType", res, "contentType");
    copy_member(att, "data", res, "data");
    rc = emit_attachment(st, &src, bundle, 0, att, out);
    json_object_put(att);
    (*made)++;
  } else {
    json_object *list = dpi_json_member(res, list_key);
    size_t n = list && json_object_is_type(list, json_type_array) ? json_object_array_length(list)
                                                                   : 0;
    if(n > 1 && dpi_opt(st, "prefer")) {
      src.one_record = 1;
      rc = emit_rendition(st, &src, bundle, list, !strcmp(list_key, "content"), out);
      (*made)++;
      n = 1; /* handled */
    }
    for(size_t i = 0; i < n && rc != DP_FATAL && !src.one_record; i++) {
      json_object *item = json_object_array_get_idx(list, i);
      json_object *att = !strcmp(list_key, "content") ? dpi_json_member(item, "attachment") : item;
      rc = emit_attachment(st, &src, bundle, i, att, out);
      (*made)++;
    }
    if(n == 0 && !strcmp(type, "DiagnosticReport")) {
      /* Most reports are results, not documents: one without a
       * presentedForm holds no document, like a Patient. */
      json_object_put(src.facts);
      return DP_OK;
    }
    if(n == 0) {
      json_object_put(src.facts);
      char ref[DP_MAX_SHORT / 2];
      snprintf(ref, sizeof(ref), "%s/%s", type, id);
      dpi_record_set_str(failure, "id", ref);
      dpi_record_fail(failure, DP_KIND_INVALID_INPUT, "%s has no %s%s", type, list_key,
                      !strcmp(list_key, "content") ? ".attachment" : "");
      return DP_FAIL;
    }
  }
  json_object_put(src.facts);
  return rc;
}

static enum dp_status process(struct dp_stage *st, struct dp_record *rec, struct dp_emitter *out)
{
  const char *type = dpi_record_str(rec, "resourceType");
  if(!type) {
    /* Already a docpipe record: pass it on. */
    if(json_object_object_get_ex(rec->obj, "source", NULL) || rec->has_body)
      return dpi_emit(out, rec);
    return dpi_record_fail(rec, DP_KIND_INVALID_INPUT,
                           "neither a FHIR resource (no resourceType) nor a docpipe record");
  }
  json_object *input = NULL;
  json_object_object_get_ex(rec->obj, "_input", &input);
  unsigned long made = 0;
  enum dp_status rc = DP_OK;
  struct dp_record *failure = dpi_record_new();
  if(!failure)
    return DP_FATAL;
  if(input)
    copy_member(failure->obj, "_input", rec->obj, "_input");
  if(!strcmp(type, "Bundle")) {
    struct bundle_binaries bundle = {dpi_json_member(rec->obj, "entry")};
    size_t n = bundle.entries && json_object_is_type(bundle.entries, json_type_array)
                   ? json_object_array_length(bundle.entries) : 0;
    for(size_t i = 0; i < n && rc != DP_FATAL; i++) {
      json_object *res = dpi_json_member(json_object_array_get_idx(bundle.entries, i), "resource");
      const char *t = dpi_json_member_str(res, "resourceType");
      if(t && !strcmp(t, "Binary"))
        continue; /* resolves attachments of this Bundle, is not a document itself */
      rc = process_resource(st, res, input, &bundle, out, &made, failure);
      if(rc == DP_FAIL) {
        rc = dpi_emit_fail(out, failure);
        failure = dpi_record_new();
        if(!failure)
          rc = DP_FATAL;
        else if(input)
          copy_member(failure->obj, "_input", rec->obj, "_input");
      }
    }
  } else {
    struct bundle_binaries none = {NULL};
    rc = process_resource(st, rec->obj, input, &none, out, &made, failure);
    if(rc == DP_FAIL) {
      rc = dpi_emit_fail(out, failure);
      failure = NULL;
    }
  }
  dpi_record_free(failure);
  dpi_record_free(rec);
  return rc;
}

/* Binaries the dump or the search does not hold are read from the server. */
static void resolve_access(const struct dp_stage *st, const char *const *args, size_t nargs,
                           struct dp_buf *access)
{
  (void)st;
  (void)args;
  (void)nargs;
  dpi_access_add(access, "Binary", "r");
}

const struct dp_stage_ops dp_stage_resolve = {
  .name = "resolve",
  .summary = "FHIR DocumentReference/DiagnosticReport/Binary/Bundle to one record per attachment",
  .flags = DP_STAGE_MAY_DROP,
  .options = resolve_options,
  .open = resolve_open,
  .process = process,
  .close = resolve_close,
  .access = resolve_access,
};
