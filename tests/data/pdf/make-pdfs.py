#!/usr/bin/env python3
"""tests/data/pdf/make-pdfs.py - write the small PDFs of tests/test_pdf.c.

Each one is written object by object here (Python 3 standard library), so
what it holds is exactly what its test needs; run it from anywhere to make
them again (the output is the same every time):

  table-rows.pdf     three rows of two cells (Subtotal / 250.00 ...): poppler
                     finds a table, and glib's selection text glues each row
  crop-page.pdf      a page whose /CropBox leaves out half of its text
  crop-inherited.pdf the same crop box set on the Pages node; page 2 sets
                     its own, as large as its media box
  crop-objstm.pdf    crop-page.pdf with its objects in an object stream and
                     a cross-reference stream (Flate, PNG predictor)
  crop-twice.pdf     crop-page.pdf plus an incremental update that crops the
                     page again (the newest definition must be the one read)
  form-fields.pdf    an AcroForm with text, multi-line, password, hidden,
                     check box, combo and list box fields, a value also drawn
                     on the page, a FreeText and a Text (sticky-note) note
  missing-page.pdf   two pages in the tree, the second one's object missing
  rtl-words.pdf      three lines of Hebrew words (Helvetica with /Differences
                     to the afii575xx glyph names), drawn right to left; glib's
                     glyph-style selection returns none of them
"""
import os
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def text_ops(items, size=11):
    """Content stream showing each (x, y, text) in Helvetica."""
    out = []
    for x, y, s in items:
        s = s.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        out.append("BT /F1 %d Tf %g %g Td (%s) Tj ET" % (size, x, y, s))
    return "\n".join(out).encode("latin-1")


def stream(data, extra=b""):
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def classic(objects, root=1, header=b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"):
    """A file with a classic xref table; objects: {num: bytes}."""
    out = bytearray(header)
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    size = max(objects) + 1
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        out += (b"%010d 00000 n \n" % offsets[num]) if num in offsets else b"0000000000 00000 f \n"
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, root, xref)
    return bytes(out)


def update(base, objects, root=1):
    """base plus an incremental update redefining objects."""
    prev = int(base.rsplit(b"startxref", 1)[1].split()[0])
    out = bytearray(base)
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(out)
        out += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n"
    for num in sorted(objects):
        out += b"%d 1\n%010d 00000 n \n" % (num, offsets[num])
    size = max(objects) + 1
    out += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size, root, prev, xref)
    return bytes(out)


def png_up(rows, width):
    """PNG 'Up' predictor (type 2) over rows of `width` bytes."""
    out, prev = bytearray(), bytes(width)
    for r in rows:
        out.append(2)
        out += bytes((r[i] - prev[i]) & 0xFF for i in range(width))
        prev = r
    return bytes(out)


def compressed(objects, packed, root=1):
    """Objects in `packed` go into one object stream; a Flate xref stream
    with a PNG predictor indexes everything."""
    out = bytearray(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n")
    stm_num = max(objects) + 1
    xref_num = stm_num + 1
    head, body = [], bytearray()
    for num in packed:
        head.append(b"%d %d" % (num, len(body)))
        body += objects[num] + b"\n"
    head = b" ".join(head) + b"\n"
    entries = {}
    plain = {n: o for n, o in objects.items() if n not in packed}
    plain[stm_num] = stream(zlib.compress(head + body), b"/Type /ObjStm /N %d /First %d "
                            b"/Filter /FlateDecode " % (len(packed), len(head)))
    for num in sorted(plain):
        entries[num] = (1, len(out), 0)
        out += b"%d 0 obj\n" % num + plain[num] + b"\nendobj\n"
    for i, num in enumerate(packed):
        entries[num] = (2, stm_num, i)
    xref_at = len(out)
    entries[xref_num] = (1, xref_at, 0)
    size = xref_num + 1
    rows = [bytes([0, 0, 0, 0, 0xFF])]
    for num in range(1, size):
        t, f2, f3 = entries.get(num, (0, 0, 0))
        rows.append(bytes([t]) + f2.to_bytes(3, "big") + bytes([f3]))
    data = zlib.compress(png_up(rows, 5))
    out += b"%d 0 obj\n" % xref_num + stream(
        data, b"/Type /XRef /Size %d /W [1 3 1] /Root %d 0 R /Filter /FlateDecode "
        b"/DecodeParms << /Predictor 12 /Columns 5 >> " % (size, root)) + b"\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return bytes(out)


def table_rows():
    rows = [("Subtotal", "250.00"), ("Sales tax 9.25%", "23.13"), ("Total USD", "273.13")]
    items = []
    for i, (label, amount) in enumerate(rows):
        items += [(72, 700 - 20 * i, label), (400, 700 - 20 * i, amount)]
    content = text_ops(items)
    return classic({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
           b"/Resources << /Font << /F1 5 0 R >> >> >>",
        4: stream(content),
        5: FONT,
    })


CROP_TEXT = [(20, 50, "Inside the crop box"), (300, 500, "Outside the crop box, kept by pdftotext")]


def crop_objects(page_crop=b"/CropBox [0 0 200 100] ", pages_crop=b""):
    return {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 " + pages_crop + b">>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] " + page_crop +
           b"/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        4: stream(text_ops(CROP_TEXT)),
        5: FONT,
    }


def crop_inherited():
    objs = crop_objects(page_crop=b"", pages_crop=b"/CropBox [0 0 200 100] ")
    objs[2] = b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 /CropBox [0 0 200 100] >>"
    objs[6] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /CropBox [0 0 612 792] "
               b"/Contents 7 0 R /Resources << /Font << /F1 5 0 R >> >> >>")
    objs[7] = stream(text_ops([(300, 500, "Page two is not cropped")]))
    return classic(objs)


def crop_twice():
    base = classic(crop_objects(page_crop=b""))
    again = crop_objects()[3].replace(b"/CropBox [0 0 200 100]", b"/CropBox [10 10 210 110]")
    return update(base, {3: again})


def form_fields():
    page_text = [(72, 700, "Patient name:"), (72, 660, "Notes:"), (72, 560, "Password:"),
                 (72, 530, "Hidden:"), (100, 500, "Diabetes"), (100, 480, "Asthma"),
                 (72, 440, "Smoking status:"), (72, 400, "Allergies:"),
                 (72, 330, "Record number:"), (200, 330, "MRN-0042")]
    content = text_ops(page_text)
    ap = b"/AP << /N << /Yes 30 0 R /Off 31 0 R >> >> "
    widget = b"/Type /Annot /Subtype /Widget /P 3 0 R "
    objs = {
        1: b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [10 0 R 11 0 R 12 0 R 13 0 R "
           b"14 0 R 15 0 R 16 0 R 17 0 R 18 0 R] /DA (/Helv 0 Tf 0 g) >> >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
           b"/Resources << /Font << /F1 5 0 R >> >> /Annots [10 0 R 11 0 R 12 0 R 13 0 R "
           b"14 0 R 15 0 R 16 0 R 17 0 R 18 0 R 20 0 R 21 0 R] >>",
        4: stream(content),
        5: FONT,
        10: b"<< " + widget + b"/FT /Tx /T (name) /Rect [200 695 400 715] /V (John Q. Public) >>",
        11: b"<< " + widget + b"/FT /Tx /T (notes) /Ff 4096 /Rect [200 600 500 675] "
            b"/V (Short of breath on exertion.\rSleeps on two pillows.) >>",
        12: b"<< " + widget + b"/FT /Tx /T (pin) /Ff 8192 /Rect [200 555 300 575] /V (s3cr3t-pin) >>",
        13: b"<< " + widget + b"/FT /Tx /T (hidden) /F 2 /Rect [200 525 300 545] "
            b"/V (never shown) >>",
        14: b"<< " + widget + b"/FT /Btn /T (diabetes) /Rect [80 498 92 510] /V /Yes /AS /Yes " +
            ap + b">>",
        15: b"<< " + widget + b"/FT /Btn /T (asthma) /Rect [80 478 92 490] /V /Off /AS /Off " +
            ap + b">>",
        16: b"<< " + widget + b"/FT /Ch /Ff 131072 /T (smoking) /Rect [200 435 350 455] "
            b"/Opt [(Never) (Former smoker) (Current)] /V (Former smoker) >>",
        17: b"<< " + widget + b"/FT /Ch /Ff 2097152 /T (allergies) /Rect [200 360 350 420] "
            b"/Opt [(Penicillin) (Latex) (Sulfa)] /V [(Latex) (Sulfa)] /I [1 2] >>",
        18: b"<< " + widget + b"/FT /Tx /T (mrn) /Rect [195 320 300 345] /V (MRN-0042) >>",
        20: b"<< /Type /Annot /Subtype /FreeText /Rect [72 250 400 280] /DA (/Helv 12 Tf 0 g) "
            b"/Contents (Call the patient back on Monday) >>",
        21: b"<< /Type /Annot /Subtype /Text /Rect [500 700 520 720] "
            b"/Contents (Reviewed by Dr. Example) >>",
        30: stream(b"", b"/Type /XObject /Subtype /Form /BBox [0 0 12 12] "),
        31: stream(b"", b"/Type /XObject /Subtype /Form /BBox [0 0 12 12] "),
    }
    return classic(objs)


def missing_page():
    return classic({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R 6 0 R] /Count 2 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
           b"/Resources << /Font << /F1 5 0 R >> >> >>",
        4: stream(text_ops([(72, 700, "Page one of two")])),
        5: FONT,
    })


def rtl_words():
    names = b" ".join(b"/afii%d" % n for n in range(57664, 57674))  # alef .. yod
    font = (b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Type /Encoding "
            b"/Differences [65 " + names + b"] >> >>")
    ops = []
    for y, words in [(700, ["ABC", "DEF", "GHI"]), (680, ["JAB", "CDE"]),
                     (660, ["FGH", "IJA", "BCD", "EFG"])]:
        x = 500
        for w in words:  # the first word at the right, each drawn left to right
            x -= len(w) * 9
            ops.append("BT /F1 14 Tf %g %g Td (%s) Tj ET" % (x, y, w[::-1]))
            x -= 6
    return classic({
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
           b"/Resources << /Font << /F1 5 0 R >> >> >>",
        4: stream("\n".join(ops).encode()),
        5: font,
    })


def main():
    files = {
        "table-rows.pdf": table_rows(),
        "crop-page.pdf": classic(crop_objects()),
        "crop-inherited.pdf": crop_inherited(),
        "crop-objstm.pdf": compressed(crop_objects(), packed=[1, 2, 3, 5]),
        "crop-twice.pdf": crop_twice(),
        "form-fields.pdf": form_fields(),
        "missing-page.pdf": missing_page(),
        "rtl-words.pdf": rtl_words(),
    }
    for name, data in files.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
