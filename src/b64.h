/* b64.h - Base64 as FHIR sends it.
 *
 * Decoding validates as it goes: whitespace and line breaks are ignored
 * (FHIR base64Binary may be wrapped), the base64url alphabet is accepted,
 * padding is optional but must be well placed.  Anything else is an error
 * that names the offset of the first bad character (never the character's
 * context).  It is table-driven and single-pass, faster than base64 -d; libb64
 * silently skips invalid characters, so it only encodes (the wire form). */
#ifndef DP_B64_H
#define DP_B64_H

#include <stddef.h>

#include "buf.h"

enum dp_b64_result {
  DP_B64_OK = 0,
  DP_B64_INVALID,  /* *bad_at: offset of the first offending character */
  DP_B64_TOO_BIG,  /* the output buffer's cap was reached */
  DP_B64_NOMEM
};

enum dp_b64_result dpi_b64_decode(const char *text, size_t len, struct dp_buf *out,
                                  size_t *bad_at);
/* Standard alphabet, padded, no line breaks. */
enum dp_b64_result dpi_b64_encode(const void *data, size_t len, struct dp_buf *out);
/* base64url (RFC 4648 section 5) without padding, as JOSE uses it. */
enum dp_b64_result dpi_b64url_encode(const void *data, size_t len, struct dp_buf *out);
/* True when data holds only Base64 characters and whitespace and carries
 * enough of them to be an encoded document (used to unwrap Base64 of Base64). */
int dpi_b64_plausible(const void *data, size_t len);

#endif
