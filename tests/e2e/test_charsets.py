"""Charsets and sniffing on real documents (../shared/corpus/real): each
charset-* file comes out as its UTF-8 original, one stray byte costs one
character, meta.charset says what was used, and the sniff finds formats that
hide behind long prologs, Word's namespaces or a text-looking start.

The expected texts are the files decoded by Python's codecs in the charset
each file was made with (SOURCES.tsv: iconv from the UTF-8 original), so the
test does not depend on docpipe's own detectors."""
import os
import sys
import unicodedata
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import CORPUS, TempDirTest, docpipe, read  # noqa: E402

REAL = os.path.join(CORPUS, "real", "files")


def real(name):
    return os.path.join(REAL, name)


def lines(text):
    """The comparison docpipe's clean-up allows: line ends, trailing blanks
    and runs of empty lines.  NFKC folds the variants codecs disagree on
    (EUC-JP 0x8FA2B7 is U+FF5E FULLWIDTH TILDE to iconv, "~" to Python)."""
    text = unicodedata.normalize("NFKC", text)
    out = [l.rstrip(" \t\u00a0") for l in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    squeezed = []
    for l in out:
        if l or (squeezed and squeezed[-1]):
            squeezed.append(l)
    while squeezed and not squeezed[-1]:
        squeezed.pop()
    return squeezed


# file, the charset it was made in (Python codec), the meta.charset docpipe must name
CHARSET_FILES = [
    ("charset-cz-utf8.txt", "utf-8", {"UTF-8"}),
    ("charset-cz-cp1250.txt", "cp1250", {"WINDOWS-1250"}),
    ("charset-cz-iso8859-2.txt", "iso8859-2", {"ISO-8859-2"}),
    ("charset-cz-utf16le-bom.txt", "utf-16", {"UTF-16LE"}),
    ("charset-cz-utf16le-nobom.txt", "utf-16-le", {"UTF-16LE"}),
    ("charset-cz-utf16be-nobom.txt", "utf-16-be", {"UTF-16BE"}),
    ("charset-ru-utf8.txt", "utf-8", {"UTF-8"}),
    ("charset-ru-cp1251.txt", "cp1251", {"WINDOWS-1251"}),
    ("charset-ru-koi8r.txt", "koi8-r", {"KOI8-R"}),
    ("charset-ru-cp866.txt", "cp866", {"IBM866"}),
    ("charset-ja-shiftjis.txt", "shift_jis", {"CP932"}),
    ("charset-ja-eucjp.txt", "euc-jp", {"EUC-JP"}),
    ("charset-latin1-multilang.txt", "latin-1", {"ISO-8859-1", "WINDOWS-1252"}),
]


class Charsets(TempDirTest):
    def convert(self, path):
        run = docpipe("convert", path)
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(len(run.records), 1)
        return run.records[0]

    def test_each_file_comes_out_as_its_original(self):
        for name, codec, names in CHARSET_FILES:
            with self.subTest(name):
                rec = self.convert(real(name))
                self.assertEqual(rec["format"], "text")
                self.assertIn(rec["meta"]["charset"], names)
                want = read(real(name)).decode(codec).lstrip("\ufeff")
                self.assertEqual(lines(rec["content"]), lines(want))
        # The Czech and Russian versions are the same text in every charset.
        cz = {lines(self.convert(real(n))["content"])[0] for n, _, _ in CHARSET_FILES
              if n.startswith("charset-cz")}
        self.assertEqual(len(cz), 1, cz)

    def test_stray_byte_costs_one_character(self):
        """One Latin-1 byte in UTF-8, or UTF-8 cut inside its last character:
        the document stays UTF-8 with one U+FFFD, the rest intact."""
        for bad, good in (("charset-cz-utf8-one-latin1-byte.txt", "charset-cz-utf8.txt"),
                          ("charset-cz-utf8-cut-mid-char.txt", "charset-cz-utf8.txt"),
                          ("charset-html-utf8-one-latin1-byte.html", "charset-html-utf8.html"),
                          ("charset-hl7-utf8-one-latin1-byte.hl7", "charset-hl7-utf8.hl7")):
            with self.subTest(bad):
                got, ref = self.convert(real(bad)), self.convert(real(good))
                self.assertEqual(got["content"].count("\ufffd"), 1)
                self.assertEqual(got["format"], ref["format"])
                if "charset" in ref.get("meta", {}):
                    self.assertEqual(got["meta"]["charset"], "UTF-8")
                # Python's decoder replaces the same maximal subparts.
                want = read(real(bad)).decode("utf-8", errors="replace")
                if got["format"] == "text":
                    self.assertEqual(lines(got["content"]), lines(want))
                # Every word of the clean version but the damaged one is there.
                missing = set(ref["content"].split()) - set(got["content"].split())
                self.assertLessEqual(len(missing), 1, missing)

    def test_declarations(self):
        """HTML <meta charset> is used (Word's Arabic page), and bytes that
        are UTF-8 overrule a declaration that says otherwise."""
        rec = self.convert(real("tika-testHTMLNoisyMetaEncoding_1.html"))
        self.assertEqual(rec["format"], "html")
        self.assertEqual(rec["meta"]["charset"], "ISO-8859-6")
        self.assertIn("الاتحاد الجزائري", rec["content"])
        self.assertNotIn("<html", rec["content"])
        page = self.write("mislabelled.html",
                          '<meta charset="iso-8859-2"><p>Größe 5 µg, Übelkeit</p>'.encode())
        rec = self.convert(page)
        self.assertEqual(rec["meta"]["charset"], "UTF-8")
        self.assertIn("Größe 5 µg, Übelkeit", rec["content"])
        # A page labelled UTF-8 that is Windows-1252 throughout is detected.
        page = self.write("cp1252.html", '<meta charset="utf-8"><p>“Café” – €5, naïve, très</p>'
                          .encode("cp1252"))
        self.assertIn("“Café” – €5, naïve, très", self.convert(page)["content"])

    def test_more_legacy_and_wide_forms(self):
        """Variants made here with Python's codecs from the corpus texts and
        two short notes written for this test (Greek, Simplified Chinese)."""
        ru = read(real("charset-ru-utf8.txt")).decode()
        cz = read(real("charset-cz-utf8.txt")).decode()
        el = ("Ο ασθενής προσήλθε στο νοσοκομείο με πόνο στο στήθος και δύσπνοια. "
              "Η αρτηριακή πίεση ήταν φυσιολογική. Συνιστάται επανέλεγχος σε δύο εβδομάδες.\n") * 2
        zh = "患者因胸痛和呼吸困难入院。血压正常。建议两周后复查。心电图未见急性改变。\n" * 2
        cases = [(ru, "iso8859-5", "ISO-8859-5"), (el, "iso8859-7", "ISO-8859-7"),
                 (zh, "gb18030", "GB18030"), (ru, "utf-16-be", "UTF-16BE"),
                 (zh, "utf-16-le", "UTF-16LE"), (zh, "utf-16-be", "UTF-16BE"),
                 (zh, "utf-32-le", "UTF-32LE"), (cz, "utf-32-be", "UTF-32BE")]
        for text, codec, name in cases:
            with self.subTest(codec=codec, text=text[:10]):
                rec = self.convert(self.write("v-%s.txt" % codec, text.encode(codec)))
                self.assertEqual(rec["meta"]["charset"], name)
                self.assertEqual(lines(rec["content"]), lines(text))

    def test_html_and_text_without_declaration(self):
        """Legacy charsets are detected for every text-like format."""
        ru = read(real("charset-ru-utf8.txt")).decode()
        page = self.write("ru.html", ("<html><body><p>" + ru + "</p></body></html>").encode("koi8-r"))
        rec = self.convert(page)
        self.assertEqual(rec["meta"]["charset"], "KOI8-R")
        self.assertIn(ru.split()[0], rec["content"])


class Sniff(TempDirTest):
    def test_root_after_a_long_comment(self):
        run = docpipe("convert", real("crafted-ccd-long-comment-header.xml"))
        self.assertEqual(run.status, 0, run.stderr)
        rec = run.records[0]
        self.assertEqual(rec["format"], "cda")
        self.assertIn("ADVANCE DIRECTIVES", rec["content"])
        self.assertNotIn("<ClinicalDocument", rec["content"])

    def test_binary_with_a_text_start_is_not_text(self):
        """A FITS-like file: 2880-byte ASCII header blocks, then binary data.
        It is unsupported (an error record), never a page of mojibake."""
        header = b"".join(("%-80s" % c).encode() for c in
                          ["SIMPLE  =                    T", "BITPIX  =                  -32",
                           "NAXIS   =                    2", "END"])
        header = header.ljust(2880 * 2, b" ")
        data = bytes((i * 7919 + (i >> 3) * 31) & 0xFF for i in range(200000))
        path = self.write("image.fits", header + data)
        run = docpipe("convert", path)
        self.assertEqual(run.status, 1)
        self.assertEqual(run.records, [])
        self.assertEqual([e["kind"] for e in run.errors], ["unsupported"])


if __name__ == "__main__":
    dptest.main()
