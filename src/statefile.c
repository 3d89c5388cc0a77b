/* statefile.c - see statefile.h */
#include "statefile.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ndjson.h"
#include "record.h"

int dpi_state_read(const char *path, char *out, size_t outlen)
{
  struct dp_reader r;
  if(dpi_reader_open(&r, path, 65536))
    return -1;
  size_t len = 0;
  char *text = dpi_reader_rest(&r, 65536, &len);
  dpi_reader_close(&r);
  json_object *o = NULL;
  char why[128];
  int rc = -1;
  if(text && !dpi_json_parse(text, len, &o, why, sizeof(why))) {
    const char *since = dpi_json_member_str(o, "since");
    if(since && snprintf(out, outlen, "%s", since) < (int)outlen)
      rc = 0;
  }
  json_object_put(o);
  free(text);
  return rc;
}

int dpi_state_write(const char *path, const char *since)
{
  json_object *o = json_object_new_object();
  dpi_json_set_str(o, "since", since);
  char now[32];
  dpi_iso_now(NULL, now);
  dpi_json_set_str(o, "written", now);
  const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                        JSON_C_TO_STRING_NOSLASHESCAPE);
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", path, (long)getpid());
  int rc = -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if(fd >= 0) {
    size_t n = strlen(s);
    int ok = write(fd, s, n) == (ssize_t)n && write(fd, "\n", 1) == 1 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if(ok && !rename(tmp, path))
      rc = 0;
    else
      unlink(tmp);
  }
  json_object_put(o);
  return rc;
}

void dpi_iso_now(const char *http_date, char out[32])
{
  time_t t = http_date && *http_date ? curl_getdate(http_date, NULL) : (time_t)-1;
  if(t == (time_t)-1)
    t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}
