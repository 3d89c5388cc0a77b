"""Issue 13 for OOXML, ODF and ZIP: the real Tika samples read with their
phrases and properties, ZIP bundles as one record per member, the hostile
cases (a ZIP bomb, a deep ZIP-in-ZIP, a DOCX with an external entity, an
encrypted ZIP), and, when LibreOffice is installed, documents LibreOffice
writes at test time read back with the words LibreOffice itself reads in
them (skipped, saying so, when soffice is not there).

The Tika phrases were checked against LibreOffice 7.4's text export of the
same files (soffice --headless --convert-to txt)."""
import collections
import io
import os
import shutil
import struct
import subprocess
import sys
import unittest
import zipfile
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import SHARED, SOURCE, TempDirTest, contains, docpipe  # noqa: E402

REAL = os.path.join(SHARED, "corpus", "real", "files")
DATA = os.path.join(SOURCE, "tests", "data", "ooxml")


def real(name):
    return os.path.join(REAL, name)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def one_record(test, path, *args):
    run = docpipe(*args, "convert", path)
    test.assertEqual(run.status, 0, run.stderr)
    test.assertEqual(run.errors, [])
    test.assertEqual(len(run.records), 1)
    return run.records[0]


class RealSamples(unittest.TestCase):
    CASES = [
        ("tika-testWORD.docx", "docx", "Sample Word Document", "Keith Bennett", [
            "Sample Word Document Title", "This is a sample Microsoft Word Document.",
            "This document includes text that is BOLD and ITALIC.",
            "Apache Tika: http://tika.apache.org/ Tika",
            "This links to The Main Heading Bookmark and The Level 3 Bookmark.",
            "This is the header for our document", "This is the footer for our document"]),
        ("tika-testEXCEL.xlsx", "xlsx", "Simple Excel document", "Keith Bennett", [
            "Feuil1", "Sample Excel Worksheet - Numbers and their Squares", "Number | Square",
            "15 | 225", "Written and saved in Microsoft Excel X for Mac Service Release 1."]),
        ("tika-testPPT.pptx", "pptx", "Attachment Test", "Rajiv", [
            "Attachment Test", "developed by Rajiv Kumar Nistala.",
            "Different words to test against", "Black Panther", "Investment"]),
        ("tika-testOpenOffice2.odt", "odt", None, None, [
            "This is a sample Open Office document, written in NeoOffice 2.2.1 for the Mac."]),
    ]

    def test_samples(self):
        for name, fmt, title, author, phrases in self.CASES:
            path = real(name)
            self.assertTrue(os.path.exists(path), "the corpus lacks %s" % path)
            rec = one_record(self, path)
            self.assertEqual(rec["format"], fmt, name)
            self.assertEqual(rec["id"], path)
            for p in phrases:
                self.assertTrue(contains(rec["content"], p), "%s: missing %r" % (name, p))
            meta = rec.get("meta", {})
            self.assertEqual(meta.get("title"), title, name)
            self.assertEqual(meta.get("author"), author, name)
            self.assertIsNotNone(rec["createdDate"], name)

    def test_named_by_content_not_name(self):
        # A DOCX called .bin, an ODT called .zip: the bytes decide.
        t = TempDirTest("setUp")
        t.setUp()
        try:
            a = t.write("letter.bin", read(real("tika-testWORD.docx")))
            b = t.write("doc.zip", read(real("tika-testOpenOffice2.odt")))
            run = docpipe("convert", a, b)
            self.assertEqual(run.status, 0, run.stderr)
            self.assertEqual([r["format"] for r in run.records], ["docx", "odt"])
        finally:
            t.tearDown()


def zipcrypto(name, data, password):
    """A ZIP whose one member is encrypted with traditional PKWARE
    encryption (APPNOTE 6.1), stored, as `zip -e` writes it."""
    keys = [0x12345678, 0x23456789, 0x34567890]
    crc_table = [zlib.crc32(bytes([i])) ^ 0xFFFFFFFF for i in range(256)]

    def crc(c, b):
        return ((c >> 8) ^ crc_table[(c ^ b) & 0xFF]) & 0xFFFFFFFF

    def update(b):
        keys[0] = crc(keys[0], b)
        keys[1] = ((keys[1] + (keys[0] & 0xFF)) * 134775813 + 1) & 0xFFFFFFFF
        keys[2] = crc(keys[2], keys[1] >> 24)

    def encrypt(plain):
        out = bytearray()
        for b in plain:
            t = (keys[2] | 2) & 0xFFFF
            out.append(b ^ (((t * (t ^ 1)) >> 8) & 0xFF))
            update(b)
        return bytes(out)

    for b in password:
        update(b)
    crc32 = zlib.crc32(data)
    header = bytes(11) + bytes([crc32 >> 24])
    body = encrypt(header) + encrypt(data)
    n = name.encode()
    local = struct.pack("<4sHHHHHIIIHH", b"PK\3\4", 20, 1, 0, 0, 0, crc32, len(body),
                        len(data), len(n), 0) + n
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\1\2", 20, 20, 1, 0, 0, 0, crc32,
                          len(body), len(data), len(n), 0, 0, 0, 0, 0, 0) + n
    end = struct.pack("<4sHHHHIIH", b"PK\5\6", 0, 0, 1, 1, len(central),
                      len(local) + len(body), 0)
    return local + body + central + end


class Containers(TempDirTest):
    def test_bundle(self):
        path = os.path.join(DATA, "bundle.zip")
        run = docpipe("convert", path)
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(run.errors, [])
        recs = run.by_id()
        self.assertEqual(sorted(recs), [path + "!more.zip!notes/handover.txt",
                                        path + "!referral/labs.ods",
                                        path + "!referral/letter.docx"])
        letter = recs[path + "!referral/letter.docx"]
        self.assertEqual(letter["format"], "docx")
        self.assertEqual(letter["meta"]["embedded"], ["zip", "docx"])
        self.assertEqual(letter["source"]["file"], path)
        self.assertTrue(contains(letter["content"], "Dear colleague, I am referring Mr. Example"))
        labs = recs[path + "!referral/labs.ods"]
        self.assertTrue(contains(labs["content"], "Sodium | 140"))
        note = recs[path + "!more.zip!notes/handover.txt"]
        self.assertEqual(note["meta"]["embedded"], ["zip", "zip", "text"])
        self.assertIn("3 documents from 1 inputs: 3 converted", run.stderr.decode())

    def test_gzip(self):
        rec = one_record(self, os.path.join(DATA, "handover.txt.gz"))
        self.assertEqual(rec["format"], "text")
        self.assertEqual(rec["meta"]["embedded"], ["gzip", "text"])
        self.assertTrue(contains(rec["content"], "bed 7 is for discharge tomorrow"))

    def test_zip_bomb(self):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("zeros.txt", bytes(16 << 20))
            z.writestr("ok.txt", "A real note.\n")
        path = self.write("bomb.zip", buf.getvalue())
        run = docpipe("--max-bytes", "1M", "convert", path)
        self.assertEqual(run.status, 1)
        self.assertEqual([r["id"] for r in run.records], [path + "!ok.txt"])
        self.assertEqual([(e["id"], e["kind"]) for e in run.errors],
                         [(path + "!zeros.txt", "too-large")])

    def test_deep_zip_in_zip(self):
        data, name = b"deep\n", "x.txt"
        for i in range(10):
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                z.writestr(name, data)
            data, name = buf.getvalue(), "level%d.zip" % i
        path = self.write("deep.zip", data)
        run = docpipe("convert", path)
        self.assertEqual(run.status, 1)
        self.assertEqual(run.records, [])
        self.assertEqual(len(run.errors), 1)
        err = run.errors[0]
        self.assertEqual(err["kind"], "too-large")
        self.assertEqual(err["id"], path + "".join("!level%d.zip" % i for i in (8, 7, 6, 5)))
        self.assertEqual(err["message"], "documents nested more than 4 deep")

    def test_docx_with_external_entity(self):
        secret = self.write("secret.txt", "TOP-SECRET-LINE\n")
        buf = io.BytesIO()
        with zipfile.ZipFile(real("tika-testWORD.docx")) as src, \
                zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for info in src.infolist():
                d = src.read(info.filename)
                if info.filename == "word/document.xml":
                    d = d.replace(b"?>", b"?><!DOCTYPE w:document [<!ENTITY x SYSTEM 'file://"
                                  + secret.encode() + b"'>]>", 1)
                    d = d.replace(b"This is a sample", b"&x; This is a sample", 1)
                z.writestr(info, d)
        path = self.write("xxe.docx", buf.getvalue())
        run = docpipe("convert", path)
        self.assertEqual(run.status, 1)
        self.assertEqual(run.records, [])
        self.assertEqual(run.errors[0]["kind"], "unsupported")
        self.assertIn("word/document.xml", run.errors[0]["message"])
        self.assertNotIn(b"TOP-SECRET", run.stdout + run.stderr)

    def test_encrypted_zip(self):
        path = self.write("enc.zip", zipcrypto("note.txt", b"Private clinic note.\n", b"pw"))
        run = docpipe("convert", path)
        self.assertEqual(run.status, 1)
        self.assertEqual(run.records, [])
        self.assertEqual([(e["id"], e["kind"]) for e in run.errors],
                         [(path + "!note.txt", "encrypted")])
        self.assertNotIn(b"Private", run.stdout + run.stderr)


def words(text):
    return collections.Counter(text.split())


def recall(ref, got):
    total = sum(ref.values())
    return sum(min(n, got.get(w, 0)) for w, n in ref.items()) / total if total else 1.0


@dptest.needs(shutil.which("soffice"), "LibreOffice (soffice)")
class LibreOfficeMade(TempDirTest):
    """Documents LibreOffice writes now, read back; the reference is
    LibreOffice's own text of each."""

    def soffice(self, target, src):
        profile = "file://" + os.path.join(self.tmp, "profile")
        subprocess.run(["soffice", "-env:UserInstallation=" + profile, "--headless",
                        "--convert-to", target, "--outdir", self.tmp, src],
                       capture_output=True, timeout=180)
        out = os.path.join(self.tmp, os.path.splitext(os.path.basename(src))[0] + "." +
                           target.split(":")[0])
        self.assertTrue(os.path.exists(out), "soffice made no %s" % target)
        return out

    def test_writer_documents(self):
        src = os.path.join(DATA, "letter.html")
        # From HTML, LibreOffice needs the Word filter named.
        for fmt, target in (("docx", "docx:MS Word 2007 XML"), ("odt", "odt")):
            doc = self.soffice(target, src)
            rec = one_record(self, doc)
            self.assertEqual(rec["format"], fmt)
            moved = os.path.join(self.tmp, "ref-" + fmt)
            os.makedirs(moved, exist_ok=True)
            shutil.move(doc, os.path.join(moved, os.path.basename(doc)))
            txt = self.soffice("txt:Text (encoded):UTF8", os.path.join(moved, os.path.basename(doc)))
            with open(txt, encoding="utf-8-sig") as f:
                ref = words(f.read())
            os.remove(txt)
            self.assertGreaterEqual(recall(ref, words(rec["content"])), 0.95, fmt)

    def test_calc_documents(self):
        src = os.path.join(DATA, "labs.csv")
        for fmt in ("xlsx", "ods"):
            rec = one_record(self, self.soffice(fmt, src))
            self.assertEqual(rec["format"], fmt)
            for phrase in ("Test | Result | Date", "Sodium | 140", "Potassium | 4.2"):
                self.assertTrue(contains(rec["content"], phrase), "%s: %r" % (fmt, phrase))


if __name__ == "__main__":
    dptest.main()
