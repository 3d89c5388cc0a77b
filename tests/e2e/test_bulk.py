"""docpipe's Bulk Data export against the test server in tests/fhirserver, made
to behave as Bulk Data servers other than Millennium do (the SMART reference
server above all): epoch-time Retry-After, 429s with a plain-text body,
partial manifests, deleted and error files, expired files, POST-only
kick-offs, many files.  Each test starts its own server on 127.0.0.1."""
import json
import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fhirserver"))
from bulkserver import BulkServer  # noqa: E402
import dptest  # noqa: E402
from dptest import CORPUS, DOCPIPE, TempDirTest, b64, check_error, check_record, docpipe  # noqa: E402
from fhirserver import FhirTestServer  # noqa: E402

ALL_IDS = sorted("DocumentReference/%d" % i for i in range(21000101, 21000111))
LAB_IDS = ["DocumentReference/%d" % i for i in (21000106, 21000107, 21000108, 21000109)]
# What the SMART reference server sends as Retry-After: the Unix time its
# rate window ends (such as 1796154259), here a day ahead so that it stays in
# the future whenever the test runs.
EPOCH = "%d" % (time.time() + 86400)
TOO_MANY = "Too Many Requests. Try again later."


class BulkCase(TempDirTest):
    tenant = None

    def setUp(self):
        super().setUp()
        kw = {"tenant": self.tenant} if self.tenant else {}
        self.srv = FhirTestServer.from_ndjson(os.path.join(CORPUS, "docrefs.ndjson"),
                                              os.path.join(CORPUS, "binaries.ndjson"), **kw)
        self.srv.register_client("bulk", secret="pw-bulk")
        self.srv.configure(export_polls=0)
        self.srv.start()
        self.addCleanup(self.srv.stop)
        self.secret = self.write("secret", "pw-bulk\n")

    def auth(self):
        return ["--fhir-base", self.srv.base_url, "--client-id", "bulk", "--client-secret-file",
                self.secret, "--retry-base", "0.02"]

    def dp(self, *args, **kw):
        """docpipe with the server's credentials.  The export stage alone writes FHIR
        resources, and -f es-bulk or jsonl-text other lines than records: then only the
        error records are held to the contract."""
        records = ("export" not in args or "run" in args) and "-f" not in args
        run = docpipe(*self.auth(), *args, check_contract=records, **kw)
        for e in run.errors:
            check_error(e)
        return run

    def run_timed(self, *args):
        t0 = time.monotonic()
        run = self.dp(*args)
        return run, time.monotonic() - t0

    def popen(self, *args):
        return subprocess.Popen([DOCPIPE, *self.auth(), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)

    def wait_for(self, cond, what, limit=20):
        deadline = time.monotonic() + limit
        while not cond():
            self.assertLess(time.monotonic(), deadline, "no " + what)
            time.sleep(0.02)

    def interrupted(self, proc):
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
        lines = [l for l in err.decode().splitlines() if l.strip()]
        errors = [json.loads(l) for l in lines if l.startswith("{")]
        for e in errors:
            check_error(e)
        summary = [l for l in lines if l.startswith("docpipe: ") and " documents from " in l]
        self.assertTrue(summary, err)  # finished cleanly: the summary was printed
        return proc.returncode, out, errors


class Waiting(BulkCase):
    """Every wait is capped by --retry-cap, whatever Retry-After says."""

    def test_epoch_date_and_nonsense_retry_after_on_status_polls(self):
        date = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 3600))
        for value in (EPOCH, EPOCH + "000", date, "soon"):
            self.srv.configure(export_polls=2, export_retry_after_header=value)
            run, took = self.run_timed("--retry-cap", "0.2", "export")
            self.assertEqual(run.status, 0, run.stderr)
            self.assertEqual(sorted("DocumentReference/" + r["id"] for r in run.records), ALL_IDS)
            self.assertLess(took, 20, value)  # the old code slept 120 s a poll

    def test_429_on_status_polls_is_retried_then_rate_limited_with_the_message(self):
        busy = {"status": 429, "retry_after": EPOCH, "text": TOO_MANY,
                "content_type": "text/html; charset=utf-8"}  # as Express sends it
        self.srv.configure(export_polls=1, export_script={"status": [busy] * 3})
        run, took = self.run_timed("--retry-cap", "0.1", "--retries", "5", "export")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        self.assertLess(took, 20)
        self.assertEqual(self.srv.stats()["export_jobs_deleted"], 1)

        self.srv.reset_stats()
        self.srv.configure(export_script={"status": [busy] * 10})
        run, took = self.run_timed("--retry-cap", "0.1", "--retries", "2", "export")
        self.assertEqual(run.status, 1)
        self.assertLess(took, 20)
        self.assertEqual(len(run.errors), 1, run.stderr)
        e = run.errors[0]
        self.assertEqual((e["kind"], e["status"], e["id"]), ("rate-limited", 429, "$export system"))
        self.assertIn(TOO_MANY, e["message"])
        s = self.srv.stats()
        self.assertEqual(s["export_status_polls"], 3)  # the first try and two retries
        self.assertEqual(s["export_jobs_deleted"], 1)  # a failed poll still deletes the job

    def test_failed_status_poll_deletes_the_job_and_quotes_the_server(self):
        self.srv.configure(export_polls=1, export_script={"status": [
            {"status": 500, "code": "processing", "diagnostics": "Export of Group/all failed: disk full"}]})
        run = self.dp("export")
        self.assertEqual(run.status, 1)
        e = run.errors[0]
        self.assertEqual((e["kind"], e["status"]), ("server-error", 500))
        self.assertIn("status", e["message"])
        self.assertIn("Export of Group/all failed: disk full", e["message"])
        s = self.srv.stats()
        self.assertEqual((s["export_status_polls"], s["export_jobs_deleted"]), (1, 1))

    def test_transient_status_failure_is_retried(self):
        """The reference server's transient_error: 500 with an OperationOutcome coded transient."""
        self.srv.configure(export_polls=1, export_script={"status": [
            {"status": 500, "code": "transient", "diagnostics": "An unknown error occurred "
             "(transient_error). Please try again."}]})
        run = self.dp("export")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)


class KickOff(BulkCase):
    def test_retried_for_429_503_and_transient_only(self):
        self.srv.configure(export_script={"kickoff": [
            {"status": 429, "retry_after": EPOCH, "text": TOO_MANY},
            {"status": 503, "diagnostics": "The service is temporarily unavailable"},
            {"status": 500, "code": "transient", "diagnostics": "busy"},
            {"status": 500, "code": "throttled", "diagnostics": "slow down"}]})
        run, took = self.run_timed("--retry-cap", "0.1", "export")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        self.assertLess(took, 20)
        self.assertEqual(self.srv.stats()["export_kickoffs"], ["GET"] * 5)

    def test_permanent_refusal_is_not_retried_and_explained(self):
        self.srv.configure(export_script={"kickoff": [
            {"status": 500, "code": "processing", "diagnostics": "Group export is disabled for this client"}]})
        run = self.dp("export")
        self.assertEqual(run.status, 1)
        e = run.errors[0]
        self.assertEqual((e["kind"], e["status"]), ("server-error", 500))
        self.assertIn("kick-off", e["message"])
        self.assertIn("Group export is disabled for this client", e["message"])
        self.assertIn("not retried", e["hint"])
        s = self.srv.stats()
        self.assertEqual(s["export_kickoffs"], ["GET"])
        self.assertEqual(s["export_jobs_started"], 0)

    def test_429_after_every_retry_is_rate_limited_with_the_plain_text(self):
        self.srv.configure(export_script={"kickoff": [{"status": 429, "retry_after": EPOCH,
                                                       "text": TOO_MANY}] * 5})
        run, took = self.run_timed("--retry-cap", "0.1", "--retries", "2", "export")
        self.assertEqual(run.status, 1)
        self.assertLess(took, 20)
        e = run.errors[0]
        self.assertEqual((e["kind"], e["status"]), ("rate-limited", 429))
        self.assertIn(TOO_MANY, e["message"])
        self.assertIn("3 tries", e["hint"])
        self.assertEqual(len(self.srv.stats()["export_kickoffs"]), 3)

    def test_post_only_server_gets_a_parameters_body(self):
        self.srv.configure(export_post_only=True)
        run = self.dp("export", "--type", "DocumentReference", "--since",
                      "2000-01-01T00:00:00+01:00")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        s = self.srv.stats()
        self.assertEqual(s["export_kickoffs"], ["GET", "POST"])
        self.assertEqual(s["last_export_params"], {"_type": ["DocumentReference"],
                                                   "_since": ["2000-01-01T00:00:00+01:00"]})

    def test_patient_parameter_is_posted(self):
        self.srv.configure(groups={"G1": ["4300201", "4300204", "4300205"]})
        run = self.dp("export", "--param", "patient=4300204,Patient/4300205",
                      "Group/G1")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(sorted(r["id"] for r in run.records),
                         ["21000104", "21000105", "21000106"])
        s = self.srv.stats()
        self.assertEqual(s["export_kickoffs"], ["POST"])
        self.assertEqual(s["last_export_params"]["patient"], ["4300204", "4300205"])

    def test_type_filter_stays_one_parameter(self):
        tf = "DocumentReference?status=current&type=http://loinc.org|11502-2"
        run = self.dp("run", "bulk-export", "--param", "_typeFilter=" + tf)
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(sorted(r["id"] for r in run.records), LAB_IDS)
        self.assertEqual(self.srv.stats()["last_export_params"],
                         {"_type": ["DocumentReference"], "_typeFilter": [tf]})

    def test_search_param_is_encoded_by_the_same_rules(self):
        run = self.dp("run", "fhir-documents", "--param",
                      "type=http://loinc.org|11502-2", stdin=b"4300205\n4300206\n4300201\n")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(sorted(r["id"] for r in run.records), LAB_IDS[:2])

    def test_401_without_any_token_does_not_blame_a_refused_token(self):
        run = docpipe("--fhir-base", self.srv.base_url, "export", check_contract=False)
        self.assertEqual(run.status, 1)
        e = run.errors[0]
        self.assertEqual((e["kind"], e["status"]), ("unauthorized", 401))
        self.assertIn("none was sent", e["hint"])
        self.assertNotIn("fresh token", e["hint"])
        self.assertIn("An Authorization: Bearer header is required", e["message"])


class Manifests(BulkCase):
    def test_partial_manifests_are_followed(self):
        self.srv.configure(export_resources_per_file=1, export_page_size=3, export_page_polls=1,
                           export_retry_after=0.05)
        run = self.dp("--retry-cap", "0.1", "run", "bulk-export",
                      "--param", "allowPartialManifests=true")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(sorted(r["id"] for r in run.records), ALL_IDS)
        self.assertEqual(self.srv.stats()["export_files_served"], 10)

    def test_deleted_resources_give_deletion_lines(self):
        gone = ["DocumentReference/21000101", "DocumentReference/29999999"]
        self.srv.configure(export_deleted=gone)
        run = self.dp("run", "bulk-export", "--since", "2000-01-01T00:00:00Z")
        self.assertEqual(run.status, 0, run.stderr)
        deletions = [r for r in run.records if r.get("deleted")]
        self.assertEqual([d["id"] for d in deletions], gone)
        for d in deletions:
            self.assertEqual(set(d), {"id", "deleted", "source"})
            self.assertTrue(d["source"]["url"].endswith("/deleted.ndjson"))
            self.assertTrue(d["source"]["transactionTime"])
        for r in run.records:
            check_record(r)  # deletion lines have their own shape in the contract
        self.assertEqual(len(run.records), 12)
        summary = [l for l in run.other_stderr if " documents from " in l][0]
        self.assertIn("10 documents from 1 inputs: 10 converted, 0 failed", summary)
        self.assertIn("2 deleted resources", summary)
        # The same lines through separate stage processes.
        export = self.dp("export", "--since", "2000-01-01T00:00:00Z")
        piped = subprocess.run([DOCPIPE, *self.auth(), "resolve", "--prefer",
                                "application/pdf,text/html,*"], input=export.stdout,
                               stdout=subprocess.PIPE, check=False)
        for stage in ("decode", "sniff", "extract", "normalize"):
            piped = subprocess.run([DOCPIPE, stage], input=piped.stdout, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, check=False)
            self.assertEqual(piped.returncode, 0, piped.stderr)
        lines = [json.loads(l) for l in piped.stdout.decode().splitlines()]
        self.assertEqual(len(lines), 12)
        piped_deletions = [l for l in lines if l.get("deleted")]
        self.assertEqual([d["id"] for d in piped_deletions], gone)  # another job: other URLs
        for d in piped_deletions:
            check_record(d)

    def test_es_bulk_index_loses_deleted_documents(self):
        state = os.path.join(self.tmp, "nightly.state")
        with BulkServer() as es:
            for night in (1, 2):
                if night == 2:
                    self.srv.configure(export_deleted=["DocumentReference/21000103"])
                run = self.dp("--state", state, "-f", "es-bulk", "--index", "docs",
                              "run", "bulk-export")
                self.assertEqual(run.status, 0, run.stderr)
                status, answer = es.bulk(run.stdout, "docs")
                self.assertEqual(status, 200, answer)
                self.assertFalse(answer["errors"], answer)
                if night == 1:
                    self.assertEqual(sorted(es.docs["docs"]), ALL_IDS)
            self.assertEqual(sorted(es.docs["docs"]),
                             [i for i in ALL_IDS if i != "DocumentReference/21000103"])
            self.assertIn(b'{"delete":{"_index":"docs","_id":"DocumentReference/21000103"}}\n',
                          run.stdout)
        self.assertIn("_since", self.srv.stats()["last_export_params"])  # night 2 was incremental

    def test_jsonl_text_leaves_deletions_out(self):
        self.srv.configure(export_deleted=["DocumentReference/21000101"])
        run = self.dp("-f", "jsonl-text", "run", "bulk-export", "--since",
                      "2000-01-01T00:00:00Z")
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        self.assertTrue(all(set(r) == {"id", "text"} for r in run.records))

    def test_error_files_without_a_final_newline(self):
        self.srv.configure(export_errors=["Binary/XR-9 could not be read: storage timeout",
                                          "DocumentReference/7 is too large to export"])
        run = self.dp("run", "bulk-export")
        self.assertEqual(run.status, 1)
        self.assertEqual(len(run.records), 10)
        self.assertEqual(len(run.errors), 2, run.stderr)
        messages = [e["message"] for e in run.errors]
        self.assertIn("Binary/XR-9 could not be read: storage timeout", messages[0])
        self.assertIn("DocumentReference/7 is too large to export", messages[1])
        for e in run.errors:
            self.assertEqual(e["kind"], "server-error")
            self.assertNotIn("fetch", e.get("hint", ""))  # the job is deleted: nothing to fetch
            self.assertTrue(e["input"]["file"].endswith("/errors.ndjson"))
        self.assertEqual([e["input"]["line"] for e in run.errors], [1, 2])
        self.assertEqual(self.srv.stats()["export_jobs_deleted"], 1)

    def test_expired_file_is_its_own_kind(self):
        self.srv.configure(export_resources_per_file=5, export_script={"file": [
            {"status": 410, "match": "DocumentReference.2.", "diagnostics": "The requested file "
             "is missing or expired"}]})
        run = self.dp("run", "bulk-export")
        self.assertEqual(run.status, 1)
        self.assertEqual(len(run.records), 5)
        e = run.errors[0]
        self.assertEqual((e["kind"], e["status"]), ("expired", 410))
        self.assertIn("missing or expired", e["message"])
        self.assertIn("run the export again", e["hint"])
        self.assertNotIn("persona", e["hint"])

    def test_storage_errors_are_quoted(self):
        self.srv.configure(export_requires_token=False, export_script={"file": [
            {"status": 403, "json": {"code": "NotAuthorizedOrNotFound",
                                     "message": "Authorization failed or requested resource not found"}}]})
        run = self.dp("run", "bulk-export")
        self.assertEqual(run.status, 1)
        e = run.errors[0]
        self.assertEqual(e["status"], 403)
        self.assertIn("Authorization failed or requested resource not found", e["message"])
        self.assertNotIn("sig=", json.dumps(e))  # a pre-signed URL loses its query

    def test_input_file_is_the_whole_url_without_its_query(self):
        self.srv.configure(export_requires_token=False, export_errors=["one"])
        run = self.dp("export")
        self.assertEqual(run.status, 1)
        f = run.errors[0]["input"]["file"]
        self.assertTrue(f.startswith(self.srv.storage_url + "/export/"), f)
        self.assertTrue(f.endswith("/errors.ndjson"), f)


class LongTenant(BulkCase):
    tenant = "t" * 220

    def test_input_file_is_never_cut(self):
        self.srv.configure(export_errors=["one"])
        run = self.dp("export")
        self.assertEqual(run.status, 1)
        f = run.errors[0]["input"]["file"]
        self.assertGreater(len(f), 250)
        self.assertTrue(f.startswith(self.srv.base_url + "/bulkfiles/"), f)
        self.assertTrue(f.endswith("/errors.ndjson"), f)


class Downloads(BulkCase):
    def test_parallel_downloads_keep_manifest_order(self):
        # The first file is the slowest: with parallel downloads it finishes last.
        self.srv.configure(export_resources_per_file=1, export_file_delay_ms=50,
                           export_slow_file=["DocumentReference.1.", 400])
        one, slow = self.run_timed("--concurrency", "1", "run", "bulk-export")
        self.assertEqual(one.status, 0, one.stderr)
        self.assertEqual(self.srv.stats()["export_files_peak"], 1)
        self.srv.reset_stats()
        four, fast = self.run_timed("--concurrency", "4", "run", "bulk-export")
        self.assertEqual(four.status, 0, four.stderr)
        self.assertEqual(four.stdout, one.stdout)  # byte for byte, in manifest order
        self.assertEqual([r["id"] for r in four.records], ALL_IDS)
        peak = self.srv.stats()["export_files_peak"]
        self.assertGreaterEqual(peak, 2)
        self.assertLessEqual(peak, 4)  # bounded by --concurrency

    def test_quiet_means_quiet(self):
        self.srv.configure(export_polls=2, export_retry_after=0.05)
        loud = self.dp("run", "bulk-export")
        self.assertTrue([l for l in loud.other_stderr if l.startswith("docpipe: export: ")])
        self.srv.configure(export_polls=2)
        quiet = self.dp("-q", "run", "bulk-export")
        self.assertEqual(quiet.status, 0)
        self.assertEqual(quiet.stderr, b"")
        self.assertEqual(len(quiet.records), 10)


class Interrupts(BulkCase):
    """The first SIGINT cuts every wait short; the summary is printed and the job deleted."""

    def test_sigint_during_polling_deletes_the_job(self):
        self.srv.configure(export_polls=100000, export_retry_after_header=EPOCH)
        proc = self.popen("--retry-cap", "30", "run", "bulk-export")
        self.wait_for(lambda: self.srv.stats()["export_status_polls"] >= 1, "status poll")
        time.sleep(0.3)
        t0 = time.monotonic()
        status, out, errors = self.interrupted(proc)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertNotEqual(status, 0)
        self.assertEqual(self.srv.stats()["export_jobs_deleted"], 1)
        self.assertEqual(errors[0]["kind"], "timeout")
        self.assertIn("deleted", errors[0]["message"])

    def test_sigint_during_kickoff_retries(self):
        self.srv.configure(export_script={"kickoff": [{"status": 429, "retry_after": EPOCH,
                                                       "text": TOO_MANY}] * 3})
        proc = self.popen("--retry-cap", "30", "export")
        self.wait_for(lambda: self.srv.stats()["export_kickoffs"], "kick-off")
        time.sleep(0.3)
        t0 = time.monotonic()
        status, out, errors = self.interrupted(proc)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertNotEqual(status, 0)
        self.assertEqual(len(self.srv.stats()["export_kickoffs"]), 1)
        self.assertEqual(errors[0]["kind"], "timeout")

    def test_sigint_during_downloads_deletes_the_job(self):
        self.srv.configure(export_resources_per_file=1, export_file_delay_ms=300)
        proc = self.popen("--concurrency", "2", "run", "bulk-export")
        self.wait_for(lambda: self.srv.stats()["export_files_served"] >= 2, "download")
        status, out, errors = self.interrupted(proc)
        self.assertNotEqual(status, 0)
        s = self.srv.stats()
        self.assertEqual(s["export_jobs_deleted"], 1)
        self.assertLess(s["export_files_served"], 10)
        # What was written before the signal is a prefix, in manifest order
        # (how much depends on the machine's speed: none at all under ASan).
        records = [json.loads(l) for l in out.decode().splitlines()]
        self.assertEqual([r["id"] for r in records], ALL_IDS[:len(records)])
        self.assertEqual(errors[-1]["kind"], "timeout")
        self.assertIn("interrupted during the download", errors[-1]["message"])


class DiagnosticReports(TempDirTest):
    def test_report_without_presented_form_is_skipped_not_failed(self):
        results = {"resourceType": "DiagnosticReport", "id": "lab1", "status": "final",
                   "code": {"text": "Basic metabolic panel"}, "result": [{"reference": "Observation/o1"}]}
        note = {"resourceType": "DiagnosticReport", "id": "rad1", "status": "final",
                "code": {"text": "Chest X-ray report"},
                "presentedForm": [{"contentType": "text/plain", "data": b64(b"No acute disease.")}]}
        path = self.write("reports.ndjson", json.dumps(results) + "\n" + json.dumps(note) + "\n")
        run = docpipe("run", "fhir-dump", path)
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual([r["id"] for r in run.records], ["DiagnosticReport/rad1"])
        self.assertEqual(run.errors, [])
        self.assertIn("1 converted, 0 failed; 1 inputs held no document", "\n".join(run.other_stderr))


if __name__ == "__main__":
    dptest.main()
