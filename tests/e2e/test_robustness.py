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
import dptest  # noqa: E402
from dptest import (CORPUS, DOCPIPE, SOURCE, FedRun, TempDirTest, children, docpipe,  # noqa: E402
                    ndjson_lines, read, resume_point)

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
        self.lines = ((good + bad) * 12).splitlines(keepends=True)
        self.fifo = os.path.join(self.tmp, "in.ndjson")
        os.mkfifo(self.fifo)
        self.out, self.err, self.state = (os.path.join(self.tmp, n)
                                          for n in ("out.ndjson", "out.err", "st"))
        ref = os.path.join(self.tmp, "ref.ndjson"), os.path.join(self.tmp, "ref.err")
        rc, _ = FedRun([DOCPIPE, "-q", "-o", ref[0], "-e", ref[1], "run", "fhir-dump",
                        self.fifo], self.fifo, self.lines).finish()
        self.assertEqual(rc, 1)
        self.ref_out, self.ref_err = read(ref[0]), read(ref[1])
        self.assertEqual(len(self.ref_out.splitlines()), 120)
        self.args = [DOCPIPE, "--state", self.state, "-o", self.out, "-e", self.err, "run",
                     "fhir-dump", self.fifo]

    def wait_for(self, what, cond, run, timeout=60):
        deadline = time.monotonic() + timeout
        while not cond():
            self.assertIsNone(run.proc.poll(), "the run ended before " + what)
            self.assertLess(time.monotonic(), deadline, "no " + what + " within %ds" % timeout)
            time.sleep(0.001)

    def interrupt(self, sig, at):
        """One attempt, stopped by sig once `at` inputs are checkpointed: for
        SIGKILL with records written past the checkpoint (which the next
        attempt must cut off), else with the input held back (the run cannot
        have finished).  Returns (checkpoint, output past it, output kept)."""
        run = FedRun(self.args, self.fifo, self.lines, gate=at + 20)
        self.wait_for("a checkpoint at %d inputs" % at,
                      lambda: (resume_point(self.state) or {}).get("done", 0) >= at, run)
        if sig == signal.SIGKILL:
            run.release()  # more output, then the kill before the next checkpoint
            past = lambda: os.path.getsize(self.out) > resume_point(self.state)["outputBytes"]
            self.wait_for("output past the checkpoint", past, run)
        run.proc.send_signal(sig)
        try:
            rc, _ = run.finish(timeout=60)
        except subprocess.TimeoutExpired:
            run.proc.kill()
            self.fail("signal %s did not stop the run" % sig)
        if sig == signal.SIGKILL:
            self.assertEqual(rc, -signal.SIGKILL)
        else:  # interrupted, told so: not a run that went to its end (1)
            self.assertEqual(rc, 2, "an interrupted run exits 2")
        self.assertEqual(stat.S_IMODE(os.stat(self.state).st_mode), 0o600)
        point = resume_point(self.state)
        self.assertTrue(point and point["done"] >= at, point)
        out = read(self.out)
        return point, len(out) - point["outputBytes"], out[:point["outputBytes"]]

    def resume_to_end(self, sig, points):
        """Interrupt at each of points, then run to the end: the final run
        goes on from the last checkpoint and the output is the reference."""
        for f in (self.out, self.err, self.state):
            if os.path.exists(f):
                os.unlink(f)
        tails = []
        for at in points:
            point, tail, kept = self.interrupt(sig, at)
            tails.append(tail)
        rc, stderr = FedRun(self.args, self.fifo, self.lines, stderr=subprocess.PIPE).finish()
        self.assertEqual(rc, 1, stderr)
        # it continued: the inputs of the checkpoint were not done again
        self.assertIn(b"; %d inputs done before the interruption" % point["done"], stderr)
        out = read(self.out)
        self.assertTrue(out.startswith(kept), "output before the checkpoint was not kept")
        self.assertEqual(out, self.ref_out)  # exactly once: nothing lost, nothing twice
        self.assertEqual(read(self.err), self.ref_err)
        self.assertIsNone(resume_point(self.state), "a finished run forgets its checkpoint")
        return tails

    def test_sigkill_at_several_points(self):
        tails = self.resume_to_end(signal.SIGKILL, [10, 50, 90])
        # every kill left records past its checkpoint, which the next run cut off
        self.assertTrue(all(t > 0 for t in tails), tails)

    def test_sigterm_and_sigint_finish_cleanly(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            tails = self.resume_to_end(sig, [30, 80])
            # a clean stop checkpoints what it wrote: nothing to cut off
            self.assertEqual(tails, [0, 0], sig)

    def test_helpers_hold_nothing_of_the_run(self):
        """The extraction helpers get their socket and nothing else: one that
        held the input FIFO would be a reader its writer does not know of
        (after a kill, the next run's input went to a dying helper)."""
        run = FedRun(self.args, self.fifo, self.lines, gate=20)
        try:
            self.wait_for("the first records", lambda: os.path.exists(self.out) and
                          os.path.getsize(self.out) > 0, run)
            looked = 0
            for pid in children(run.proc.pid):
                try:
                    fds = {int(fd): os.readlink("/proc/%d/fd/%s" % (pid, fd))
                           for fd in os.listdir("/proc/%d/fd" % pid)}
                except OSError:
                    continue  # gone between the listing and the look
                looked += 1
                self.assertLessEqual(set(fds), {0, 1, 2, 3}, fds)
                for path in (self.fifo, self.out, self.err):
                    self.assertNotIn(os.path.realpath(path), fds.values())
            self.assertGreater(looked, 0, "no helper process to look at")
        finally:
            run.proc.kill()
            run.finish(timeout=60)

    def test_interrupted_run_reports_and_leaves_whole_lines(self):
        out = os.path.join(self.tmp, "o.ndjson")
        run = FedRun([DOCPIPE, "-o", out, "run", "fhir-dump", self.fifo], self.fifo, self.lines,
                     gate=40, stderr=subprocess.PIPE)
        self.wait_for("the first records", lambda: os.path.exists(out) and
                      os.path.getsize(out) > 0, run)
        run.proc.send_signal(signal.SIGINT)
        rc, err = run.finish(timeout=60)
        self.assertEqual(rc, 2)
        self.assertIn(b"interrupted", err)
        self.assertIn(b"documents from", err)  # the summary
        lines = read(out).splitlines()
        self.assertTrue(0 < len(lines) < 120, len(lines))
        for line in lines:
            json.loads(line)  # no torn line

    def test_error_file_retries_only_the_failures(self):
        given = self.write("given.ndjson", b"".join(self.lines))
        errors = os.path.join(self.tmp, "given.err")
        first = docpipe("-e", errors, "run", "fhir-dump", given)
        self.assertEqual(first.status, 1)
        run = docpipe("run", "fhir-dump", "--binaries", os.path.join(CORPUS, "bad",
                                                                      "binaries.ndjson"),
                      errors)
        # The same documents fail again, nothing else comes back.
        self.assertEqual(run.records, [])
        self.assertEqual(len(run.errors), len(self.ref_err.splitlines()))
        self.assertEqual({e["input"]["file"] for e in run.errors}, {given})

if __name__ == "__main__":
    dptest.main()
