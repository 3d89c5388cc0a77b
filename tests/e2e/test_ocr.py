"""Scanned documents are read by OCR: pages of real PDFs rendered by poppler and
degraded as scanners and fax machines degrade them (tests/e2e/scans.py) come
back as text, as the tesseract program reads the same image (word recall within
0.02 of its); a mixed PDF keeps its typed pages and page order; every page of a
multi-page TIFF; --ocr never; a decompression bomb; a missing language."""
import hashlib
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import scans  # noqa: E402
import dptest  # noqa: E402
from dptest import (CORPUS, DOCPIPE, SOURCE, TempDirTest, children, contains,  # noqa: E402
                    docpipe)

# Real pages: a GNU manual's title page and a discharge summary (whose
# medication list is text the page does not show: no scan holds it).
PAGES = [(os.path.join(CORPUS, "files", "21000101.pdf"), 2),
         (os.path.join(SOURCE, "samples", "files", "discharge-summary.pdf"), 1)]
ONE_CORE = dict(os.environ, OMP_THREAD_LIMIT="1")


def reference(pdf, page):
    return subprocess.run(["pdftotext", "-f", str(page), "-l", str(page), pdf, "-"],
                          capture_output=True, check=True, text=True).stdout


def cli(image):
    return subprocess.run(["tesseract", image, "-"], capture_output=True, env=ONE_CORE,
                          text=True).stdout


def one(run):
    assert run.status == 0 and len(run.records) == 1, (run.status, run.errors, run.other_stderr)
    return run.records[0]


class Scans(TempDirTest):
    def setUp(self):
        super().setUp()
        for tool in ("pdftoppm", "pdftotext", "ppm2tiff", "tiffcp", "tesseract"):
            self.assertTrue(shutil.which(tool), tool + " is needed: scripts/build test installs it")

    def degraded(self):
        """{name: [(file, reference text)]} of the real pages, scanned 5 ways."""
        out = {k: [] for k in ("clean", "noise", "fax", "jpeg75", "skew")}
        for i, (pdf, page) in enumerate(PAGES):
            ref = reference(pdf, page)
            w, h, px = scans.parse_pgm(scans.render(pdf, page, 300))
            for name, data in (("clean", scans.pgm(w, h, px)),
                               ("noise", scans.pgm(w, h, scans.noisy(px)))):
                f = os.path.join(self.tmp, "%s-%d.tif" % (name, i))
                scans.tiff(f, [data], "lzw")
                out[name].append((f, ref))
            fw, fh, fpx = scans.parse_pgm(scans.render(pdf, page, 200))
            f = os.path.join(self.tmp, "fax-%d.tif" % i)
            scans.tiff(f, [scans.bilevel(fw, fh, fpx)], "g4")
            out["fax"].append((f, ref))
            out["jpeg75"].append((self.write("jpeg75-%d.jpg" % i,
                                             scans.render(pdf, page, 300, "jpeg75")), ref))
            out["skew"].append((self.write("skew-%d.pdf" % i,
                                           scans.image_pdf([(w, h, px, 300)], skew=1.5)), ref))
        return out

    def test_degraded_scans_as_the_cli_reads_them(self):
        for name, items in self.degraded().items():
            files = [f for f, _ in items]
            run = docpipe("-j", "2", "convert", *files)
            self.assertEqual(run.status, 0, (name, run.errors))
            by_file = {r["source"]["file"]: r for r in run.records}
            for f, ref in items:
                r = by_file[f]
                self.assertEqual(r["format"], "pdf" if f.endswith(".pdf") else "image")
                self.assertEqual(r["meta"]["ocr"]["pages"], [1], (name, f))
                self.assertEqual(r["meta"]["ocr"]["language"], "eng")
                ours = scans.recall(ref, r["content"])
                if f.endswith(".pdf"):  # the CLI reads what pdftoppm makes of the page
                    img = self.write(os.path.basename(f) + ".pgm", scans.render(f, 1, 300))
                    theirs = scans.recall(ref, cli(img))
                else:
                    theirs = scans.recall(ref, cli(f))
                self.assertGreaterEqual(ours, theirs - 0.02, (name, f, ours, theirs))
                self.assertGreaterEqual(ours, 0.75, (name, f))

    def test_known_phrases_of_a_clean_scan(self):
        pdf, page = PAGES[1]
        w, h, px = scans.parse_pgm(scans.render(pdf, page, 300))
        f = os.path.join(self.tmp, "scan.tif")
        scans.tiff(f, [scans.pgm(w, h, px)], "lzw")
        t = one(docpipe("convert", f))["content"]
        for phrase in ("Riverside Community Hospital - Discharge Summary",
                       "Diagnosis: Community-acquired pneumonia, right lower lobe.",
                       "Condition at discharge: stable, afebrile for 48 hours."):
            self.assertTrue(contains(t, phrase), phrase)

    def test_mixed_pdf_keeps_typed_pages_and_order(self):
        pdf, page = PAGES[1]
        w, h, px = scans.parse_pgm(scans.render(pdf, page, 300))
        f = self.write("mixed.pdf", scans.image_pdf(
            [["Typed first page, alpha"], (w, h, px, 300), ["Typed third page, omega"]]))
        r = one(docpipe("convert", f))
        t = r["content"]
        self.assertEqual(r["meta"]["ocr"]["pages"], [2])
        self.assertEqual(r["meta"]["pages"], 3)
        a, scan, o = (t.find("Typed first page, alpha"), t.find("Discharge Summary"),
                      t.find("Typed third page, omega"))
        self.assertTrue(0 <= a < scan < o, t[:300])
        # --ocr always reads the typed pages too; --ocr never reads no scan
        r = one(docpipe("--ocr", "always", "convert", f))
        self.assertEqual(r["meta"]["ocr"]["pages"], [1, 2, 3])
        r = one(docpipe("--ocr", "never", "convert", f))
        self.assertNotIn("ocr", r["meta"])
        self.assertNotIn("Discharge Summary", r["content"])
        self.assertIn("Typed third page, omega", r["content"])

    def fax(self):
        """The real pages as a two-page 200 dpi G4 fax TIFF."""
        pages = []
        for pdf, page in PAGES:
            w, h, px = scans.parse_pgm(scans.render(pdf, page, 200))
            pages.append(scans.bilevel(w, h, px))
        f = os.path.join(self.tmp, "fax.tif")
        scans.tiff(f, pages, "g4")
        return f

    def test_multipage_fax_tiff(self):
        f = self.fax()
        r = one(docpipe("convert", f))
        self.assertEqual(r["meta"]["ocr"]["pages"], [1, 2])
        self.assertEqual(r["meta"]["imageType"], "image/tiff")
        t = r["content"]
        self.assertLess(t.find("Libtasn1"), t.find("Discharge Summary"))
        self.assertIn("\n\n", t[t.find("Libtasn1"):t.find("Discharge Summary")])
        # --max-pages bounds the pages OCRed: a longer fax is too-large
        run = docpipe("--max-pages", "1", "convert", f)
        self.assertEqual(run.status, 1)
        self.assertEqual(run.errors[0]["kind"], "too-large")

    def test_ocr_never_and_no_text(self):
        f = os.path.join(SOURCE, "tests", "data", "image", "discharge-scan.png")
        r = one(docpipe("--ocr", "never", "convert", f))
        self.assertEqual(r["content"], "")
        self.assertEqual(r["meta"]["ocr"], {"skipped": "--ocr never"})
        # a scan with no text at all is not quietly converted: a warning, counted
        blank = self.write("blank.pdf", scans.image_pdf([(200, 200, bytes([255]) * 40000, 100)]))
        run = docpipe("convert", blank)
        r = one(run)
        self.assertEqual(r["content"], "")
        self.assertTrue(r["meta"]["warnings"])
        self.assertIn("1 without text", run.stderr.decode())

    def test_bomb_is_too_large_before_decoding(self):
        f = os.path.join(SOURCE, "tests", "data", "image", "bomb.png")
        run = docpipe("convert", f)
        self.assertEqual(run.status, 1)
        self.assertEqual(len(run.records), 0)
        self.assertEqual(run.errors[0]["kind"], "too-large")
        self.assertIn("megapixels", run.errors[0]["message"])

    def test_missing_language_is_a_usage_error(self):
        f = os.path.join(SOURCE, "tests", "data", "image", "discharge-scan.png")
        run = docpipe("--ocr-lang", "eng+xyz", "convert", f, f)
        self.assertEqual(run.status, 2)
        self.assertEqual(run.records, [])
        self.assertEqual(run.errors, [])  # one usage line, not an error per document
        msg = "\n".join(run.other_stderr)
        self.assertIn("xyz", msg)
        self.assertEqual(len(run.other_stderr), 1, msg)
        # --ocr never needs no language data
        self.assertEqual(docpipe("--ocr", "never", "--ocr-lang", "xyz", "convert", f).status, 0)

    def test_bad_ocr_options_are_usage_errors(self):
        f = os.path.join(SOURCE, "tests", "data", "image", "discharge-scan.png")
        for args in (["--ocr", "sometimes"], ["--ocr-dpi", "20"], ["--ocr-dpi", "x"],
                     ["--ocr-lang", "eng/../x"]):
            run = docpipe(*args, "convert", f)
            self.assertEqual((run.status, run.records, run.errors), (2, [], []), args)
            self.assertIn(args[0], run.other_stderr[0])
        # the variables and a config file take them as the command line does
        run = docpipe("convert", f, env={"DOCPIPE_OCR": "never"})
        self.assertEqual(one(run)["meta"]["ocr"], {"skipped": "--ocr never"})
        conf = self.write("docpipe.conf", b"ocr-lang = eng\nocr = never\n")
        self.assertEqual(one(docpipe("--config", conf, "convert", f))["meta"]["ocr"],
                         {"skipped": "--ocr never"})

    def test_ocr_dpi_renders_pdf_pages_at_that_resolution(self):
        pdf, page = PAGES[1]
        w, h, px = scans.parse_pgm(scans.render(pdf, page, 300))
        f = self.write("scan.pdf", scans.image_pdf([(w, h, px, 300)]))
        low = one(docpipe("--ocr-dpi", "100", "convert", f))["content"]
        high = one(docpipe("convert", f))["content"]
        self.assertTrue(contains(high, "Riverside Community Hospital"), high[:200])
        self.assertNotEqual(low, high)  # 100 dpi reads worse: the option reached the renderer

    def ocr_environments(self, args, env, hang=False):
        """OMP_THREAD_LIMIT of docpipe and of its helpers, read from /proc while
        they work; hang: the helper holds its document (a test hook of
        src/isoworker.c) until --max-time, so that it is there to be seen."""
        e = {k: v for k, v in os.environ.items() if k != "OMP_THREAD_LIMIT"}
        e.update(env)
        if hang:
            f = os.path.join(SOURCE, "tests", "data", "image", "discharge-scan.png")
            with open(f, "rb") as fh:
                e["DOCPIPE_TEST_HANG_SHA256"] = hashlib.sha256(fh.read()).hexdigest()
            args = ["--max-time", "5", *args]
        else:  # a two-page fax, OCRed in this process: a second or more
            f = self.fax()
        proc = subprocess.Popen([DOCPIPE, "-j", "1", *args, "convert", f],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=e)
        seen = {}
        while proc.poll() is None and not (hang and "helper" in seen):
            for pid in [proc.pid] + children(proc.pid):
                try:
                    with open("/proc/%d/environ" % pid, "rb") as fh:
                        env_of = dict(v.split(b"=", 1) for v in fh.read().split(b"\0") if b"=" in v)
                    with open("/proc/%d/cmdline" % pid, "rb") as fh:
                        role = "helper" if b"__extract-worker" in fh.read() else "main"
                except OSError:
                    continue
                value = env_of.get(b"OMP_THREAD_LIMIT")
                if value or role not in seen:
                    seen[role] = value
        err = proc.communicate(timeout=120)[1]
        # the hung document times out; the fax converts
        self.assertEqual(proc.returncode, 1 if hang else 0, err)
        return seen

    def test_tesseract_threads_are_capped_where_ocr_runs(self):
        # -j N means N busy cores: the helpers that OCR get one OpenMP thread each
        self.assertEqual(self.ocr_environments([], {}, hang=True).get("helper"), b"1")
        # in-process OCR starts docpipe again with the cap (OpenMP reads it at start)
        self.assertEqual(self.ocr_environments(["--isolate", "none"], {}).get("main"), b"1")
        # the user's own value is kept
        seen = self.ocr_environments([], {"OMP_THREAD_LIMIT": "2"}, hang=True)
        self.assertEqual(seen.get("helper"), b"2")

    def test_isolated_and_in_process_agree(self):
        f = os.path.join(SOURCE, "tests", "data", "image", "discharge-scan.png")
        a = one(docpipe("--isolate", "all", "convert", f))
        b = one(docpipe("--isolate", "none", "convert", f))
        self.assertEqual(a["content"], b["content"])
        self.assertEqual(a["meta"], b["meta"])


if __name__ == "__main__":
    dptest.main()
