/* scopes.h - SMART scopes: what a run needs, and how this server spells it.
 *
 * Stages say what they do on the FHIR server as "access" words, "Type.perms"
 * with perms from "cruds" (SMART v2 letters): search asks DocumentReference.rs,
 * resolve Binary.r, export each --type .rs (and Patient.rs, Group.rs for
 * those levels), update DocumentReference.ru.  The default --scope is made
 * from them when the token is first asked for, in the SMART version the
 * server supports: v2 (system/T.rs) when its .well-known/smart-configuration
 * offers only v2 (capabilities permission-v2 without permission-v1, or only
 * v2 forms in scopes_supported; a type listed in one form only gets that
 * form), else v1 (system/T.read, system/T.write), which every SMART server
 * reads.  An explicit --scope is sent as given. */
#ifndef DP_SCOPES_H
#define DP_SCOPES_H

#include <stddef.h>

#include "buf.h"

/* What the SMART configuration says about scopes. */
struct dp_smart_scopes {
  char **supported;  /* scopes_supported, NULL when the server gives none */
  size_t nsupported;
  int v1, v2;        /* capabilities permission-v1 / permission-v2 */
};

void dpi_smart_scopes_free(struct dp_smart_scopes *s);

/* Append "Type.perms" to an access list (space separated). */
void dpi_access_add(struct dp_buf *access, const char *type, const char *perms);

/* The scope string for an access list: merged per type, in the order the
 * types first appear, types in `drop` (space separated) left out.  sc may
 * be NULL (v1).  Returns the number of scopes written. */
size_t dpi_scopes_build(const char *access, const struct dp_smart_scopes *sc, const char *drop,
                        struct dp_buf *out);

/* The types of the access list that text names as a whole word, quoted or
 * not ("Resources of type \"Binary\" do not exist"), appended to out
 * space separated; how many. */
size_t dpi_access_named(const char *access, const char *text, struct dp_buf *out);

/* The types of the access list that scopes_supported lists no system scope
 * for, when it lists some per-type system scopes at all; how many. */
size_t dpi_access_unlisted(const char *access, const struct dp_smart_scopes *sc,
                           struct dp_buf *out);

/* Does a granted scope string allow perm (one of "cruds") on type?  SMART
 * v1 type.read / .write / .*, v2 letters, and the * wildcard type. */
int dpi_scope_allows(const char *granted, const char *type, char perm);

#endif
