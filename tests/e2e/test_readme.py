"""The README's recipes, run word for word.

Every shell block in README.md preceded by a `<!-- test: NAME -->` line is
run here with bash (-e -u -o pipefail) in a fresh folder that holds links to
the repository's samples/, tests/ and pipelines/, with the built docpipe
first on PATH.  What each block must achieve is checked below; a marked block
without a check, or a check whose block is gone, fails the test, so the
README and this file cannot drift apart."""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from bulkserver import BulkServer  # noqa: E402
import dptest  # noqa: E402
from dptest import DOCPIPE, SOURCE, TempDirTest, check_record  # noqa: E402

README = os.path.join(SOURCE, "README.md")
MARK = re.compile(r"^<!-- test: ([a-z0-9-]+) -->\n```sh\n(.*?)^```", re.M | re.S)


def readme_blocks():
    with open(README, encoding="utf-8") as f:
        return {m.group(1): m.group(2) for m in MARK.finditer(f.read())}


class Readme(TempDirTest):
    def setUp(self):
        super().setUp()
        for d in ("samples", "tests", "pipelines"):
            os.symlink(os.path.join(SOURCE, d), os.path.join(self.tmp, d))
        self.blocks = readme_blocks()

    def run_block(self, name, env=None):
        self.assertIn(name, self.blocks, "README.md lost its '%s' recipe" % name)
        e = dict(os.environ)
        e["PATH"] = os.path.dirname(os.path.abspath(DOCPIPE)) + os.pathsep + e["PATH"]
        e.update(env or {})
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", self.blocks[name]],
                              cwd=self.tmp, env=e, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(proc.returncode, 0, "README recipe '%s' failed:\n%s" %
                         (name, proc.stderr.decode(errors="replace")))
        return proc.stdout.decode()

    def records(self, name):
        with open(os.path.join(self.tmp, name), encoding="utf-8") as f:
            recs = [json.loads(line) for line in f if line.strip()]
        for r in recs:
            check_record(r)
        return recs

    def test_every_marked_block_is_checked(self):
        checked = {n[len("test_"):].replace("_", "-") for n in dir(self)
                   if n.startswith("test_") and n != "test_every_marked_block_is_checked"}
        self.assertEqual(set(self.blocks), checked)

    def test_try_convert(self):
        self.run_block("try-convert")
        self.assertEqual(len(self.records("records.ndjson")), 7)
        dump = self.records("dump-records.ndjson")
        self.assertEqual([r["id"] for r in dump], ["DocumentReference/S-100%d" % i
                                                   for i in range(1, 8)])

    def test_try_fhir(self):
        self.run_block("try-fhir")
        fetched = self.records("fhir-records.ndjson")
        self.assertEqual(len(fetched), 7)
        offline = subprocess.run([DOCPIPE, "-q", "run", "fhir-dump", "--binaries",
                                  "samples/fhir/Binary.ndjson",
                                  "samples/fhir/DocumentReference.ndjson"],
                                 cwd=self.tmp, stdout=subprocess.PIPE, check=True).stdout
        want = {r["id"]: r for r in map(json.loads, offline.decode().splitlines())}
        for r in fetched:
            self.assertEqual(r["content"], want[r["id"]]["content"], r["id"])
            self.assertTrue(r["source"]["url"].startswith("http://127.0.0.1:"))

    def test_bulk_register(self):
        self.run_block("bulk-register")
        with open(os.path.join(self.tmp, "bulk-check.txt"), encoding="utf-8") as f:
            check = f.read()
        self.assertIn("judged for pipeline bulk-export", check)
        self.assertIn("Nothing blocks the job.", check)
        fetched = self.records("bulk-records.ndjson")
        self.assertEqual(len(fetched), 7)
        offline = subprocess.run([DOCPIPE, "-q", "run", "fhir-dump", "--binaries",
                                  "samples/fhir/Binary.ndjson",
                                  "samples/fhir/DocumentReference.ndjson"],
                                 cwd=self.tmp, stdout=subprocess.PIPE, check=True).stdout
        want = {r["id"]: r for r in map(json.loads, offline.decode().splitlines())}
        for r in fetched:
            self.assertEqual(r["content"], want[r["id"]]["content"], r["id"])
            self.assertIn("/attachments/", r["source"]["url"])

    def test_try_fts5(self):
        out = self.run_block("try-fts5")
        self.assertEqual(out.split(), ["samples/files/discharge-summary.pdf"])

    def test_es_bulk(self):
        with BulkServer() as es:
            self.run_block("es-bulk", env={"ES": es.url})
            indexed = es.docs["clinical-docs"]
            self.assertEqual(len(indexed), 7)
            self.assertIn("samples/files/discharge-summary.pdf", indexed)
            self.assertIn("oxygen weaned",
                          indexed["samples/files/discharge-summary.pdf"]["content"].lower()
                          .replace("\n", " "))
            # Loading again replaces: the same ids, no duplicates.
            self.run_block("es-bulk", env={"ES": es.url})
            self.assertEqual(len(es.docs["clinical-docs"]), 7)
            self.assertEqual(es.requests, 2)

    def test_shard_parallel(self):
        self.run_block("shard-parallel")
        parts = [self.records("part-%d.ndjson" % k) for k in range(4)]
        self.assertGreaterEqual(sum(1 for p in parts if p), 2, "sharding put all in one")


if __name__ == "__main__":
    dptest.main()
