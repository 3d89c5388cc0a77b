"""Legacy Office files and mail on the real Tika samples: Word .doc, Outlook
.msg and two .eml messages, checked for real phrases, their format and
meta; a truncated OLE2 file is damaged; LibreOffice's .xls and .ppt made at
test time when soffice is installed (skipped, saying so, when not)."""
import os
import shutil
import subprocess
import unittest

import dptest  # noqa: E402
from dptest import CORPUS, SOURCE, TempDirTest, contains, docpipe

REAL = os.path.join(CORPUS, "real", "files")


def one(test, path):
    run = docpipe("run", "raw-files", path)
    test.assertEqual(len(run.records), 1, run.stderr.decode(errors="replace"))
    return run.records[0]


class RealSamples(unittest.TestCase):
    def test_word_doc(self):
        r = one(self, os.path.join(REAL, "tika-testWORD.doc"))
        self.assertEqual(r["format"], "doc")
        for phrase in ("Sample Word Document Title", "This is a sample Microsoft Word Document.",
                       "Apache Tika: http://tika.apache.org/", "This is the footer for our document"):
            self.assertTrue(contains(r["content"], phrase), phrase)
        self.assertEqual(r["meta"]["title"], "Sample Word Document")
        self.assertEqual(r["meta"]["author"], "Keith Bennett")

    def test_outlook_msg(self):
        r = one(self, os.path.join(REAL, "tika-testMSG.msg"))
        self.assertEqual(r["format"], "msg")
        self.assertTrue(contains(r["content"], "From: Jukka Zitting <jukka.zitting@gmail.com>"))
        self.assertTrue(contains(r["content"], "Subject: MIME registry use cases"))
        self.assertTrue(contains(r["content"], "making the type detection code more modular"))
        self.assertEqual(r["createdDate"], "2009-01-29")

    def test_eml_attachments(self):
        r = one(self, os.path.join(REAL, "tika-testRFC822_multipart_attachments.eml"))
        self.assertEqual(r["format"], "eml")
        self.assertTrue(contains(r["content"], "This is test email for EML1"))
        self.assertTrue(contains(r["content"], "This is Test TXTA File for parser"))
        self.assertTrue(contains(r["content"], "This is Test TXTB File for parser"))
        self.assertEqual(r["meta"]["embedded"], ["eml", "text", "text"])

    def test_eml_mbox_line_and_png(self):
        r = one(self, os.path.join(REAL, "tika-testEmailWithPNGAtt.eml"))
        self.assertEqual(r["format"], "eml")
        self.assertTrue(contains(r["content"], "This email has a PNG attachment included in it"))
        self.assertNotIn("Received:", r["content"])
        self.assertEqual(r["meta"]["embedded"], ["eml", "image"])
        self.assertEqual(r["createdDate"], "2016-07-20")


class Hostile(TempDirTest):
    def test_truncated_ole2_is_damaged(self):
        with open(os.path.join(REAL, "tika-testWORD.doc"), "rb") as f:
            data = f.read()
        path = self.write("cut.doc", data[:len(data) // 3])
        run = docpipe("run", "raw-files", path)
        self.assertEqual(run.records, [])
        self.assertEqual([e["kind"] for e in run.errors], ["damaged"])

    def test_unreadable_streams_are_said_and_libgsf_keeps_quiet(self):
        """A .msg (found by fuzz_msg) whose directory lists streams libgsf
        cannot read: converted with a warning, not quietly short; and
        libgsf's own complaints do not reach stderr, where error records go."""
        path = os.path.join(SOURCE, "tests", "data", "ole", "damaged-streams.msg")
        # Under the sanitizers: libgsf leaks on this file inside its own error
        # path (tests/lsan.supp names it), which LSan can see only when it
        # unwinds allocations the slow way (libgsf has no frame pointers).
        slow_unwind = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") +
                       ":fast_unwind_on_malloc=0"}
        for isolate in ("none", "all"):
            run = docpipe("--isolate", isolate, "run", "raw-files", path, env=slow_unwind)
            self.assertEqual(run.status, 0)
            self.assertEqual(len(run.records), 1)
            self.assertIn("cannot be read", " ".join(run.records[0]["meta"]["warnings"]))
            self.assertEqual(len(run.other_stderr), 1, run.other_stderr)  # the summary only
        # a sound message has no such warning
        sound = one(self, os.path.join(REAL, "tika-testMSG.msg"))
        self.assertNotIn("warnings", sound.get("meta", {}))


@dptest.needs(shutil.which("soffice"), "LibreOffice (soffice)")
class LibreOfficeMade(TempDirTest):
    def test_xls_and_ppt(self):
        subprocess.run(["python3", os.path.join(SOURCE, "tests", "data", "ole",
                                                "make-samples.py")], cwd=self.tmp, check=True)
        profile = "-env:UserInstallation=file://" + os.path.join(self.tmp, "profile")
        for src, fmt in (("labs.fods", "xls"), ("round.fodp", "ppt")):
            subprocess.run(["soffice", profile, "--headless", "--convert-to", fmt, src],
                           cwd=self.tmp, capture_output=True, timeout=180)
        r = one(self, os.path.join(self.tmp, "labs.xls"))
        self.assertEqual(r["format"], "xls")
        self.assertTrue(contains(r["content"], "Leukocytes | 7 | normal"))
        r = one(self, os.path.join(self.tmp, "round.ppt"))
        self.assertEqual(r["format"], "ppt")
        self.assertTrue(contains(r["content"], "Mention the \u00e9chocardiogram"))


if __name__ == "__main__":
    dptest.main()
