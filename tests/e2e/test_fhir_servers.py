"""docpipe against FHIR servers as they really answer: every form of
Retry-After under --retry-cap, interrupts during waits, default scopes from
the pipeline and the server's SMART configuration, `check` on a Bulk Data
server, trusted origins, and the registration of the SMART Bulk Data
reference server.  The test server (tests/fhirserver) reproduces each
behaviour on 127.0.0.1; each test starts its own."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fhirserver"))
import dptest  # noqa: E402
from dptest import CORPUS, DOCPIPE, TempDirTest, docpipe  # noqa: E402
from fhirserver import FhirTestServer  # noqa: E402

PATIENTS = "\n".join(str(p) for p in range(4300201, 4300210)) + "\n"


def keygen(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-384", "-out", path], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.chmod(path, 0o600)


def jwks_of(key, kid):
    return json.loads(subprocess.run([DOCPIPE, "jwks", "--private-key", key, "--key-id", kid],
                                     check=True, stdout=subprocess.PIPE).stdout)


class Live(TempDirTest):
    """One test server per test, with the corpus and a registered EC key."""

    def setUp(self):
        super().setUp()
        self.key = os.path.join(self.tmp, "ec.pem")
        keygen(self.key)
        self.srv = self.make_server()
        self.srv.start()

    def make_server(self, **faults):
        srv = FhirTestServer.from_ndjson(os.path.join(CORPUS, "docrefs.ndjson"),
                                         os.path.join(CORPUS, "binaries.ndjson"), **faults)
        srv.register_client("docpipe-test", jwks=jwks_of(self.key, "k-ec"))
        return srv

    def tearDown(self):
        self.srv.stop()
        super().tearDown()

    def auth(self, srv=None):
        return ["--fhir-base", (srv or self.srv).base_url, "--client-id", "docpipe-test",
                "--private-key", self.key, "--key-id", "k-ec", "--retry-base", "0.02"]

    def count(self, status):
        return self.srv.stats()["status_counts"].get(status, 0)

    def start(self, *args, stdin=b""):
        proc = subprocess.Popen([DOCPIPE, *args], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdin.write(stdin)
        proc.stdin.close()
        proc.stdin = None  # communicate() must not flush it again
        return proc

    def wait_for(self, what, timeout=20):
        deadline = time.monotonic() + timeout
        while not what():
            self.assertLess(time.monotonic(), deadline, "the server never saw it")
            time.sleep(0.02)


class Waits(Live):
    """No hang on 429: every Retry-After form, each wait capped by --retry-cap."""

    FORMS = ["epoch+300",     # a Unix time 5 minutes ahead (the reference server's form)
             "epoch-ms+300",  # the same in milliseconds (its form when a block starts)
             "1796154259",    # the time the issue quotes, now in the past
             "date+300",      # an HTTP-date
             "86400",         # delta-seconds, a day
             "soon",          # garbage: the backoff decides
             "epoch-3600"]    # a Unix time already past: at once

    def test_every_retry_after_form_is_capped(self):
        """Two documents whose Binary answers 429 for ever: each fails as
        rate-limited after 1 + 2 tries, with the server's message, in about
        2 x --retry-cap, whatever the Retry-After says (the reference
        server's epoch time was taken as 1.7e9 seconds before)."""
        for form in self.FORMS:
            for text in (None, "Too Many Requests. Try again later."):
                with self.subTest(form=form, text=text):
                    self.srv.configure(fail_429_every=1, fail_429_only=["read:Binary"],
                                       retry_after=form, throttle_text=text)
                    self.srv.reset_stats()
                    start = time.monotonic()
                    run = docpipe(*self.auth(), "--retries", "2", "--retry-cap", "0.1",
                                  "run", "fhir-documents", stdin=b"4300201\n4300202\n")
                    took = time.monotonic() - start
                    self.assertLess(took, 20)
                    self.assertEqual(run.status, 1, run.stderr)
                    self.assertEqual(sorted(e["id"] for e in run.errors),
                                     ["DocumentReference/21000101", "DocumentReference/21000102"])
                    self.assertEqual(self.count(429), 2 * 3)
                    for e in run.errors:
                        self.assertEqual(e["kind"], "rate-limited")
                        self.assertEqual(e["status"], 429)
                        self.assertIn(text or "Too many requests: rate limit exceeded",
                                      e["message"])
                        self.assertIn("after 3 tries", e["hint"])
                        if form not in ("soon",):
                            self.assertIn("Retry-After", e["hint"])

    def test_retry_after_within_the_cap_is_honoured(self):
        """A Retry-After under the cap is waited out, not shortened."""
        self.srv.configure(fail_429_every=2, fail_429_only=["read:Binary"], retry_after="1")
        start = time.monotonic()
        run = docpipe(*self.auth(), "--concurrency", "1", "--retry-cap", "5", "run",
                      "fhir-documents", stdin=b"4300201\n4300202\n")
        took = time.monotonic() - start
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 2)
        self.assertEqual(self.count(429), 1)
        self.assertGreaterEqual(took, 1.0)

    def test_5xx_fails_with_the_operation_outcome(self):
        self.srv.configure(fail_503_every=1)
        run = docpipe(*self.auth(), "--retries", "2", "--retry-cap", "0.1", "run",
                      "fhir-documents", stdin=b"4300201\n")
        self.assertEqual(run.status, 1)
        self.assertEqual([e["kind"] for e in run.errors], ["server-error"])
        self.assertIn("HTTP 503: The service is temporarily unavailable", run.errors[0]["message"])
        self.assertIn("failed 3 times", run.errors[0]["hint"])

    def test_token_endpoint_waits_are_capped(self):
        self.srv.configure(fail_429_every=1, fail_429_only=["token"], retry_after="epoch+300",
                           throttle_text="Too Many Requests. Try again later.")
        start = time.monotonic()
        run = docpipe(*self.auth(), "--retry-cap", "0.2", "run", "fhir-documents",
                      stdin=b"4300201\n")
        self.assertLess(time.monotonic() - start, 20)
        self.assertEqual(run.status, 1)
        self.assertEqual([e["kind"] for e in run.errors], ["rate-limited"])
        self.assertIn("answered 429 3 times: Too Many Requests. Try again later.",
                      run.errors[0]["message"])
        self.assertEqual(self.srv.stats()["token_requests"], 3)

    def interrupt_during_wait(self, args, seen, stdin=b""):
        """SIGINT once the server has seen `seen`; the run must end within a
        few seconds (the wait it was in was 30 s or more), print its summary
        and make almost no request after the signal."""
        proc = self.start(*args, stdin=stdin)
        self.wait_for(seen)
        time.sleep(0.3)  # in the wait now
        before = self.srv.stats()["requests"]
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
        after = self.srv.stats()["requests"]
        self.assertLess(took, 10, err)
        self.assertEqual(proc.returncode, 2, err)
        self.assertIn(b"docpipe: interrupted", err)
        return out, err, after - before

    def test_sigint_cuts_a_retry_after_wait_and_stops_retrying(self):
        self.srv.configure(fail_429_every=1, fail_429_only=["read:Binary"], retry_after="30")
        out, err, extra = self.interrupt_during_wait(
            self.auth() + ["--retries", "50", "--retry-cap", "60", "--concurrency", "2",
                           "run", "fhir-documents"],
            lambda: self.count(429) >= 2, stdin=PATIENTS.encode())
        # Without the stop, each document in hand would make its 50 retries at once.
        self.assertLess(extra, 15)
        self.assertIn(b"documents from", err)  # the summary
        errors = [json.loads(l) for l in err.decode().splitlines() if l.startswith("{")]
        self.assertTrue(errors)
        self.assertEqual({e["kind"] for e in errors}, {"rate-limited"})

    def test_sigint_cuts_a_token_endpoint_wait(self):
        self.srv.configure(fail_429_every=1, fail_429_only=["token"], retry_after="30")
        self.interrupt_during_wait(self.auth() + ["run", "fhir-documents"],
                                   lambda: self.srv.stats()["token_requests"] >= 1,
                                   stdin=b"4300201\n")
        self.assertEqual(self.srv.stats()["token_requests"], 1)


def first_docref():
    with open(os.path.join(CORPUS, "docrefs.ndjson")) as f:
        return json.loads(f.readline())


class Origins(Live):
    """Only the origins you trust; no cloud metadata, no intranet."""

    def dump(self, *urls):
        lines = []
        for i, url in enumerate(urls):
            d = first_docref()
            d["id"] = "O-%d" % i
            att = d["content"][0]["attachment"]
            att["url"] = url
            att.pop("size", None)  # another Binary than the one the corpus describes
            att.pop("hash", None)
            lines.append(json.dumps(d) + "\n")
        return self.write("dump.ndjson", "".join(lines))

    def storage(self, host="127.0.0.1"):
        return "http://%s:%d" % (host, self.srv.storage_port)

    def blob(self, bid, host="127.0.0.1"):
        sig = self.srv._new_sig(("blob", bid))
        return "%s/blob/%s?sig=%s&accept=raw" % (self.storage(host), bid, sig)

    def test_attachments_on_other_origins_need_allow_origin(self):
        """A dump's absolute attachment URLs on another origin, the cloud
        metadata address among them, are not fetched."""
        dump = self.dump(self.blob("XR-21000101"), "http://169.254.169.254/latest/meta-data/iam",
                         "http://2852039166/latest/", "http://0.0.0.0:%d/x" % self.srv.port,
                         "Binary/XR-21000102", self.srv.base_url + "/Binary/XR-21000103")
        run = docpipe(*self.auth(), "run", "fhir-dump", dump)
        self.assertEqual(run.status, 1)
        kinds = {e["id"]: e["kind"] for e in run.errors}
        self.assertEqual(kinds, {"DocumentReference/O-%d" % i: "untrusted-origin" for i in range(4)})
        self.assertEqual(sorted(r["id"] for r in run.records),
                         ["DocumentReference/O-4", "DocumentReference/O-5"])
        first = next(e for e in run.errors if e["id"] == "DocumentReference/O-0")
        self.assertIn("%s/blob/XR-21000101 is not on the FHIR server's origin" % self.storage(),
                      first["message"])
        self.assertNotIn("sig=", first["message"])
        self.assertIn("--allow-origin http://127.0.0.1:%d" % self.srv.storage_port, first["hint"])
        self.assertEqual(self.srv.stats()["storage_requests"], 0)
        ok = docpipe(*self.auth(), "--allow-origin", self.storage(), "run", "fhir-dump",
                     self.dump(self.blob("XR-21000101")))
        self.assertEqual(ok.status, 0, ok.stderr)
        self.assertEqual(len(ok.records), 1)
        self.assertEqual(self.srv.stats()["storage_requests"], 1)
        self.assertEqual(self.srv.stats()["auth_on_storage"], 0)  # no credentials there

    def test_redirect_to_a_name_resolving_to_loopback_is_refused(self):
        """The FHIR server redirects to "localhost": a name, which resolves to
        a loopback address that is not the FHIR server's host."""
        self.srv.configure(redirect_binaries=True, redirect_binaries_to=self.storage("localhost"))
        run = docpipe(*self.auth(), "run", "fhir-documents", stdin=b"4300201\n")
        self.assertEqual(run.status, 1)
        self.assertEqual([e["kind"] for e in run.errors], ["untrusted-origin"])
        msg = run.errors[0]["message"]
        self.assertIn("redirected to %s/blob/XR-21000101" % self.storage("localhost"), msg)
        self.assertRegex(msg, r"localhost resolves to (127\.0\.0\.1|::1), a loopback address")
        self.assertNotIn("sig=", msg)
        self.assertIn("--allow-origin http://localhost:%d" % self.srv.storage_port,
                      run.errors[0]["hint"])
        self.assertEqual(self.srv.stats()["storage_requests"], 0)
        ok = docpipe(*self.auth(), "--allow-origin", self.storage("localhost"), "run",
                     "fhir-documents", stdin=b"4300201\n")
        self.assertEqual(ok.status, 0, ok.stderr)
        self.assertEqual(self.srv.stats()["auth_on_storage"], 0)

    def test_redirect_to_an_address_literal_is_refused(self):
        self.srv.configure(redirect_binaries=True, redirect_binaries_to=self.storage("0.0.0.0"))
        run = docpipe(*self.auth(), "run", "fhir-documents", stdin=b"4300201\n")
        self.assertEqual([e["kind"] for e in run.errors], ["untrusted-origin"])
        self.assertIn("0.0.0.0 is an unspecified address", run.errors[0]["message"])
        self.assertEqual(self.srv.stats()["storage_requests"], 0)

    def test_redirect_to_the_servers_own_host_is_followed(self):
        self.srv.configure(redirect_binaries=True)
        run = docpipe(*self.auth(), "run", "fhir-documents", stdin=PATIENTS.encode())
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        self.assertEqual(self.srv.stats()["auth_on_storage"], 0)

    def test_manifest_files_follow_requires_access_token(self):
        """Bulk files on a file server apart from the FHIR server: the token
        goes there when, and only when, the manifest says requiresAccessToken."""
        self.srv.configure(export_polls=0, export_files_on_storage=True)
        run = docpipe(*self.auth(), "run", "bulk-export")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        with_token = self.srv.stats()["auth_on_storage"]
        self.assertEqual(with_token, 1)
        self.srv.configure(export_requires_token=False)
        run = docpipe(*self.auth(), "run", "bulk-export")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(self.srv.stats()["auth_on_storage"], with_token)


class Scopes(Live):
    """Scopes that work on the first run."""

    def asked(self):
        return self.srv.stats()["scopes_requested"]

    def test_default_scopes_follow_the_pipeline(self):
        dump = self.write("d.ndjson", json.dumps(first_docref()) + "\n")
        patch = json.dumps({"reference": "DocumentReference/21000101",
                            "patch": {"description": "x"}}).encode()
        cases = [
            (["run", "fhir-documents"], b"4300201\n",
             "system/DocumentReference.read system/Binary.read"),
            (["run", "bulk-export", "--type", "DocumentReference,Patient", "Group/all"], b"",
             "system/DocumentReference.read system/Patient.read system/Group.read "
             "system/Binary.read"),
            (["export", "Patient"], b"", "system/DocumentReference.read system/Patient.read"),
            (["search", "--resource", "DiagnosticReport"], b"4300201\n",
             "system/DiagnosticReport.read"),
            (["run", "fhir-dump", dump], b"", "system/Binary.read"),
            (["update"], patch, "system/DocumentReference.read system/DocumentReference.write"),
        ]
        for args, stdin, want in cases:
            with self.subTest(args=args):
                self.srv.reset_stats()
                docpipe(*self.auth(), *args, stdin=stdin, check_contract=False)
                self.assertEqual(self.asked(), [want])

    def test_v2_only_server_gets_v2_scopes(self):
        for faults in ({"smart_capabilities": ["permission-v2"]},
                       {"smart_capabilities": [], "smart_scopes": ["system/*.rs",
                                                                   "system/Binary.r"]}):
            with self.subTest(faults=faults):
                self.srv.configure(**faults)
                self.srv.reset_stats()
                run = docpipe(*self.auth(), "run", "fhir-documents", stdin=b"4300201\n")
                self.assertEqual(run.status, 0, run.stderr)
                self.assertEqual(self.asked(), ["system/DocumentReference.rs system/Binary.r"])

    def test_a_type_listed_in_one_form_gets_that_form(self):
        self.srv.configure(smart_capabilities=[], smart_scopes=["system/DocumentReference.read",
                                                                "system/Binary.r"])
        run = docpipe(*self.auth(), "run", "fhir-documents", stdin=b"4300201\n")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(self.asked(), ["system/DocumentReference.read system/Binary.r"])

    def test_explicit_scope_wins(self):
        run = docpipe(*self.auth(), "--scope", "system/*.read", "run", "fhir-documents",
                      stdin=b"4300201\n")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(self.asked(), ["system/*.read"])
        # ... even when the server refuses it: no second guess.
        self.srv.configure(bulk_only=True)
        self.srv.reset_stats()
        run = docpipe(*self.auth(), "--scope", "system/DocumentReference.read system/Binary.read",
                      "run", "bulk-export")
        self.assertEqual(run.status, 1)
        self.assertEqual([e["kind"] for e in run.errors], ["unauthorized"])
        self.assertIn('Resources of type "Binary" do not exist', run.errors[0]["message"])
        self.assertEqual(len(self.asked()), 1)

    def test_refusal_naming_a_missing_type_is_retried_once_without_it(self):
        """The SMART reference server: no Binary, and a token request naming
        it is refused; docpipe asks again without it, says so once, and the
        export's documents (attachments of their own) all arrive."""
        self.srv.configure(bulk_only=True, export_polls=0)
        cache = os.path.join(self.tmp, "token.json")
        run = docpipe(*self.auth(), "--token-cache", cache, "run", "bulk-export")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        self.assertEqual(self.asked(), ["system/DocumentReference.read system/Binary.read",
                                        "system/DocumentReference.read"])
        warnings = [l for l in run.other_stderr if "refused the scopes for Binary" in l]
        self.assertEqual(len(warnings), 1, run.other_stderr)
        self.assertIn('Resources of type "Binary" do not exist', warnings[0])
        # The next run finds its token in the cache: no refusal again.
        again = docpipe(*self.auth(), "--token-cache", cache, "run", "bulk-export")
        self.assertEqual(again.status, 0, again.stderr)
        self.assertEqual(len(self.asked()), 2)

    def test_vague_refusal_drops_what_scopes_supported_lacks(self):
        self.srv.configure(bulk_only=True, export_polls=0, scope_refusal="vague")
        run = docpipe(*self.auth(), "run", "bulk-export")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(self.asked()[1:], ["system/DocumentReference.read"])

    def test_vague_refusal_without_scopes_supported_stands(self):
        self.srv.configure(bulk_only=True, export_polls=0, scope_refusal="vague",
                           smart_scopes="omit")
        run = docpipe(*self.auth(), "run", "bulk-export")
        self.assertEqual(run.status, 1)
        self.assertEqual([e["kind"] for e in run.errors], ["unauthorized"])
        self.assertIn("invalid_scope", run.errors[0]["message"])
        self.assertIn("--scope", run.errors[0]["hint"])
        self.assertEqual(len(self.asked()), 1)


class CheckBulk(Live):
    """`check` knows Bulk Data servers."""

    def check(self, *args):
        run = docpipe(*self.auth(), "check", *args, check_contract=False)
        return run, run.stdout.decode()

    def test_bulk_only_server_is_judged_by_bulk_export(self):
        self.srv.configure(bulk_only=True)
        run, out = self.check()
        self.assertEqual(run.status, 0, out)
        self.assertIn("OK    judged for pipeline bulk-export (the server has $export but no "
                      "DocumentReference search)", out)
        self.assertIn("DocumentReference read only, Binary absent; $export system, Patient, "
                      "Group", out)
        self.assertIn("OK    $export at system level: offered", out)
        self.assertIn("OK    $export kick-off at system level for DocumentReference: 202 "
                      "Accepted; the job was cancelled at once", out)
        self.assertIn("SKIP  Binary read", out)
        self.assertIn("not asked for: Binary", out)
        s = self.srv.stats()
        self.assertEqual((s["export_jobs_started"], s["export_jobs_deleted"]), (1, 1))
        log = s["path_log"]
        # Discovery and the CapabilityStatement come before any token.
        self.assertLess(log.index("metadata"), log.index("token"))
        self.assertLess(log.index("smart-configuration"), log.index("token"))

    def test_group_level_and_a_refused_kick_off(self):
        self.srv.configure(bulk_only=True, groups={"G1": ["4300201"]})
        run, out = self.check("Group/G1")
        self.assertEqual(run.status, 0, out)
        self.assertIn("kick-off at Group/G1 level", out)
        self.assertIn("system/Group.read", out)  # asked for the Group level's scope
        run, out = self.check("Group/nope")
        self.assertEqual(run.status, 1, out)
        self.assertIn("FAIL  $export kick-off: GET", out)
        self.assertIn("Group/nope is not known", out)

    def test_search_pipeline_on_a_bulk_only_server_says_what_to_do(self):
        self.srv.configure(bulk_only=True)
        run, out = self.check("--pipeline", "fhir-documents", "--patient", "4300201")
        self.assertEqual(run.status, 1, out)
        self.assertIn("FAIL  DocumentReference search: the CapabilityStatement offers no "
                      "search", out)
        self.assertIn("fix: this is a Bulk Data server: docpipe check --pipeline bulk-export", out)

    def test_millennium_like_server_is_judged_by_fhir_documents(self):
        run, out = self.check("--patient", "4300201")
        self.assertEqual(run.status, 0, out)
        self.assertIn("judged for pipeline fhir-documents (the default)", out)
        self.assertIn("OK    Binary read (Accept: */*)", out)
        run, out = self.check("--pipeline", "bulk-export")
        self.assertEqual(run.status, 0, out)
        self.assertIn("202 Accepted; the job was cancelled at once", out)

    def test_check_help(self):
        a = docpipe("check", "--help", check_contract=False)
        b = docpipe("help", "check", check_contract=False)
        self.assertEqual((a.status, b.status), (0, 0))
        self.assertEqual(a.stdout, b.stdout)
        text = a.stdout.decode()
        for word in ("--pipeline NAME", "--patient ID", "LEVEL", "bulk-export", "cancelled"):
            self.assertIn(word, text)
        self.assertTrue(all(len(l) <= 80 for l in text.splitlines()))
        self.assertEqual(self.srv.stats()["requests"], 0)


class Registration(TempDirTest):
    """The SMART Bulk Data reference server's registration, as our test
    server reproduces it: POST the JWKS that `docpipe jwks` prints to
    /auth/register, get the client id back as text, and run with no --scope."""

    def test_register_then_export_with_no_scope(self):
        key = os.path.join(self.tmp, "k.pem")
        keygen(key)
        srv = FhirTestServer.from_ndjson(os.path.join(CORPUS, "docrefs.ndjson"),
                                         os.path.join(CORPUS, "binaries.ndjson"),
                                         bulk_only=True, export_polls=0)
        srv.start()
        try:
            conf = json.load(urllib.request.urlopen(srv.base_url + "/.well-known/smart-configuration"))
            jwks = subprocess.run([DOCPIPE, "jwks", "--private-key", key, "--key-id", "k1"],
                                  check=True, stdout=subprocess.PIPE).stdout
            req = urllib.request.Request(conf["registration_endpoint"],
                                         data=urllib.parse.urlencode({"jwks": jwks}).encode())
            client_id = urllib.request.urlopen(req).read().decode()
            self.assertGreater(len(client_id), 100)  # a token with the JWKS in it, as there
            args = ["--fhir-base", srv.base_url, "--client-id", client_id, "--private-key", key,
                    "--key-id", "k1"]
            check = docpipe(*args, "check", check_contract=False)
            self.assertEqual(check.status, 0, check.stdout.decode())
            run = docpipe(*args, "run", "bulk-export")
            self.assertEqual(run.status, 0, run.stderr)
            self.assertEqual(len(run.records), 10)
            self.assertEqual(srv.stats()["registrations"], 1)
        finally:
            srv.stop()


if __name__ == "__main__":
    dptest.main()
