"""The shared corpus: every fact in expected.tsv holds, through every input
route (DocumentReference + Binary NDJSON, inline data, raw files), and every
bad document gives exactly one error record."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import CORPUS, TempDirTest, contains, docpipe, expected_rows, read  # noqa: E402


def corpus_ids():
    return sorted({d for d, _, _ in expected_rows()})


class CorpusFacts(TempDirTest):
    def check_facts(self, records, key):
        for doc, fmt, phrase in expected_rows():
            rec = records.get(key(doc))
            self.assertIsNotNone(rec, "no record for %s" % doc)
            self.assertEqual(rec["format"], fmt, doc)
            self.assertTrue(contains(rec["content"], phrase), "%s: missing %r" % (doc, phrase))

    def test_fhir_dump_pipeline(self):
        run = docpipe("run", "fhir-dump", "--binaries", os.path.join(CORPUS, "binaries.ndjson"),
                      os.path.join(CORPUS, "docrefs.ndjson"))
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(run.errors, [])
        self.assertEqual(len(run.records), len(corpus_ids()))
        self.check_facts(run.by_id(), lambda d: "DocumentReference/" + d)
        self.assertIn("10 documents from 10 inputs: 10 converted, 0 failed",
                      "\n".join(run.other_stderr))

    def test_inline_data_gives_the_same_content(self):
        by_url = docpipe("run", "fhir-dump", "--binaries", os.path.join(CORPUS, "binaries.ndjson"),
                         os.path.join(CORPUS, "docrefs.ndjson")).by_id()
        inline = docpipe("run", "fhir-dump", os.path.join(CORPUS, "docrefs-inline.ndjson"))
        self.assertEqual(inline.status, 0)
        self.check_facts(inline.by_id(), lambda d: "DocumentReference/" + d)
        for rid, rec in inline.by_id().items():
            self.assertEqual(rec["content"], by_url[rid]["content"], rid)
            self.assertEqual(rec["sha256"], by_url[rid]["sha256"], rid)
            self.assertIsNone(rec["source"]["binary"])
            self.assertEqual(by_url[rid]["source"]["binary"], "Binary/XR-" + rid.split("/")[1])

    def test_raw_files(self):
        run = docpipe("convert", os.path.join(CORPUS, "files"))
        self.assertEqual(run.status, 0, run.stderr)
        files = os.path.join(CORPUS, "files")
        paths = {os.path.splitext(r["id"])[0].rsplit("/", 1)[1]: r for r in run.records}
        self.check_facts(paths, lambda d: d)
        for r in run.records:
            self.assertTrue(r["id"].startswith(files), r["id"])
            self.assertEqual(r["source"]["file"], r["id"])

    def test_provenance_and_normalization(self):
        recs = docpipe("run", "fhir-dump", "--binaries", os.path.join(CORPUS, "binaries.ndjson"),
                       os.path.join(CORPUS, "docrefs.ndjson")).by_id()
        pdf = recs["DocumentReference/21000101"]
        self.assertEqual(pdf["source"]["patient"], "Patient/4300201")
        self.assertEqual(pdf["source"]["declaredContentType"], "application/pdf")
        self.assertEqual(pdf["source"]["contentType"], "application/pdf")
        self.assertEqual(pdf["source"]["title"], "Libtasn1 manual")
        self.assertEqual(pdf["bytes"], 262961)
        self.assertEqual(pdf["sha256"],
                         "3917eb460d87e275f9792b3597029873fd77890ed3ccebe40bbc5a3a7ee516d3")
        self.assertEqual(pdf["createdDate"], "2022-08-18")
        self.assertEqual(pdf["meta"]["pages"], 36)
        # LOINC through the shipped table; declared and sniffed types kept apart.
        self.assertEqual(recs["DocumentReference/21000106"]["documentType"], "lab-report")
        self.assertEqual(recs["DocumentReference/21000102"]["documentType"], "summary")
        hl7 = recs["DocumentReference/21000107"]
        self.assertEqual(hl7["source"]["declaredContentType"], "text/plain")
        self.assertEqual(hl7["format"], "hl7v2")
        self.assertEqual(recs["DocumentReference/21000109"]["source"]["declaredContentType"],
                         "application/octet-stream")


class BadCorpus(TempDirTest):
    EXPECTED = {"DocumentReference/21900101": "damaged",
                "DocumentReference/21900102": "damaged",
                "DocumentReference/21900103": "not-found"}

    def test_each_bad_document_gives_one_error(self):
        bad = os.path.join(CORPUS, "bad")
        run = docpipe("run", "fhir-dump", "--binaries", os.path.join(bad, "binaries.ndjson"),
                      os.path.join(bad, "docrefs.ndjson"))
        self.assertEqual(run.status, 1)
        self.assertEqual(run.records, [])
        self.assertEqual({e["id"]: e["kind"] for e in run.errors}, self.EXPECTED)
        self.assertEqual(len(run.errors), 3)
        for e in run.errors:
            self.assertEqual(e["input"]["file"], os.path.join(bad, "docrefs.ndjson"))

    def test_bad_among_good_documents(self):
        """read = emitted + failed, and the good documents still convert."""
        good = read(os.path.join(CORPUS, "docrefs-inline.ndjson")).splitlines()
        bad = read(os.path.join(CORPUS, "bad", "docrefs-inline.ndjson")).splitlines()
        mixed = []
        for i, line in enumerate(good):
            mixed.append(line)
            if i < len(bad):
                mixed.append(bad[i])
        path = self.write("mixed.ndjson", b"\n".join(mixed) + b"\n")
        run = docpipe("run", "fhir-dump", path)
        self.assertEqual(run.status, 1)
        self.assertEqual(len(run.records), len(good))
        kinds = sorted(e["kind"] for e in run.errors)
        # Inline, the missing Binary is an attachment without data.
        self.assertEqual(len(run.errors), len(bad))
        self.assertEqual(kinds.count("damaged"), 2, kinds)
        summary = "\n".join(run.other_stderr)
        self.assertIn("%d documents from %d inputs: %d converted, %d failed"
                      % (len(mixed), len(mixed), len(good), len(bad)), summary)


if __name__ == "__main__":
    dptest.main()
