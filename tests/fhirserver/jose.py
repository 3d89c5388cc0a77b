"""Pure-Python JWS/JWK verification for the FHIR test server (standard library only).

Only what SMART Backend Services needs on the verifying side:
  * RS384: RSASSA-PKCS1-v1_5 with SHA-384, checked with pow() and a rebuilt
    EMSA-PKCS1-v1_5 encoding (RFC 8017 8.2.2), compared in constant time.
  * ES384: ECDSA over NIST P-384 with SHA-384 (FIPS 186-4 6.4.2); the JWS
    signature is r||s, 48 + 48 bytes (RFC 7518 3.4). Curve arithmetic is done
    in Jacobian coordinates with Shamir's trick.
  * Public keys from PEM/DER: SubjectPublicKeyInfo ("PUBLIC KEY") for RSA and
    EC P-384, and PKCS#1 "RSA PUBLIC KEY"; to and from JWK.

This is verification code for a test server. It is not constant-time on the
EC side and never handles private keys.
"""

import base64
import binascii
import hashlib
import hmac
import json
import re

__all__ = [
    "JoseError", "b64url_encode", "b64url_decode", "pem_to_der", "parse_public_key",
    "RSAPublicKey", "ECPublicKey", "make_jwk", "jwk_to_key", "verify_signature",
    "decode_jwt", "verify_jwt", "ecdsa_der_to_raw", "SUPPORTED_ALGS",
]

SUPPORTED_ALGS = ("RS384", "ES384")


class JoseError(ValueError):
    """A token, key or signature that cannot be accepted; str() says why."""


# ---------------------------------------------------------------- base64url

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_encode(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    """Unpadded base64url (RFC 7515 2) to bytes; padding is tolerated, other junk is not."""
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    if not isinstance(text, str):
        raise JoseError("base64url value is not a string")
    text = text.rstrip("=")
    if not _B64URL.match(text) or len(text) % 4 == 1:
        raise JoseError("invalid base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise JoseError("invalid base64url: %s" % e) from None


def _int_from_b64url(text):
    return int.from_bytes(b64url_decode(text), "big")


def _int_to_b64url(value, size=None):
    if size is None:
        size = max(1, (value.bit_length() + 7) // 8)
    return b64url_encode(value.to_bytes(size, "big"))


# ---------------------------------------------------------------- DER / PEM

OID_RSA = "1.2.840.113549.1.1.1"
OID_EC = "1.2.840.10045.2.1"
OID_P384 = "1.3.132.0.34"


def _der_next(data, pos):
    """Read one DER TLV at pos; returns (tag, value, end)."""
    if pos + 2 > len(data):
        raise JoseError("truncated DER")
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        if n == 0 or n > 4 or pos + n > len(data):
            raise JoseError("bad DER length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    end = pos + length
    if end > len(data):
        raise JoseError("truncated DER")
    return tag, data[pos:end], end


def _der_children(value):
    out, pos = [], 0
    while pos < len(value):
        tag, v, pos = _der_next(value, pos)
        out.append((tag, v))
    return out


def _der_int(tag_value):
    tag, value = tag_value
    if tag != 0x02 or not value:
        raise JoseError("expected DER INTEGER")
    if value[0] & 0x80:
        raise JoseError("negative DER INTEGER")
    return int.from_bytes(value, "big")


def _der_oid(value):
    if not value:
        raise JoseError("empty OID")
    parts = [value[0] // 40, value[0] % 40]
    acc = 0
    for b in value[1:]:
        acc = (acc << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(acc)
            acc = 0
    return ".".join(str(p) for p in parts)


_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def pem_to_der(pem):
    """First PEM block of pem (bytes or str) -> (label, der bytes)."""
    if isinstance(pem, bytes):
        pem = pem.decode("ascii", "replace")
    m = _PEM.search(pem)
    if not m:
        raise JoseError("no PEM block found")
    body = "".join(line for line in m.group(2).splitlines() if ":" not in line)
    try:
        return m.group(1), base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError) as e:
        raise JoseError("bad PEM base64: %s" % e) from None


class RSAPublicKey:
    kty = "RSA"

    def __init__(self, n, e):
        if n.bit_length() < 1024 or e < 3 or e % 2 == 0:
            raise JoseError("unacceptable RSA public key")
        self.n, self.e = n, e
        self.size = (n.bit_length() + 7) // 8

    def __repr__(self):
        return "RSAPublicKey(%d bits)" % self.n.bit_length()


class ECPublicKey:
    kty = "EC"
    crv = "P-384"

    def __init__(self, x, y):
        if not _p384_on_curve(x, y):
            raise JoseError("EC point is not on P-384")
        self.x, self.y = x, y

    def __repr__(self):
        return "ECPublicKey(P-384)"


def _rsa_from_pkcs1(der):
    tag, value, _ = _der_next(der, 0)
    kids = _der_children(value) if tag == 0x30 else []
    if len(kids) != 2:
        raise JoseError("bad RSAPublicKey")
    return RSAPublicKey(_der_int(kids[0]), _der_int(kids[1]))


def _key_from_spki(der):
    tag, value, _ = _der_next(der, 0)
    if tag != 0x30:
        raise JoseError("SubjectPublicKeyInfo is not a SEQUENCE")
    kids = _der_children(value)
    if len(kids) != 2 or kids[0][0] != 0x30 or kids[1][0] != 0x03:
        raise JoseError("bad SubjectPublicKeyInfo")
    alg = _der_children(kids[0][1])
    if not alg or alg[0][0] != 0x06:
        raise JoseError("bad AlgorithmIdentifier")
    oid = _der_oid(alg[0][1])
    bits = kids[1][1]
    if not bits or bits[0] != 0:
        raise JoseError("bad BIT STRING")
    key = bits[1:]
    if oid == OID_RSA:
        return _rsa_from_pkcs1(key)
    if oid == OID_EC:
        curve = _der_oid(alg[1][1]) if len(alg) > 1 and alg[1][0] == 0x06 else None
        if curve != OID_P384:
            raise JoseError("unsupported EC curve %s (only P-384)" % curve)
        if len(key) != 97 or key[0] != 4:
            raise JoseError("EC point must be uncompressed P-384")
        return ECPublicKey(int.from_bytes(key[1:49], "big"), int.from_bytes(key[49:], "big"))
    raise JoseError("unsupported public key algorithm %s" % oid)


def parse_public_key(data):
    """PEM (str/bytes) or DER SubjectPublicKeyInfo -> RSAPublicKey or ECPublicKey."""
    if isinstance(data, str) or (isinstance(data, bytes) and b"-----BEGIN" in data):
        label, der = pem_to_der(data)
        if label == "RSA PUBLIC KEY":
            return _rsa_from_pkcs1(der)
        if label != "PUBLIC KEY":
            raise JoseError("expected a PUBLIC KEY PEM block, got %s" % label)
        return _key_from_spki(der)
    return _key_from_spki(bytes(data))


# ---------------------------------------------------------------- JWK

def make_jwk(pem, kid):
    """A public key PEM (RSA or EC P-384) -> public JWK dict with kid, alg and use."""
    key = parse_public_key(pem)
    if isinstance(key, RSAPublicKey):
        jwk = {"kty": "RSA", "n": _int_to_b64url(key.n), "e": _int_to_b64url(key.e), "alg": "RS384"}
    else:
        jwk = {"kty": "EC", "crv": "P-384", "x": _int_to_b64url(key.x, 48),
               "y": _int_to_b64url(key.y, 48), "alg": "ES384"}
    jwk.update(kid=kid, use="sig")
    return jwk


def jwk_to_key(jwk):
    if not isinstance(jwk, dict):
        raise JoseError("JWK is not an object")
    kty = jwk.get("kty")
    try:
        if kty == "RSA":
            return RSAPublicKey(_int_from_b64url(jwk["n"]), _int_from_b64url(jwk["e"]))
        if kty == "EC":
            if jwk.get("crv") != "P-384":
                raise JoseError("unsupported EC curve %r" % jwk.get("crv"))
            x, y = b64url_decode(jwk["x"]), b64url_decode(jwk["y"])
            if len(x) != 48 or len(y) != 48:
                raise JoseError("P-384 coordinates must be 48 bytes")
            return ECPublicKey(int.from_bytes(x, "big"), int.from_bytes(y, "big"))
    except KeyError as e:
        raise JoseError("JWK lacks %s" % e) from None
    raise JoseError("unsupported kty %r" % kty)


# ---------------------------------------------------------------- RS384

# DER DigestInfo prefix for SHA-384 (RFC 8017 9.2 note 1)
_SHA384_DIGESTINFO = bytes.fromhex("3041300d060960864801650304020205000430")


def _rs384_verify(key, msg, sig):
    if len(sig) != key.size:
        return False
    s = int.from_bytes(sig, "big")
    if s >= key.n:
        return False
    em = pow(s, key.e, key.n).to_bytes(key.size, "big")
    t = _SHA384_DIGESTINFO + hashlib.sha384(msg).digest()
    if key.size < len(t) + 11:
        return False
    expected = b"\x00\x01" + b"\xff" * (key.size - len(t) - 3) + b"\x00" + t
    return hmac.compare_digest(em, expected)


# ---------------------------------------------------------------- ES384 (P-384)

_P = 2**384 - 2**128 - 2**96 + 2**32 - 1
_B = int("b3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f"
         "5013875ac656398d8a2ed19d2a85c8edd3ec2aef", 16)
_GX = int("aa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e0"
          "82542a385502f25dbf55296c3a545e3872760ab7", 16)
_GY = int("3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113"
          "b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5f", 16)
_N = int("ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81"
         "f4372ddf581a0db248b0a77aecec196accc52973", 16)
_INF = (1, 1, 0)


def _p384_on_curve(x, y):
    return 0 <= x < _P and 0 <= y < _P and (y * y - (x * x * x - 3 * x + _B)) % _P == 0


def _jdouble(pt):
    x, y, z = pt
    if z == 0 or y == 0:
        return _INF
    p = _P
    delta = z * z % p
    gamma = y * y % p
    beta = x * gamma % p
    alpha = 3 * (x - delta) * (x + delta) % p
    x3 = (alpha * alpha - 8 * beta) % p
    z3 = ((y + z) * (y + z) - gamma - delta) % p
    y3 = (alpha * (4 * beta - x3) - 8 * gamma * gamma) % p
    return (x3, y3, z3)


def _jadd(p1, p2):
    if p1[2] == 0:
        return p2
    if p2[2] == 0:
        return p1
    p = _P
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1 = z1 * z1 % p
    z2z2 = z2 * z2 % p
    u1 = x1 * z2z2 % p
    u2 = x2 * z1z1 % p
    s1 = y1 * z2 * z2z2 % p
    s2 = y2 * z1 * z1z1 % p
    if u1 == u2:
        return _jdouble(p1) if s1 == s2 else _INF
    h = (u2 - u1) % p
    r = (s2 - s1) % p
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    y3 = (r * (v - x3) - s1 * hhh) % p
    z3 = z1 * z2 * h % p
    return (x3, y3, z3)


def _affine_x(pt):
    if pt[2] == 0:
        return None
    zinv = pow(pt[2], -1, _P)
    return pt[0] * zinv * zinv % _P


def _mul2(u1, pt1, u2, pt2):
    """u1*pt1 + u2*pt2 (Shamir's trick), Jacobian in and out."""
    both = _jadd(pt1, pt2)
    acc = _INF
    for i in range(max(u1.bit_length(), u2.bit_length()) - 1, -1, -1):
        acc = _jdouble(acc)
        b1, b2 = (u1 >> i) & 1, (u2 >> i) & 1
        if b1 and b2:
            acc = _jadd(acc, both)
        elif b1:
            acc = _jadd(acc, pt1)
        elif b2:
            acc = _jadd(acc, pt2)
    return acc


def _es384_verify(key, msg, sig):
    if len(sig) != 96:
        return False
    r = int.from_bytes(sig[:48], "big")
    s = int.from_bytes(sig[48:], "big")
    if not (0 < r < _N and 0 < s < _N):
        return False
    e = int.from_bytes(hashlib.sha384(msg).digest(), "big")  # 384-bit hash, 384-bit order
    w = pow(s, -1, _N)
    pt = _mul2(e * w % _N, (_GX, _GY, 1), r * w % _N, (key.x, key.y, 1))
    x = _affine_x(pt)
    return x is not None and x % _N == r


def ecdsa_der_to_raw(der, size=48):
    """DER ECDSA-Sig-Value (what `openssl dgst -sign` writes) -> JWS r||s."""
    tag, value, _ = _der_next(der, 0)
    kids = _der_children(value) if tag == 0x30 else []
    if len(kids) != 2:
        raise JoseError("bad ECDSA DER signature")
    return _der_int(kids[0]).to_bytes(size, "big") + _der_int(kids[1]).to_bytes(size, "big")


def verify_signature(alg, key, signing_input, signature):
    """True when signature is a valid alg signature of signing_input under key."""
    if alg == "RS384":
        if not isinstance(key, RSAPublicKey):
            raise JoseError("alg RS384 needs an RSA key")
        return _rs384_verify(key, signing_input, signature)
    if alg == "ES384":
        if not isinstance(key, ECPublicKey):
            raise JoseError("alg ES384 needs an EC P-384 key")
        return _es384_verify(key, signing_input, signature)
    raise JoseError("unsupported alg %r" % (alg,))


# ---------------------------------------------------------------- JWT

def decode_jwt(token):
    """Split a compact JWS without verifying it -> (header, claims, signing_input, signature)."""
    if isinstance(token, bytes):
        token = token.decode("ascii", "replace")
    if not isinstance(token, str) or token.count(".") != 2:
        raise JoseError("malformed JWT: expected three dot-separated parts")
    h64, c64, s64 = token.split(".")
    try:
        header = json.loads(b64url_decode(h64))
        claims = json.loads(b64url_decode(c64))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise JoseError("malformed JWT: header or claims are not JSON") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise JoseError("malformed JWT: header and claims must be JSON objects")
    return header, claims, (h64 + "." + c64).encode("ascii"), b64url_decode(s64)


def verify_jwt(token, jwks, algs=SUPPORTED_ALGS):
    """Verify a JWT's signature against a JWKS ({"keys": [...]}) -> (header, claims).

    The header's alg must be one of algs (never "none" or HS*), its kid must
    name a key in jwks whose kty (and alg, if the JWK has one) fits the alg.
    Claims are NOT checked here: that is the caller's policy.
    """
    header, claims, signing_input, signature = decode_jwt(token)
    alg = header.get("alg")
    if alg not in algs:
        raise JoseError("unsupported alg %r (allowed: %s)" % (alg, ", ".join(algs)))
    if "crit" in header:
        raise JoseError("unsupported crit header")
    typ = header.get("typ")
    if typ is not None and str(typ).upper() not in ("JWT", "APPLICATION/JWT"):
        raise JoseError("typ must be JWT")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JoseError("missing kid in JWT header")
    keys = (jwks or {}).get("keys") or []
    jwk = next((k for k in keys if isinstance(k, dict) and k.get("kid") == kid), None)
    if jwk is None:
        raise JoseError("unknown kid %r" % kid)
    if jwk.get("alg") not in (None, alg):
        raise JoseError("kid %r is for alg %s, not %s" % (kid, jwk.get("alg"), alg))
    if jwk.get("use") not in (None, "sig"):
        raise JoseError("kid %r is not a signing key" % kid)
    if not verify_signature(alg, jwk_to_key(jwk), signing_input, signature):
        raise JoseError("invalid signature")
    return header, claims
