"""docpipe against a live FHIR server: the test server in tests/fhirserver,
started on 127.0.0.1 by each test class and stopped after it, behaving like
Oracle Health (Cerner) Millennium, failure modes included."""
import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fhirserver"))
import dptest  # noqa: E402
from dptest import CORPUS, DOCPIPE, TempDirTest, docpipe, read  # noqa: E402
from fhirserver import FhirTestServer, make_jwk  # noqa: E402

PATIENTS = "\n".join(str(p) for p in range(4300201, 4300210)) + "\n"
ALL_IDS = sorted("DocumentReference/%d" % i for i in range(21000101, 21000111))


def first_docref():
    with open(os.path.join(CORPUS, "docrefs.ndjson")) as f:
        return json.loads(f.readline())


def keygen(path, kind):
    args = (["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if kind == "rsa"
            else ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"])
    subprocess.run(["openssl", "genpkey", *args, "-out", path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(path, 0o600)


class LiveServer(TempDirTest):
    """One server per test: faults and counters never leak between tests."""

    def setUp(self):
        super().setUp()
        self.rsa = os.path.join(self.tmp, "rsa.pem")
        self.ec = os.path.join(self.tmp, "ec.pem")
        keygen(self.rsa, "rsa")
        keygen(self.ec, "ec")
        jwks = json.loads(subprocess.run([DOCPIPE, "jwks", "--private-key", self.rsa, "--key-id",
                                          "k-rsa"], check=True, stdout=subprocess.PIPE).stdout)
        ec_jwk = json.loads(subprocess.run([DOCPIPE, "jwks", "--private-key", self.ec, "--key-id",
                                            "k-ec"], check=True,
                                           stdout=subprocess.PIPE).stdout)["keys"][0]
        jwks["keys"].append(ec_jwk)
        self.srv = FhirTestServer.from_ndjson(os.path.join(CORPUS, "docrefs.ndjson"),
                                              os.path.join(CORPUS, "binaries.ndjson"))
        self.srv.register_client("docpipe-test", jwks=jwks)
        self.srv.register_client("basic-client", secret="s3cret-value")
        self.srv.start()

    def tearDown(self):
        self.srv.stop()
        super().tearDown()

    def auth(self, key="rsa"):
        return ["--fhir-base", self.srv.base_url, "--client-id", "docpipe-test",
                "--private-key", self.rsa if key == "rsa" else self.ec,
                "--key-id", "k-rsa" if key == "rsa" else "k-ec", "--retry-base", "0.02"]

    def offline(self):
        return docpipe("run", "fhir-dump", "--binaries", os.path.join(CORPUS, "binaries.ndjson"),
                       os.path.join(CORPUS, "docrefs.ndjson")).by_id()

    def assert_same_documents(self, run):
        """Every record equals the one made offline from the same dump."""
        want = self.offline()
        for rid, rec in run.by_id().items():
            self.assertEqual(rec["content"], want[rid]["content"], rid)
            self.assertEqual(rec["sha256"], want[rid]["sha256"], rid)
            self.assertEqual(rec["documentType"], want[rid]["documentType"], rid)
            self.assertTrue(rec["source"]["url"].startswith(self.srv.base_url + "/Binary/"))


class Documents(LiveServer):
    def test_every_document_arrives_despite_transient_faults(self):
        self.srv.configure(fail_503_every=4, cut_body_every=3)
        run = docpipe(*self.auth(), "run", "fhir-documents", stdin=PATIENTS.encode())
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(sorted(run.by_id()), ALL_IDS)
        self.assert_same_documents(run)
        s = self.srv.stats()
        self.assertGreater(s["sent_503"], 0)
        self.assertGreater(s["cut_bodies"], 0)
        self.assertTrue(any("docpipe/" in ua for ua in s["user_agents"]))
        self.assertTrue(s["accept_encoding_seen"])

    def test_a_body_cut_on_every_try_is_damaged(self):
        """The server sends less than its Content-Length every time: after
        the retries each document is damaged, never converted from half."""
        self.srv.configure(cut_body_every=1)
        run = docpipe(*self.auth(), "--retries", "1", "--retry-base", "0.01", "run",
                      "fhir-documents", stdin=PATIENTS.encode())
        self.assertEqual(run.status, 1)
        self.assertEqual(run.records, [])
        self.assertEqual({e["kind"] for e in run.errors}, {"damaged"})
        self.assertIn("cut short", run.errors[0]["message"])

    def test_persona_hidden_documents_are_reported_not_lost(self):
        self.srv.configure(hidden={"Binary/XR-21000103", "Binary/XR-21000107"})
        run = docpipe(*self.auth(), "run", "fhir-documents", stdin=PATIENTS.encode())
        self.assertEqual(run.status, 1)
        self.assertEqual(len(run.records) + len(run.errors), 10)
        self.assertEqual(sorted(e["id"] for e in run.errors),
                         ["DocumentReference/21000103", "DocumentReference/21000107"])
        for e in run.errors:
            self.assertEqual(e["kind"], "not-visible")
            self.assertEqual(e["status"], 404)
            self.assertIn("security persona", e["hint"])
            self.assertIn("Binary", e["hint"])
            self.assertIn("X-Request-Id", e["requestId"])
            self.assertIn("opc-request-id", e["requestId"])

    def test_rendition_fallback(self):
        """A PDF rendition the persona cannot see falls back to the next one."""
        doc = first_docref()
        text = {"resourceType": "Binary", "id": "TR-21000101", "contentType": "text/plain",
                "data": "VGhlIHRleHQgcmVuZGl0aW9uLg=="}  # "The text rendition."
        doc["content"].append({"attachment": {"contentType": "text/plain",
                                              "url": "Binary/TR-21000101"}})
        srv = FhirTestServer(docrefs=[doc], binaries=[text],
                             hidden={"Binary/XR-21000101"})
        srv.register_client("c", secret="pw")
        srv.start()
        try:
            secret = self.write("secret", "pw\n")
            run = docpipe("--fhir-base", srv.base_url, "--client-id", "c",
                          "--client-secret-file", secret, "run", "fhir-documents",
                          stdin=b"4300201\n")
        finally:
            srv.stop()
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        rec = run.records[0]
        self.assertEqual(rec["id"], "DocumentReference/21000101")
        self.assertEqual(rec["content"], "The text rendition.")
        self.assertEqual(rec["source"]["attachment"], 1)
        self.assertEqual(rec["meta"]["fallback"],
                         [{"attachment": 0, "contentType": "application/pdf",
                           "kind": "not-visible"}])

    def test_missing_scope_is_forbidden_naming_it(self):
        self.srv.configure(no_binary_scope=True)
        run = docpipe(*self.auth(), "run", "fhir-documents", stdin=b"4300201\n4300202\n")
        self.assertEqual(run.status, 1)
        self.assertEqual(len(run.errors), 2)
        for e in run.errors:
            self.assertEqual(e["kind"], "forbidden")
            self.assertIn("system/Binary.read", e["message"])
            self.assertIn("--scope", e["hint"])

    def test_redirects_never_carry_the_token(self):
        self.srv.configure(redirect_binaries=True)
        run = docpipe(*self.auth(), "run", "fhir-documents", stdin=PATIENTS.encode())
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        s = self.srv.stats()
        self.assertGreaterEqual(s["storage_requests"], 10)
        self.assertEqual(s["auth_on_storage"], 0)

    def test_raw_accept_and_tenant_header(self):
        self.srv.configure(required_header={"name": "X-Tenant", "value": "north"})
        denied = docpipe(*self.auth(), "run", "fhir-documents", stdin=b"4300201\n")
        self.assertEqual([e["kind"] for e in denied.errors], ["forbidden"])
        run = docpipe(*self.auth(), "--header", "X-Tenant: north", "run", "fhir-documents",
                      "--accept", "raw", stdin=b"4300201\n4300206\n")
        self.assertEqual(run.status, 0, run.stderr)
        self.assert_same_documents(run)

    def test_es384_and_client_secret_and_bearer_file(self):
        runs = [docpipe(*self.auth("ec"), "run", "fhir-documents", stdin=b"4300202\n")]
        secret = self.write("secret", "s3cret-value\n")
        runs.append(docpipe("--fhir-base", self.srv.base_url, "--client-id", "basic-client",
                            "--client-secret-file", secret, "run", "fhir-documents",
                            stdin=b"4300202\n"))
        token = self.srv.mint_token("system/*.read")
        bearer = self.write("bearer", token + "\n")
        runs.append(docpipe("--fhir-base", self.srv.base_url, "--bearer-file", bearer,
                            "run", "fhir-documents", stdin=b"4300202\n"))
        with open(self.ec) as f:
            key_lines = [l.strip() for l in f if l.strip() and "-----" not in l]
        for r in runs:
            self.assertEqual(r.status, 0, r.stderr)
            self.assertEqual(len(r.records), 1)
            # Secrets, keys and tokens reach no output of any of the runs.
            for secret_text in ["s3cret", token] + key_lines[:2]:
                self.assertNotIn(secret_text.encode(), r.stdout + r.stderr)

    def test_secrets_never_reach_any_output(self):
        """Refused tokens and secrets are not repeated in records, error
        records, the summary or the error file."""
        errfile = os.path.join(self.tmp, "errors.ndjson")
        bearer = self.write("bearer", "TOKEN-abc123-not-accepted\n")
        runs = [docpipe("--fhir-base", self.srv.base_url, "--bearer-file", bearer, "--errors",
                        errfile, "run", "fhir-documents", stdin=b"4300201\n")]
        secret = self.write("secret", "wrong-s3cret-xyz\n")
        runs.append(docpipe("--fhir-base", self.srv.base_url, "--client-id", "basic-client",
                            "--client-secret-file", secret, "run", "fhir-documents",
                            stdin=b"4300201\n"))
        self.assertEqual([e["kind"] for e in runs[1].errors], ["unauthorized"])
        with open(self.rsa) as f:
            key_lines = [l.strip() for l in f if l.strip() and "-----" not in l]
        everything = b"".join(r.stdout + r.stderr for r in runs) + read(errfile)
        for secret_text in ["abc123", "wrong-s3cret-xyz"] + key_lines[:3]:
            self.assertNotIn(secret_text.encode(), everything)
        with open(errfile) as f:
            self.assertEqual([json.loads(l)["kind"] for l in f], ["unauthorized"])

    def test_unknown_kid_explained(self):
        args = self.auth()
        args[args.index("k-rsa")] = "k-unknown"
        run = docpipe(*args, "run", "fhir-documents", stdin=b"4300201\n")
        self.assertEqual(run.status, 1)
        self.assertEqual([e["kind"] for e in run.errors], ["unauthorized"])
        self.assertIn("kid", run.errors[0]["message"])
        self.assertIn("JWKS", run.errors[0]["hint"])
        self.assertNotIn(b"BEGIN", run.stderr)


class Tokens(LiveServer):
    def test_one_token_per_lifetime(self):
        self.srv.configure(token_lifetime=2, slow_ms=250)
        start = time.monotonic()
        run = docpipe(*self.auth(), "--concurrency", "2", "run", "fhir-documents",
                      stdin=(PATIENTS * 3).encode())
        elapsed = time.monotonic() - start
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 30)
        tokens = self.srv.stats()["token_requests"]
        lifetimes = elapsed / 2
        self.assertGreater(lifetimes, 3, "the run must outlast several token lifetimes")
        # About one token per lifetime: never one per request, never a burst.
        self.assertLessEqual(tokens, lifetimes + 2, (tokens, elapsed))
        self.assertGreaterEqual(tokens, 2)
        self.assertLessEqual(self.srv.stats()["status_counts"].get(401, 0), 1)

    def test_token_cache_is_private_and_reused(self):
        cache = os.path.join(self.tmp, "token.json")
        docpipe(*self.auth(), "--token-cache", cache, "run", "fhir-documents",
                stdin=b"4300201\n")
        self.assertEqual(stat.S_IMODE(os.stat(cache).st_mode), 0o600)
        first = self.srv.stats()["token_requests"]
        run = docpipe(*self.auth(), "--token-cache", cache, "run", "fhir-documents",
                      stdin=b"4300202\n")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(self.srv.stats()["token_requests"], first)

    def test_expired_token_refreshed_once(self):
        """A token the server stops accepting is replaced once, not in a loop."""
        cache = os.path.join(self.tmp, "token.json")
        docpipe(*self.auth(), "--token-cache", cache, "run", "fhir-documents", stdin=b"4300201\n")
        with open(cache) as f:
            data = json.load(f)
        data["accessToken"] = "revoked-token-value"
        with open(cache, "w") as f:
            json.dump(data, f)
        before = self.srv.stats()["token_requests"]
        refused = self.srv.stats()["status_counts"].get(401, 0)
        run = docpipe(*self.auth(), "--token-cache", cache, "--concurrency", "4", "run",
                      "fhir-documents", stdin=b"4300202\n4300203\n4300204\n")
        self.assertEqual(run.status, 0, run.stderr)
        stats = self.srv.stats()
        # one new token for the whole run, though four requests were in flight
        self.assertEqual(stats["token_requests"], before + 1)
        self.assertGreaterEqual(stats["status_counts"].get(401, 0) - refused, 1)
        self.assertNotIn(b"revoked-token-value", run.stderr)

    def test_a_token_refused_again_is_not_asked_for_in_a_loop(self):
        """A server that refuses every token (revoked access): one new token is
        asked for, then the documents fail as unauthorized; no loop."""
        self.srv.configure(refuse_tokens=True)
        before = self.srv.stats()["token_requests"]
        run = docpipe(*self.auth(), "--concurrency", "1", "run", "fhir-documents",
                      stdin=b"4300202\n")
        self.srv.configure(refuse_tokens=None)
        self.assertEqual(run.status, 1, run.stderr)
        self.assertEqual([e["kind"] for e in run.errors], ["unauthorized"])
        self.assertEqual(self.srv.stats()["token_requests"] - before, 2)  # the first, one more


class RateLimits(LiveServer):
    def test_run_at_the_server_limit(self):
        """240 documents through a server that allows 30 requests/s: all of
        them arrive, the pace settles near the limit, and after the first
        burst (the limit is not known yet) few answers are 429."""
        with open(os.path.join(CORPUS, "docrefs.ndjson")) as f:
            base = [json.loads(l) for l in f]
        with open(os.path.join(CORPUS, "binaries.ndjson")) as f:
            bins = {b["id"]: b for b in map(json.loads, f)}
        small = [d for d in base if d["content"][0]["attachment"]["size"] < 20000]
        docrefs, binaries = [], []
        for i in range(240):
            d = json.loads(json.dumps(small[i % len(small)]))
            bid = d["content"][0]["attachment"]["url"].split("/")[-1]
            d["id"], d["subject"] = "R-%d" % i, {"reference": "Patient/Q%d" % (i % 12)}
            d["content"][0]["attachment"]["url"] = "Binary/RB-%d" % i
            docrefs.append(d)
            binaries.append(dict(bins[bid], id="RB-%d" % i))
        srv = FhirTestServer(docrefs=docrefs, binaries=binaries, rate_limit=30)
        srv.register_client("c", secret="pw")
        srv.start()
        try:
            secret = self.write("secret", "pw\n")
            start = time.monotonic()
            run = docpipe("--fhir-base", srv.base_url, "--client-id", "c",
                          "--client-secret-file", secret, "--concurrency", "4",
                          "run", "fhir-documents",
                          stdin="".join("Q%d\n" % i for i in range(12)).encode())
            elapsed = time.monotonic() - start
            s = srv.stats()
        finally:
            srv.stop()
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 240)
        self.assertGreater(s["sent_429"], 0, "the limit was never reached: the test proves nothing")
        self.assertLess(s["sent_429"] / s["requests"], 0.05, s)
        self.assertGreater(s["requests"] / elapsed, 30 * 0.75, (s["requests"], elapsed))

    def test_client_pacing_avoids_429(self):
        self.srv.configure(rate_limit=20)
        run = docpipe(*self.auth(), "--rate", "15", "--concurrency", "8", "run",
                      "fhir-documents", stdin=(PATIENTS * 2).encode())
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(self.srv.stats()["sent_429"], 0)

    def test_concurrency_cap(self):
        self.srv.configure(slow_ms=150)
        run = docpipe(*self.auth(), "--concurrency", "3", "run", "fhir-documents",
                      stdin=(PATIENTS * 2).encode())
        self.assertEqual(run.status, 0, run.stderr)
        peak = self.srv.stats()["peak_concurrency"]
        self.assertLessEqual(peak, 3)
        self.assertGreaterEqual(peak, 2)


class Incremental(LiveServer):
    def test_since_and_state_file(self):
        state = os.path.join(self.tmp, "nightly.state")
        first = docpipe(*self.auth(), "run", "fhir-documents", "--state", state,
                        stdin=PATIENTS.encode())
        self.assertEqual(len(first.records), 10)
        self.assertEqual(stat.S_IMODE(os.stat(state).st_mode), 0o600)
        time.sleep(1.1)
        # One document changes on the server.
        patch = json.dumps({"reference": "DocumentReference/21000104",
                            "patch": {"description": "amended"}})
        upd = docpipe(*self.auth(), "--scope",
                      "system/DocumentReference.read system/DocumentReference.write",
                      "update", stdin=patch.encode(), check_contract=False)
        self.assertEqual(upd.status, 0, upd.stderr)
        time.sleep(1.1)  # the mark has a resolution of one second (the Date header)
        second = docpipe(*self.auth(), "run", "fhir-documents", "--state", state,
                         stdin=PATIENTS.encode())
        self.assertEqual(second.status, 0, second.stderr)
        self.assertEqual([r["id"] for r in second.records], ["DocumentReference/21000104"])
        # The mark moved to when the second run began, by the server's clock:
        # nothing changed since.
        third = docpipe(*self.auth(), "run", "fhir-documents", "--state", state,
                        stdin=PATIENTS.encode())
        self.assertEqual(third.records, [])


class Updates(LiveServer):
    SCOPE = ["--scope", "system/DocumentReference.read system/DocumentReference.write"]

    def test_stale_version_reports_conflict_with_both_versions(self):
        doc = first_docref()
        doc["description"] = "first change"
        ok = docpipe(*self.auth(), *self.SCOPE, "update", stdin=json.dumps(doc).encode(),
                     check_contract=False)
        self.assertEqual(ok.status, 0, ok.stderr)
        self.assertEqual(ok.records[0]["versionId"], "2")
        self.assertEqual(ok.records[0]["basedOn"], "1")
        doc["description"] = "a change made against version 1"
        stale = docpipe(*self.auth(), *self.SCOPE, "update", stdin=json.dumps(doc).encode(),
                        check_contract=False)
        self.assertEqual(stale.status, 1)
        self.assertEqual(len(stale.errors), 1)
        e = stale.errors[0]
        self.assertEqual(e["kind"], "version-conflict")
        self.assertEqual(e["status"], 412)
        self.assertIn("based on version 1", e["message"])
        self.assertIn("server has version 2", e["message"])
        self.assertEqual(self.srv.get_resource("DocumentReference", "21000101")["description"],
                         "first change")

    def test_409_and_reapplied_merge_patch(self):
        self.srv.configure(conflict_status=409)
        doc = first_docref()
        doc["meta"]["versionId"] = "0"
        stale = docpipe(*self.auth(), *self.SCOPE, "update", stdin=json.dumps(doc).encode(),
                        check_contract=False)
        self.assertEqual([e["kind"] for e in stale.errors], ["version-conflict"])
        self.assertEqual(stale.errors[0]["status"], 409)
        patch = json.dumps({"reference": "DocumentReference/21000101",
                            "patch": {"docStatus": "amended"}})
        ok = docpipe(*self.auth(), *self.SCOPE, "update", "--reapply",
                     stdin=patch.encode(), check_contract=False)
        self.assertEqual(ok.status, 0, ok.stderr)
        self.assertEqual(self.srv.get_resource("DocumentReference", "21000101")["docStatus"],
                         "amended")


class BulkExport(LiveServer):
    def test_export_gives_the_search_records(self):
        search = docpipe(*self.auth(), "run", "fhir-documents", stdin=PATIENTS.encode())
        self.srv.configure(export_polls=2, export_retry_after=1)
        export = docpipe(*self.auth(), "--progress", "--progress-interval", "0.05", "run",
                         "bulk-export")
        self.assertEqual(export.status, 0, export.stderr)
        self.assertEqual(export.by_id(), search.by_id())
        # The server's X-Progress, on lines of their own among the progress lines.
        self.assertTrue([l for l in export.other_stderr
                         if l.startswith("docpipe: export: ") and "% complete" in l])
        self.assertTrue([l for l in export.other_stderr if re.match(r"docpipe: \d+ docs ", l)])
        s = self.srv.stats()
        self.assertEqual(s["export_jobs_started"], 1)
        self.assertEqual(s["export_jobs_deleted"], 1)  # cleaned up after the download

    def test_group_level_without_token_on_files(self):
        self.srv.configure(export_polls=0, export_requires_token=False)
        run = docpipe(*self.auth(), "run", "bulk-export", "Group/all")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        self.assertEqual(self.srv.stats()["auth_on_storage"], 0)

    def test_ctrl_c_deletes_the_job(self):
        self.srv.configure(export_polls=1000, export_retry_after=1)
        proc = subprocess.Popen([DOCPIPE, *self.auth(), "run", "bulk-export"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while self.srv.stats()["export_jobs_started"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        self.assertNotEqual(proc.returncode, 0)
        self.assertEqual(self.srv.stats()["export_jobs_deleted"], 1)
        self.assertIn(b"deleted", err)


class Check(LiveServer):
    def test_preflight(self):
        run = docpipe(*self.auth(), "check", "--patient", "4300201", check_contract=False)
        out = run.stdout.decode()
        self.assertEqual(run.status, 0, out)
        self.assertIn("OK    token endpoint", out)
        self.assertIn("OK    Binary read (Accept: */*)", out)
        self.srv.configure(no_binary_scope=True)
        run = docpipe(*self.auth(), "check", "--patient", "4300201", check_contract=False)
        out = run.stdout.decode()
        self.assertEqual(run.status, 1, out)
        self.assertIn("FAIL  scopes", out)
        self.assertIn("system/Binary.read", out)

    def test_preflight_explains_a_wrong_token_url(self):
        run = docpipe(*self.auth(), "--token-url", self.srv.base_url + "/no-such-token",
                      "check", check_contract=False)
        self.assertEqual(run.status, 1)
        self.assertIn("FAIL  token", run.stdout.decode())


if __name__ == "__main__":
    dptest.main()
