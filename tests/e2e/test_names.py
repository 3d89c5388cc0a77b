"""File names that are not UTF-8: a raw file's id and source.file escape the
bad bytes reversibly (docs/RECORD.md, "Names that are not UTF-8"), so two
files never share an id, every output stays UTF-8, and the record (or the
error file fed back) opens the file again."""
import base64
import hashlib
import json
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import SOURCE, TempDirTest, docpipe, read  # noqa: E402

SAMPLES = os.path.join(SOURCE, "samples")
PDF = read(os.path.join(SAMPLES, "files", "discharge-summary.pdf"))
FFFD = "\ufffd"


def name_bytes(record_form):
    """The unescape of RECORD.md, word for word."""
    return re.sub(rb"\xef\xbf\xbd([0-9A-F]{2})", lambda m: bytes.fromhex(m.group(1).decode()),
                  record_form.encode("utf-8"))


# name (bytes) -> content; each text is different so records can be told apart.
NAMES = {
    b"caf\xe9.txt": b"Latin-1 e acute\n",
    b"caf\xe8.txt": b"Latin-1 e grave\n",           # differs from the one above by one byte
    b"bad\xff\xfe.txt": b"invalid UTF-8\n",
    b"caf\xef\xbf\xbdE9.txt": b"literal escape text\n",  # UTF-8 holding the escape itself
    b"caf\xc3\xa9-utf8.txt": b"plain UTF-8\n",
    b"100%.txt": b"percent sign\n",
    b"cut\xe9\xc3.txt": b"a cut UTF-8 sequence\n",
}


class Names(TempDirTest):
    def setUp(self):
        super().setUp()
        self.dir = os.path.join(self.tmp, "d").encode()
        os.makedirs(os.path.join(self.dir, b"sub\xa0dir"))
        for name, data in NAMES.items():
            with open(os.path.join(self.dir, name), "wb") as f:
                f.write(data)
        with open(os.path.join(self.dir, b"sub\xa0dir", b"n\xf6te.txt"), "wb") as f:
            f.write(b"in a folder whose name is Latin-1\n")

    def check_names(self, records, paths):
        ids = [r["id"] for r in records]
        self.assertEqual(len(ids), len(set(ids)), "two files share an id")
        self.assertEqual(sorted(name_bytes(i) for i in ids), sorted(paths))
        for r in records:
            raw = name_bytes(r["id"])
            self.assertEqual(r["source"]["file"], r["id"])
            with open(raw, "rb") as f:  # the record leads back to the file
                self.assertEqual(hashlib.sha256(f.read()).hexdigest(), r["sha256"])
            try:
                plain = raw.decode("utf-8")
                escaped = FFFD in plain
            except UnicodeDecodeError:
                escaped = True
            if escaped:
                self.assertIn(FFFD, r["id"])
                self.assertEqual(base64.b64decode(r["source"]["fileBytes"]), raw)
            else:
                self.assertEqual(r["id"], plain, "a UTF-8 name keeps its id")
                self.assertNotIn("fileBytes", r["source"])

    def test_folder(self):
        run = docpipe("convert", self.dir)
        self.assertEqual(run.status, 0, run.stderr)
        paths = [os.path.join(self.dir, n) for n in NAMES]
        paths.append(os.path.join(self.dir, b"sub\xa0dir", b"n\xf6te.txt"))
        self.check_names(run.records, paths)
        by_id = {name_bytes(r["id"]): r for r in run.records}
        self.assertEqual(by_id[os.path.join(self.dir, b"caf\xe9.txt")]["id"],
                         os.path.join(self.dir, b"caf").decode() + FFFD + "E9.txt")
        literal = by_id[os.path.join(self.dir, b"caf\xef\xbf\xbdE9.txt")]["id"]
        self.assertTrue(literal.endswith("caf" + FFFD + "EF" + FFFD + "BF" + FFFD + "BDE9.txt"))
        self.assertEqual(by_id[os.path.join(self.dir, b"100%.txt")]["id"],
                         os.path.join(self.dir, b"100%.txt").decode())
        self.assertEqual(by_id[os.path.join(self.dir, b"caf\xe9.txt")]["content"],
                         "Latin-1 e acute")

    def test_arguments_and_stdin(self):
        paths = [os.path.join(self.dir, n) for n in NAMES]
        run = docpipe("convert", *paths)
        self.assertEqual(run.status, 0, run.stderr)
        self.check_names(run.records, paths)
        listing = b"".join(p + b"\n" for p in paths)
        piped = docpipe("run", "raw-files", stdin=listing)
        self.assertEqual(piped.stdout, run.stdout)
        # The stages as separate processes carry the same strings.
        files = docpipe("files", *paths, check_contract=False)
        for line in files.stdout.decode("utf-8").splitlines():
            json.loads(line)

    def test_error_records_and_retry(self):
        """A broken PDF under a Latin-1 name: the error record is UTF-8 and
        names the file so that feeding the error file back reopens it."""
        bad = os.path.join(self.dir, b"scan-\xe9t\xe9.pdf")
        with open(bad, "wb") as f:
            f.write(PDF[:len(PDF) // 2])
        errors = os.path.join(self.tmp, "errors.ndjson")
        for source in ([self.dir], [bad]):
            run = docpipe("-e", errors, "convert", *source)
            self.assertEqual(run.status, 1)
            text = read(errors).decode("utf-8")  # strict: the error file is UTF-8
            (err,) = [json.loads(l) for l in text.splitlines()]
            self.assertEqual(name_bytes(err["id"]), bad)
            self.assertEqual(err["kind"], "damaged")
            self.assertEqual(name_bytes(err["input"]["arg"]), source[0])
            # The same document fails the same way on a retry: reopened.
            for retry in (docpipe("convert", errors), docpipe("run", "raw-files", errors),
                          docpipe("run", "raw-files", stdin=read(errors))):
                self.assertEqual(retry.records, [])
                self.assertEqual([(e["id"], e["kind"]) for e in retry.errors],
                                 [(err["id"], "damaged")], retry.stderr)
        # Only an error file is retried: other JSON lines are a document.
        records = os.path.join(self.tmp, "records.ndjson")
        with open(records, "wb") as f:
            f.write(docpipe("convert", self.dir).stdout)
        run = docpipe("convert", records)
        self.assertEqual([r["id"] for r in run.records], [records])
        # Mended, the retry converts exactly that file and nothing else.
        with open(bad, "wb") as f:
            f.write(PDF)
        run = docpipe("convert", errors)
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual([name_bytes(r["id"]) for r in run.records], [bad])
        self.assertEqual(name_bytes(run.records[0]["source"]["file"]), bad)

    def test_folder_retry_keeps_only_the_failure(self):
        bad = os.path.join(self.dir, b"x\xff.pdf")
        with open(bad, "wb") as f:
            f.write(b"%PDF-1.4\n1 0 obj\n")
        errors = os.path.join(self.tmp, "errors.ndjson")
        first = docpipe("-e", errors, "convert", self.dir)
        self.assertEqual(first.status, 1)
        self.assertEqual(len(first.records), len(NAMES) + 1)
        with open(bad, "wb") as f:
            f.write(PDF)
        retry = docpipe("convert", errors)
        self.assertEqual(retry.status, 0, retry.stderr)
        self.assertEqual([name_bytes(r["id"]) for r in retry.records], [bad])
        self.assertIn(b"records of retried inputs had converted before", retry.stderr)

    def test_ndjson_input_with_a_latin1_name(self):
        """input.file of an error names the NDJSON file in its record form,
        and the retry reads the line back from it."""
        dump = os.path.join(self.tmp.encode(), b"docr\xe9fs.ndjson")
        with open(os.path.join(SAMPLES, "fhir", "DocumentReference.ndjson"), "rb") as f:
            lines = f.read().splitlines()[:2]
        with open(dump, "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        errors = os.path.join(self.tmp, "errors.ndjson")
        run = docpipe("-e", errors, "run", "fhir-dump", dump)  # no Binaries: not-found
        self.assertEqual(run.status, 1)
        errs = [json.loads(l) for l in read(errors).decode("utf-8").splitlines()]
        self.assertEqual([e["kind"] for e in errs], ["not-found", "not-found"])
        self.assertEqual({name_bytes(e["input"]["file"]) for e in errs}, {dump})
        retry = docpipe("run", "fhir-dump", "--binaries",
                        os.path.join(SAMPLES, "fhir", "Binary.ndjson"), errors)
        self.assertEqual(retry.status, 0, retry.stderr)
        self.assertEqual(len(retry.records), 2)

    def test_es_bulk_and_jsonl_text(self):
        run = docpipe("-f", "es-bulk", "convert", self.dir, check_contract=False)
        lines = run.stdout.decode("utf-8").splitlines()
        actions = [json.loads(l)["index"]["_id"] for l in lines[0::2]]
        records = [json.loads(l)["id"] for l in lines[1::2]]
        self.assertEqual(actions, records)
        self.assertEqual(len(set(actions)), len(NAMES) + 1)
        text = docpipe("-f", "jsonl-text", "convert", self.dir, check_contract=False)
        ids = [json.loads(l)["id"] for l in text.stdout.decode("utf-8").splitlines()]
        self.assertEqual(ids, records)

    def test_shards_hash_the_record_form(self):
        """A file lands in the same shard when converted and when its error
        is retried, and the shards together are the single run."""
        for n in range(3):
            with open(os.path.join(self.dir, b"broken-%d-\xe9.pdf" % n), "wb") as f:
                f.write(b"%PDF-1.4\n")
        whole = docpipe("convert", self.dir)
        outs, errs = [], []
        for k in range(2):
            errors = os.path.join(self.tmp, "err-%d.ndjson" % k)
            part = docpipe("--shard", "%d/2" % k, "-e", errors, "convert", self.dir)
            outs.extend(part.stdout.splitlines())
            mine = [json.loads(l) for l in read(errors).decode("utf-8").splitlines()]
            errs.extend(e["id"] for e in mine)
            if mine:
                retry = docpipe("--shard", "%d/2" % k, "convert", errors)
                self.assertEqual(sorted(e["id"] for e in retry.errors),
                                 sorted(e["id"] for e in mine))
        self.assertEqual(sorted(outs), sorted(whole.stdout.splitlines()))
        self.assertEqual(sorted(errs), sorted(e["id"] for e in whole.errors))
        self.assertEqual(len(errs), 3)


if __name__ == "__main__":
    dptest.main()
