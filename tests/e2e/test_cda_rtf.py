"""Issue 9, points 6 and 7, on the real corpus files that showed them: CDA
nonXMLBody compression and TXT markup, the first libxml2 error, and RTF as
LibreOffice reads it.

The RTF facts were derived from LibreOffice 7.4's text export of the same
files (soffice --headless --convert-to txt:Text): LibreOffice is too heavy
to require here, so what it gives is written down instead.  The PDF phrases
are pdftotext's reading of the PDF inside the compressed nonXMLBody."""
import os
import sys
import unittest
import zlib

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import SHARED, TempDirTest, b64, contains, docpipe  # noqa: E402

REAL = os.path.join(SHARED, "corpus", "real", "files")


def real(name):
    return os.path.join(REAL, name)


def one_record(test, path, *args):
    run = docpipe(*args, "convert", path)
    test.assertEqual(run.status, 0, run.stderr)
    test.assertEqual(len(run.records), 1)
    test.assertEqual(run.errors, [])
    return run.records[0]


def one_error(test, path, *args):
    run = docpipe(*args, "convert", path)
    test.assertEqual(run.status, 1, run.stderr)
    test.assertEqual(run.records, [])
    test.assertEqual(len(run.errors), 1)
    return run.errors[0]


def has_pdf():
    return any(l.split()[:1] == ["pdf"] for l in docpipe("stages").stdout.decode().splitlines())


class CdaNonXmlBody(TempDirTest):
    PDF_PHRASES = [
        "Community Health Hospital",
        "Patient Name: Levin, Henry L.",
        "Acute cerebrovascular accident/left basal ganglia and deep white matter of the left",
        "DISCHARGE DIAGNOSES:",
        "4. Hypercholesterolemia.",
    ]

    @dptest.needs(has_pdf(), "poppler (docpipe was built without it)")
    def test_compressed_pdf_bodies(self):
        contents = []
        for how in ("DF", "GZ", "ZL"):
            rec = one_record(self, real("crafted-cda-nonxml-pdf-compression-%s.xml" % how))
            self.assertEqual(rec["format"], "cda", how)
            self.assertEqual(rec["meta"]["embedded"], ["cda", "pdf"], how)
            self.assertEqual(rec["meta"]["charset"], "UTF-8", how)
            for phrase in self.PDF_PHRASES:
                self.assertTrue(contains(rec["content"], phrase), "%s: missing %r" % (how, phrase))
            contents.append(rec["content"])
        self.assertEqual(contents[0], contents[1])
        self.assertEqual(contents[0], contents[2])

    def test_deflate_bomb_is_too_large(self):
        # 8 MiB of zero bytes deflate to about 8 KiB; the cap is 1 MiB.
        body = b64(zlib.compress(bytes(8 << 20), 9))
        doc = ("<ClinicalDocument xmlns='urn:hl7-org:v3'><title>Bomb</title><component>"
               "<nonXMLBody><text representation='B64' compression='ZL'>%s</text>"
               "</nonXMLBody></component></ClinicalDocument>" % body)
        path = self.write("bomb.xml", doc)
        err = one_error(self, path, "--max-bytes", "1M")
        self.assertEqual(err["kind"], "too-large")
        self.assertIn("inflates to more than 1048576 bytes", err["message"])
        self.assertEqual(err["id"], path)

    def test_unknown_compression_is_named(self):
        doc = ("<ClinicalDocument xmlns='urn:hl7-org:v3'><component><nonXMLBody>"
               "<text representation='B64' compression='Z7'>%s</text></nonXMLBody>"
               "</component></ClinicalDocument>" % b64(b"whatever"))
        err = one_error(self, self.write("z7.xml", doc))
        self.assertEqual(err["kind"], "unsupported")
        self.assertIn("compression Z7", err["message"])

    def test_rtf_txt_body_through_the_rtf_extractor(self):
        rec = one_record(self, real("crafted-cda-nonxml-rtf-as-TXT.xml"))
        c = rec["content"]
        self.assertEqual(rec["meta"]["embedded"], ["cda", "rtf"])
        for markup in ("{\\rtf", "\\par", "\\fonttbl", "Arial;"):
            self.assertNotIn(markup, c)
        for phrase in ("LOCAL TITLE: SURGICAL CONSULT",
                       "CC: Chronic cervical pain, stable symptomatology.",
                       "Electronically signed by Mostafa BALIMOOD 04/20/2020 17:07"):
            self.assertTrue(contains(c, phrase), phrase)

    def test_html_txt_body_through_the_html_extractor(self):
        rec = one_record(self, real("crafted-cda-nonxml-html-as-TXT.xml"))
        c = rec["content"]
        self.assertEqual(rec["meta"]["embedded"], ["cda", "html"])
        for markup in ("<html", "<br", "<p>", "&lt;"):
            self.assertNotIn(markup, c)
        for phrase in ("Surgical consult", "LOCAL TITLE: SURGICAL CONSULT",
                       "Electronically signed by Mostafa BALIMOOD 04/20/2020 17:07"):
            self.assertTrue(contains(c, phrase), phrase)


class FirstXmlError(TempDirTest):
    def test_comment_error_named_with_its_line(self):
        # A comment left open at line 172: the next "<!--", line 173, puts
        # "--" inside it.  libxml2 reports namespace errors after it (the
        # last one at line 236), which the message used to name.  The file
        # stays damaged: xmllint --recover reads it, but it is not XML.
        err = one_error(self, real("ccda-implant-udi-organizer-bad-comment.xml"))
        self.assertEqual(err["kind"], "damaged")
        self.assertIn("line 173", err["message"])
        self.assertIn("Double hyphen within comment", err["message"])
        self.assertNotIn("Namespace", err["message"])
        self.assertNotIn("distinct identification", err["message"])  # the comment's words


class RtfAsLibreOffice(TempDirTest):
    def words(self, name):
        rec = one_record(self, real(name))
        self.assertEqual(rec["format"], "rtf")
        self.assertEqual(rec["meta"]["charset"], "WINDOWS-1252")
        return rec["content"]

    def test_star_in_the_middle_of_a_group(self):
        c = self.words("tika-testRTFIgnoredControlWord.rtf")
        self.assertEqual(c.split(), "The quick brown fox jumps over the lazy dog".split())

    def test_list_labels_and_words_after_dbcs_bullets(self):
        # LibreOffice: "1. one" ... "3. three", then "• first" "• second" "• third".
        c = self.words("tika-testRTFListLibreOffice.rtf")
        self.assertEqual(c.split(), ("A short ordered list: 1. one 2. two 3. three "
                                     "A short unordered list: \u2022 first \u2022 second "
                                     "\u2022 third").split())

    def test_dbcs_lead_byte_before_tab(self):
        # LibreOffice: U+FFFD, a tab, "first", then "second".
        c = self.words("crafted-rtf-dbcs-bullet.rtf")
        self.assertEqual(c, "\ufffd\tfirst\nsecond")


if __name__ == "__main__":
    dptest.main()
