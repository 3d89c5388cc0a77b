"""Ordered output is not held up by one slow document: while a PDF hangs
until --max-time, the other workers go on converting the documents after it,
which wait in the ordered writer's window (README, -j) and are written the
moment the slow one ends; past the window no new work is taken, so memory
stays bounded.

What the engine did is read off the progress line (--progress off a
terminal: one plain line per interval), whose "N held back" counts the lines
converted but not yet written.  The slow document comes first, so while it
hangs "0 docs" are written: a line "0 docs ... N held back" proves N later
documents were converted while it was pending.  The hang lasts --max-time;
the small documents convert in a fraction of that even under the
sanitizers, and the checks compare counts, never durations."""
import hashlib
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import SOURCE, TempDirTest, docpipe, read  # noqa: E402

SLOW_PDF = read(os.path.join(SOURCE, "samples", "files", "discharge-summary.pdf"))
HANG = {"DOCPIPE_TEST_HANG_SHA256": hashlib.sha256(SLOW_PDF).hexdigest()}
MAX_TIME = "3"


def progress(line):
    """(docs written, held back, percent or None) of a progress line, or None."""
    m = re.match(r"^docpipe: (\d+) docs  ", line)
    if not m:
        return None
    held = re.search(r"  (\d+) held back", line)
    pct = re.search(r"  (\d+)%", line)
    return int(m.group(1)), int(held.group(1)) if held else 0, int(pct.group(1)) if pct else None


def window(jobs):
    """The bound README states: max(1024, 256 x -j) lines."""
    return max(1024, 256 * jobs)


class Order(TempDirTest):
    def make(self, n):
        folder = os.path.join(self.tmp, "docs")
        os.makedirs(folder)
        with open(os.path.join(folder, "0000-slow.pdf"), "wb") as f:
            f.write(SLOW_PDF)
        for i in range(1, n + 1):
            with open(os.path.join(folder, "%04d.txt" % i), "w") as f:
                f.write("Note %d\nPatient is well.\n" % i)
        names = sorted(os.listdir(folder))
        return folder, [os.path.join(folder, x) for x in names]

    def run_slow(self, jobs, inputs):
        out = os.path.join(self.tmp, "out.ndjson")
        run = docpipe("-j", str(jobs), "--max-time", MAX_TIME, "--progress",
                      "--progress-interval", "0.05", "-o", out, "convert", *inputs, env=HANG)
        self.assertEqual(run.status, 1, run.stderr)
        self.assertEqual([e["kind"] for e in run.errors], ["timeout"])
        ids = [l.split(b'"id":"', 1)[1].split(b'"', 1)[0].decode() for l in read(out).splitlines()]
        # (docs written, held back, percent) while the slow document was pending
        pending = []
        for line in run.other_stderr:
            p = progress(line)
            if p and p[0] == 0:
                pending.append(p[1:])
        self.assertTrue(pending, run.other_stderr)
        return run, ids, pending

    def test_later_documents_convert_while_one_hangs(self):
        n = 200
        folder, paths = self.make(n)
        outputs = []
        for inputs in ([folder], paths):  # a folder walk, and one argument per file
            run, ids, pending = self.run_slow(2, inputs)
            self.assertEqual(run.errors[0]["id"], paths[0])
            # In input order, every one of them.
            self.assertEqual(ids, paths[1:])
            # All n were read and converted while the slow one was pending:
            # the writer held them, none waited to be taken.
            self.assertEqual(max(p for _, p in pending if p is not None), 100, pending)
            self.assertEqual(max(h for h, _ in pending), n, pending)
            outputs.append(ids)
        self.assertEqual(outputs[0], outputs[1])

    def test_past_the_window_no_work_is_taken(self):
        n = 1500
        folder, paths = self.make(n)
        for jobs, inputs in ((2, [folder]), (2, paths), (5, [folder])):
            run, ids, pending = self.run_slow(jobs, inputs)
            self.assertEqual(ids, paths[1:])
            held = max(h for h, _ in pending)
            # The window filled (so it is as large as documented) and was not
            # passed by more than the few documents already in the workers'
            # hands when it filled.
            self.assertGreaterEqual(held, window(jobs), pending)
            self.assertLessEqual(held, window(jobs) + 16 * jobs, pending)
            # Files past the window were not even read while it was full.
            shown = [p for _, p in pending if p is not None]
            self.assertTrue(shown, run.other_stderr)
            self.assertLess(max(shown), 100, pending)

    def test_unordered_writes_while_one_hangs(self):
        """--unordered: nothing waits at all, the slow document's error comes
        last."""
        folder, paths = self.make(50)
        out = os.path.join(self.tmp, "out.ndjson")
        run = docpipe("-j", "2", "--max-time", MAX_TIME, "--unordered", "--progress",
                      "--progress-interval", "0.05", "-o", out, "convert", folder, env=HANG)
        self.assertEqual(run.status, 1)
        self.assertEqual(len(read(out).splitlines()), 50)
        before_timeout = [progress(l)[0] for l in run.other_stderr
                          if progress(l) and "error" not in l]
        self.assertEqual(max(before_timeout), 50, run.other_stderr)


if __name__ == "__main__":
    dptest.main()
