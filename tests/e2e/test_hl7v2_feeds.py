"""HL7 v2 as feeds really send it, on the real corpus files: MLLP frames give
one record per message (never two patients in one), MSH-18 picks each
message's charset, a stray byte costs one U+FFFD, bare TXA-2/OBR-4 codes
give no documentType, and no value of any corpus message is lost.

The expected strings are not typed in: they are read from the files'
own bytes, decoded with iconv (the reference for charsets) where they are
not ASCII."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import dptest  # noqa: E402
from dptest import CORPUS, TempDirTest, b64, contains, docpipe, read, squeeze  # noqa: E402

REAL = os.path.join(CORPUS, "real", "files")
MLLP = os.path.join(REAL, "crafted-hl7-mllp-framed-2msgs.hl7")
LATIN2 = os.path.join(REAL, "crafted-hl7-msh18-8859-2.hl7")
UTF8 = os.path.join(REAL, "charset-hl7-utf8.hl7")
UTF8_STRAY = os.path.join(REAL, "charset-hl7-utf8-one-latin1-byte.hl7")


def iconv(data, charset):
    """data decoded by iconv(1), the same library docpipe converts with."""
    if shutil.which("iconv"):
        out = subprocess.run(["iconv", "-f", charset, "-t", "UTF-8"], input=data,
                             stdout=subprocess.PIPE, check=True).stdout
        return out.decode("utf-8")
    return data.decode(charset.replace("-", "_").lower())


def raw_messages(data):
    """The messages of a file as a reader of the standard splits them: MLLP
    block characters and CR/LF end lines, an MSH line starts a message, batch
    segments belong to none.  Each message is a list of byte lines."""
    msgs, cur = [], None
    for line in re.split(rb"\r\n|[\r\n\x0b\x1c]", data):
        line = line.lstrip(b" \t")
        if line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        if line[:3] == b"MSH":
            cur = [line]
            msgs.append(cur)
        elif line[:3] in (b"FHS", b"BHS", b"BTS", b"FTS"):
            cur = None
        elif line.strip() and cur is not None:
            cur.append(line)
    return msgs


def delimiters(msh):
    field = chr(msh[3])
    enc = msh[4:].split(field.encode(), 1)[0].decode("latin-1")
    return field, enc[0], enc[1] if len(enc) > 1 else None, enc[2] if len(enc) > 2 else None, \
        enc[3] if len(enc) > 3 else None


def fields_of(seg, field):
    parts = seg.split(field)
    if parts[0] == "MSH":  # the separator itself is MSH-1
        parts = [parts[0], field] + parts[1:]
    return parts


def leaves(value, comp, rep, sub):
    for r in value.split(rep) if rep else [value]:
        for c in r.split(comp) if comp else [r]:
            for s in c.split(sub) if sub else [c]:
                yield s


def coded_text(value, comp, rep):
    """What a coded value shows: its text, else its code, per repetition."""
    for r in value.split(rep) if rep else [value]:
        parts = r.split(comp) if comp else [r]
        if len(parts) > 1 and parts[1].strip():
            yield parts[1]
        elif parts[0].strip():
            yield parts[0]


def expected_values(msg):
    """Every ASCII value of a message that its text must show: all fields of
    a segment (MSH from MSH-3), OBX-3/5/6/7/8 (coded OBX-5 and OBX-6 by
    their text), NTE-3.  Values with escape sequences are left out."""
    field, comp, rep, esc, sub = delimiters(msg[0])
    out = []
    for raw in msg:
        seg = raw.decode("latin-1")
        if not re.match(r"^[A-Z][A-Z0-9]{2}" + re.escape(field), seg):
            continue  # a continuation line: joined to the segment before
        f = fields_of(seg, field)
        sid = f[0]
        if sid == "MSH":
            picked = [(v, False) for v in f[3:]]
        elif sid == "NTE":
            picked = [(v, False) for v in f[3:4]]
        elif sid == "OBX":
            vtype = f[2].strip().upper() if len(f) > 2 else ""
            picked = [(v, False) for v in f[3:4] + f[7:9]]
            if len(f) > 5 and vtype != "ED":
                picked.append((f[5], vtype in ("CE", "CWE", "CNE", "CF")))
            if len(f) > 6:
                picked.append((f[6], True))
        else:
            picked = [(v, False) for v in f[1:]]
        for value, coded in picked:
            for leaf in (coded_text(value, comp, rep) if coded else leaves(value, comp, rep, sub)):
                leaf = squeeze(leaf)
                if not leaf or leaf == '""' or (esc and esc in leaf) or not leaf.isascii():
                    continue
                out.append(leaf)
    return out


def patient_name(msg):
    """PID-5, first repetition: family name (its first subcomponent) and
    given name, as raw bytes."""
    field, comp, rep, esc, sub = (c.encode() if c else None for c in delimiters(msg[0]))
    for seg in msg:
        if seg[:3] == b"PID":
            xpn = seg.split(field)[5].split(rep)[0].split(comp)
            return xpn[0].split(sub)[0], xpn[1]
    raise AssertionError("no PID")


def hl7_files():
    return sorted(glob.glob(os.path.join(CORPUS, "files", "*.hl7")) +
                  glob.glob(os.path.join(REAL, "*.hl7")))


class Feeds(TempDirTest):
    def convert(self, path):
        run = docpipe("convert", path)
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(run.errors, [])
        return run.records

    def test_mllp_frames_are_two_records_with_two_patients(self):
        data = read(MLLP)
        msgs = raw_messages(data)
        self.assertEqual(len(msgs), 2)
        recs = self.convert(MLLP)
        self.assertEqual([r["id"] for r in recs], [MLLP, MLLP + "#msg1"])
        names = [b" ".join(patient_name(m)).decode() for m in msgs]
        self.assertNotEqual(names[0], names[1])
        for i, r in enumerate(recs):
            self.assertEqual(r["format"], "hl7v2")
            self.assertTrue(contains(r["content"], names[i]), names[i])
            self.assertFalse(contains(r["content"], names[1 - i]), "patients merged")
            self.assertNotIn("\x0b", r["content"])
            self.assertNotIn("\x1c", r["content"])
            # TXA-2 "DIS" is a bare local code: not a document type
            self.assertNotIn(r["documentType"], ("dis", "di"))

    def test_mllp_binary_from_a_fhir_dump(self):
        """The same frames inside a FHIR Binary."""
        docref = {"resourceType": "DocumentReference", "id": "mllp",
                  "content": [{"attachment": {"contentType": "text/plain",
                                              "url": "Binary/B-mllp"}}]}
        binary = {"resourceType": "Binary", "id": "B-mllp", "contentType": "text/plain",
                  "data": b64(read(MLLP))}
        d = self.write("DocumentReference.ndjson", json.dumps(docref) + "\n")
        b = self.write("Binary.ndjson", json.dumps(binary) + "\n")
        run = docpipe("run", "fhir-dump", "--binaries", b, d)
        self.assertEqual(run.status, 0, run.stderr)
        self.assertEqual(run.errors, [])
        self.assertEqual([r["id"] for r in run.records],
                         ["DocumentReference/mllp", "DocumentReference/mllp#msg1"])
        self.assertIn("2 documents from 1 inputs: 2 converted, 0 failed",
                      "\n".join(run.other_stderr))

    def test_msh18_8859_2_names(self):
        data = read(LATIN2)
        (msg,) = raw_messages(data)
        self.assertIn(b"|8859/2|", msg[0])
        family, given = patient_name(msg)
        family, given = iconv(family, "ISO-8859-2"), iconv(given, "ISO-8859-2")
        self.assertFalse(family.isascii() or given.isascii())  # the test means something
        (rec,) = self.convert(LATIN2)
        self.assertEqual(rec["meta"]["charset"], "ISO-8859-2")
        self.assertTrue(contains(rec["content"], family + " Aniston " + given),
                        family + " " + given)
        self.assertNotIn(iconv(family.encode("iso-8859-2"), "WINDOWS-1252"), rec["content"])
        self.assertNotIn("\ufffd", rec["content"])

    def test_utf8_with_one_stray_byte(self):
        clean, stray = read(UTF8), read(UTF8_STRAY)
        self.assertTrue(stray.startswith(clean))  # the variant adds one NTE
        (a,) = self.convert(UTF8)
        (b,) = self.convert(UTF8_STRAY)
        self.assertEqual(a["meta"]["charset"], "UTF-8")
        self.assertEqual(b["meta"]["charset"], "UTF-8")
        family, _ = patient_name(raw_messages(clean)[0])
        family = family.decode("utf-8")
        self.assertFalse(family.isascii())
        self.assertTrue(contains(b["content"], family))
        self.assertEqual(b["content"].count("\ufffd"), 1)
        self.assertTrue(b["content"].startswith(a["content"]))
        added = clean.rsplit(b"\r", 1)[-1] + stray[len(clean):]
        note = added.split(b"|")[-1].strip().replace(b"\xb5", b"\xef\xbf\xbd").decode()
        self.assertEqual(b["content"][len(a["content"]):].strip(), note)

    def test_every_corpus_message_keeps_its_values(self):
        """Each value of each message of every corpus HL7 file is in the
        record of that message (the split is right and nothing is lost)."""
        for path in hl7_files():
            msgs = raw_messages(read(path))
            recs = self.convert(path)
            self.assertEqual(len(recs), len(msgs), path)
            for i, (msg, rec) in enumerate(zip(msgs, recs)):
                self.assertEqual(rec["id"], path + ("#msg%d" % i if i else ""))
                self.assertEqual(rec["format"], "hl7v2", path)
                self.assertIn("charset", rec["meta"], path)
                # case folded: an alternate text equal to the label but for
                # its case ("Sodium", "SODIUM") is shown once
                text = squeeze(rec["content"]).lower()
                missing = [v for v in expected_values(msg) if v.lower() not in text]
                self.assertEqual(missing, [], "%s message %d" % (path, i))

    def test_document_type_from_text_or_loinc_only(self):
        head = "MSH|^~\\&|EHR|FAC|||20240105||MDM^T02|1|P|2.5\rPID|1||5||DOE^JOHN\r"
        cases = {"TXA|1|DIS||20240103\r": None,
                 "TXA|1|di||20240103\rOBR|1|||ZZ9\r": None,
                 "TXA|1|DIS\rOBR|1|||11490-0^^LN\r": "discharge-summary",
                 "TXA|1|PN^Progress note^HL70270\r": "progress-note"}
        for i, (segs, want) in enumerate(cases.items()):
            path = self.write("t%d.hl7" % i, head + segs)
            (rec,) = self.convert(path)
            self.assertEqual(rec["documentType"], want, segs)


if __name__ == "__main__":
    dptest.main()
