"""docpipe among the tools around it: help and man pages that match the
program, the progress line, sharded runs whose union is the single run, and
docpipe as a stateless stdin-to-stdout mapper (Hadoop Streaming, Spark)."""
import json
import os
import pty
import re
import select
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fhirserver"))
import dptest  # noqa: E402
from dptest import CORPUS, DOCPIPE, SOURCE, TempDirTest, docpipe  # noqa: E402
from fhirserver import FhirTestServer  # noqa: E402

SAMPLES = os.path.join(SOURCE, "samples")
BINARIES = os.path.join(CORPUS, "binaries.ndjson")
DOCREFS = os.path.join(CORPUS, "docrefs.ndjson")
BAD_FILES = os.path.join(CORPUS, "bad", "files")
MAN_DIR = os.path.join(os.path.dirname(os.path.abspath(DOCPIPE)), "man")


def global_options():
    """The long options --help lists."""
    return sorted(set(re.findall(r"^  (?:-\w, |    )--([a-z][a-z0-9-]*)",
                                 docpipe("--help").stdout.decode(), re.M)))


def stage_names():
    return re.findall(r"^  (\S+)", docpipe("stages").stdout.decode(), re.M)


def sorted_lines(data):
    return sorted(l for l in data.split(b"\n") if l.strip())


def run_on_pty(args, seconds=120, env=None):
    """Run docpipe with stderr on a terminal; returns (status, what it drew)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([DOCPIPE, *args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=slave,
                            env=dict(os.environ, **(env or {})))
    os.close(slave)
    out, deadline = b"", time.time() + seconds
    while time.time() < deadline:
        ready, _, _ = select.select([master], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=30), out


class Help(unittest.TestCase):
    def test_every_option_has_default_or_variable_documented(self):
        text = docpipe("--help").stdout.decode()
        options = global_options()
        for must in ("output", "errors", "format", "index", "progress", "no-progress", "shard",
                     "jobs", "state", "fhir-base", "client-id", "private-key"):
            self.assertIn(must, options)
        self.assertIn("DOCPIPE_SHARD", text)
        self.assertIn("Examples:", text)
        self.assertTrue(all(len(l) <= 80 for l in text.splitlines()), "help wider than 80")

    def test_every_option_has_a_variable(self):
        """Jobs and containers need no flags: every option but the two that
        are forms of another (--no-progress, --config) reads a DOCPIPE_*
        variable, stage options included."""
        texts = [docpipe("--help").stdout.decode()] + \
            [docpipe(n, "--help").stdout.decode() for n in stage_names()]
        for text in texts:
            entries = re.split(r"\n(?=  (?:-\w, |    )--)", text.split("ptions:\n", 1)[-1])
            for entry in entries:
                name = re.match(r"\s*(?:-\w, )?--([a-z-]+)", entry)
                if name and name.group(1) not in ("no-progress", "config"):
                    self.assertIn("[DOCPIPE_", entry, entry)

    def test_variables_work_for_stage_options_and_flags(self):
        binaries = os.path.join(SAMPLES, "fhir", "Binary.ndjson")
        docrefs = os.path.join(SAMPLES, "fhir", "DocumentReference.ndjson")
        run = docpipe("run", "fhir-dump", docrefs, env={"DOCPIPE_BINARIES": binaries})
        self.assertEqual((run.status, len(run.records)), (0, 7))
        on = docpipe("convert", os.path.join(SAMPLES, "files"), env={"DOCPIPE_QUIET": "1"})
        off = docpipe("convert", os.path.join(SAMPLES, "files"), env={"DOCPIPE_QUIET": "no"})
        self.assertEqual(on.stderr, b"")
        self.assertIn(b"7 documents", off.stderr)

    def test_pipelines_are_listed_with_their_purpose(self):
        text = docpipe("pipelines").stdout.decode()
        for name in ("fhir-dump", "raw-files", "fhir-documents", "bulk-export", "es-bulk"):
            self.assertRegex(text, r"\n  %s +\S.*\.\n" % name)
        self.assertIn(os.path.join(SOURCE, "pipelines"), os.path.normpath(text) + text)

    def test_stage_help_and_version(self):
        for name in stage_names():
            run = docpipe(name, "--help")
            self.assertEqual(run.status, 0, name)
            self.assertTrue(run.stdout.startswith(b"Usage: docpipe " + name.encode()), name)
        self.assertIn(b"--binaries FILE", docpipe("help", "resolve").stdout)
        version = docpipe("--version").stdout.decode()
        self.assertRegex(version, r"^docpipe \d+\.\d+\.\d+\n$")


@dptest.needs(shutil.which("groff"), "groff (Debian package groff-base)")
class ManPages(unittest.TestCase):
    def render(self, page):
        path = os.path.join(MAN_DIR, page)
        self.assertTrue(os.path.exists(path), "the build did not write %s" % path)
        proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-rLL=100n", path],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=dict(os.environ, GROFF_NO_SGR="1"), timeout=60)
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(proc.stderr, b"", "groff warnings for %s" % page)
        text = re.sub(r".\x08", "", proc.stdout.decode())  # overstrike
        return text.replace("\u2010", "-").replace("\u2212", "-")

    def test_docpipe_1_documents_every_option_stage_and_kind(self):
        text = self.render("docpipe.1")
        version = docpipe("--version").stdout.decode().split()[1]
        self.assertIn(version, text)
        for opt in global_options():
            self.assertIn("--" + opt, text, opt)
        for stage in stage_names():
            self.assertIn(stage, text)
        for kind in ("not-visible", "extractor-crash", "version-conflict"):
            self.assertIn(kind, text)
        for var in ("DOCPIPE_FHIR_BASE", "DOCPIPE_SHARD", "DOCPIPE_BINARIES"):
            self.assertIn(var, text)
        self.assertIn("EXAMPLES", text)

    def test_pipeline_5_lists_stages_with_their_options(self):
        text = self.render("docpipe-pipeline.5")
        for stage in stage_names():
            self.assertIn(stage, text)
        self.assertIn("--prefer", text)
        self.assertIn("--binaries", text)


def sha256_of(path):
    import hashlib
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# A run that lasts about a second whatever the machine: the extraction helper
# hangs on the sample PDF (a test hook of src/isoworker.c) until --max-time.
SLOW = ["--max-time", "1", "--isolate", "all"]
SLOW_ENV = {"DOCPIPE_TEST_HANG_SHA256":
            sha256_of(os.path.join(SAMPLES, "files", "discharge-summary.pdf"))}


class Progress(TempDirTest):
    def test_plain_lines_when_asked_and_not_a_terminal(self):
        run = docpipe("--progress", "--progress-interval", "0.05", *SLOW,
                      "convert", os.path.join(SAMPLES, "files"), BAD_FILES, env=SLOW_ENV)
        lines = [l for l in run.other_stderr if " docs " in l]
        self.assertTrue(lines, run.other_stderr)
        for line in lines:
            self.assertRegex(line, r"^docpipe: \d+ docs  [\d.]+/s  [\d.]+ k?M?B( .*)?$")
        self.assertTrue(any("%" in l for l in lines), "files on disk: percent expected")
        self.assertRegex(run.other_stderr[-1], r"^docpipe: \d+ documents from")

    def test_none_by_default_off_a_terminal_and_with_quiet(self):
        run = docpipe("--progress-interval", "0.01", "convert", os.path.join(SAMPLES, "files"))
        self.assertFalse([l for l in run.other_stderr if " docs " in l])
        run = docpipe("-q", "--progress-interval", "0.01", "convert",
                      os.path.join(SAMPLES, "files"))
        self.assertEqual(run.stderr, b"")

    def test_live_line_on_a_terminal(self):
        status, drawn = run_on_pty(["--progress-interval", "0.02", *SLOW, "-e",
                                    os.path.join(self.tmp, "errors.ndjson"), "--unordered",
                                    "convert", os.path.join(SAMPLES, "files"), BAD_FILES],
                                   env=SLOW_ENV)
        self.assertEqual(status, 1)
        self.assertRegex(drawn, rb"\rdocpipe: \d+ docs .*\x1b\[K")
        self.assertRegex(drawn, rb"\d+ docs .* errors? \(")
        # The live line is erased before the summary, which ends the output.
        self.assertRegex(drawn, rb"\r\x1b\[Kdocpipe: \d+ documents from 2 inputs[^\r]*\r?\n$")

    def test_no_progress_on_a_terminal(self):
        status, drawn = run_on_pty(["--no-progress", "--progress-interval", "0.01", "convert",
                                    os.path.join(SAMPLES, "files")])
        self.assertEqual(status, 0)
        self.assertNotIn(b" docs ", drawn)
        self.assertIn(b"documents from 1 inputs", drawn)

    def test_errors_on_the_terminal_are_not_overwritten(self):
        """Error records written to the terminal the line lives on start on a
        clean line: the live line is erased first."""
        _, drawn = run_on_pty(["--progress-interval", "0.01", *SLOW, "--unordered", "convert",
                               os.path.join(SAMPLES, "files"), BAD_FILES], env=SLOW_ENV)
        errors = list(re.finditer(rb'\{"id":', drawn))
        # BAD_FILES fail while the slow PDF keeps the line up: both were drawn
        self.assertGreaterEqual(len(errors), len(os.listdir(BAD_FILES)), drawn[-400:])
        self.assertRegex(drawn, rb"\rdocpipe: \d+ docs ")
        self.assertIn(b"\x1b[K", drawn[:errors[-1].start()], "no live line before the errors")
        for m in errors:
            before = drawn[max(0, m.start() - 3):m.start()]
            self.assertTrue(before.endswith(b"\n") or before.endswith(b"\x1b[K"),
                            drawn[max(0, m.start() - 80):m.start() + 20])


class Shards(TempDirTest):
    def union(self, n, *args, stdin=None):
        outs, errs, other = [], [], 0
        for k in range(n):
            run = docpipe("--shard", "%d/%d" % (k, n), *args, stdin=stdin)
            outs.append(run.stdout)
            errs.extend(json.dumps(e, sort_keys=True) for e in run.errors)
            m = re.search(r"(\d+) left to the other shards", "\n".join(run.other_stderr))
            other += int(m.group(1)) if m else 0
        return outs, sorted(errs), other

    def assert_union(self, n, *args, stdin=None):
        whole = docpipe(*args, stdin=stdin)
        outs, errs, _ = self.union(n, *args, stdin=stdin)
        merged = sorted_lines(b"".join(outs))
        self.assertEqual(merged, sorted_lines(whole.stdout))
        self.assertEqual(len(merged), len(set(merged)), "a document in two shards")
        self.assertEqual(errs, sorted(json.dumps(e, sort_keys=True) for e in whole.errors))
        self.assertGreaterEqual(sum(1 for o in outs if o.strip()), 2, "all in one shard")
        return whole

    def test_dump_union_equals_single_run(self):
        whole = self.assert_union(3, "run", "fhir-dump", "--binaries", BINARIES, DOCREFS)
        self.assertGreater(len(whole.records), 5)

    def test_folders_with_failures(self):
        whole = self.assert_union(4, "convert", os.path.join(SAMPLES, "files"), BAD_FILES)
        self.assertTrue(whole.errors)

    def test_bad_lines_are_sharded_too(self):
        with open(DOCREFS, "rb") as f:
            good = f.read().splitlines()
        mixed = b"\n".join(good[:3] + [b'{"resourceType": "DocumentRef', b"not json"] +
                           good[3:]) + b"\n"
        path = self.write("mixed.ndjson", mixed)
        self.assert_union(2, "run", "fhir-dump", "--binaries", BINARIES, path)

    def test_same_shard_on_every_run_and_environment(self):
        a = docpipe("--shard", "1/3", "convert", os.path.join(SAMPLES, "files"))
        b = docpipe("convert", os.path.join(SAMPLES, "files"), env={"DOCPIPE_SHARD": "1/3"})
        self.assertEqual(a.stdout, b.stdout)

    def test_bad_shard_values(self):
        for bad in ("3/3", "1", "a/2", "0/0", "-1/2", "1/2x"):
            run = docpipe("--shard", bad, "convert", os.path.join(SAMPLES, "files"))
            self.assertEqual(run.status, 2, bad)
            self.assertIn(b"--shard", run.stderr)

    def test_search_is_sharded_by_patient(self):
        """A shard asks the server only for its own patients and Binaries: the
        shards together make exactly the requests of one run."""
        srv = FhirTestServer.from_ndjson(DOCREFS, BINARIES)
        srv.register_client("basic-client", secret="s3cret")
        secret = self.write("secret", "s3cret")
        patients = "".join("%d\n" % p for p in range(4300201, 4300210)).encode()
        with srv:
            args = ["--fhir-base", srv.base_url, "--client-id", "basic-client",
                    "--client-secret-file", secret, "run", "fhir-documents"]
            whole = docpipe(*args, stdin=patients)
            single = srv.stats()["paths"]
            srv.reset_stats()
            outs, _, other = self.union(3, *args, stdin=patients)
            sharded = srv.stats()["paths"]
        self.assertEqual(sorted_lines(b"".join(outs)), sorted_lines(whole.stdout))
        self.assertGreater(len(whole.records), 5)
        for kind in ("search", "read:Binary"):
            self.assertEqual(sharded.get(kind), single.get(kind), kind)
        self.assertEqual(other, 2 * len(patients.splitlines()))


class StatelessMapper(TempDirTest):
    def test_any_split_at_line_boundaries_gives_the_same_lines(self):
        """What Hadoop Streaming and Spark's RDD.pipe rely on."""
        with open(DOCREFS, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        whole = docpipe("-q", "run", "fhir-dump", "--binaries", BINARIES, "-",
                        stdin=b"".join(lines))
        # the whole run is itself right: one record per DocumentReference, in order
        self.assertEqual(whole.status, 0, whole.stderr)
        self.assertEqual([r["source"]["documentReference"] for r in whole.records],
                         ["DocumentReference/" + json.loads(l)["id"] for l in lines])
        self.assertTrue(all(r["content"] for r in whole.records))
        for cut in ((1,), (2, 5), (len(lines) - 1,)):
            pieces, start = [], 0
            for end in cut + (len(lines),):
                pieces.append(b"".join(lines[start:end]))
                start = end
            out = b"".join(docpipe("-q", "run", "fhir-dump", "--binaries", BINARIES, "-",
                                   stdin=p).stdout for p in pieces)
            self.assertEqual(out, whole.stdout, cut)


if __name__ == "__main__":
    dptest.main()
