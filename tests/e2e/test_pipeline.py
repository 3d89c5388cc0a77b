"""The pipeline machinery end to end: stages piped as separate processes give
the in-process output, every input route works, bad input gives one error
record and never stops the run, and the CLI keeps its documented contract."""
import base64
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import (CORPUS, DOCPIPE, SOURCE, TempDirTest, b64, contains,  # noqa: E402
                    docpipe, ndjson_lines, read)

SAMPLES = os.path.join(SOURCE, "samples")
BINARIES = os.path.join(CORPUS, "binaries.ndjson")
DOCREFS = os.path.join(CORPUS, "docrefs.ndjson")


def docref(rid, attachments, **extra):
    res = {"resourceType": "DocumentReference", "id": rid, "status": "current",
           "subject": {"reference": "Patient/p1"}, "date": "2023-05-06T07:08:09Z",
           "content": [{"attachment": a} for a in attachments]}
    res.update(extra)
    return res


def shell_pipe(stages, stdin_path=None):
    """Run `docpipe s1 | docpipe s2 | ...` as separate processes."""
    procs, prev = [], open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    for args in stages:
        p = subprocess.Popen([DOCPIPE, "-q", *args], stdin=prev, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        if hasattr(prev, "close"):
            prev.close()
        procs.append(p)
        prev = p.stdout
    out = procs[-1].stdout.read()
    for p in procs:
        p.wait(timeout=120)
        p.stderr.close()
    procs[-1].stdout.close()
    return out, [p.returncode for p in procs]


class PipeEqualsInProcess(TempDirTest):
    def test_fhir_dump(self):
        inproc = docpipe("-q", "run", "fhir-dump", "--binaries", BINARIES, DOCREFS)
        piped, codes = shell_pipe([["resolve", "--binaries", BINARIES, DOCREFS], ["decode"],
                                   ["sniff"], ["extract"], ["normalize"]])
        self.assertEqual(codes, [0] * 5)
        self.assertTrue(inproc.stdout)
        self.assertEqual(piped, inproc.stdout)

    def test_raw_files_and_errors(self):
        """Same records and same error records, also when documents fail."""
        bad = os.path.join(CORPUS, "bad", "files")
        inproc = docpipe("-q", "convert", os.path.join(SAMPLES, "files"), bad)
        errs = os.path.join(self.tmp, "errs")
        os.makedirs(errs)
        stages = [["files", os.path.join(SAMPLES, "files"), bad], ["sniff"], ["extract"],
                  ["normalize"]]
        stages = [s[:1] + ["--errors", os.path.join(errs, str(i))] + s[1:]
                  for i, s in enumerate(stages)]
        piped, codes = shell_pipe(stages)
        self.assertEqual(piped, inproc.stdout)
        piped_errors = b"".join(read(os.path.join(errs, str(i))) for i in range(4))
        self.assertEqual(sorted(piped_errors.splitlines()), sorted(inproc.stderr.splitlines()))
        self.assertEqual(len(inproc.errors), 2)
        self.assertEqual(codes[2], 1)  # extract saw the failures

    def test_extractor_stage_bypasses_sniff(self):
        pdf = os.path.join(SAMPLES, "files", "discharge-summary.pdf")
        named, _ = shell_pipe([["files", pdf], ["pdf"], ["normalize"]])
        self.assertEqual(named, docpipe("-q", "convert", pdf).stdout)


class Parallel(TempDirTest):
    def test_jobs_keep_input_order(self):
        """Any number of workers gives the same bytes as one, errors included."""
        inline = read(os.path.join(CORPUS, "docrefs-inline.ndjson"))
        bad = read(os.path.join(CORPUS, "bad", "docrefs-inline.ndjson"))
        path = self.write("many.ndjson", inline * 3 + bad + inline)
        one = docpipe("-j1", "run", "fhir-dump", path)
        self.assertEqual(len(one.records), 40)
        for jobs in ("2", "8"):
            many = docpipe("--jobs", jobs, "run", "fhir-dump", path)
            self.assertEqual(many.stdout, one.stdout, jobs)
            self.assertEqual(many.stderr, one.stderr, jobs)


    def test_unordered_gives_the_same_lines(self):
        inline = read(os.path.join(CORPUS, "docrefs-inline.ndjson"))
        path = self.write("u.ndjson", inline * 3)
        ordered = docpipe("-j1", "run", "fhir-dump", path)
        unordered = docpipe("-j4", "--unordered", "run", "fhir-dump", path)
        self.assertEqual(sorted(unordered.stdout.splitlines()),
                         sorted(ordered.stdout.splitlines()))
        self.assertEqual(docpipe("--unordered", "--state", os.path.join(self.tmp, "s"),
                                 "run", "fhir-dump", path).status, 2)


class Inputs(TempDirTest):
    def test_two_attachments_give_two_records(self):
        text = b"First note.\n"
        pdf = read(os.path.join(SAMPLES, "files", "discharge-summary.pdf"))
        res = docref("two", [{"contentType": "application/pdf", "data": b64(pdf)},
                             {"contentType": "text/plain", "data": b64(text), "title": "t"}])
        run = docpipe("run", "fhir-dump", self.write("d.ndjson", json.dumps(res) + "\n"))
        self.assertEqual(run.status, 0, run.stderr)
        ids = [r["id"] for r in run.records]
        self.assertEqual(ids, ["DocumentReference/two", "DocumentReference/two#1"])
        self.assertEqual([r["source"]["attachment"] for r in run.records], [0, 1])
        self.assertEqual([r["format"] for r in run.records], ["pdf", "text"])
        self.assertEqual(run.records[1]["content"], "First note.")

    def test_bundles_are_flattened(self):
        docrefs = [json.loads(l) for l in ndjson_lines(DOCREFS)][:4]
        binaries = [json.loads(l) for l in ndjson_lines(BINARIES)][:4]
        searchset = {"resourceType": "Bundle", "type": "searchset", "total": 4,
                     "entry": [{"fullUrl": "https://example.org/fhir/DocumentReference/" + d["id"],
                                "resource": d, "search": {"mode": "match"}} for d in docrefs]
                     + [{"resource": {"resourceType": "OperationOutcome", "issue": []},
                         "search": {"mode": "outcome"}}]}
        # A pretty-printed Bundle file (not NDJSON) resolved against --binaries.
        pretty = self.write("searchset.json", json.dumps(searchset, indent=2))
        run = docpipe("run", "fhir-dump", "--binaries", BINARIES, pretty)
        self.assertEqual(run.status, 0, run.stderr)
        flat = docpipe("run", "fhir-dump", "--binaries", BINARIES, DOCREFS).by_id()
        self.assertEqual(len(run.records), 4)
        for r in run.records:
            self.assertEqual(r["content"], flat[r["id"]]["content"])
        # A collection Bundle carrying its own Binaries, referenced by fullUrl.
        entries = []
        for d, b in zip(docrefs, binaries):
            d = json.loads(json.dumps(d))
            d["content"][0]["attachment"]["url"] = "urn:uuid:bin-" + d["id"]
            entries.append({"fullUrl": "urn:uuid:doc-" + d["id"], "resource": d})
            entries.append({"fullUrl": "urn:uuid:bin-" + d["id"], "resource": b})
        coll = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        run = docpipe("run", "fhir-dump", self.write("coll.ndjson", json.dumps(coll) + "\n"))
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(sorted(r["id"] for r in run.records),
                         sorted("DocumentReference/" + d["id"] for d in docrefs))

    def test_url_forms_and_contained_binary(self):
        data = b64(b"Contained note text.")
        forms = {
            "rel": "Binary/XR-21000108",
            "abs": "https://fhir.example.org/r4/ec2458f2/Binary/XR-21000108",
            "hist": "Binary/XR-21000108/_history/2",
        }
        lines = [json.dumps(docref(k, [{"url": u}])) for k, u in forms.items()]
        lines.append(json.dumps(docref("cont", [{"url": "#b1"}], contained=[
            {"resourceType": "Binary", "id": "b1", "contentType": "text/plain", "data": data}])))
        run = docpipe("run", "fhir-dump", "--binaries", BINARIES,
                      self.write("urls.ndjson", "\n".join(lines) + "\n"))
        self.assertEqual(run.status, 0, run.stderr)
        recs = run.by_id()
        for k in forms:
            self.assertEqual(recs["DocumentReference/" + k]["format"], "hl7v2")
            self.assertEqual(recs["DocumentReference/" + k]["source"]["binary"], forms[k])
            # The Binary's contentType fills in for a missing attachment.contentType.
            self.assertEqual(recs["DocumentReference/" + k]["source"]["declaredContentType"],
                             "x-application/hl7-v2+er7")
        self.assertEqual(recs["DocumentReference/cont"]["content"], "Contained note text.")

    def test_diagnostic_report_and_binary_inputs(self):
        note = b"Impression: no acute disease."
        dr = {"resourceType": "DiagnosticReport", "id": "dr1", "status": "final",
              "code": {"text": "Chest X-ray report"}, "subject": {"reference": "Patient/p9"},
              "effectiveDateTime": "2021-01-02T03:04:05Z",
              "presentedForm": [{"contentType": "text/plain", "data": b64(note)}]}
        binary = {"resourceType": "Binary", "id": "TR-9", "contentType": "text/plain",
                  "data": b64(b"A bare Binary.")}
        patient = {"resourceType": "Patient", "id": "p9"}
        path = self.write("mix.ndjson", "\n".join(json.dumps(x) for x in (dr, binary, patient)))
        run = docpipe("run", "fhir-dump", path)
        self.assertEqual(run.status, 0, run.stderr)
        recs = run.by_id()
        self.assertEqual(set(recs), {"DiagnosticReport/dr1", "Binary/TR-9"})
        self.assertEqual(recs["DiagnosticReport/dr1"]["documentType"], "chest-x-ray-report")
        self.assertEqual(recs["DiagnosticReport/dr1"]["createdDate"], "2021-01-02")
        self.assertEqual(recs["DiagnosticReport/dr1"]["source"]["patient"], "Patient/p9")
        self.assertEqual(recs["Binary/TR-9"]["source"]["binary"], "Binary/TR-9")
        self.assertIn("1 inputs held no document", "\n".join(run.other_stderr))

    def test_base64_variants_decode_to_the_same_document(self):
        doc = read(os.path.join(SAMPLES, "files", "discharge-summary.pdf"))
        plain = base64.b64encode(doc).decode()
        wrapped = "\r\n".join(plain[i:i + 76] for i in range(0, len(plain), 76))
        variants = {
            "plain": plain,
            "wrapped": wrapped,
            "url": base64.urlsafe_b64encode(doc).decode().rstrip("="),
            "spaces": " ".join(plain[i:i + 10] for i in range(0, len(plain), 10)),
            "double": base64.b64encode(plain.encode()).decode(),
        }
        lines = [json.dumps(docref(k, [{"contentType": "application/pdf", "data": v}]))
                 for k, v in variants.items()]
        run = docpipe("run", "fhir-dump", self.write("b64.ndjson", "\n".join(lines)))
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), len(variants))
        for r in run.records:
            self.assertEqual(r["format"], "pdf", r["id"])
            self.assertEqual(r["bytes"], len(doc))
        self.assertEqual(len({r["sha256"] for r in run.records}), 1)
        self.assertEqual(len({r["content"] for r in run.records}), 1)


class BadInputs(TempDirTest):
    def test_each_bad_line_gives_one_error_and_the_rest_converts(self):
        good = ndjson_lines(os.path.join(CORPUS, "docrefs-inline.ndjson"))[:3]
        truncated = good[0][:300]
        bad_b64 = json.dumps(docref("badb64", [{"contentType": "application/pdf",
                                                "data": "JVBERi0x%%%%LjQK"}])).encode()
        corrupt = read(os.path.join(CORPUS, "bad", "files", "21900101.pdf"))
        bad_pdf = json.dumps(docref("badpdf", [{"contentType": "application/pdf",
                                                "data": b64(corrupt)}])).encode()
        empty = json.dumps(docref("empty", [{"contentType": "text/plain", "data": ""}])).encode()
        noatt = json.dumps(docref("noatt", [])).encode()
        lines = [good[0], truncated, good[1], bad_b64, b"", b"   ", bad_pdf, b"[1,2]",
                 b"not json at all", empty, noatt, good[2]]
        path = self.write("mixed.ndjson", b"\n".join(lines) + b"\n")
        run = docpipe("run", "fhir-dump", path)
        self.assertEqual(run.status, 1)
        self.assertEqual([r["id"] for r in run.records],
                         ["DocumentReference/21000101", "DocumentReference/21000102",
                          "DocumentReference/21000103"])
        got = [(e["id"], e["kind"], e["input"]["line"]) for e in run.errors]
        self.assertEqual(got, [
            ("DocumentReference/21000101", "bad-json", 2),  # id salvaged from the cut line
            ("DocumentReference/badb64", "bad-base64", 4),
            ("DocumentReference/badpdf", "damaged", 7),
            (8, "invalid-input", 8),                       # no id: the line number
            (9, "bad-json", 9),
            ("DocumentReference/empty", "empty", 10),
            ("DocumentReference/noatt", "invalid-input", 11),
        ])
        for e in run.errors:
            self.assertEqual(e["input"]["file"], path)
        self.assertIn("10 documents from 10 inputs: 3 converted, 7 failed",
                      "\n".join(run.other_stderr))
        # Messages never quote the document.
        self.assertNotIn("JVBERi0x", run.stderr.decode())

    def big_bundle(self, n):
        """A pretty-printed searchset of n DocumentReferences with inline text,
        several times larger than the reader's 1 MiB buffer."""
        entries = []
        for i in range(n):
            note = ("Progress note %d: patient seen, vitals stable, plan unchanged. " % i) * 8
            d = docref("big-%05d" % i, [{"contentType": "text/plain",
                                          "data": b64(note.encode())}])
            entries.append({"fullUrl": "urn:uuid:%d" % i, "resource": d})
        return {"resourceType": "Bundle", "type": "searchset", "total": n, "entry": entries}

    def test_pretty_printed_bundle_far_over_the_read_buffer(self):
        """Every document of a big pretty-printed Bundle, from a file and
        from stdin: the reader's refill used to overwrite the first line."""
        n = 4000
        text = json.dumps(self.big_bundle(n), indent=2)
        self.assertGreater(len(text), 4 << 20)
        path = self.write("big-bundle.json", text)
        for args, stdin in (([path], None), (["-"], text.encode())):
            run = docpipe("run", "fhir-dump", *args, stdin=stdin)
            self.assertEqual(run.status, 0, run.stderr[-2000:])
            self.assertEqual(run.errors, [])
            self.assertEqual([r["id"] for r in run.records],
                             ["DocumentReference/big-%05d" % i for i in range(n)])
            self.assertIn("Progress note 3999:", run.records[-1]["content"])
        # CRLF line ends and a document that is one long first line too.
        crlf = self.write("big-bundle-crlf.json", text.replace("\n", "\r\n"))
        self.assertEqual(len(docpipe("-q", "run", "fhir-dump", crlf).records), n)

    def test_synthea_bundle(self):
        """A real Synthea patient Bundle (3.3 MB, pretty-printed): 708 records."""
        path = os.path.join(CORPUS, "real", "files", "synthea-bundle-patient-04.json")
        run = docpipe("run", "fhir-dump", path)
        self.assertEqual(run.status, 0, run.stderr[-2000:])
        self.assertEqual(run.errors, [])
        self.assertEqual(len(run.records), 708)
        self.assertEqual(len({r["id"] for r in run.records}), 708)
        self.assertTrue(all(r["content"] for r in run.records))

    def test_fhir_json_met_as_a_raw_file_is_told(self):
        """`convert` on FHIR JSON that holds documents (the Synthea Bundle,
        Bulk NDJSON) used to give the JSON as one text record, exit 0, and
        the notes in it were lost: each is now an error naming fhir-dump.
        FHIR JSON that holds no document stays text."""
        folder = os.path.join(self.tmp, "dump")
        os.mkdir(folder)
        synthea = os.path.join(CORPUS, "real", "files", "synthea-bundle-patient-04.json")
        with open(synthea, "rb") as src, open(os.path.join(folder, "a-synthea.json"), "wb") as dst:
            dst.write(src.read())
        with open(os.path.join(SAMPLES, "fhir", "DocumentReference.ndjson"), "rb") as src:
            ndjson = src.read()
        self.write("dump/b-DocumentReference.ndjson", ndjson.decode())
        ips = {"resourceType": "Bundle", "type": "document", "entry": [
            {"resource": {"resourceType": "Composition", "title": "Patient summary"}}]}
        self.write("dump/c-ips.json", json.dumps(ips, indent=2))
        self.write("dump/d-patient.json", json.dumps({"resourceType": "Patient", "id": "p"}))
        # A type that is no FHIR code is not copied into the message.
        self.write("dump/e-odd.json", '{"resourceType": "Bundle", "type": "tr\u00e4ns\\n"}')
        run = docpipe("convert", folder)
        self.assertEqual(run.status, 1, run.stderr[-2000:])
        self.assertEqual([(os.path.basename(e["id"]), e["kind"]) for e in run.errors],
                         [("a-synthea.json", "unsupported"),
                          ("b-DocumentReference.ndjson", "unsupported"),
                          ("e-odd.json", "unsupported")])
        self.assertIn("FHIR JSON (a Bundle):", run.errors[2]["message"])
        self.assertIn("FHIR JSON (a Bundle of type transaction)", run.errors[0]["message"])
        self.assertIn("FHIR NDJSON (its first line a DocumentReference)",
                      run.errors[1]["message"])
        for e in run.errors:
            self.assertIn("docpipe run fhir-dump", e["hint"])
        self.assertEqual([(os.path.basename(r["id"]), r["format"]) for r in run.records],
                         [("c-ips.json", "text"), ("d-patient.json", "text")])
        self.assertIn("Patient summary", run.records[0]["content"])
        # What the hint says works: the same file through fhir-dump.
        self.assertEqual(len(docpipe("-q", "run", "fhir-dump",
                                     os.path.join(folder, "b-DocumentReference.ndjson"),
                                     "--binaries", os.path.join(SAMPLES, "fhir")).records),
                         len(ndjson.splitlines()))

    def test_raw_document_given_as_ndjson_is_one_error(self):
        """A PDF, an image or HL7 v2 given where NDJSON belongs used to give a
        bad-json error per "line" of its bytes (3332 for a real PDF): now
        one error, naming what the bytes are and the command for them."""
        real = os.path.join(CORPUS, "real", "files")
        for path, fmt in ((os.path.join(real, "pdfjs-TAMReview.pdf"), "pdf"),
                          (os.path.join(SAMPLES, "files", "chest-xray.png"), "image"),
                          (os.path.join(SAMPLES, "files", "lab-result.hl7"), "hl7v2")):
            with open(path, "rb") as f:
                data = f.read()
            for args, stdin in (([path], None), (["-"], data)):
                run = docpipe("run", "fhir-dump", *args, stdin=stdin)
                self.assertEqual(run.status, 1)
                self.assertEqual(run.records, [])
                self.assertEqual([e["kind"] for e in run.errors], ["bad-json"], path)
                self.assertIn("its bytes are a document of format %s" % fmt,
                              run.errors[0]["message"])
                self.assertIn("docpipe convert", run.errors[0]["hint"])
        # Binary data that no extractor knows, likewise.
        junk = self.write("junk.bin", "")
        with open(junk, "wb") as f:
            f.write(bytes(range(256)) * 64)
        run = docpipe("sniff", junk)
        self.assertEqual([e["kind"] for e in run.errors], ["bad-json"])
        self.assertIn("binary data", run.errors[0]["message"])
        # A text line heading NDJSON is one error, and the lines after it are read.
        line = json.dumps({"resourceType": "DocumentReference", "id": "t1", "content": [
            {"attachment": {"contentType": "text/plain", "data": b64(b"Seen today.")}}]})
        headed = self.write("headed.ndjson", "exported 2026-12-07 by a script\n" + line + "\n")
        run = docpipe("run", "fhir-dump", headed)
        self.assertEqual([e["kind"] for e in run.errors], ["bad-json"])
        self.assertEqual([r["id"] for r in run.records], ["DocumentReference/t1"])

    def test_broken_document_is_one_error_not_one_per_line(self):
        text = json.dumps(self.big_bundle(300), indent=2)
        cut = self.write("cut-bundle.json", text[:len(text) // 2])
        run = docpipe("run", "fhir-dump", cut)
        self.assertEqual(run.status, 1)
        self.assertEqual(run.records, [])
        self.assertEqual([e["kind"] for e in run.errors], ["bad-json"])
        self.assertIn("not valid at line", run.errors[0]["message"])
        # A document over --max-line is one too-large error.
        big = self.write("big.json", text)
        run = docpipe("--max-line", "100k", "run", "fhir-dump", big)
        self.assertEqual([e["kind"] for e in run.errors], ["too-large"])
        self.assertEqual(run.records, [])

    def test_cut_first_ndjson_line_does_not_swallow_the_rest(self):
        """NDJSON whose first line is cut off: one error, then every line
        streams as usual (never read whole as if it were one document)."""
        good = ndjson_lines(os.path.join(CORPUS, "docrefs-inline.ndjson"))[:4]
        path = self.write("cutfirst.ndjson", b"\n".join([good[0][:200], b"", *good[1:]]) + b"\n")
        run = docpipe("run", "fhir-dump", path)
        self.assertEqual(run.status, 1)
        self.assertEqual([(e["kind"], e["input"]["line"]) for e in run.errors], [("bad-json", 1)])
        self.assertEqual(len(run.records), 3)

    def test_overlong_line_is_skipped_not_fatal(self):
        good = ndjson_lines(os.path.join(CORPUS, "docrefs-inline.ndjson"))[7]
        huge = b'{"resourceType":"DocumentReference","id":"huge","x":"' + b"A" * 300000 + b'"}'
        path = self.write("long.ndjson", huge + b"\n" + good + b"\n")
        run = docpipe("--max-line", "100k", "run", "fhir-dump", path)
        self.assertEqual(run.status, 1)
        self.assertEqual(len(run.records), 1)
        self.assertEqual([e["kind"] for e in run.errors], ["too-large"])

    def test_size_and_hash_are_verified(self):
        res = json.loads(ndjson_lines(os.path.join(CORPUS, "docrefs-inline.ndjson"))[7])
        att = res["content"][0]["attachment"]
        full = base64.b64decode(att["data"])
        att["data"] = b64(full[:-10])  # a cut copy: size and hash both disagree
        path = self.write("cut.ndjson", json.dumps(res) + "\n")
        run = docpipe("run", "fhir-dump", path)
        self.assertEqual([e["kind"] for e in run.errors], ["damaged"])
        self.assertIn("attachment.size", run.errors[0]["message"])
        self.assertIn("attachment.hash", run.errors[0]["message"])
        accepted = docpipe("run", "fhir-dump", "--no-verify", path)
        self.assertEqual(accepted.status, 0)
        self.assertEqual(len(accepted.records), 1)
        # The whole document with a size that is wrong (the Base64 length, say):
        # its hash vouches for it, so it is converted and the record says so.
        att["data"], att["size"] = b64(full), len(b64(full))
        run = docpipe("run", "fhir-dump", self.write("size.ndjson", json.dumps(res) + "\n"))
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        self.assertIn("hash matches", " ".join(run.records[0]["meta"]["warnings"]))
        # No hash to tell: converted too, with the warning.
        del att["hash"]
        run = docpipe("run", "fhir-dump", self.write("nohash.ndjson", json.dumps(res) + "\n"))
        self.assertEqual(run.status, 0, run.stderr)
        self.assertIn("attachment.size is", run.records[0]["meta"]["warnings"][0])

    def test_errors_file(self):
        errs = os.path.join(self.tmp, "errors.ndjson")
        run = docpipe("run", "fhir-dump", "--errors", errs, "--binaries",
                      os.path.join(CORPUS, "bad", "binaries.ndjson"),
                      os.path.join(CORPUS, "bad", "docrefs.ndjson"))
        self.assertEqual(run.status, 1)
        self.assertEqual(run.errors, [])
        with open(errs) as f:
            self.assertEqual(len([json.loads(l) for l in f]), 3)


class Cli(TempDirTest):
    def test_samples_first_command(self):
        """The README's first command: the bundled samples convert cleanly."""
        run = docpipe("run", "fhir-dump", "--binaries", os.path.join(SAMPLES, "fhir", "Binary.ndjson"),
                      os.path.join(SAMPLES, "fhir", "DocumentReference.ndjson"))
        self.assertEqual(run.status, 0, run.stderr)
        recs = run.by_id()
        formats = {k.split("/")[1]: r["format"] for k, r in recs.items()}
        self.assertEqual(formats, {"S-1001": "pdf", "S-1002": "cda", "S-1003": "hl7v2",
                                   "S-1004": "rtf", "S-1005": "html", "S-1006": "text",
                                   "S-1007": "image"})
        types = {k.split("/")[1]: r["documentType"] for k, r in recs.items()}
        self.assertEqual(types["S-1001"], "discharge-summary")
        self.assertEqual(types["S-1003"], "lab-report")
        self.assertEqual(recs["DocumentReference/S-1002"]["createdDate"], "2024-03-20")
        for rid, phrase in [("S-1001", "Community-acquired pneumonia, right lower lobe."),
                            ("S-1002", "Penicillin G | Hives | Active"),
                            ("S-1003", "Creatinine [2160-0 LN]: 1.4 mg/dL (0.6-1.2) H"),
                            ("S-1004", "T 37.1\u00b0C, SpO\u2082 96% on room air"),
                            ("S-1005", "ECG | Sinus rhythm, 78 bpm, no acute ST changes"),
                            ("S-1006", "Caf\u00e9 visit with family; \u201cfeels much better\u201d.")]:
            self.assertTrue(contains(recs["DocumentReference/" + rid]["content"], phrase),
                            "%s lacks %r" % (rid, phrase))
        self.assertNotIn("tracking", recs["DocumentReference/S-1005"]["content"])
        # The raw files give the same text as their FHIR-wrapped twins.
        raw = {os.path.basename(r["id"]): r for r in docpipe("convert", SAMPLES + "/files").records}
        self.assertEqual(raw["discharge-summary.pdf"]["content"],
                         recs["DocumentReference/S-1001"]["content"])
        self.assertEqual(raw["ccd.xml"]["sha256"], recs["DocumentReference/S-1002"]["sha256"])

    def test_exit_statuses_and_usage(self):
        self.assertEqual(docpipe("--version").status, 0)
        help_text = docpipe("--help").stdout.decode()
        self.assertIn("Exit status", help_text)
        self.assertIn("0 every document converted", help_text)
        self.assertIn("--binaries", docpipe("resolve", "--help").stdout.decode())
        self.assertIn("DOCPIPE_LOINC_MAP", docpipe("help", "normalize").stdout.decode())
        for bad in (["no-such-stage"], ["run"], ["run", "no-such-pipeline"],
                    ["decode", "--binaries", "x"], ["convert"], ["--max-bytes", "lots", "stages"]):
            run = docpipe(*bad)
            self.assertEqual(run.status, 2, bad)
            self.assertTrue(run.stderr.startswith(b"docpipe: "), bad)

    def test_pipeline_file_syntax(self):
        body = ('# comment\n\n  resolve --binaries "%s"   # trailing comment\n'
                'decode\nsniff\nextract\nnormalize --loinc=%s\n'
                % (BINARIES, os.path.join(SOURCE, "pipelines", "loinc-document-types.tsv")))
        path = self.write("custom.pipeline", body)
        run = docpipe("run", path, DOCREFS)
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 10)
        for bad_body, why in [("resolve --nope\n", "has no option --nope"),
                              ("frobnicate\n", "unknown stage 'frobnicate'"),
                              ("resolve --binaries\n", "needs a value"),
                              ("# nothing\n", "names no stage")]:
            run = docpipe("run", self.write("bad.pipeline", bad_body), DOCREFS)
            self.assertEqual(run.status, 2)
            self.assertIn(why, run.stderr.decode())

    def test_paths_from_stdin_and_ndjson_from_stdin(self):
        files = os.path.join(SAMPLES, "files")
        listing = "\n".join(os.path.join(files, n) for n in sorted(os.listdir(files))) + "\n"
        run = docpipe("run", "raw-files", stdin=listing.encode())
        self.assertEqual(run.stdout, docpipe("convert", files).stdout)
        with open(DOCREFS, "rb") as f:
            run = docpipe("run", "fhir-dump", "--binaries", BINARIES, stdin=f.read())
        self.assertEqual(len(run.records), 10)
        self.assertEqual(run.records[0]["id"], "DocumentReference/21000101")

    def test_output_file_and_quiet(self):
        out = os.path.join(self.tmp, "out.ndjson")
        run = docpipe("-q", "-o", out, "convert", os.path.join(SAMPLES, "files"))
        self.assertEqual(run.stdout, b"")
        self.assertEqual(run.stderr, b"")
        with open(out, "rb") as f:
            self.assertEqual(len(f.read().splitlines()), 7)


if __name__ == "__main__":
    dptest.main()
