/* isowire.c - see isowire.h */
#include "isowire.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

double dpi_wire_now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int dpi_wire_io(int fd, void *buf, size_t len, int writing, double deadline)
{
  char *p = buf;
  while(len) {
    if(deadline > 0) {
      double left = deadline - dpi_wire_now();
      if(left <= 0)
        return -2;
      struct pollfd pfd = {fd, writing ? POLLOUT : POLLIN, 0};
      int ms = left > 1e6 ? 1000000000 : (int)(left * 1000) + 1;
      int r = poll(&pfd, 1, ms);
      if(r < 0 && errno == EINTR)
        continue;
      if(r == 0)
        return -2;
      if(r < 0)
        return -1;
    }
    /* MSG_NOSIGNAL: a helper that died is an error to report, not SIGPIPE. */
    ssize_t n = writing ? send(fd, p, len, MSG_NOSIGNAL) : read(fd, p, len);
    if(n < 0 && errno == EINTR)
      continue;
    if(n <= 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int dpi_wire_put_u64(int fd, uint64_t v, double deadline)
{
  unsigned char b[8];
  for(int i = 0; i < 8; i++)
    b[i] = (unsigned char)(v >> (8 * i));
  return dpi_wire_io(fd, b, 8, 1, deadline);
}

int dpi_wire_get_u64(int fd, uint64_t *v, double deadline)
{
  unsigned char b[8];
  int rc = dpi_wire_io(fd, b, 8, 0, deadline);
  *v = 0;
  for(int i = 0; i < 8 && !rc; i++)
    *v |= (uint64_t)b[i] << (8 * i);
  return rc;
}

int dpi_wire_send_request(int fd, const char *header, size_t hlen, const void *body, size_t blen,
                          double deadline)
{
  int rc = dpi_wire_io(fd, DP_WIRE_MAGIC, 4, 1, deadline);
  if(!rc)
    rc = dpi_wire_put_u64(fd, hlen, deadline);
  if(!rc)
    rc = dpi_wire_put_u64(fd, blen, deadline);
  if(!rc)
    rc = dpi_wire_io(fd, (void *)header, hlen, 1, deadline);
  if(!rc && blen)
    rc = dpi_wire_io(fd, (void *)body, blen, 1, deadline);
  return rc;
}

int dpi_wire_read_request(int fd, uint64_t *hlen, uint64_t *blen)
{
  char magic[4];
  if(dpi_wire_io(fd, magic, 4, 0, 0))
    return 1;
  if(memcmp(magic, DP_WIRE_MAGIC, 4) || dpi_wire_get_u64(fd, hlen, 0) ||
     dpi_wire_get_u64(fd, blen, 0))
    return -1;
  return 0;
}

int dpi_wire_send_frame(int fd, enum dp_wire_frame type, const char *data, size_t len)
{
  unsigned char t = (unsigned char)type;
  if(dpi_wire_io(fd, &t, 1, 1, 0))
    return -1;
  if(type == DP_WIRE_END)
    return 0;
  return dpi_wire_put_u64(fd, len, 0) || dpi_wire_io(fd, (void *)data, len, 1, 0) ? -1 : 0;
}

int dpi_wire_get_frame(int fd, size_t max, double deadline, enum dp_wire_frame *type,
                       char **payload, size_t *len)
{
  unsigned char t;
  uint64_t n;
  *payload = NULL;
  int rc = dpi_wire_io(fd, &t, 1, 0, deadline);
  if(rc)
    return rc;
  *type = (enum dp_wire_frame)t;
  if(t == DP_WIRE_END)
    return 0;
  if((rc = dpi_wire_get_u64(fd, &n, deadline)))
    return rc;
  if(n > (uint64_t)max)
    return -1; /* a frame larger than any result can be: the helper is broken */
  char *p = malloc((size_t)n + 1);
  if(!p)
    return -1;
  if((rc = dpi_wire_io(fd, p, (size_t)n, 0, deadline))) {
    free(p);
    return rc;
  }
  p[n] = '\0';
  *payload = p;
  *len = (size_t)n;
  return 0;
}

const char *dpi_wire_failure(struct dp_record *rec, size_t *len)
{
  json_object *err = json_object_new_object();
  dpi_json_set_str(err, "kind", dpi_kind_name(rec->err_kind));
  dpi_json_set_str(err, "message", rec->err_message);
  if(rec->err_hint)
    dpi_json_set_str(err, "hint", rec->err_hint);
  json_object_object_add(rec->obj, "_err", err);
  dpi_record_drop_body(rec);
  *len = 0;
  return json_object_to_json_string_length(rec->obj, JSON_C_TO_STRING_PLAIN, len);
}

struct dp_record *dpi_wire_failed_record(json_object *obj)
{
  json_object *err = NULL;
  json_object_object_get_ex(obj, "_err", &err);
  err = json_object_get(err);
  json_object_object_del(obj, "_err");
  struct dp_record *r = dpi_record_parse(obj);
  if(!r) {
    json_object_put(err);
    return NULL;
  }
  const char *kind = dpi_json_member_str(err, "kind");
  const char *msg = dpi_json_member_str(err, "message");
  const char *hint = dpi_json_member_str(err, "hint");
  enum dp_kind k = kind ? dpi_kind_from_name(kind) : DP_KIND_INTERNAL;
  dpi_record_fail(r, k ? k : DP_KIND_INTERNAL, "%s", msg ? msg : "failed");
  if(hint)
    dpi_record_hint(r, "%s", hint);
  json_object_put(err);
  return r;
}
