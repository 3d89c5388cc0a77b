"""Scanned documents made at test time from real PDF pages: pdftoppm renders a
page, and the scan is degraded as scanners and fax machines degrade it (noise,
skew, bilevel at 200 dpi, JPEG at quality 75), then wrapped as a scanner would
(an image-only PDF, a multi-page TIFF, a PNG or a JPEG).  Only poppler-utils and
libtiff-tools (ppm2tiff, tiffcp) are used: no imaging library of Python's."""
import os
import random
import re
import subprocess
import zlib


def render(pdf, page, dpi, fmt="gray"):
    """Page `page` (1-based) of pdf as PGM bytes (fmt gray), or JPEG bytes
    (fmt 'jpeg75', quality 75)."""
    args = ["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-gray"]
    if fmt == "jpeg75":
        args += ["-jpeg", "-jpegopt", "quality=75"]
    return subprocess.run(args + [pdf], check=True, capture_output=True).stdout


def parse_pgm(data):
    """(width, height, pixels) of a binary PGM (P5, maxval 255)."""
    m = re.match(rb"P5\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, bytearray(data[m.end():m.end() + w * h])


def pgm(w, h, pixels):
    return b"P5\n%d %d\n255\n" % (w, h) + bytes(pixels)


def noisy(pixels, share=0.02, seed=7):
    """Salt and pepper on `share` of the pixels, as a dusty scanner glass."""
    rnd = random.Random(seed)
    out = bytearray(pixels)
    for _ in range(int(len(out) * share)):
        out[rnd.randrange(len(out))] = rnd.choice((0, 255))
    return out


def bilevel(w, h, pixels):
    """A PBM (P4) of the page thresholded at half grey: a fax."""
    row = (w + 7) // 8
    out = bytearray(row * h)
    for y in range(h):
        base = y * w
        for x in range(w):
            if pixels[base + x] < 128:
                out[y * row + x // 8] |= 0x80 >> (x % 8)
    return b"P4\n%d %d\n" % (w, h) + bytes(out)


def image_pdf(pages, skew=0.0):
    """An image-only PDF, one page per (width, height, grey pixels, dpi),
    with no text layer; skew turns each scan by that many degrees on its
    page, as a sheet fed askew.  A page given as a list of strings is a
    typed US Letter page instead, those lines in Helvetica: a mixed PDF."""
    import math
    objs = []

    def add(body):
        objs.append(body)
        return len(objs)

    kids = []
    page_ids = []
    for page in pages:
        if isinstance(page, list):
            lines = b"".join(b"(%s) Tj 0 -16 Td " % l.encode("latin-1").replace(b"(", b"\\(")
                             .replace(b")", b"\\)") for l in page)
            content = b"BT /F1 12 Tf 72 720 Td " + lines + b"ET"
            cs = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
            page_ids.append((None, cs, 612.0, 792.0))
            continue
        w, h, pixels, dpi = page
        img = add(b"<< /Type /XObject /Subtype /Image /Width %d /Height %d "
                  b"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /FlateDecode "
                  b"/Length %d >>\nstream\n" % (w, h, len(zlib.compress(bytes(pixels))))
                  + zlib.compress(bytes(pixels)) + b"\nendstream")
        pw, ph = w * 72.0 / dpi, h * 72.0 / dpi
        a = math.radians(skew)
        c, s = math.cos(a), math.sin(a)
        # scale to the page, turned about the page's centre
        cx, cy = pw / 2, ph / 2
        m = (pw * c, pw * s, -ph * s, ph * c,
             cx - (pw * c - ph * s) / 2, cy - (pw * s + ph * c) / 2)
        content = (b"q 1 0 0 1 0 0 cm %.4f %.4f %.4f %.4f %.4f %.4f cm /Im0 Do Q" % m)
        cs = add(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        page_ids.append((img, cs, pw, ph))
    pages_id = len(objs) + len(page_ids) + 1
    font = len(objs) + len(page_ids) + 2
    for img, cs, pw, ph in page_ids:
        res = (b"/Font << /F1 %d 0 R >>" % font if img is None
               else b"/XObject << /Im0 %d 0 R >>" % img)
        kids.append(add(b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] "
                        b"/Resources << %s >> /Contents %d 0 R >>"
                        % (pages_id, pw, ph, res, cs)))
    assert add(b"<< /Type /Pages /Kids [%s] /Count %d >>"
               % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))) == pages_id
    assert add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>") == font
    catalog = add(b"<< /Type /Catalog /Pages %d 0 R >>" % pages_id)
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, catalog, xref)
    return bytes(out)


def tiff(path, pnms, compression):
    """A multi-page TIFF at path from PNM pages (ppm2tiff -c COMPRESSION for
    each page, tiffcp to join them): g4 (fax, bilevel pages), lzw, jpeg."""
    parts = []
    for i, data in enumerate(pnms):
        src = "%s.%d.pnm" % (path, i)
        part = "%s.%d.tif" % (path, i)
        with open(src, "wb") as f:
            f.write(data)
        res = ["-R", "200"] if data.startswith(b"P4") else ["-R", "300"]
        subprocess.run(["ppm2tiff", "-c", compression] + res + [src, part], check=True)
        os.unlink(src)
        parts.append(part)
    subprocess.run(["tiffcp"] + parts + [path], check=True)
    for p in parts:
        os.unlink(p)


def words(text):
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def recall(reference, text):
    """Share of the reference's distinct words (of 3+ letters) found in text."""
    ref = {w for w in words(reference) if len(w) >= 3}
    return len(ref & words(text)) / len(ref) if ref else 1.0
