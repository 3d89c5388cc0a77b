/* scopes.c - see scopes.h */
#include "scopes.h"

#include <stdlib.h>
#include <string.h>

#include "dplimits.h"

void dpi_smart_scopes_free(struct dp_smart_scopes *s)
{
  for(size_t i = 0; i < s->nsupported; i++)
    free(s->supported[i]);
  free(s->supported);
  memset(s, 0, sizeof(*s));
}

void dpi_access_add(struct dp_buf *access, const char *type, const char *perms)
{
  if(!type || !*type || strpbrk(type, " ./"))
    return;
  dpi_buf_addf(access, "%s%s.%s", access->len ? " " : "", type, perms);
}

struct need {
  char type[DP_MAX_RESOURCE_TYPE];
  unsigned perms; /* bit i: "cruds"[i] */
};

static const char letters[] = "cruds";

/* The access list merged per type, in order of first appearance. */
static size_t parse_access(const char *access, struct need *out, size_t cap)
{
  size_t n = 0;
  for(const char *p = access ? access : ""; *p;) {
    p += strspn(p, " ");
    size_t wl = strcspn(p, " ");
    const char *dot = memchr(p, '.', wl);
    if(wl && dot && (size_t)(dot - p) < sizeof(out->type)) {
      size_t tl = (size_t)(dot - p), k;
      for(k = 0; k < n; k++)
        if(strlen(out[k].type) == tl && !memcmp(out[k].type, p, tl))
          break;
      if(k == n && n < cap) {
        memcpy(out[n].type, p, tl);
        out[n].type[tl] = '\0';
        out[n++].perms = 0;
      }
      for(const char *q = dot + 1; k < n && q < p + wl; q++) {
        const char *l = strchr(letters, *q);
        if(l && *l)
          out[k].perms |= 1u << (l - letters);
      }
    }
    p += wl;
  }
  return n;
}

/* Is word (of length n) in the space separated list? */
static int listed(const char *list, const char *word, size_t n)
{
  for(const char *p = list ? list : ""; *p;) {
    p += strspn(p, " ");
    size_t wl = strcspn(p, " ");
    if(wl == n && !memcmp(p, word, n))
      return 1;
    p += wl;
  }
  return 0;
}

/* A system scope of scopes_supported for type: 1 in v1 form, 2 in v2 form,
 * 0 none. */
static int listed_form(const struct dp_smart_scopes *sc, const char *type)
{
  int form = 0;
  size_t tl = strlen(type);
  for(size_t i = 0; sc && i < sc->nsupported; i++) {
    const char *s = sc->supported[i];
    if(strncmp(s, "system/", 7) || strncmp(s + 7, type, tl) || s[7 + tl] != '.')
      continue;
    const char *p = s + 8 + tl;
    if(!strcmp(p, "read") || !strcmp(p, "write") || !strcmp(p, "*"))
      form |= 1;
    else if(*p && strspn(p, letters) == strlen(p))
      form |= 2;
  }
  return form;
}

/* v1, which every SMART server reads, unless the server offers v2 only. */
static int server_wants_v2(const struct dp_smart_scopes *sc)
{
  if(!sc)
    return 0;
  if(sc->v2 && !sc->v1)
    return 1;
  if(sc->v1)
    return 0;
  int v1 = 0, v2 = 0;
  for(size_t i = 0; i < sc->nsupported; i++) {
    const char *s = sc->supported[i], *dot = strrchr(s, '.');
    if(strncmp(s, "system/", 7) || !dot)
      continue;
    if(!strcmp(dot + 1, "read") || !strcmp(dot + 1, "write"))
      v1 = 1;
    else if(dot[1] && strspn(dot + 1, letters) == strlen(dot + 1))
      v2 = 1;
  }
  return v2 && !v1;
}

size_t dpi_scopes_build(const char *access, const struct dp_smart_scopes *sc, const char *drop,
                        struct dp_buf *out)
{
  struct need needs[DP_MAX_SCOPE_TYPES];
  size_t n = parse_access(access, needs, DP_MAX_SCOPE_TYPES), made = 0;
  int v2 = server_wants_v2(sc);
  for(size_t i = 0; i < n; i++) {
    if(listed(drop, needs[i].type, strlen(needs[i].type)) || !needs[i].perms)
      continue;
    int form = listed_form(sc, needs[i].type);
    int use_v2 = form == 2 ? 1 : form == 1 ? 0 : v2;
    const char *sep = out->len ? " " : "";
    if(use_v2) {
      dpi_buf_addf(out, "%ssystem/%s.", sep, needs[i].type);
      for(int b = 0; b < 5; b++)
        if(needs[i].perms & (1u << b))
          dpi_buf_addc(out, letters[b]);
      made++;
      continue;
    }
    unsigned reads = (1u << 1) | (1u << 4), writes = (1u << 0) | (1u << 2) | (1u << 3);
    if(needs[i].perms & reads) {
      dpi_buf_addf(out, "%ssystem/%s.read", sep, needs[i].type);
      made++;
      sep = " ";
    }
    if(needs[i].perms & writes) {
      dpi_buf_addf(out, "%ssystem/%s.write", sep, needs[i].type);
      made++;
    }
  }
  return made;
}

static int word_char(char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

size_t dpi_access_named(const char *access, const char *text, struct dp_buf *out)
{
  struct need needs[DP_MAX_SCOPE_TYPES];
  size_t n = parse_access(access, needs, DP_MAX_SCOPE_TYPES), found = 0;
  for(size_t i = 0; i < n && text; i++) {
    size_t tl = strlen(needs[i].type);
    for(const char *p = text; (p = strstr(p, needs[i].type)); p += tl) {
      /* "system/Binary.read" names it too, "BinaryData" does not. */
      if((p == text || !word_char(p[-1])) && !word_char(p[tl])) {
        dpi_buf_addf(out, "%s%s", out->len ? " " : "", needs[i].type);
        found++;
        break;
      }
    }
  }
  return found;
}

size_t dpi_access_unlisted(const char *access, const struct dp_smart_scopes *sc,
                           struct dp_buf *out)
{
  if(!sc || !sc->nsupported)
    return 0;
  int specific = 0;
  for(size_t i = 0; i < sc->nsupported && !specific; i++)
    specific = !strncmp(sc->supported[i], "system/", 7) && sc->supported[i][7] != '*';
  if(!specific)
    return 0;
  struct need needs[DP_MAX_SCOPE_TYPES];
  size_t n = parse_access(access, needs, DP_MAX_SCOPE_TYPES), found = 0;
  for(size_t i = 0; i < n; i++)
    if(!listed_form(sc, needs[i].type)) {
      dpi_buf_addf(out, "%s%s", out->len ? " " : "", needs[i].type);
      found++;
    }
  return found;
}

int dpi_scope_allows(const char *granted, const char *type, char perm)
{
  size_t tlen = strlen(type);
  for(const char *p = granted ? granted : ""; *p;) {
    p += strspn(p, " ");
    size_t wl = strcspn(p, " ");
    const char *slash = memchr(p, '/', wl);
    const char *dot = slash ? memchr(slash, '.', (size_t)(p + wl - slash)) : NULL;
    const char *end = p + wl;
    p = end;
    if(!slash || !dot)
      continue;
    size_t tl = (size_t)(dot - slash - 1);
    if(!((tl == 1 && slash[1] == '*') || (tl == tlen && !strncmp(slash + 1, type, tl))))
      continue;
    size_t pl = (size_t)(end - dot - 1);
    const char *perms = dot + 1;
    int reading = perm == 'r' || perm == 's';
    if((pl == 1 && *perms == '*') || (pl == 4 && !strncmp(perms, "read", 4) && reading) ||
       (pl == 5 && !strncmp(perms, "write", 5) && !reading))
      return 1;
    /* v2 letters, possibly with a "?query" restriction after them */
    size_t ll = strspn(perms, letters);
    if(ll && ll <= 5 && (ll == pl || perms[ll] == '?') && memchr(perms, perm, ll))
      return 1;
  }
  return 0;
}
