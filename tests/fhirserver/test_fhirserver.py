"""Self-tests of the FHIR test server (python3 -m unittest, or run this file).

Keys are made with the openssl command-line tool and JWTs are signed with
`openssl dgst -sha384 -sign`, so the server's pure-Python verification is
checked against an independent implementation. Data: the developer corpus in
$DOCPIPE_SHARED/corpus (default ../../../shared/corpus from this file).
"""
import base64
import email.utils
import gzip
import hashlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
sys.path.insert(0, HERE)
import fhirserver  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import dptest  # noqa: E402
from fhirserver import FhirTestServer, make_jwk  # noqa: E402

jose = fhirserver.jose
SHARED = os.environ.get("DOCPIPE_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
CORPUS = os.path.join(SHARED, "corpus")
OPENSSL = shutil.which("openssl")

KEYS = {}
DATA = {}


def setUpModule():
    docrefs = os.path.join(CORPUS, "docrefs.ndjson")
    # the corpus is part of every checkout's ../shared: without it the test fails
    assert os.path.exists(docrefs), "corpus not found at %s (set DOCPIPE_SHARED)" % CORPUS
    DATA["docrefs"] = fhirserver._read_ndjson(docrefs)
    DATA["binaries"] = fhirserver._read_ndjson(os.path.join(CORPUS, "binaries.ndjson"))
    if not OPENSSL:
        return
    tmp = tempfile.mkdtemp(prefix="fhirserver-test-")
    KEYS["dir"] = tmp
    for name, opts in (("rsa", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                       ("ec", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"])):
        key = os.path.join(tmp, name + ".pem")
        subprocess.run([OPENSSL, "genpkey", *opts, "-out", key], check=True, capture_output=True)
        pub = subprocess.run([OPENSSL, "pkey", "-in", key, "-pubout"], check=True,
                             capture_output=True).stdout
        KEYS[name] = key
        KEYS[name + "_pub"] = pub


def tearDownModule():
    if "dir" in KEYS:
        shutil.rmtree(KEYS["dir"], ignore_errors=True)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def der_sig_to_raw(der):
    """ECDSA-Sig-Value DER -> r||s (48+48), written here independently of jose.py."""
    assert der[0] == 0x30
    i = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert der[i] == 0x02
        n = der[i + 1]
        out += int.from_bytes(der[i + 2:i + 2 + n], "big").to_bytes(48, "big")
        i += 2 + n
    return out


def sign_jwt(claims, alg="RS384", kid="rsa1", header=None):
    hdr = {"alg": alg, "typ": "JWT", "kid": kid}
    hdr.update(header or {})
    signing_input = b64url(json.dumps(hdr).encode()) + "." + b64url(json.dumps(claims).encode())
    if alg == "none":
        return signing_input + "."
    key = KEYS["ec" if alg.startswith("ES") else "rsa"]
    sig = subprocess.run([OPENSSL, "dgst", "-sha384", "-sign", key], input=signing_input.encode(),
                         check=True, capture_output=True).stdout
    if alg.startswith("ES"):
        sig = der_sig_to_raw(sig)
    return signing_input + "." + b64url(sig)


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body)

    def diag(self):
        return self.json()["issue"][0]["diagnostics"]


def request(method, url, body=None, headers=None, conn=None):
    u = urllib.parse.urlsplit(url)
    c = conn or http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request(method, u.path + ("?" + u.query if u.query else ""), body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    if conn is None:
        c.close()
    return Resp(r.status, r.headers, data)


def corpus_bytes(bid):
    b = next(b for b in DATA["binaries"] if b["id"] == bid)
    return base64.b64decode("".join(b["data"].split()))


class ServerCase(unittest.TestCase):
    def setUp(self):
        self.srv = FhirTestServer(docrefs=DATA["docrefs"], binaries=DATA["binaries"]).start()
        self.addCleanup(self.srv.stop)
        self.srv.register_client("basic", secret="s3cret")
        self.srv.register_client("docs-only", secret="x", scopes=["system/DocumentReference.read"])
        if OPENSSL:
            self.srv.register_client("jwt", jwks={"keys": [make_jwk(KEYS["rsa_pub"], "rsa1"),
                                                           make_jwk(KEYS["ec_pub"], "ec1")]},
                                     scopes=["system/*.read", "system/DocumentReference.write"])
        self.base = self.srv.base_url

    # ---- helpers

    def token_request(self, form, basic=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        if basic:
            h["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
        return request("POST", self.srv.token_url, urllib.parse.urlencode(form), h)

    def token(self, scope="system/*.read system/DocumentReference.write", client="basic:s3cret"):
        r = self.token_request({"grant_type": "client_credentials", "scope": scope}, basic=client)
        self.assertEqual(r.status, 200, r.body)
        return r.json()["access_token"]

    def auth(self, scope="system/*.read system/DocumentReference.write", **extra):
        h = {"Authorization": "Bearer " + self.token(scope)}
        h.update(extra)
        return h

    def get(self, path, headers=None, conn=None):
        return request("GET", path if path.startswith("http") else self.base + path, None, headers, conn)

    def claims(self, **over):
        c = {"iss": "jwt", "sub": "jwt", "aud": self.srv.token_url, "exp": int(time.time()) + 240,
             "jti": str(uuid.uuid4())}
        c.update(over)
        return {k: v for k, v in c.items() if v is not None}

    def assertion(self, token):
        return self.token_request({"grant_type": "client_credentials",
                                   "scope": "system/Binary.read system/DocumentReference.read",
                                   "client_assertion_type": fhirserver.ASSERTION_TYPE,
                                   "client_assertion": token})

    def assertOO(self, r, status, code=None):
        self.assertEqual(r.status, status, r.body)
        self.assertTrue(r.headers["Content-Type"].startswith("application/fhir+json"))
        oo = r.json()
        self.assertEqual(oo["resourceType"], "OperationOutcome")
        self.assertEqual(oo["issue"][0]["severity"], "error")
        if code:
            self.assertEqual(oo["issue"][0]["code"], code)
        self.assertTrue(r.headers["X-Request-Id"])
        self.assertTrue(r.headers["opc-request-id"])


@dptest.needs(OPENSSL, "openssl")
class TokenTests(ServerCase):
    def check_ok(self, r, want_scope="system/Binary.read system/DocumentReference.read"):
        self.assertEqual(r.status, 200, r.body)
        j = r.json()
        self.assertGreaterEqual(len(j["access_token"]), 32)
        self.assertEqual(j["token_type"], "Bearer")
        self.assertEqual(j["expires_in"], 570)
        self.assertEqual(j["scope"], want_scope)
        self.assertEqual(r.headers["Cache-Control"], "no-store")
        rr = self.get("/Binary/XR-21000108", {"Authorization": "Bearer " + j["access_token"]})
        self.assertEqual(rr.body, corpus_bytes("XR-21000108"))

    def test_rs384_ok(self):
        self.check_ok(self.assertion(sign_jwt(self.claims())))

    def test_es384_ok(self):
        self.check_ok(self.assertion(sign_jwt(self.claims(), "ES384", "ec1")))
        self.assertEqual(self.srv.stats()["tokens_issued"], 1)

    def reject(self, token, why, status=400):
        r = self.assertion(token)
        self.assertEqual(r.status, status, r.body)
        self.assertEqual(r.json()["error"], "invalid_client")
        self.assertIn(why, r.json()["error_description"])

    def test_rejections(self):
        now = int(time.time())
        good = sign_jwt(self.claims())
        head, body, sig = good.split(".")
        raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
        raw[10] ^= 1
        self.reject(".".join([head, body, b64url(bytes(raw))]), "invalid signature")
        es = sign_jwt(self.claims(), "ES384", "ec1").split(".")
        raw = bytearray(base64.urlsafe_b64decode(es[2] + "=="))
        raw[60] ^= 1
        self.reject(".".join(es[:2] + [b64url(bytes(raw))]), "invalid signature")
        self.reject(sign_jwt(self.claims(), kid="nope"), "unknown kid")
        self.reject(sign_jwt(self.claims(), "ES384", kid="rsa1"), "kid 'rsa1' is for alg RS384")
        self.reject(sign_jwt(self.claims(aud=self.srv.token_url + "/")), "aud must be the token URL")
        self.reject(sign_jwt(self.claims(aud=self.base)), "aud must be the token URL")
        self.reject(sign_jwt(self.claims(exp=now - 5)), "assertion expired (check the clock)")
        self.reject(sign_jwt(self.claims(exp=now + 600)), "exp too far in the future")
        self.reject(sign_jwt(self.claims(exp=None)), "exp is required")
        self.reject(sign_jwt(self.claims(jti=None)), "jti is required")
        self.reject(sign_jwt(self.claims(sub="other")), "iss and sub")
        self.reject(sign_jwt(self.claims(iss="stranger", sub="stranger")), "unknown client")
        self.reject(sign_jwt(self.claims(), "none"), "unsupported alg 'none'")
        hs = sign_jwt(self.claims()).split(".")
        hs[0] = b64url(json.dumps({"alg": "HS384", "typ": "JWT", "kid": "rsa1"}).encode())
        self.reject(".".join(hs), "unsupported alg 'HS384'")
        self.reject("not-a-jwt", "malformed JWT")
        replay = sign_jwt(self.claims())
        self.assertEqual(self.assertion(replay).status, 200)
        self.reject(replay, "jti replayed")

    def test_clock_skew(self):
        self.srv.configure(clock_skew_s=400)  # server clock 400 s ahead: a 240 s assertion is stale
        self.reject(sign_jwt(self.claims()), "assertion expired (check the clock)")
        self.srv.configure(clock_skew_s=-400)  # behind: exp looks more than 300 s away
        self.reject(sign_jwt(self.claims()), "exp too far in the future")
        self.srv.configure(clock_skew_s=None)
        self.assertEqual(self.assertion(sign_jwt(self.claims())).status, 200)

    def test_form_errors(self):
        r = self.token_request({"grant_type": "password", "scope": "system/Binary.read"}, basic="basic:s3cret")
        self.assertEqual((r.status, r.json()["error"]), (400, "unsupported_grant_type"))
        r = request("POST", self.srv.token_url, "{}", {"Content-Type": "application/json"})
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/Binary.read",
                                "client_assertion_type": "urn:x", "client_assertion": "a.b.c"})
        self.assertEqual(r.json()["error"], "invalid_client")
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/Binary.read"})
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"))


class TokenScopeTests(ServerCase):
    def test_basic_and_subsets(self):
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/Binary.read"},
                               basic="basic:wrong")
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"))
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/Binary.read"},
                               basic="nobody:x")
        self.assertEqual((r.status, r.json()["error"]), (401, "invalid_client"))
        # a scope not allowed: the allowed subset is granted, like Millennium
        r = self.token_request({"grant_type": "client_credentials",
                                "scope": "system/DocumentReference.read system/Binary.read launch"},
                               basic="docs-only:x")
        self.assertEqual(r.json()["scope"], "system/DocumentReference.read")
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/Binary.read"},
                               basic="docs-only:x")
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_scope"))
        # SMART v2 scopes
        r = self.token_request({"grant_type": "client_credentials",
                                "scope": "system/Binary.r system/DocumentReference.rs"}, basic="basic:s3cret")
        self.assertEqual(r.json()["scope"], "system/Binary.r system/DocumentReference.rs")
        h = {"Authorization": "Bearer " + r.json()["access_token"]}
        self.assertEqual(self.get("/DocumentReference?patient=4300204", h).json()["total"], 2)
        self.assertEqual(self.get("/Binary/XR-21000110", h).status, 200)
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/DocumentReference.r"},
                               basic="basic:s3cret")
        h = {"Authorization": "Bearer " + r.json()["access_token"]}
        self.assertEqual(self.get("/DocumentReference/21000101", h).status, 200)
        r = self.get("/DocumentReference?patient=4300204", h)  # r without s: no search
        self.assertOO(r, 403)
        self.assertIn('scope="system/DocumentReference.read"', r.headers["WWW-Authenticate"])
        st = self.srv.stats()
        self.assertEqual(st["last_scope_granted"], "system/DocumentReference.r")
        self.assertEqual(st["paths"]["token"], 6)


class DiscoveryTests(ServerCase):
    def test_smart_configuration_and_metadata(self):
        r = self.get("/.well-known/smart-configuration")
        j = r.json()
        self.assertEqual(j["token_endpoint"], self.srv.token_url)
        self.assertEqual(j["token_endpoint_auth_methods_supported"], ["private_key_jwt", "client_secret_basic"])
        self.assertEqual(j["token_endpoint_auth_signing_alg_values_supported"], ["RS384", "ES384"])
        self.assertEqual(j["grant_types_supported"], ["client_credentials"])
        self.assertIn("permission-v2", j["capabilities"])
        self.assertIn("system/Binary.read", j["scopes_supported"])
        cs = self.get("/metadata").json()
        self.assertEqual((cs["resourceType"], cs["fhirVersion"]), ("CapabilityStatement", "4.0.1"))
        res = {x["type"]: x for x in cs["rest"][0]["resource"]}
        self.assertEqual({i["code"] for i in res["DocumentReference"]["interaction"]},
                         {"search-type", "read", "update"})
        self.assertEqual(res["Binary"]["interaction"], [{"code": "read"}])
        self.assertIn("Group", res)
        self.assertEqual(cs["rest"][0]["operation"][0]["name"], "export")

    def test_bulk_only_like_the_reference_server(self):
        """A search-less Bulk Data server: no Binary, absolute attachment URLs,
        scopes naming a missing type refused, and /auth/register."""
        self.srv.configure(bulk_only=True, export_polls=0)
        j = self.get("/.well-known/smart-configuration").json()
        self.assertEqual(j["registration_endpoint"], self.srv.register_url)
        self.assertNotIn("system/Binary.read", j["scopes_supported"])
        self.assertIn("system/DocumentReference.read", j["scopes_supported"])
        res = {x["type"]: x for x in self.get("/metadata").json()["rest"][0]["resource"]}
        self.assertNotIn("Binary", res)
        self.assertEqual(res["DocumentReference"]["interaction"], [{"code": "read"}])
        r = self.token_request({"grant_type": "client_credentials",
                                "scope": "system/DocumentReference.read system/Binary.read"},
                               basic="basic:s3cret")
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_scope"))
        self.assertEqual(r.json()["error_description"], 'Resources of type "Binary" do not exist '
                         'on this server (requested by scope "system/Binary.read")')
        self.srv.configure(scope_refusal="vague")
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/Binary.read"},
                               basic="basic:s3cret")
        self.assertEqual(r.json()["error_description"], "Invalid scope")
        h = self.auth("system/DocumentReference.read")
        self.assertEqual(self.get("/DocumentReference?patient=4300201", h).status, 404)
        self.assertEqual(self.get("/Binary/XR-21000101", h).status, 404)
        kick = request("GET", self.base + "/$export", None, dict(h, Prefer="respond-async"))
        self.assertEqual(kick.status, 202)
        manifest = self.get(kick.headers["Content-Location"], h).json()
        url = [o["url"] for o in manifest["output"] if o["type"] == "DocumentReference"][0]
        first = json.loads(self.get(url, h).body.split(b"\n")[0])
        att = first["content"][0]["attachment"]["url"]
        self.assertEqual(att, self.base + "/attachments/XR-" + first["id"])
        self.assertEqual(self.get(att, h).body, corpus_bytes("XR-" + first["id"]))
        self.assertEqual(self.get(att).status, 401)
        # Registration: the JWKS in a form, the client id back as text.
        jwks = json.dumps({"keys": [make_jwk(KEYS["ec_pub"], "ec1")]}) if OPENSSL else '{"keys":[]}'
        r = request("POST", self.srv.register_url, urllib.parse.urlencode({"jwks": jwks}),
                    {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual(r.status, 200, r.body)
        self.assertTrue(r.headers["Content-Type"].startswith("text/plain"))
        self.assertIn(r.body.decode(), self.srv._clients)
        r = request("POST", self.srv.register_url, "jwks=nope",
                    {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((r.status, r.json()["error"]), (400, "invalid_request"))
        self.assertEqual(self.srv.stats()["registrations"], 1)

    def test_errors_and_ids(self):
        r = self.get("/DocumentReference/21000101")
        self.assertOO(r, 401)
        r = self.get("/DocumentReference/21000101", {"Authorization": "Bearer nope"})
        self.assertOO(r, 401)
        self.assertEqual(r.headers["WWW-Authenticate"], 'Bearer realm="fhir", error="invalid_token", '
                         'error_description="The access token is invalid"')
        self.assertOO(self.get("/Foo/1", self.auth()), 404)
        self.assertOO(self.get(self.srv.origin + "/r4/other-tenant/metadata"), 404)
        r = request("DELETE", self.base + "/DocumentReference/21000101", headers=self.auth())
        self.assertOO(r, 405)
        self.assertEqual(r.headers["Allow"], "GET, PUT")
        self.assertOO(request("POST", self.base + "/metadata", b"{}"), 405)
        a, b = self.get("/metadata"), self.get("/metadata")
        self.assertNotEqual(a.headers["X-Request-Id"], b.headers["X-Request-Id"])
        uuid.UUID(a.headers["X-Request-Id"])

    def test_token_expiry(self):
        self.srv.configure(token_lifetime=1)
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/*.read"}, basic="basic:s3cret")
        self.assertEqual(r.json()["expires_in"], 1)
        h = {"Authorization": "Bearer " + r.json()["access_token"]}
        self.assertEqual(self.get("/DocumentReference/21000101", h).status, 200)
        time.sleep(1.05)
        r = self.get("/DocumentReference/21000101", h)
        self.assertOO(r, 401)
        self.assertIn('error="invalid_token", error_description="The access token expired"',
                      r.headers["WWW-Authenticate"])

    def test_keepalive_and_gzip(self):
        h = self.auth(**{"Accept-Encoding": "gzip"})
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        self.addCleanup(conn.close)
        r = self.get("/DocumentReference/21000101", h, conn)
        sock = conn.sock
        self.assertEqual(r.headers["Content-Encoding"], "gzip")
        self.assertEqual(json.loads(gzip.decompress(r.body))["id"], "21000101")
        self.assertEqual(self.get("/DocumentReference/none", h, conn).status, 404)
        self.assertEqual(self.get("/Binary/XR-21000101", {"Authorization": "Bearer bad"}, conn).status, 401)
        r = self.get("/Binary/XR-21000101", dict(h, Accept="application/pdf"), conn)
        self.assertIsNone(r.headers["Content-Encoding"])  # raw bytes are never gzipped
        self.assertEqual(r.body, corpus_bytes("XR-21000101"))
        self.assertIs(conn.sock, sock)  # every answer on one connection
        self.assertTrue(self.srv.stats()["accept_encoding_seen"])


class SearchReadTests(ServerCase):
    def test_paging(self):
        h = self.auth()
        url = self.base + "/DocumentReference?_lastUpdated=ge2000-01-01&_count=4"
        seen, sizes = [], []
        while url:
            b = self.get(url, h).json()
            self.assertEqual((b["resourceType"], b["type"], b["total"]), ("Bundle", "searchset", 10))
            for e in b["entry"]:
                self.assertEqual(e["fullUrl"], self.base + "/DocumentReference/" + e["resource"]["id"])
                self.assertEqual(e["search"]["mode"], "match")
                seen.append(e["resource"]["id"])
            sizes.append(len(b["entry"]))
            links = {x["relation"]: x["url"] for x in b["link"]}
            self.assertIn("self", links)
            url = links.get("next")
            if url:
                self.assertTrue(url.startswith(self.base + "/DocumentReference?_getpages="))
                self.assertNotIn("_lastUpdated", url)
        self.assertEqual(sizes, [4, 4, 2])
        self.assertEqual(sorted(seen), sorted(d["id"] for d in DATA["docrefs"]))
        self.assertEqual(self.srv.stats()["paths"]["search"], 3)

    def test_filters(self):
        h = self.auth()

        def ids(q):
            r = self.get("/DocumentReference?" + q, h)
            self.assertEqual(r.status, 200, r.body)
            return sorted(e["resource"]["id"] for e in r.json().get("entry", []))
        self.assertEqual(ids("patient=4300204"), ["21000104", "21000105"])
        self.assertEqual(ids("subject=Patient/4300204"), ["21000104", "21000105"])
        self.assertEqual(ids("patient=4300201,4300202"), ["21000101", "21000102"])
        self.assertEqual(ids("_id=21000101,21000109"), ["21000101", "21000109"])
        self.assertEqual(ids("_lastUpdated=ge2000&type=http://loinc.org|51851-4"), ["21000101", "21000110"])
        self.assertEqual(ids("_lastUpdated=ge2000&type=34133-9,60591-5&date=ge2010&date=lt2014"),
                         ["21000104", "21000105"])
        self.assertEqual(ids("_lastUpdated=ge2000&date=2022-08"), ["21000101"])
        self.assertEqual(ids("patient=4300204&date=gt2011-12-02"), ["21000104"])
        self.assertEqual(len(ids("patient=4300204&category=clinical-note")), 2)
        self.assertEqual(ids("patient=4300204&category=http://example.org|clinical-note"), [])
        self.assertEqual(ids("_lastUpdated=lt2024-01-15T12:00:00Z"), [])
        r = self.get("/DocumentReference?_lastUpdated=ge2000", h)  # default _count 10: one page
        self.assertEqual([x["relation"] for x in r.json()["link"]], ["self"])
        self.assertOO(self.get("/DocumentReference?type=11502-2", h), 400)
        self.assertOO(self.get("/DocumentReference?patient=1&date=sa2020", h), 400)
        self.assertOO(self.get("/DocumentReference?patient=1&date=yesterday", h), 400)
        self.assertOO(self.get("/DocumentReference?_getpages=bogus", h), 400)
        r = request("POST", self.base + "/DocumentReference/_search", "patient=4300204",
                    dict(h, **{"Content-Type": "application/x-www-form-urlencoded"}))
        self.assertEqual(r.json()["total"], 2)

    def test_read_and_hidden(self):
        h = self.auth()
        r = self.get("/DocumentReference/21000102", h)
        self.assertEqual(r.headers["ETag"], 'W/"1"')
        self.assertEqual(r.json()["meta"]["versionId"], "1")
        self.srv.configure(hidden={"DocumentReference/21000102", "Binary/XR-21000101"})
        self.assertOO(self.get("/DocumentReference/21000102", h), 404, "not-found")
        self.assertOO(self.get("/Binary/XR-21000101", h), 404)
        self.assertOO(self.get("/Binary/unknown", h), 404)
        b = self.get("/DocumentReference?patient=4300202", h).json()
        self.assertEqual([e["resource"]["id"] for e in b["entry"]], ["21000102"])  # still listed
        self.srv.configure(hidden=None)
        self.assertEqual(self.get("/DocumentReference/21000102", h).status, 200)

    def test_binary_json_vs_raw(self):
        h = self.auth()
        for bid in ("XR-21000101", "XR-21000103", "XR-21000109"):
            want = corpus_bytes(bid)
            ct = next(b["contentType"] for b in DATA["binaries"] if b["id"] == bid)
            for accept in ("application/fhir+json", "application/json", "application/pdf;q=0.5, application/fhir+json"):
                r = self.get("/Binary/" + bid, dict(h, Accept=accept))
                self.assertTrue(r.headers["Content-Type"].startswith("application/fhir+json"))
                j = r.json()
                self.assertEqual((j["resourceType"], j["id"], j["contentType"]), ("Binary", bid, ct))
                self.assertNotIn("\n", j["data"])
                self.assertEqual(base64.b64decode(j["data"]), want)
            for accept in ("application/pdf", "*/*", None):
                r = self.get("/Binary/" + bid, dict(h, Accept=accept) if accept else h)
                self.assertEqual(r.headers["Content-Type"], ct)
                self.assertEqual(r.body, want)
        with open(os.path.join(CORPUS, "files", "21000101.pdf"), "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).digest(), hashlib.sha256(corpus_bytes("XR-21000101")).digest())

    def test_insufficient_scope(self):
        self.srv.configure(no_binary_scope=True)
        r = self.token_request({"grant_type": "client_credentials",
                                "scope": "system/Binary.read system/DocumentReference.read"}, basic="basic:s3cret")
        self.assertEqual(r.json()["scope"], "system/DocumentReference.read")
        h = {"Authorization": "Bearer " + r.json()["access_token"]}
        r = self.get("/Binary/XR-21000101", h)
        self.assertOO(r, 403, "forbidden")
        self.assertEqual(r.headers["WWW-Authenticate"],
                         'Bearer realm="fhir", error="insufficient_scope", scope="system/Binary.read"')
        self.assertIn("system/Binary.read", r.diag())
        self.assertEqual(self.get("/DocumentReference/21000101", h).status, 200)
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/*.read"}, basic="basic:s3cret")
        self.assertNotIn("Binary", r.json()["scope"])
        self.assertEqual(self.get("/Binary/XR-21000101", {"Authorization": "Bearer " + r.json()["access_token"]}).status, 403)
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/Binary.read"}, basic="basic:s3cret")
        self.assertEqual(r.json()["error"], "invalid_scope")

    def test_required_header(self):
        h = self.auth()
        self.srv.configure(required_header={"name": "X-Tenant-Id", "value": "abc"})
        r = self.get("/DocumentReference/21000101", h)
        self.assertOO(r, 403)
        self.assertEqual(r.diag(), "missing header X-Tenant-Id")
        self.assertEqual(self.get("/DocumentReference/21000101", dict(h, **{"X-Tenant-Id": "abc"})).status, 200)


class FaultTests(ServerCase):
    def test_rate_limit(self):
        h = self.auth()
        self.srv.configure(rate_limit=5)
        conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=10)
        self.addCleanup(conn.close)
        t0 = time.monotonic()
        rs = [self.get("/DocumentReference/21000101", h, conn) for _ in range(12)]
        elapsed = time.monotonic() - t0
        n429 = [r for r in rs if r.status == 429]
        self.assertTrue(n429)
        self.assertLessEqual(len(rs) - len(n429), 5 * (int(elapsed) + 1))
        for r in n429:
            self.assertOO(r, 429, "throttled")
            self.assertEqual(r.headers["Retry-After"], "1")
        self.assertEqual(self.srv.stats()["sent_429"], len(n429))
        self.srv.configure(retry_after_date=True)
        while True:
            r = self.get("/DocumentReference/21000101", h, conn)
            if r.status == 429:
                break
        self.assertIsNotNone(email.utils.parsedate_to_datetime(r.headers["Retry-After"]))
        self.srv.configure(rate_limit=2)
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/*.read"}, basic="basic:s3cret")
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/*.read"}, basic="basic:s3cret")
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/*.read"}, basic="basic:s3cret")
        self.assertEqual(r.status, 429)  # the token endpoint is limited too

    def test_429_every_and_retry_after_forms(self):
        h = self.auth()
        self.srv.configure(fail_429_every=1, fail_429_only=["read:Binary"], retry_after="epoch+300")
        self.assertEqual(self.get("/DocumentReference/21000101", h).status, 200)  # not that kind
        r = self.get("/Binary/XR-21000101", h)
        self.assertOO(r, 429, "throttled")
        self.assertAlmostEqual(int(r.headers["Retry-After"]), time.time() + 300, delta=5)
        self.srv.configure(retry_after="epoch-ms+300")
        ms = int(self.get("/Binary/XR-21000101", h).headers["Retry-After"])
        self.assertAlmostEqual(ms / 1000, time.time() + 300, delta=5)
        self.srv.configure(retry_after="date-60")
        when = email.utils.parsedate_to_datetime(self.get("/Binary/XR-21000101", h).headers["Retry-After"])
        self.assertAlmostEqual(when.timestamp(), time.time() - 60, delta=5)
        self.srv.configure(retry_after="soon", throttle_text="Too Many Requests. Try again later.")
        r = self.get("/Binary/XR-21000101", h)
        self.assertEqual((r.status, r.headers["Retry-After"], r.body),
                         (429, "soon", b"Too Many Requests. Try again later."))
        self.assertTrue(r.headers["Content-Type"].startswith("text/html"))
        self.srv.configure(fail_429_every=2, fail_429_only=None, retry_after=None, throttle_text=None)
        self.assertEqual([self.get("/DocumentReference/21000101", h).status for _ in range(4)],
                         [200, 429, 200, 429])
        self.srv.configure(fail_429_only=["token"], fail_429_every=1)
        r = self.token_request({"grant_type": "client_credentials", "scope": "system/*.read"},
                               basic="basic:s3cret")
        self.assertEqual((r.status, r.headers["Retry-After"]), (429, "1"))
        with self.assertRaises(ValueError):
            self.srv.configure(retry_after="epoch+soon")

    def test_503_every(self):
        h = self.auth()
        self.srv.configure(fail_503_every=3)
        rs = [self.get("/DocumentReference/21000101", h) for _ in range(9)]
        self.assertEqual([r.status for r in rs], [200, 200, 503] * 3)
        for r in rs[2::3]:
            self.assertOO(r, 503)
            self.assertIsNone(r.headers["Retry-After"])
        self.assertEqual(self.srv.stats()["sent_503"], 3)
        self.assertEqual(self.srv.stats()["status_counts"][503], 3)

    def test_cut_body(self):
        h = self.auth()
        self.srv.configure(cut_body_every=2)
        ok = urllib.request.urlopen(urllib.request.Request(self.base + "/Binary/XR-21000101", headers=h))
        self.assertEqual(ok.read(), corpus_bytes("XR-21000101"))
        resp = urllib.request.urlopen(urllib.request.Request(self.base + "/Binary/XR-21000101", headers=h))
        self.assertEqual(int(resp.headers["Content-Length"]), len(corpus_bytes("XR-21000101")))
        with self.assertRaises(http.client.IncompleteRead) as cm:
            resp.read()
        self.assertEqual(len(cm.exception.partial), len(corpus_bytes("XR-21000101")) // 2)
        self.assertEqual(self.srv.stats()["cut_bodies"], 1)
        self.assertEqual(self.get("/DocumentReference/21000101", h).status, 200)  # not a body it cuts

    def test_peak_concurrency(self):
        h = self.auth()
        self.srv.configure(slow_ms=300)
        out = []
        threads = [threading.Thread(target=lambda: out.append(self.get("/DocumentReference/21000101", h).status))
                   for _ in range(4)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(out, [200] * 4)
        self.assertLess(time.monotonic() - t0, 1.1)
        st = self.srv.stats()
        self.assertGreaterEqual(st["peak_concurrency"], 2)
        # A handler counts itself out just after its answer is sent: allow it
        # a moment before checking that nothing is left in flight.
        deadline = time.monotonic() + 2
        while self.srv.stats()["in_flight"] and time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(self.srv.stats()["in_flight"], 0)

    def test_update(self):
        h = self.auth(**{"Content-Type": "application/fhir+json"})
        doc = self.get("/DocumentReference/21000103", h).json()
        doc["description"] = "edited"
        r = request("PUT", self.base + "/DocumentReference/21000103", json.dumps(doc), dict(h, **{"If-Match": 'W/"1"'}))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.headers["ETag"], 'W/"2"')
        self.assertEqual((r.json()["meta"]["versionId"], r.json()["description"]), ("2", "edited"))
        self.assertNotEqual(r.json()["meta"]["lastUpdated"], doc["meta"]["lastUpdated"])
        self.assertEqual(self.get("/DocumentReference/21000103", h).headers["ETag"], 'W/"2"')
        r = request("PUT", self.base + "/DocumentReference/21000103", json.dumps(doc), dict(h, **{"If-Match": 'W/"1"'}))
        self.assertOO(r, 412, "conflict")
        self.assertEqual(r.diag(), "Resource version mismatch: current is 2")
        self.srv.configure(conflict_status=409)
        r = request("PUT", self.base + "/DocumentReference/21000103", json.dumps(doc), dict(h, **{"If-Match": 'W/"7"'}))
        self.assertOO(r, 409)
        self.assertOO(request("PUT", self.base + "/DocumentReference/21000103", json.dumps(doc), h), 412)
        ro = {"Authorization": "Bearer " + self.token("system/DocumentReference.read")}
        r = request("PUT", self.base + "/DocumentReference/21000103", json.dumps(doc), dict(ro, **{"If-Match": 'W/"2"'}))
        self.assertOO(r, 403)
        self.assertIn('scope="system/DocumentReference.write"', r.headers["WWW-Authenticate"])
        v2 = {"Authorization": "Bearer " + self.token("system/DocumentReference.u")}
        r = request("PUT", self.base + "/DocumentReference/21000103", json.dumps(doc), dict(v2, **{"If-Match": '"2"'}))
        self.assertEqual(r.headers["ETag"], 'W/"3"')
        self.assertEqual(self.srv.get_resource("DocumentReference", "21000103")["meta"]["versionId"], "3")
        self.assertOO(request("PUT", self.base + "/DocumentReference/21000103", "{nope", dict(h, **{"If-Match": 'W/"3"'})), 400)
        self.assertEqual(self.srv.stats()["paths"]["update"], 7)


class ExportHelpers:
    def kickoff(self, path, h):
        r = self.get(path, dict(h, Prefer="respond-async", Accept="application/fhir+json"))
        self.assertEqual(r.status, 202, r.body)
        loc = r.headers["Content-Location"]
        self.assertTrue(loc.startswith(self.base + "/bulkstatus/"))
        return loc

    def manifest(self, loc, h):
        while True:
            r = self.get(loc, h)
            if r.status == 200:
                return r.json()
            self.assertEqual(r.status, 202)


class ExportAndStorageTests(ExportHelpers, ServerCase):
    def test_export_flow(self):
        h = self.auth()
        self.assertOO(self.get("/$export", h), 400)
        loc = self.kickoff("/$export?_type=DocumentReference,Binary", h)
        for n in (1, 2):
            r = self.get(loc, h)
            self.assertEqual(r.status, 202)
            self.assertEqual(r.headers["Retry-After"], "1")
            self.assertRegex(r.headers["X-Progress"], r"^\d+% complete$")
        r = self.get(loc, h)
        self.assertEqual(r.status, 200, r.body)
        m = r.json()
        self.assertTrue(m["requiresAccessToken"])
        self.assertEqual(m["error"], [])
        self.assertTrue(m["request"].endswith("/$export?_type=DocumentReference,Binary"))
        out = {o["type"]: o for o in m["output"]}
        self.assertEqual((out["DocumentReference"]["count"], out["Binary"]["count"]), (10, 10))
        url = out["DocumentReference"]["url"]
        self.assertTrue(url.startswith(self.base + "/bulkfiles/"))
        self.assertOO(self.get(url), 401)
        r = self.get(url, h)
        self.assertEqual(r.headers["Content-Type"], "application/fhir+ndjson")
        lines = r.body.decode().splitlines()
        self.assertEqual(sorted(json.loads(x)["id"] for x in lines), sorted(d["id"] for d in DATA["docrefs"]))
        bins = [json.loads(x) for x in self.get(out["Binary"]["url"], h).body.splitlines()]
        self.assertEqual(base64.b64decode(bins[0]["data"]), corpus_bytes(bins[0]["id"]))
        r = request("DELETE", loc, headers=h)
        self.assertEqual(r.status, 202)
        self.assertOO(self.get(loc, h), 404)
        self.assertOO(self.get(url, h), 404)
        st = self.srv.stats()
        self.assertEqual((st["export_jobs_started"], st["export_jobs_deleted"]), (1, 1))
        self.assertEqual((st["paths"]["export"], st["paths"]["bulkstatus"]), (2, 5))

    def test_export_levels_and_filters(self):
        h = self.auth()
        self.srv.configure(export_polls=0, groups={"G1": ["4300204", "Patient/4300201"]})
        m = self.manifest(self.kickoff("/Group/G1/$export", h), h)
        self.assertEqual(m["output"][0]["count"], 3)
        self.assertOO(self.get("/Group/nope/$export", dict(h, Prefer="respond-async")), 404)
        m = self.manifest(self.kickoff("/Patient/$export?_type=DocumentReference,Patient", h), h)
        self.assertEqual({o["type"]: o["count"] for o in m["output"]}, {"DocumentReference": 10, "Patient": 9})
        m = self.manifest(self.kickoff("/$export?_since=2024-01-15T12:00:00Z", h), h)
        self.assertEqual(m["output"], [])
        m = self.manifest(self.kickoff("/$export?_since=2024-01-01T00:00:00Z", h), h)
        self.assertEqual(m["output"][0]["count"], 10)
        self.assertOO(self.get("/$export?_type=Observation", dict(h, Prefer="respond-async")), 400)
        ro = {"Authorization": "Bearer " + self.token("system/DocumentReference.read")}
        self.assertOO(self.get("/$export?_type=Binary", dict(ro, Prefer="respond-async")), 403)
        self.srv.configure(export_polls=1, export_retry_after=3)
        loc = self.kickoff("/$export", h)
        self.assertEqual(self.get(loc, h).headers["Retry-After"], "3")

    def test_export_presigned_storage(self):
        h = self.auth()
        self.srv.configure(export_polls=0, export_requires_token=False)
        m = self.manifest(self.kickoff("/$export", h), h)
        self.assertFalse(m["requiresAccessToken"])
        url = m["output"][0]["url"]
        self.assertTrue(url.startswith(self.srv.storage_url + "/export/"))
        r = self.get(url)
        self.assertEqual(len(r.body.splitlines()), 10)
        self.assertEqual(self.get(url.split("?")[0] + "?sig=forged").status, 404)
        self.srv.configure(redirect_binaries=True)
        m = self.manifest(self.kickoff("/$export", h), h)
        url = m["output"][0]["url"]
        self.assertTrue(url.startswith(self.base + "/bulkfiles/"))
        r = self.get(url)  # no token needed: requiresAccessToken is false
        self.assertEqual(r.status, 307)
        self.assertTrue(r.headers["Location"].startswith(self.srv.storage_url + "/export/"))
        self.assertEqual(len(self.get(r.headers["Location"]).body.splitlines()), 10)
        st = self.srv.stats()
        self.assertEqual((st["storage_requests"], st["auth_on_storage"]), (3, 0))

    def test_redirect_binaries(self):
        h = self.auth()
        self.srv.configure(redirect_binaries=True)
        for accept, want_json in (("application/fhir+json", True), ("application/pdf", False)):
            r = self.get("/Binary/XR-21000101", dict(h, Accept=accept))
            self.assertEqual(r.status, 307)
            loc = r.headers["Location"]
            self.assertTrue(loc.startswith(self.srv.storage_url + "/blob/XR-21000101?sig="))
            r = self.get(loc)
            if want_json:
                self.assertEqual(base64.b64decode(r.json()["data"]), corpus_bytes("XR-21000101"))
            else:
                self.assertEqual(r.headers["Content-Type"], "application/pdf")
                self.assertEqual(r.body, corpus_bytes("XR-21000101"))
        self.assertEqual(self.srv.stats()["auth_on_storage"], 0)
        # urllib forwards the Authorization header across origins on a redirect: counted
        body = urllib.request.urlopen(urllib.request.Request(self.base + "/Binary/XR-21000108", headers=h)).read()
        self.assertEqual(body, corpus_bytes("XR-21000108"))
        st = self.srv.stats()
        self.assertEqual((st["auth_on_storage"], st["storage_requests"]), (1, 3))
        self.assertEqual(self.get(self.srv.storage_url + "/blob/XR-21000101?sig=forged").status, 404)
        self.assertEqual(self.get(self.srv.storage_url + "/other").status, 404)


class BulkBehaviourTests(ExportHelpers, ServerCase):
    """What servers other than Millennium do with $export (the SMART reference server's ways)."""

    def post_kickoff(self, path, h, params):
        body = json.dumps({"resourceType": "Parameters", "parameter": params})
        return request("POST", self.base + path, body, dict(h, Prefer="respond-async",
                                                             Accept="application/fhir+json",
                                                             **{"Content-Type": "application/fhir+json"}))

    def test_pages_deleted_and_errors(self):
        h = self.auth()
        self.srv.configure(export_polls=0, export_resources_per_file=3, export_page_size=2,
                           export_page_polls=1, export_deleted=["DocumentReference/9", "Patient/1"],
                           export_errors=["Binary/XR-1 could not be read", "second"])
        loc = self.kickoff("/$export?_since=2000-01-01T00:00:00Z", h)
        pages, url = [], loc
        while url:
            r = self.get(url, h)
            if r.status == 202:  # every next page is not ready at first
                self.assertEqual(r.headers["Retry-After"], "1")
                continue
            self.assertEqual(r.status, 200)
            m = r.json()
            pages.append(m)
            url = next((l["url"] for l in m.get("link", []) if l["relation"] == "next"), None)
        files = [(k, e) for m in pages for k in ("output", "deleted", "error") for e in m[k]]
        self.assertEqual(len(pages), 3)  # 4 DocumentReference files of 3, 3, 3, 1 + deleted + error
        self.assertEqual([e["count"] for k, e in files if k == "output"], [3, 3, 3, 1])
        ids = [json.loads(l)["id"] for k, e in files if k == "output" for l in self.get(e["url"], h).body.splitlines()]
        self.assertEqual(sorted(ids), sorted(d["id"] for d in DATA["docrefs"]))
        deleted = [e for k, e in files if k == "deleted"][0]
        bundles = [json.loads(l) for l in self.get(deleted["url"], h).body.splitlines()]
        self.assertEqual([b["entry"][0]["request"] for b in bundles],
                         [{"method": "DELETE", "url": "DocumentReference/9"}, {"method": "DELETE", "url": "Patient/1"}])
        self.assertEqual({b["type"] for b in bundles}, {"transaction"})
        body = self.get([e for k, e in files if k == "error"][0]["url"], h).body
        self.assertFalse(body.endswith(b"\n"))
        self.assertEqual([json.loads(l)["issue"][0]["diagnostics"] for l in body.split(b"\n")],
                         ["Binary/XR-1 could not be read", "second"])
        # no _since: no deleted[] (the Bulk Data IG lets servers leave it out)
        m = self.manifest(self.kickoff("/$export", h), h)
        self.assertNotIn("deleted", m)

    def test_allow_partial_manifests_parameter_pages_by_two(self):
        h = self.auth()
        self.srv.configure(export_polls=0, export_resources_per_file=2)
        m = self.manifest(self.kickoff("/$export?allowPartialManifests=true", h), h)
        self.assertEqual(len(m["output"]), 2)
        self.assertTrue(m["link"][0]["url"].endswith("?page=2"))

    def test_scripted_answers(self):
        h = self.auth()
        self.srv.configure(export_polls=1, export_retry_after_header="1796154259", export_script={
            "kickoff": [{"status": 429, "retry_after": "1796154259", "text": "Too Many Requests. Try again later."},
                        {"status": 500, "code": "transient", "diagnostics": "try again"}],
            "status": [{"status": 500, "code": "processing", "diagnostics": "the job failed"}],
            "file": [{"status": 410, "match": "DocumentReference", "diagnostics": "file expired"}]})
        r = self.get("/$export", dict(h, Prefer="respond-async"))
        self.assertEqual((r.status, r.headers["Retry-After"], r.body), (429, "1796154259", b"Too Many Requests. Try again later."))
        self.assertOO(self.get("/$export", dict(h, Prefer="respond-async")), 500, "transient")
        loc = self.kickoff("/$export", h)
        self.assertOO(self.get(loc, h), 500, "processing")
        r = self.get(loc, h)
        self.assertEqual((r.status, r.headers["Retry-After"]), (202, "1796154259"))
        url = self.get(loc, h).json()["output"][0]["url"]
        self.assertOO(self.get(url, h), 410)
        self.assertEqual(self.get(url, h).status, 200)  # each answer is given once
        st = self.srv.stats()
        self.assertEqual(st["export_kickoffs"], ["GET", "GET", "GET"])
        self.assertEqual((st["export_status_polls"], st["export_files_served"]), (3, 1))

    def test_post_kickoff_with_parameters(self):
        h = self.auth()
        self.srv.configure(export_polls=0, export_post_only=True, groups={"G1": ["4300201", "4300204"]})
        r = self.get("/Group/G1/$export", dict(h, Prefer="respond-async"))
        self.assertOO(r, 405)
        self.assertEqual(r.headers["Allow"], "POST")
        self.srv.configure(export_post_only=False)
        self.assertOO(self.get("/Group/G1/$export?patient=4300201", dict(h, Prefer="respond-async")), 400)
        r = self.post_kickoff("/Group/G1/$export", h, [
            {"name": "_type", "valueString": "DocumentReference"},
            {"name": "patient", "valueReference": {"reference": "Patient/4300204"}}])
        self.assertEqual(r.status, 202, r.body)
        m = self.manifest(r.headers["Content-Location"], h)
        self.assertEqual(m["output"][0]["count"], 2)
        self.assertEqual(self.srv.stats()["last_export_params"],
                         {"_type": ["DocumentReference"], "patient": ["4300204"]})
        self.assertOO(self.post_kickoff("/$export", h, [{"name": "patient", "valueReference": {"reference": "Patient/1"}}]), 400)
        r = request("POST", self.base + "/$export", b"{}", dict(h, Prefer="respond-async"))
        self.assertOO(r, 400)

    def test_type_filter(self):
        h = self.auth()
        self.srv.configure(export_polls=0)
        want = [d for d in DATA["docrefs"] if any(c.get("code") == "11502-2" for c in d["type"].get("coding", []))]
        self.assertTrue(want)
        tf = "DocumentReference?status=current&type=http://loinc.org|11502-2"
        loc = self.kickoff("/$export?" + urllib.parse.urlencode({"_typeFilter": tf}), h)
        m = self.manifest(loc, h)
        self.assertEqual(m["output"][0]["count"], len(want))
        self.assertEqual(self.srv.stats()["last_export_params"]["_typeFilter"], [tf])
        r = self.get("/$export?_typeFilter=DocumentReference?date=2020", dict(h, Prefer="respond-async"))
        self.assertOO(r, 400)


class AdminAndCliTests(ServerCase):
    def test_admin(self):
        r = request("POST", self.base.split("/r4/")[0] + "/_admin/config",
                    json.dumps({"hidden": ["Binary/XR-21000101"], "slow_ms": 1}))
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["hidden"], ["Binary/XR-21000101"])
        self.assertOO(self.get("/Binary/XR-21000101", self.auth(**{"User-Agent": "docpipe/0.9"})), 404)
        stats = request("GET", self.srv.origin + "/_admin/stats").json()
        self.assertEqual(stats["status_counts"], {"200": 1, "404": 1})
        self.assertEqual(stats["paths"]["read:Binary"], 1)
        self.assertEqual((stats["user_agents"], stats["last_user_agent"]), (["docpipe/0.9"], "docpipe/0.9"))
        self.assertOO(request("POST", self.srv.origin + "/_admin/config", json.dumps({"bogus": 1})), 400)
        self.assertOO(request("POST", self.srv.origin + "/_admin/config", json.dumps({"conflict_status": 500})), 400)
        self.assertEqual(request("POST", self.srv.origin + "/_admin/reset").status, 200)
        self.assertEqual(self.srv.stats()["requests"], 0)

    def test_jose_units(self):
        if OPENSSL:
            jr = make_jwk(KEYS["rsa_pub"], "r")
            je = make_jwk(KEYS["ec_pub"], "e")
            self.assertEqual((jr["kty"], jr["e"], jr["alg"], jr["kid"]), ("RSA", "AQAB", "RS384", "r"))
            self.assertEqual((je["kty"], je["crv"], len(je["x"]), len(je["y"])), ("EC", "P-384", 64, 64))
            self.assertIsInstance(jose.jwk_to_key(je), jose.ECPublicKey)
            # an ES384 JWS carrying the DER signature instead of r||s is refused
            si = b"a.b"
            der = subprocess.run([OPENSSL, "dgst", "-sha384", "-sign", KEYS["ec"]], input=si,
                                 capture_output=True, check=True).stdout
            key = jose.jwk_to_key(je)
            self.assertFalse(jose.verify_signature("ES384", key, si, der))
            self.assertTrue(jose.verify_signature("ES384", key, si, jose.ecdsa_der_to_raw(der)))
            with open(KEYS["ec"], "rb") as f, self.assertRaises(jose.JoseError):
                make_jwk(f.read(), "private")  # private keys are refused
        g = (jose._GX, jose._GY, 1)
        self.assertTrue(jose._p384_on_curve(jose._GX, jose._GY))
        self.assertEqual(jose._mul2(jose._N, g, 0, g)[2], 0)  # n*G is the point at infinity
        with self.assertRaises(jose.JoseError):
            jose.jwk_to_key({"kty": "EC", "crv": "P-384", "x": jose.b64url_encode(b"\1" * 48),
                             "y": jose.b64url_encode(b"\2" * 48)})

    def test_cli(self):
        tmp = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, tmp, True)
        pf = os.path.join(tmp, "port")
        p = subprocess.Popen([sys.executable, "-B", os.path.join(HERE, "fhirserver.py"),
                              "--docrefs", os.path.join(CORPUS, "docrefs.ndjson"),
                              "--binaries", os.path.join(CORPUS, "binaries.ndjson"),
                              "--client-id", "cli", "--secret", "pw", "--scopes", "system/*.read",
                              "--rate", "100", "--token-lifetime", "60", "--port-file", pf],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()
            self.assertRegex(line, r"^listening base=http://127\.0\.0\.1:\d+/r4/\S+ token=http://127\.0\.0\.1:\d+/tenants/\S+/token\n$")
            base = line.split()[1][5:]
            with open(pf) as f:
                self.assertEqual(f.read(), base)
            self.assertEqual(request("GET", base + "/metadata").json()["fhirVersion"], "4.0.1")
            r = request("POST", line.split()[2][6:], "grant_type=client_credentials&scope=system/Binary.read",
                        {"Content-Type": "application/x-www-form-urlencoded",
                         "Authorization": "Basic " + base64.b64encode(b"cli:pw").decode()})
            self.assertEqual(r.json()["expires_in"], 60)
            origin = base.split("/r4/")[0]
            self.assertEqual(request("GET", origin + "/_admin/stats").json()["token_requests"], 1)
            info = request("GET", origin + "/_admin/info").json()
            self.assertEqual(info["base_url"], base)
            self.assertTrue(info["storage_url"].startswith("http://127.0.0.1:"))
        finally:
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=10)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(err, "")


if __name__ == "__main__":
    dptest.main()
