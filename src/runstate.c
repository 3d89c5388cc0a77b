/* runstate.c - see runstate.h */
#include "runstate.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dplimits.h"
#include "ndjson.h"
#include "record.h"

struct dp_runstate {
  char *path;
  json_object *doc; /* {"marks": {}, "proposed": {}, "resume": {...}} */
  const char *legacy; /* an older file's key of a mark, taken into "marks" */
  pthread_mutex_t lock;
};

static json_object *section(json_object *doc, const char *name)
{
  json_object *o = dpi_json_member(doc, name);
  if(o && json_object_is_type(o, json_type_object))
    return o;
  o = json_object_new_object();
  json_object_object_add(doc, name, o);
  return o;
}

struct dp_runstate *dpi_runstate_open(const char *path, char *why, size_t whylen)
{
  struct dp_runstate *rs = calloc(1, sizeof(*rs));
  if(!rs || !(rs->path = strdup(path))) {
    free(rs);
    snprintf(why, whylen, "out of memory");
    return NULL;
  }
  pthread_mutex_init(&rs->lock, NULL);
  size_t len = 0;
  char *text = dpi_read_small_file(path, DP_MAX_STATE_FILE, &len);
  if(!text && errno == ENOENT) {
    rs->doc = json_object_new_object();
    return rs;
  }
  if(!text && errno != EFBIG) {
    snprintf(why, whylen, "cannot read state file %s: %s", path, strerror(errno));
    dpi_runstate_free(rs);
    return NULL;
  }
  char perr[256];
  if(!text || dpi_json_parse(text, len, &rs->doc, perr, sizeof(perr)) ||
     !json_object_is_type(rs->doc, json_type_object)) {
    snprintf(why, whylen, "state file %s is not docpipe's (%s)", path,
             text ? perr : "over 1 MiB");
    free(text);
    dpi_runstate_free(rs);
    return NULL;
  }
  free(text);
  return rs;
}

void dpi_runstate_free(struct dp_runstate *rs)
{
  if(!rs)
    return;
  json_object_put(rs->doc);
  free(rs->path);
  pthread_mutex_destroy(&rs->lock);
  free(rs);
}

/* Callers hold the lock. */
static int save(struct dp_runstate *rs)
{
  const char *s = json_object_to_json_string_ext(rs->doc, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE);
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", rs->path, (long)getpid());
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if(fd < 0)
    return -1;
  size_t n = strlen(s);
  int ok = write(fd, s, n) == (ssize_t)n && write(fd, "\n", 1) == 1;
  ok = close(fd) == 0 && ok;
  if(!ok || rename(tmp, rs->path)) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

int dpi_runstate_resume(struct dp_runstate *rs, const char *fingerprint, unsigned long *done,
                        unsigned long *failed, long long *out_bytes, long long *err_bytes,
                        char *why, size_t whylen)
{
  pthread_mutex_lock(&rs->lock);
  json_object *r = dpi_json_member(rs->doc, "resume");
  int rc = 0;
  if(r) {
    const char *fp = dpi_json_member_str(r, "inputs");
    if(!fp || strcmp(fp, fingerprint)) {
      snprintf(why, whylen, "the state file %s records an unfinished run over other inputs: "
                            "run it again with the same inputs, or remove the file", rs->path);
      rc = -1;
    } else {
      *done = (unsigned long)json_object_get_int64(dpi_json_member(r, "done"));
      *failed = (unsigned long)json_object_get_int64(dpi_json_member(r, "failed"));
      *out_bytes = json_object_get_int64(dpi_json_member(r, "outputBytes"));
      *err_bytes = json_object_get_int64(dpi_json_member(r, "errorBytes"));
      rc = 1;
    }
  } else {
    /* A fresh run: proposals of an old finished run do not carry over. */
    json_object_object_del(rs->doc, "proposed");
  }
  pthread_mutex_unlock(&rs->lock);
  return rc;
}

int dpi_runstate_checkpoint(struct dp_runstate *rs, const char *fingerprint, unsigned long done,
                            unsigned long failed, long long out_bytes, long long err_bytes)
{
  pthread_mutex_lock(&rs->lock);
  json_object *r = section(rs->doc, "resume");
  dpi_json_set_str(r, "inputs", fingerprint);
  json_object_object_add(r, "done", json_object_new_int64((int64_t)done));
  json_object_object_add(r, "failed", json_object_new_int64((int64_t)failed));
  json_object_object_add(r, "outputBytes", json_object_new_int64(out_bytes));
  json_object_object_add(r, "errorBytes", json_object_new_int64(err_bytes));
  int rc = save(rs);
  pthread_mutex_unlock(&rs->lock);
  return rc;
}

int dpi_runstate_complete(struct dp_runstate *rs)
{
  pthread_mutex_lock(&rs->lock);
  json_object *marks = section(rs->doc, "marks");
  json_object *proposed = dpi_json_member(rs->doc, "proposed");
  if(proposed) {
    json_object_object_foreach(proposed, key, value)
    {
      if(value) /* null: withdrawn after a failure */
        json_object_object_add(marks, key, json_object_get(value));
    }
  }
  json_object_object_del(rs->doc, "proposed");
  json_object_object_del(rs->doc, "resume");
  if(rs->legacy) /* now under "marks"; unclaimed, it waits for its stage */
    json_object_object_del(rs->doc, rs->legacy);
  int rc = save(rs);
  pthread_mutex_unlock(&rs->lock);
  return rc;
}

/* ---- marks -------------------------------------------------------------- */

/* The committed mark called name, or NULL.  An older state file held a
 * stage's mark at the top level, under legacy ({"since": ...}): it is taken
 * into "marks" the first time the stage asks. */
static const char *committed_mark(struct dp_runstate *rs, const char *name, const char *legacy)
{
  pthread_mutex_lock(&rs->lock);
  const char *old = legacy ? dpi_json_member_str(rs->doc, legacy) : NULL;
  if(old && !dpi_json_member(dpi_json_member(rs->doc, "marks"), name)) {
    dpi_json_set_str(section(rs->doc, "marks"), name, old);
    rs->legacy = legacy;
  }
  const char *v = dpi_json_member_str(dpi_json_member(rs->doc, "marks"), name);
  pthread_mutex_unlock(&rs->lock);
  return v;
}

void dpi_runmark_open(struct dp_runmark *m, struct dp_runstate *rs, const char *name,
                      const char *since, const char *legacy)
{
  memset(m, 0, sizeof(*m));
  m->rs = rs;
  m->name = name;
  pthread_mutex_init(&m->lock, NULL);
  const char *mark = rs ? committed_mark(rs, name, legacy) : NULL;
  if(!since)
    since = mark;
  if(since)
    snprintf(m->since, sizeof(m->since), "%s", since);
}

void dpi_runmark_propose(struct dp_runmark *m, const char *value)
{
  pthread_mutex_lock(&m->lock);
  if(m->rs && !m->proposed) {
    pthread_mutex_lock(&m->rs->lock);
    json_object *p = section(m->rs->doc, "proposed");
    if(!dpi_json_member(p, m->name))
      dpi_json_set_str(p, m->name, value);
    pthread_mutex_unlock(&m->rs->lock);
    m->proposed = 1;
  }
  pthread_mutex_unlock(&m->lock);
}

void dpi_runmark_fail(struct dp_runmark *m)
{
  pthread_mutex_lock(&m->lock);
  m->failed = 1;
  pthread_mutex_unlock(&m->lock);
}

void dpi_runmark_close(struct dp_runmark *m)
{
  if(m->rs && m->failed) {
    pthread_mutex_lock(&m->rs->lock);
    json_object_object_add(section(m->rs->doc, "proposed"), m->name, NULL);
    pthread_mutex_unlock(&m->rs->lock);
  }
  pthread_mutex_destroy(&m->lock);
}
