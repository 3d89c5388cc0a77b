/* jose.c - see jose.h */
#include "jose.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "dplimits.h"
#include "record.h"

#define ASSERTION_LIFETIME 240 /* seconds; SMART allows at most 300 */

EVP_PKEY *dpi_load_private_key(const char *path, char *why, size_t whylen)
{
  FILE *f = fopen(path, "re");
  if(!f) {
    snprintf(why, whylen, "cannot read private key %s: %s", path, strerror(errno));
    return NULL;
  }
  EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  ERR_clear_error();
  if(!key)
    snprintf(why, whylen, "%s is not a PEM private key (an unencrypted PKCS#8 or traditional "
                          "RSA/EC key is needed)", path);
  return key;
}

const char *dpi_jwt_alg(EVP_PKEY *key)
{
  if(EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
    return EVP_PKEY_get_bits(key) >= 2048 ? "RS384" : NULL;
  if(EVP_PKEY_get_base_id(key) == EVP_PKEY_EC) {
    char group[64] = "";
    if(EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
                                      NULL) &&
       (!strcmp(group, "secp384r1") || !strcmp(group, "P-384")))
      return "ES384";
  }
  return NULL;
}

static int b64url_json(json_object *o, struct dp_buf *out)
{
  size_t n = 0;
  const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN |
                                                           JSON_C_TO_STRING_NOSLASHESCAPE, &n);
  return s && dpi_b64url_encode(s, n, out) == DP_B64_OK ? 0 : -1;
}

/* ECDSA signatures come as DER; JWS wants r || s, each 48 bytes for P-384. */
static int der_to_raw(const unsigned char *der, size_t len, unsigned char raw[96])
{
  const unsigned char *p = der;
  ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)len);
  if(!sig)
    return -1;
  const BIGNUM *r, *s;
  ECDSA_SIG_get0(sig, &r, &s);
  int ok = BN_bn2binpad(r, raw, 48) == 48 && BN_bn2binpad(s, raw + 48, 48) == 48;
  ECDSA_SIG_free(sig);
  return ok ? 0 : -1;
}

int dpi_jwt_assertion(EVP_PKEY *key, const char *kid, const char *client_id,
                      const char *token_url, long now, struct dp_buf *out, char *why,
                      size_t whylen)
{
  const char *alg = dpi_jwt_alg(key);
  if(!alg) {
    snprintf(why, whylen, "the private key must be RSA (2048 bits or more, for RS384) or EC "
                          "P-384 (for ES384)");
    return -1;
  }
  unsigned char nonce[16];
  char jti[33];
  if(RAND_bytes(nonce, sizeof(nonce)) != 1) {
    snprintf(why, whylen, "no random bytes for the assertion's jti");
    return -1;
  }
  for(int i = 0; i < 16; i++)
    snprintf(jti + 2 * i, 3, "%02x", nonce[i]);
  json_object *hdr = json_object_new_object(), *claims = json_object_new_object();
  dpi_json_set_str(hdr, "alg", alg);
  dpi_json_set_str(hdr, "typ", "JWT");
  if(kid)
    dpi_json_set_str(hdr, "kid", kid);
  dpi_json_set_str(claims, "iss", client_id);
  dpi_json_set_str(claims, "sub", client_id);
  dpi_json_set_str(claims, "aud", token_url);
  json_object_object_add(claims, "exp", json_object_new_int64(now + ASSERTION_LIFETIME));
  json_object_object_add(claims, "iat", json_object_new_int64(now));
  dpi_json_set_str(claims, "jti", jti);
  size_t start = out->len;
  int rc = b64url_json(hdr, out) || dpi_buf_addc(out, '.') || b64url_json(claims, out) ? -1 : 0;
  json_object_put(hdr);
  json_object_put(claims);
  if(rc) {
    snprintf(why, whylen, "out of memory");
    return -1;
  }
  size_t signing_len = out->len - start;
  unsigned char *sig = NULL;
  size_t siglen = 0;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  rc = -1;
  if(md && EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) == 1 &&
     EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)out->mem + start, signing_len) == 1 &&
     (sig = malloc(siglen)) &&
     EVP_DigestSign(md, sig, &siglen, (const unsigned char *)out->mem + start, signing_len) == 1) {
    unsigned char raw[96];
    if(!strcmp(alg, "ES384")) {
      if(!der_to_raw(sig, siglen, raw))
        rc = dpi_buf_addc(out, '.') || dpi_b64url_encode(raw, 96, out) != DP_B64_OK ? -1 : 0;
    } else {
      rc = dpi_buf_addc(out, '.') || dpi_b64url_encode(sig, siglen, out) != DP_B64_OK ? -1 : 0;
    }
  }
  EVP_MD_CTX_free(md);
  free(sig);
  ERR_clear_error();
  if(rc)
    snprintf(why, whylen, "signing the client assertion failed");
  return rc;
}

static int add_bn(json_object *jwk, const char *name, EVP_PKEY *key, const char *param, int pad)
{
  BIGNUM *bn = NULL;
  if(!EVP_PKEY_get_bn_param(key, param, &bn))
    return -1;
  int n = pad ? pad : BN_num_bytes(bn);
  unsigned char *bytes = malloc((size_t)n);
  struct dp_buf b;
  dpi_buf_init(&b, DP_MAX_JWK_NUMBER);
  int rc = -1;
  if(bytes && BN_bn2binpad(bn, bytes, n) == n &&
     dpi_b64url_encode(bytes, (size_t)n, &b) == DP_B64_OK) {
    dpi_json_set_str(jwk, name, dpi_buf_str(&b));
    rc = 0;
  }
  dpi_buf_free(&b);
  free(bytes);
  BN_free(bn);
  return rc;
}

int dpi_jwks(EVP_PKEY *key, const char *kid, struct dp_buf *out)
{
  const char *alg = dpi_jwt_alg(key);
  if(!alg)
    return -1;
  json_object *jwk = json_object_new_object();
  int rsa = !strcmp(alg, "RS384");
  dpi_json_set_str(jwk, "kty", rsa ? "RSA" : "EC");
  if(!rsa)
    dpi_json_set_str(jwk, "crv", "P-384");
  if(kid)
    dpi_json_set_str(jwk, "kid", kid);
  dpi_json_set_str(jwk, "use", "sig");
  dpi_json_set_str(jwk, "alg", alg);
  dpi_json_set_str(jwk, "key_ops", NULL);
  json_object_object_del(jwk, "key_ops");
  int rc = rsa ? add_bn(jwk, "n", key, OSSL_PKEY_PARAM_RSA_N, 0) ||
                     add_bn(jwk, "e", key, OSSL_PKEY_PARAM_RSA_E, 0)
               : add_bn(jwk, "x", key, OSSL_PKEY_PARAM_EC_PUB_X, 48) ||
                     add_bn(jwk, "y", key, OSSL_PKEY_PARAM_EC_PUB_Y, 48);
  json_object *keys = json_object_new_array(), *set = json_object_new_object();
  json_object_array_add(keys, jwk);
  json_object_object_add(set, "keys", keys);
  if(!rc)
    rc = dpi_buf_adds(out, json_object_to_json_string_ext(set, JSON_C_TO_STRING_PRETTY |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(set);
  ERR_clear_error();
  return rc;
}
