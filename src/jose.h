/* jose.h - the JOSE pieces of SMART Backend Services: private keys, the
 * signed client assertion (a JWT, RFC 7523) and the JWKS to register.
 *
 * RS384 for RSA keys of 2048 bits or more, ES384 for EC P-384 keys, the two
 * algorithms every SMART server must accept.  No network and no state: the
 * token flow that sends the assertion is auth.c's. */
#ifndef DP_JOSE_H
#define DP_JOSE_H

#include <openssl/evp.h>
#include <stddef.h>

#include "buf.h"

/* Load a PEM private key (PKCS#8 or traditional, RSA or EC). */
EVP_PKEY *dpi_load_private_key(const char *path, char *why, size_t whylen);
/* "RS384" for RSA keys of 2048 bits or more, "ES384" for EC P-384, else
 * NULL. */
const char *dpi_jwt_alg(EVP_PKEY *key);
/* A signed client assertion: iss = sub = client_id, aud = token_url, a
 * unique jti, exp = now + 240 s.  Appends the compact JWS to out. */
int dpi_jwt_assertion(EVP_PKEY *key, const char *kid, const char *client_id,
                      const char *token_url, long now, struct dp_buf *out, char *why,
                      size_t whylen);
/* The public JWKS for the key, to register with the EHR. */
int dpi_jwks(EVP_PKEY *key, const char *kid, struct dp_buf *out);

#endif
