/* record.c - see record.h */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "dplimits.h"
#include "hash.h"

#define JSON_FLAGS (JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)

struct dp_record *dpi_record_from_json(json_object *obj)
{
  struct dp_record *r = calloc(1, sizeof(*r));
  if(!r) {
    json_object_put(obj);
    return NULL;
  }
  r->obj = obj ? obj : json_object_new_object();
  dpi_buf_init(&r->body, DP_MAX_DOCUMENT);
  return r;
}

struct dp_record *dpi_record_new(void)
{
  return dpi_record_from_json(json_object_new_object());
}

void dpi_record_free(struct dp_record *r)
{
  if(!r)
    return;
  json_object_put(r->obj);
  dpi_buf_free(&r->body);
  free(r->err_message);
  free(r->err_hint);
  free(r);
}

struct dp_record *dpi_record_derive(const struct dp_record *r)
{
  json_object *copy = NULL;
  if(json_object_deep_copy(r->obj, &copy, NULL) != 0)
    return NULL;
  struct dp_record *d = dpi_record_from_json(copy);
  if(d)
    d->depth = r->depth;
  return d;
}

const char *dpi_record_str(const struct dp_record *r, const char *key)
{
  json_object *v;
  if(!json_object_object_get_ex(r->obj, key, &v) || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

void dpi_json_set_str(json_object *o, const char *key, const char *value)
{
  json_object_object_add(o, key, value ? json_object_new_string(value) : NULL);
}

void dpi_record_set_str(struct dp_record *r, const char *key, const char *value)
{
  dpi_json_set_str(r->obj, key, value);
}

void dpi_record_set_strn(struct dp_record *r, const char *key, const char *value, size_t len)
{
  json_object_object_add(r->obj, key,
                         value ? json_object_new_string_len(value, (int)len) : NULL);
}

json_object *dpi_record_object(struct dp_record *r, const char *key)
{
  json_object *v;
  if(json_object_object_get_ex(r->obj, key, &v) && json_object_is_type(v, json_type_object))
    return v;
  v = json_object_new_object();
  json_object_object_add(r->obj, key, v);
  return v;
}

json_object *dpi_json_member(json_object *o, const char *key)
{
  json_object *v = NULL;
  if(o && json_object_is_type(o, json_type_object))
    json_object_object_get_ex(o, key, &v);
  return v;
}

const char *dpi_json_member_str(json_object *o, const char *key)
{
  json_object *v = dpi_json_member(o, key);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

const char *dpi_json_path_str(json_object *o, const char *path)
{
  char part[128];
  while(o && *path) {
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    if(n >= sizeof(part))
      return NULL;
    memcpy(part, path, n);
    part[n] = '\0';
    if(!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, part, &o))
      return NULL;
    path += n + (dot ? 1 : 0);
  }
  return o && json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

int dpi_record_set_body(struct dp_record *r, struct dp_buf *bytes)
{
  dpi_buf_free(&r->body);
  r->body = *bytes;
  dpi_buf_init(bytes, bytes->max);
  r->has_body = 1;
  json_object_object_del(r->obj, "data");
  char hex[65];
  if(dpi_sha256_hex(dpi_buf_str(&r->body), r->body.len, hex))
    return -1;
  json_object_object_add(r->obj, "bytes", json_object_new_int64((int64_t)r->body.len));
  json_object_object_add(r->obj, "sha256", json_object_new_string(hex));
  return 0;
}

const unsigned char *dpi_record_body(const struct dp_record *r, size_t *len)
{
  if(!r->has_body) {
    *len = 0;
    return NULL;
  }
  *len = r->body.len;
  return (const unsigned char *)dpi_buf_str(&r->body);
}

void dpi_record_drop_body(struct dp_record *r)
{
  dpi_buf_free(&r->body);
  r->has_body = 0;
}

void dpi_record_set_content(struct dp_record *r, struct dp_buf *text)
{
  json_object_object_add(r->obj, "content",
                         json_object_new_string_len(dpi_buf_str(text), (int)text->len));
  dpi_buf_free(text);
}

static char *vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *vformat(const char *fmt, va_list ap)
{
  struct dp_buf b;
  dpi_buf_init(&b, DP_MAX_SHORT);
  dpi_buf_vaddf(&b, fmt, ap);
  /* A message is one line: a stray newline would break the error file. */
  for(size_t i = 0; i < b.len; i++)
    if(b.mem[i] == '\n' || b.mem[i] == '\r')
      b.mem[i] = ' ';
  return dpi_buf_take(&b, NULL);
}

enum dp_status dpi_record_fail(struct dp_record *r, enum dp_kind kind, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  free(r->err_message);
  r->err_message = vformat(fmt, ap);
  va_end(ap);
  r->err_kind = kind;
  return DP_FAIL;
}

void dpi_record_hint(struct dp_record *r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  free(r->err_hint);
  r->err_hint = vformat(fmt, ap);
  va_end(ap);
}

void dpi_record_warn(struct dp_record *r, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  char *line = vformat(fmt, ap);
  va_end(ap);
  if(!line)
    return;
  json_object *meta = dpi_record_object(r, "meta"), *list;
  if(!json_object_object_get_ex(meta, "warnings", &list) ||
     !json_object_is_type(list, json_type_array)) {
    list = json_object_new_array();
    json_object_object_add(meta, "warnings", list);
  }
  json_object_array_add(list, json_object_new_string(line));
  free(line);
}

enum dp_status dpi_record_fail_like(struct dp_record *to, const struct dp_record *from)
{
  dpi_record_fail(to, from->err_kind, "%s", from->err_message ? from->err_message : "failed");
  if(from->err_hint)
    dpi_record_hint(to, "%s", from->err_hint);
  to->err_status = from->err_status;
  if(from->err_stage)
    to->err_stage = from->err_stage;
  return DP_FAIL;
}

int dpi_record_is_deletion(const struct dp_record *r)
{
  json_object *d = dpi_json_member(r->obj, "deleted");
  return d && json_object_is_type(d, json_type_boolean) && json_object_get_boolean(d) &&
         !r->has_body && !dpi_json_member(r->obj, "resourceType") && dpi_record_str(r, "id");
}

int dpi_record_no_text(const struct dp_record *r)
{
  const char *content = dpi_record_str(r, "content");
  json_object *ocr = dpi_json_member(dpi_json_member(r->obj, "meta"), "ocr");
  return (!content || !*content) && dpi_json_member(ocr, "pages");
}

int dpi_record_write(const struct dp_record *r, struct dp_buf *out)
{
  /* An output format (es-bulk) has already written the line(s). */
  json_object *raw;
  if(json_object_object_get_ex(r->obj, "_raw", &raw) && json_object_is_type(raw, json_type_string))
    return dpi_buf_add(out, json_object_get_string(raw), (size_t)json_object_get_string_len(raw)) ||
                   dpi_buf_addc(out, '\n')
               ? -1 : 0;
  size_t n = 0;
  const char *s = json_object_to_json_string_length(r->obj, JSON_FLAGS, &n);
  if(!s || n < 2)
    return -1;
  if(!r->has_body)
    return dpi_buf_add(out, s, n) || dpi_buf_addc(out, '\n') ? -1 : 0;
  /* Splice the body in before the closing brace rather than building a JSON
   * string of it: documents can be large. */
  if(dpi_buf_add(out, s, n - 1) || dpi_buf_adds(out, n > 2 ? ",\"_bytes\":\"" : "\"_bytes\":\""))
    return -1;
  if(dpi_b64_encode(dpi_buf_str(&r->body), r->body.len, out) != DP_B64_OK)
    return -1;
  return dpi_buf_adds(out, "\"}\n");
}

struct dp_record *dpi_record_parse(json_object *obj)
{
  struct dp_record *r = dpi_record_from_json(obj);
  if(!r)
    return NULL;
  json_object *v;
  if(json_object_object_get_ex(r->obj, "_bytes", &v)) {
    if(!json_object_is_type(v, json_type_string)) {
      dpi_record_fail(r, DP_KIND_INVALID_INPUT, "\"_bytes\" is not a string");
      return r;
    }
    struct dp_buf bytes;
    dpi_buf_init(&bytes, DP_MAX_DOCUMENT);
    size_t bad = 0;
    enum dp_b64_result rc = dpi_b64_decode(json_object_get_string(v),
                                           (size_t)json_object_get_string_len(v), &bytes, &bad);
    if(rc != DP_B64_OK) {
      dpi_buf_free(&bytes);
      if(rc == DP_B64_TOO_BIG)
        dpi_record_fail(r, DP_KIND_TOO_LARGE, "document is larger than %zu bytes",
                        (size_t)DP_MAX_DOCUMENT);
      else
        dpi_record_fail(r, DP_KIND_BAD_BASE64, "\"_bytes\" is not Base64 (offset %zu)", bad);
      return r;
    }
    json_object_object_del(r->obj, "_bytes");
    /* The wire already carries bytes and sha256; keep them as they are. */
    dpi_buf_free(&r->body);
    r->body = bytes;
    r->has_body = 1;
  }
  return r;
}

int dpi_record_write_error(const struct dp_record *r, struct dp_buf *out)
{
  json_object *e = json_object_new_object();
  json_object *id;
  if(json_object_object_get_ex(r->obj, "id", &id) && id) {
    json_object_object_add(e, "id", json_object_get(id));
  } else {
    /* No id could be read: the contract says use the input line number. */
    json_object *in, *line;
    if(json_object_object_get_ex(r->obj, "_input", &in) &&
       json_object_object_get_ex(in, "line", &line))
      json_object_object_add(e, "id", json_object_get(line));
    else
      json_object_object_add(e, "id", NULL);
  }
  dpi_json_set_str(e, "stage", r->err_stage ? r->err_stage : "docpipe");
  dpi_json_set_str(e, "kind", dpi_kind_name(r->err_kind));
  dpi_json_set_str(e, "message", r->err_message ? r->err_message : "failed");
  if(r->err_hint)
    dpi_json_set_str(e, "hint", r->err_hint);
  if(r->err_status)
    json_object_object_add(e, "status", json_object_new_int(r->err_status));
  json_object *v;
  if(json_object_object_get_ex(r->obj, "_requestId", &v))
    json_object_object_add(e, "requestId", json_object_get(v));
  if(json_object_object_get_ex(r->obj, "_input", &v))
    json_object_object_add(e, "input", json_object_get(v));
  size_t n = 0;
  const char *s = json_object_to_json_string_length(e, JSON_FLAGS, &n);
  int rc = dpi_buf_add(out, s, n) || dpi_buf_addc(out, '\n') ? -1 : 0;
  json_object_put(e);
  return rc;
}
