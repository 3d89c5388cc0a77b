/* hash.h - document digests (OpenSSL EVP). */
#ifndef DP_HASH_H
#define DP_HASH_H

#include <stddef.h>

/* Lower-case hex SHA-256 of data into hex[65].  Returns 0 or -1. */
int dpi_sha256_hex(const void *data, size_t len, char hex[65]);
/* Base64 SHA-1 of data into b64[29], the form of FHIR Attachment.hash. */
int dpi_sha1_b64(const void *data, size_t len, char b64[29]);

#endif
