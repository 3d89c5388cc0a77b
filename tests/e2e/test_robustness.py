"""Hostile and broken input: the bad-input catalogue (tests/data/bad), crash
and hang isolation, and runs killed at any moment then resumed exactly once."""
import base64
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
from dptest import (CORPUS, DOCPIPE, SOURCE, TempDirTest, docpipe, ndjson_lines,  # noqa: E402
                    read)

BAD = os.path.join(SOURCE, "tests", "data", "bad")
SAMPLES = os.path.join(SOURCE, "samples")
LIMITS = ["--max-text", "1M", "--max-pages", "1000", "--max-time", "10", "--max-bytes", "2M"]


def catalogue():
    rows = []
    with open(os.path.join(BAD, "catalogue.tsv")) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            name, how, expected, what = line.rstrip("\n").split("\t")
            rows.append((name, how, expected, what))
    return rows


def many_pages_pdf(path, pages):
    """One shared content stream, `pages` pages pointing at it."""
    ops = zlib.compress(b"BT /F1 12 Tf 72 720 Td (A page) Tj ET")
    kids = " ".join("%d 0 R" % (5 + i) for i in range(pages)).encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, kids),
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(ops) + ops + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    objs += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
             b"/Resources << /Font << /F1 4 0 R >> >> /Contents 3 0 R >>"] * pages
    out, offs = bytearray(b"%PDF-1.4\n"), []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offs)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    with open(path, "wb") as f:
        f.write(out)


class Catalogue(TempDirTest):
    def test_ndjson_inputs(self):
        """Each bad line gives its error kind; the good lines around still
        convert; documents read = emitted + failed."""
        good = ndjson_lines(os.path.join(CORPUS, "docrefs-inline.ndjson"))
        lines, expect = [], {}
        for name, how, expected, _ in catalogue():
            if how != "ndjson" or name == "@huge-line.ndjson":
                continue
            if name == "@decode-bomb.ndjson":
                data = base64.b64encode(b"x" * (3 << 20)).decode()
                bad = json.dumps({"resourceType": "DocumentReference", "id": "bomb",
                                  "content": [{"attachment": {"data": data}}]}).encode()
            else:
                bad = read(os.path.join(BAD, name)).rstrip(b"\n")
            lines.append(good[len(expect) % len(good)])
            lines.append(bad)
            expect[len(lines)] = expected
        lines.append(good[0])
        path = self.write("stream.ndjson", b"\n".join(lines) + b"\n")
        run = docpipe(*LIMITS, "run", "fhir-dump", path)
        self.assertEqual(run.status, 1)
        failed = {e["input"]["line"]: e["kind"] for e in run.errors}
        made = {}
        for r in run.records:
            made.setdefault(r["id"], r)
        for line, expected in expect.items():
            if expected.startswith("ok:"):
                self.assertNotIn(line, failed, "line %d must convert" % line)
            else:
                self.assertEqual(failed.get(line), expected, "line %d" % line)
        self.assertEqual(made["DocumentReference/lying"]["format"], "hl7v2")
        # Bytes that are not UTF-8 are read as Windows-1252; the broken title
        # is repaired to U+FFFD.
        self.assertEqual(made["DocumentReference/utf8"]["content"], "Caf\u00e9 note \u00ff\u00fe end.")
        self.assertIn("\ufffd", made["DocumentReference/utf8"]["source"]["title"])
        bad_count = sum(1 for e in expect.values() if not e.startswith("ok:"))
        self.assertEqual(len(run.errors), bad_count)
        self.assertEqual(len(run.records), len(lines) - bad_count)
        self.assertIn("%d documents from %d inputs: %d converted, %d failed"
                      % (len(lines), len(lines), len(lines) - bad_count, bad_count),
                      "\n".join(run.other_stderr))

    def test_file_inputs(self):
        folder = os.path.join(self.tmp, "docs")
        os.makedirs(folder)
        expect = {}
        for name, how, expected, _ in catalogue():
            if how != "file":
                continue
            if name == "@many-pages.pdf":
                many_pages_pdf(os.path.join(folder, "many-pages.pdf"), 3000)
                name = "many-pages.pdf"
            else:
                shutil.copy(os.path.join(BAD, name), folder)
            expect[os.path.join(folder, name)] = expected
        for good in ("discharge-summary.pdf", "ccd.xml", "lab-result.hl7"):
            shutil.copy(os.path.join(SAMPLES, "files", good), folder)
            expect[os.path.join(folder, good)] = "ok:" + {"pdf": "pdf", "xml": "cda",
                                                          "hl7": "hl7v2"}[good.split(".")[1]]
        run = docpipe(*LIMITS, "convert", folder)
        self.assertEqual(run.status, 1)
        errors = {e["id"]: e for e in run.errors}
        records = run.by_id()
        for path, expected in expect.items():
            if expected.startswith("ok:"):
                self.assertIn(path, records, path)
                self.assertEqual(records[path]["format"], expected[3:], path)
            else:
                self.assertIn(path, errors, path)
                self.assertEqual(errors[path]["kind"], expected, path)
        self.assertEqual(len(run.records) + len(run.errors), len(expect))
        # Messages name the problem, never the document's text.
        stderr = run.stderr.decode()
        for text in ("Header only", "innermost note", "without its MSH", "root:x:0", "Aaaa Aaaa"):
            self.assertNotIn(text, stderr)

    def test_stage_inputs(self):
        for name, how, expected, _ in catalogue():
            if not how.startswith("stage:"):
                continue
            stage = how.split(":", 1)[1]
            files = subprocess.run([DOCPIPE, "-q", "files", os.path.join(BAD, name)],
                                   stdout=subprocess.PIPE, check=True).stdout
            run = docpipe(stage, stdin=files)
            self.assertEqual([e["kind"] for e in run.errors], [expected], name)

    def test_huge_line(self):
        """A line of 300 MB over --max-line is skipped without being held."""
        good = ndjson_lines(os.path.join(CORPUS, "docrefs-inline.ndjson"))[7]
        good_path = self.write("good.ndjson", good + b"\n")
        gen = subprocess.Popen([sys.executable, "-c", (
            "import sys, shutil\n"
            "w = sys.stdout.buffer\n"
            "w.write(b'{\"resourceType\":\"DocumentReference\",\"id\":\"huge\",\"x\":\"')\n"
            "chunk = b'A' * (1 << 20)\n"
            "for _ in range(300): w.write(chunk)\n"
            "w.write(b'\"}\\n')\n"
            "w.write(open(sys.argv[1], 'rb').read())\n"), good_path], stdout=subprocess.PIPE)
        proc = subprocess.run([DOCPIPE, "--max-line", "64M", "run", "fhir-dump"],
                              stdin=gen.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=300)
        gen.stdout.close()
        gen.wait()
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertEqual(len(proc.stdout.splitlines()), 1)
        errors = [json.loads(l) for l in proc.stderr.decode().splitlines() if l.startswith("{")]
        self.assertEqual([e["kind"] for e in errors], ["too-large"])
        self.assertEqual(errors[0]["input"]["line"], 1)


class Isolation(TempDirTest):
    def test_crash_and_hang_do_not_stop_the_batch(self):
        pdf = os.path.join(SAMPLES, "files", "discharge-summary.pdf")
        sha = hashlib.sha256(read(pdf)).hexdigest()
        folder = SAMPLES + "/files"
        run = docpipe("convert", folder, env={"DOCPIPE_TEST_CRASH_SHA256": sha[:16]})
        self.assertEqual(run.status, 1)
        self.assertEqual([(e["id"], e["kind"]) for e in run.errors],
                         [(pdf, "extractor-crash")])
        # SIGSEGV, or SIGABRT where AddressSanitizer catches the fault first.
        self.assertRegex(run.errors[0]["message"], r"crashed \((SIGSEGV|SIGABRT)")
        self.assertEqual(len(run.records), 6)
        start = time.monotonic()
        run = docpipe("--max-time", "1", "convert", folder, pdf,
                      env={"DOCPIPE_TEST_HANG_SHA256": sha[:16]})
        self.assertLess(time.monotonic() - start, 30)
        self.assertEqual([e["kind"] for e in run.errors], ["timeout", "timeout"])
        self.assertEqual(len(run.records), 6)
        # Without isolation the same document converts (the hooks live in the helper).
        run = docpipe("--isolate", "none", "convert", pdf,
                      env={"DOCPIPE_TEST_CRASH_SHA256": sha[:16]})
        self.assertEqual(run.status, 0)

    def test_memory_limit(self):
        if "asan" in DOCPIPE:
            self.skipTest("the sanitizers' own memory reservations defeat RLIMIT_AS")
        run = docpipe("--max-memory", "64M", "convert", os.path.join(CORPUS, "files",
                                                                     "21000101.pdf"))
        # Out of address space in poppler is a crash; before the helper has
        # room for the document at all, it is too-large (the libraries it
        # maps, ICU's data among them, count towards the limit).
        self.assertIn([e["kind"] for e in run.errors], (["extractor-crash"], ["too-large"]))
        self.assertIn("--max-memory", run.stderr.decode())
        run = docpipe("--max-memory", "1G", "convert", os.path.join(CORPUS, "files",
                                                                    "21000101.pdf"))
        self.assertEqual(run.status, 0)


class Resume(TempDirTest):
    def setUp(self):
        super().setUp()
        good = read(os.path.join(CORPUS, "docrefs-inline.ndjson"))
        bad = read(os.path.join(CORPUS, "bad", "docrefs-inline.ndjson"))
        self.input = self.write("in.ndjson", (good + bad) * 12)
        ref = docpipe("-q", "-o", os.path.join(self.tmp, "ref.ndjson"),
                      "-e", os.path.join(self.tmp, "ref.err"), "run", "fhir-dump", self.input)
        self.assertEqual(ref.status, 1)
        self.ref_out = read(os.path.join(self.tmp, "ref.ndjson"))
        self.ref_err = read(os.path.join(self.tmp, "ref.err"))
        self.assertEqual(len(self.ref_out.splitlines()), 120)

    def run_to_end(self, sig, delays):
        out, err, state = (os.path.join(self.tmp, n) for n in ("out.ndjson", "out.err", "st"))
        for f in (out, err, state):
            if os.path.exists(f):
                os.unlink(f)
        args = [DOCPIPE, "-q", "--state", state, "-o", out, "-e", err, "run", "fhir-dump",
                self.input]
        kills = 0
        for delay in delays:
            proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(sig)
                kills += 1
            proc.wait(timeout=120)
            proc.stderr.close()
            if os.path.exists(state):
                self.assertEqual(stat.S_IMODE(os.stat(state).st_mode), 0o600)
        final = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=300)
        self.assertEqual(final.returncode, 1, final.stderr)
        self.assertGreater(kills, 0, "the run ended before any kill: nothing was tested")
        return read(out), read(err)

    def test_sigkill_at_several_points(self):
        out, err = self.run_to_end(signal.SIGKILL, [0.3, 0.4, 0.6, 0.9])
        self.assertEqual(out, self.ref_out)
        self.assertEqual(err, self.ref_err)

    def test_sigterm_and_sigint_finish_cleanly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            out, err = self.run_to_end(sig, [0.4, 0.8])
            self.assertEqual(out, self.ref_out)
            self.assertEqual(err, self.ref_err)

    def test_interrupted_run_reports_and_leaves_whole_lines(self):
        out = os.path.join(self.tmp, "o.ndjson")
        proc = subprocess.Popen([DOCPIPE, "-o", out, "run", "fhir-dump", self.input],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode == 1:
            self.skipTest("the run finished before the signal")
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"interrupted", err)
        self.assertIn(b"documents from", err)  # the summary
        for line in read(out).splitlines():
            json.loads(line)  # no torn line

    def test_error_file_retries_only_the_failures(self):
        errors = os.path.join(self.tmp, "ref.err")
        run = docpipe("run", "fhir-dump", "--binaries", os.path.join(CORPUS, "bad",
                                                                      "binaries.ndjson"),
                      errors)
        # The same documents fail again, nothing else comes back.
        self.assertEqual(run.records, [])
        self.assertEqual(len(run.errors), len(self.ref_err.splitlines()))
        self.assertEqual({e["input"]["file"] for e in run.errors}, {self.input})


if __name__ == "__main__":
    unittest.main(verbosity=2)
