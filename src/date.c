/* date.c - see date.h */
#include "date.h"

#include <curl/curl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static int digits(const char *s, int n, int *v)
{
  int x = 0;
  for(int i = 0; i < n; i++) {
    if(s[i] < '0' || s[i] > '9')
      return -1;
    x = x * 10 + (s[i] - '0');
  }
  *v = x;
  return 0;
}

static int valid_ymd(int y, int m, int d)
{
  static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if(y < 1 || m < 1 || m > 12 || d < 1)
    return 0;
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return d <= days[m - 1] + (m == 2 && leap);
}

/* After the date part: nothing, or a time part that starts properly. */
static int sane_tail(const char *t, int compact)
{
  if(!*t)
    return 1;
  if(compact) /* HL7/CDA: more digits, a fraction or a zone */
    return (*t >= '0' && *t <= '9') || *t == '+' || *t == '-' || *t == '.' || *t == 'Z' ||
           *t == '\'';
  return *t == 'T' || *t == 't' || *t == ' ' || *t == 'Z' || *t == '+' || *t == '-';
}

int dpi_date_normalize(const char *in, char out[11])
{
  if(!in)
    return -1;
  while(*in == ' ' || *in == '\t')
    in++;
  if(in[0] == 'D' && in[1] == ':') /* PDF */
    in += 2;
  int y = 0, m = 0, d = 0;
  size_t n = strlen(in);
  if(n >= 10 && in[4] == '-' && in[7] == '-') {
    if(digits(in, 4, &y) || digits(in + 5, 2, &m) || digits(in + 8, 2, &d) ||
       !sane_tail(in + 10, 0))
      return -1;
  } else if(n >= 8 && !digits(in, 8, &y)) {
    digits(in, 4, &y);
    digits(in + 4, 2, &m);
    digits(in + 6, 2, &d);
    if(!sane_tail(in + 8, 1))
      return -1;
  } else {
    return -1;
  }
  if(!valid_ymd(y, m, d))
    return -1;
  /* valid_ymd bounds the values; the modulos tell the compiler so. */
  snprintf(out, 11, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
           (unsigned)d % 100u);
  return 0;
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
