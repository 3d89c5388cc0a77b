"""PDF text as `pdftotext FILE -` gives it, on the real PDFs of the shared
corpus: words apart where pdftotext puts them apart, form values and notes,
text outside the crop box, files with junk around them read, cut-off files
damaged, and word recall against pdftotext of at least 0.9 for every corpus
PDF (the exceptions, where pdftotext prints what is not the document's
content, are the ones README.md "Fidelity" explains)."""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import CORPUS, SOURCE, TempDirTest, docpipe, read  # noqa: E402

REAL = os.path.join(CORPUS, "real", "files")
FIDELITY = os.path.join(SOURCE, "bench", "fidelity")
# README.md, "Fidelity": recall below 0.9 because pdftotext prints a form's
# appearance rather than its values.  Each keeps a floor, and its values.
EXCEPTIONS = {
    # every option of a list box and the push-button captions; the value is Item1
    "pdfjs-listbox_actions.pdf": 0.1,
    # a comb field's value drawn one letter per cell, which pdftotext splits
    "pdfjs-annotation-text-widget.pdf": 0.8,
}


def content(path):
    run = docpipe("convert", path)
    assert run.status == 0 and len(run.records) == 1, (path, run.errors)
    assert run.records[0]["format"] == "pdf", path
    return run.records[0]["content"]


def tokens(text):
    return text.split()


class PdfText(TempDirTest):
    def setUp(self):
        super().setUp()
        self.assertTrue(shutil.which("pdftotext"),
                        "pdftotext (poppler-utils) is needed: scripts/build test installs it")

    def test_words_of_a_line_apart(self):
        t = content(os.path.join(REAL, "pdfjs-bigboundingbox.pdf"))
        self.assertNotIn("Subtotal250.00", t)
        self.assertRegex(t, r"Subtotal\s+250\.00")
        self.assertRegex(t, r"TOTAL USD\s+273\.13")
        t = content(os.path.join(REAL, "ccda-lab-result-164947.pdf"))
        self.assertNotIn("F56/07/3001/01/60", t)
        for w in ("56/07/30", "01/01/60", "90000999", "336\u2212436\u22128645"):
            self.assertIn(w, tokens(t))
        t = content(os.path.join(REAL, "pdfjs-blendmode.pdf"))
        self.assertNotIn("NormalHardLight", t)
        self.assertIn("HardLight", tokens(t))
        t = content(os.path.join(REAL, "pdfjs-canvas.pdf"))
        self.assertNotIn("elementCompositing", t)
        self.assertIn("Compositing", tokens(t))

    def test_form_values_and_notes(self):
        t = content(os.path.join(REAL, "tika-testPDF_acroform3.pdf"))
        for w in ("TIKA-1226", "comboItemB", "listItemC", "\u2714"):
            self.assertIn(w, tokens(t))
        self.assertRegex(t, r"contains a form with a signature field\.\s+TIKA-1226")
        t = content(os.path.join(REAL, "pdfjs-annotation-text-widget.pdf"))
        self.assertRegex(t, r"Single line, length 10\s+Lorem ipsu\s")
        self.assertIn("Morbi id porttitor quam, a iaculis dui.\nPellentesque", t)
        self.assertEqual(t.count("Lorem ipsum dolor sit amet"), 4)
        t = content(os.path.join(REAL, "pdfjs-freetexts.pdf"))
        for who in ("Acrobat", "Firefox", "Preview", "Edge without Acrobat", "Foxit", "Okular"):
            self.assertRegex(t, r"Hello World [Ff]rom " + who)
        self.assertEqual(tokens(content(os.path.join(REAL, "pdfjs-listbox_actions.pdf"))),
                         ["Item1"])

    def test_text_outside_the_crop_box(self):
        t = content(os.path.join(REAL, "pdfjs-issue16316.pdf"))
        self.assertGreater(len(tokens(t)), 700)
        self.assertIn("Trace-based Just-in-Time Type Specialization for Dynamic", t)

    def test_junk_around_a_pdf(self):
        for name in ("crafted-pdf-padded-2k-nul.pdf", "pdfjs-scan-bad.pdf", "pdfjs-issue6069.pdf",
                     "tika-Test4.pdf.tsd"):
            path = os.path.join(REAL, name)
            ref = subprocess.run(["pdftotext", "-q", path, "-"], capture_output=True).stdout
            want = tokens(ref.decode())
            self.assertTrue(want, name)
            got = tokens(content(path))
            for w in want:
                self.assertIn(w, got, name)

    def test_cut_off_files_are_damaged(self):
        run = docpipe("convert", os.path.join(CORPUS, "bad", "files", "21900101.pdf"))
        self.assertEqual(run.status, 1)
        self.assertEqual([(e["kind"], "truncated" in e["message"]) for e in run.errors],
                         [("damaged", True)])
        # Cuts of multi-page PDFs; poppler opens several of them, rebuilt,
        # with pages missing.
        cuts = []
        for name in (os.path.join(CORPUS, "files", "21000101.pdf"),
                     os.path.join(REAL, "pdfjs-TAMReview.pdf"),
                     os.path.join(REAL, "ccda-lab-result-164947.pdf")):
            data = read(name)
            for pct in (5, 25, 50, 75, 90, 95, 99):
                cuts.append(self.write("cut-%s-%d.pdf" % (os.path.basename(name), pct),
                                       data[:len(data) * pct // 100]))
        run = docpipe("convert", self.tmp)
        self.assertEqual(run.records, [])
        self.assertEqual(len(run.errors), len(cuts))
        self.assertEqual({e["kind"] for e in run.errors}, {"damaged"})
        # The same files with bytes after their end convert, whole (30 KB of
        # NULs put startxref beyond where poppler looks: pdftotext fails there).
        whole = content(os.path.join(CORPUS, "files", "21000101.pdf"))
        data = read(os.path.join(CORPUS, "files", "21000101.pdf"))
        for i, tail in enumerate((b"\0" * 30000, b"\r\n" + os.urandom(5000))):
            self.assertEqual(content(self.write("padded-%d.pdf" % i, data + tail)), whole)

    def test_unmapped_glyphs_are_told(self):
        """A font without a Unicode map gives poppler glyphs it turns into
        control characters (pdftotext prints them): the pages read as nothing,
        and the record says which, instead of passing as text."""
        path = os.path.join(REAL, "pdfjs-TAMReview.pdf")
        run = docpipe("convert", path)
        self.assertEqual(run.status, 0)
        warnings = run.records[0]["meta"].get("warnings", [])
        self.assertIn("garbled text: 19 pages from page 2 on use fonts that map most glyphs to "
                      "no character (--ocr always reads them from the page image)", warnings)
        # Pages with a font that maps: no warning.
        for name in ("ccda-lab-result-164947.pdf", "pdfjs-canvas.pdf"):
            run = docpipe("convert", os.path.join(REAL, name))
            self.assertFalse([w for w in run.records[0]["meta"].get("warnings", [])
                              if w.startswith("garbled")], name)

    def test_recall_against_pdftotext(self):
        out = os.path.join(self.tmp, "fidelity.json")
        proc = subprocess.run([sys.executable, FIDELITY, "--format", "pdf", "--json", out,
                               os.path.join(CORPUS, "files"), os.path.join(CORPUS, "bad", "files"),
                               REAL], capture_output=True, text=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        with open(out) as f:
            rows = json.load(f)
        compared = [r for r in rows if r.get("recall") is not None]
        self.assertGreaterEqual(len(compared), 15)
        for r in compared:
            name = os.path.basename(r["file"])
            floor = EXCEPTIONS.get(name, 0.9)
            self.assertGreaterEqual(r["recall"], floor, "%s: recall %.3f" % (name, r["recall"]))
        # Every corpus PDF pdftotext reads is compared, none refused.
        self.assertEqual([r["file"] for r in rows if "error" in r], [])
        for name in EXCEPTIONS:
            self.assertIn(name, {os.path.basename(r["file"]) for r in compared})


if __name__ == "__main__":
    dptest.main()
