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
 * by offset only, so memory stays small whatever their size.
 *
 * Other resource types (Patient, OperationOutcome...) hold no document and
 * are counted as skipped.  Records already resolved pass through unchanged,
 * so the stage can run twice in a pipe. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/linkhash.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dplimits.h"
#include "ndjson.h"
#include "registry.h"

static const struct dp_option_spec resolve_options[] = {
  {"binaries", "FILE", DP_OPT_PATH | DP_OPT_MULTI, "DOCPIPE_BINARIES", NULL,
   "Binary NDJSON (or a folder of *.ndjson) that attachment urls refer to"},
  {NULL, NULL, 0, NULL, NULL, NULL},
};

struct binary_loc {
  size_t file;
  off_t offset;
  size_t len;
};

struct resolve_state {
  struct lh_table *index; /* Binary id -> struct binary_loc */
  int *fds;
  char **paths;
  size_t nfiles;
};

/* ---- Binary index ---------------------------------------------------- */

/* Skip a JSON string starting at s[i] == '"'; returns the index after it. */
static size_t skip_string(const char *s, size_t n, size_t i)
{
  for(i++; i < n;) {
    const char *q = memchr(s + i, '"', n - i);
    if(!q)
      return n;
    size_t k = (size_t)(q - s), bs = 0;
    while(k > i + bs && s[k - 1 - bs] == '\\')
      bs++;
    i = k + 1;
    if(bs % 2 == 0)
      return i;
  }
  return n;
}

/* Find the top-level string members "id" and "resourceType" of a JSON
 * object without building it: Binary lines are mostly one huge "data"
 * string, which this skips with memchr.  Returns 1 when both were found. */
static int scan_binary_line(const char *s, size_t n, char *id, size_t idcap, char *type,
                            size_t typecap)
{
  id[0] = type[0] = '\0';
  size_t i = 0;
  while(i < n && s[i] != '{')
    i++;
  i++;
  int depth = 1, expect_key = 1;
  const char *key = NULL;
  size_t keylen = 0;
  while(i < n && depth > 0) {
    char c = s[i];
    if(c == '"') {
      size_t end = skip_string(s, n, i);
      if(depth == 1 && expect_key) {
        key = s + i + 1;
        keylen = end - i - 2;
      } else if(depth == 1 && key) {
        char *dst = NULL;
        size_t cap = 0;
        if(keylen == 2 && !memcmp(key, "id", 2))
          dst = id, cap = idcap;
        else if(keylen == 12 && !memcmp(key, "resourceType", 12))
          dst = type, cap = typecap;
        size_t vl = end - i - 2;
        if(dst && vl < cap && !memchr(s + i + 1, '\\', vl)) {
          memcpy(dst, s + i + 1, vl);
          dst[vl] = '\0';
        }
        if(id[0] && type[0])
          return 1;
      }
      i = end;
      continue;
    }
    if(c == ':')
      expect_key = 0;
    else if(c == ',')
      expect_key = depth == 1;
    else if(c == '{' || c == '[')
      depth++;
    else if(c == '}' || c == ']')
      depth--;
    i++;
  }
  return id[0] && type[0];
}

static void free_entry(struct lh_entry *e)
{
  free((void *)lh_entry_k(e));
  free(lh_entry_v(e));
}

static int index_file(struct resolve_state *rs, const char *path, char *why, size_t whylen)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if(fd < 0) {
    snprintf(why, whylen, "cannot open --binaries %s: %s", path, strerror(errno));
    return -1;
  }
  int *fds = realloc(rs->fds, (rs->nfiles + 1) * sizeof(*fds));
  char **paths = fds ? realloc(rs->paths, (rs->nfiles + 1) * sizeof(*paths)) : NULL;
  if(fds)
    rs->fds = fds;
  if(paths)
    rs->paths = paths;
  char *copy = paths ? strdup(path) : NULL;
  if(!copy) {
    close(fd);
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  size_t file = rs->nfiles++;
  rs->fds[file] = fd;
  rs->paths[file] = copy;

  struct dp_reader r;
  if(dpi_reader_open(&r, path, DP_MAX_LINE)) {
    snprintf(why, whylen, "cannot read --binaries %s: %s", path, strerror(errno));
    return -1;
  }
  const char *line;
  size_t len;
  int too_long, rc = 0;
  while(dpi_reader_next(&r, &line, &len, &too_long) == 1) {
    char id[DP_MAX_SHORT / 4], type[64];
    if(too_long || !scan_binary_line(line, len, id, sizeof(id), type, sizeof(type)) ||
       strcmp(type, "Binary"))
      continue;
    if(lh_table_lookup_ex(rs->index, id, NULL))
      continue; /* the first Binary with an id wins */
    struct binary_loc *loc = malloc(sizeof(*loc));
    char *key = strdup(id);
    if(!loc || !key) {
      free(loc);
      free(key);
      snprintf(why, whylen, "out of memory");
      rc = -1;
      break;
    }
    loc->file = file;
    loc->offset = r.offset;
    loc->len = len;
    lh_table_insert(rs->index, key, loc);
  }
  if(!rc && r.error) {
    snprintf(why, whylen, "read error in --binaries %s: %s", path, strerror(r.error));
    rc = -1;
  }
  dpi_reader_close(&r);
  return rc;
}

static int ends_with(const char *s, const char *tail)
{
  size_t a = strlen(s), b = strlen(tail);
  return a >= b && !strcmp(s + a - b, tail);
}

static int cmp_str(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A folder (a Bulk export's output): every *.ndjson in it, in name order. */
static int index_folder(struct resolve_state *rs, const char *dir, char *why, size_t whylen)
{
  DIR *d = opendir(dir);
  if(!d) {
    snprintf(why, whylen, "cannot read --binaries %s: %s", dir, strerror(errno));
    return -1;
  }
  char **names = NULL;
  size_t n = 0;
  struct dirent *e;
  int rc = 0;
  while((e = readdir(d)) && !rc) {
    if(e->d_name[0] == '.' || !ends_with(e->d_name, ".ndjson"))
      continue;
    char **m = realloc(names, (n + 1) * sizeof(*m));
    char *path = m ? malloc(strlen(dir) + strlen(e->d_name) + 2) : NULL;
    if(m)
      names = m;
    if(!path) {
      rc = -1;
      break;
    }
    sprintf(path, "%s/%s", dir, e->d_name);
    names[n++] = path;
  }
  closedir(d);
  qsort(names, n, sizeof(*names), cmp_str);
  for(size_t i = 0; i < n; i++) {
    if(!rc)
      rc = index_file(rs, names[i], why, whylen);
    free(names[i]);
  }
  free(names);
  return rc;
}

static void resolve_close(struct dp_stage *st)
{
  struct resolve_state *rs = st->state;
  if(!rs)
    return;
  if(rs->index)
    lh_table_free(rs->index);
  for(size_t i = 0; i < rs->nfiles; i++) {
    close(rs->fds[i]);
    free(rs->paths[i]);
  }
  free(rs->fds);
  free(rs->paths);
  free(rs);
  st->state = NULL;
}

static enum dp_status resolve_open(struct dp_stage *st, char *why, size_t whylen)
{
  struct resolve_state *rs = calloc(1, sizeof(*rs));
  if(!rs || !(rs->index = lh_kchar_table_new(1024, free_entry))) {
    free(rs);
    snprintf(why, whylen, "out of memory");
    return DP_FATAL;
  }
  st->state = rs;
  const char *path;
  for(size_t i = 0; (path = dpi_opt_nth(st, "binaries", i)); i++) {
    struct stat sb;
    int rc = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) ? index_folder(rs, path, why, whylen)
                                                          : index_file(rs, path, why, whylen);
    if(rc) {
      resolve_close(st);
      return DP_FATAL;
    }
  }
  return DP_OK;
}

/* Read and parse the Binary with this id from the indexed files. */
static json_object *load_binary(const struct resolve_state *rs, const char *id)
{
  void *v;
  if(!lh_table_lookup_ex(rs->index, id, &v))
    return NULL;
  const struct binary_loc *loc = v;
  char *text = malloc(loc->len + 1);
  if(!text)
    return NULL;
  size_t got = 0;
  while(got < loc->len) {
    ssize_t n = pread(rs->fds[loc->file], text + got, loc->len - got, loc->offset + (off_t)got);
    if(n < 0 && errno == EINTR)
      continue;
    if(n <= 0)
      break;
    got += (size_t)n;
  }
  json_object *obj = NULL;
  char why[256];
  if(got == loc->len)
    dpi_json_parse(text, loc->len, &obj, why, sizeof(why));
  free(text);
  return obj;
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

/* A URL fit for a message: no query string (pre-signed URLs carry
 * credentials there). */
static void safe_url(const char *url, char *out, size_t cap)
{
  snprintf(out, cap, "%.*s", (int)strcspn(url, "?#"), url);
  if(strlen(out) > 200)
    strcpy(out + 197, "...");
}

struct bundle_binaries {
  json_object *entries; /* Bundle.entry, or NULL */
};

/* A Binary resource the attachment url refers to, from the resource's
 * contained list, the enclosing Bundle, or the indexed files.  Returns a new
 * reference, or NULL; *own is set when nothing else refers to it (a Binary
 * read from the files), so its data may be moved rather than copied. */
static json_object *find_binary(const struct resolve_state *rs, json_object *resource,
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
  char ref[DP_MAX_SHORT / 4];
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
  return ref[0] ? load_binary(rs, ref + 7) : NULL;
}

/* ---- records ------------------------------------------------------------ */

struct doc_source {
  json_object *resource;
  const char *type;       /* "DocumentReference" */
  const char *id;
  json_object *facts;     /* _fhir template: type, category, date, description */
  const char *patient;    /* "Patient/1" or NULL */
  json_object *input;     /* _input of the input record */
};

static enum dp_status emit_attachment(struct dp_stage *st, const struct doc_source *src,
                                      const struct bundle_binaries *bundle, size_t index,
                                      json_object *att, struct dp_emitter *out)
{
  const struct resolve_state *rs = st->state;
  struct dp_record *r = dpi_record_new();
  if(!r)
    return DP_FATAL;
  char id[DP_MAX_SHORT + 32], ref[DP_MAX_SHORT];
  snprintf(ref, sizeof(ref), "%s/%s", src->type, src->id);
  if(index == 0)
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
  dpi_json_set_str(source, "binary", !strcmp(src->type, "Binary") ? ref : data ? NULL : url);
  dpi_json_set_str(source, "declaredContentType", dpi_json_member_str(att, "contentType"));
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
    move_member(r->obj, "data", att, "data");
    return dpi_emit(out, r);
  }
  if(!url) {
    dpi_record_fail(r, DP_KIND_EMPTY, "attachment %zu has neither data nor url", index);
    return dpi_emit_fail(out, r);
  }
  int own = 0;
  json_object *binary = find_binary(rs, src->resource, bundle, url, &own);
  char shown[256];
  safe_url(url, shown, sizeof(shown));
  if(!binary) {
    if(!rs->nfiles)
      dpi_record_hint(r, "give the Binary NDJSON of the same export with --binaries FILE");
    else
      dpi_record_hint(r, "the Binary files given with --binaries do not hold it; check that "
                         "they come from the same export");
    dpi_record_fail(r, DP_KIND_NOT_FOUND, "attachment url %s: no such Binary", shown);
    return dpi_emit_fail(out, r);
  }
  json_object *bdata = dpi_json_member(binary, "data");
  if(!bdata || !json_object_is_type(bdata, json_type_string)) {
    json_object_put(binary);
    dpi_record_fail(r, DP_KIND_EMPTY, "Binary %s has no data", shown);
    return dpi_emit_fail(out, r);
  }
  if(!dpi_json_member_str(att, "contentType"))
    dpi_json_set_str(source, "declaredContentType", dpi_json_member_str(binary, "contentType"));
  if(own)
    move_member(r->obj, "data", binary, "data");
  else /* a Binary of the input that other attachments may share */
    copy_member(r->obj, "data", binary, "data");
  json_object_put(binary);
  return dpi_emit(out, r);
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
  char patient[DP_MAX_SHORT / 4];
  json_object *subject = dpi_json_member(res, "subject");
  reference_of(dpi_json_member_str(subject, "reference"), "Patient", patient, sizeof(patient));
  struct doc_source src = {res, type, id, resource_facts(res, type), patient[0] ? patient : NULL,
                           input};
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
    for(size_t i = 0; i < n && rc != DP_FATAL; i++) {
      json_object *item = json_object_array_get_idx(list, i);
      json_object *att = !strcmp(list_key, "content") ? dpi_json_member(item, "attachment") : item;
      rc = emit_attachment(st, &src, bundle, i, att, out);
      (*made)++;
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

const struct dp_stage_ops dp_stage_resolve = {
  .name = "resolve",
  .summary = "FHIR DocumentReference/DiagnosticReport/Binary/Bundle to one record per attachment",
  .flags = DP_STAGE_MAY_DROP,
  .options = resolve_options,
  .open = resolve_open,
  .process = process,
  .close = resolve_close,
};
