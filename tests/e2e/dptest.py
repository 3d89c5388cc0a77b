"""Shared helpers for docpipe's end-to-end tests: run the real binary, read
its NDJSON, and check every line against the contract in RECORD.md."""
import base64
import datetime
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import unittest

DOCPIPE = os.environ.get("DOCPIPE", "docpipe")
SOURCE = os.environ.get("DOCPIPE_SOURCE", os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED = os.environ.get("DOCPIPE_SHARED", os.path.join(SOURCE, "..", "shared"))
CORPUS = os.path.join(SHARED, "corpus")

FORMATS = {"pdf", "cda", "xml", "hl7v2", "text", "html", "rtf", "image", "unknown",
           "doc", "xls", "ppt", "msg", "eml", "docx", "xlsx", "pptx", "odt", "ods", "odp"}
KINDS = {"bad-json", "invalid-input", "bad-base64", "empty", "unsupported", "damaged",
         "encrypted", "too-large", "timeout", "extractor-crash", "not-visible", "not-found",
         "unauthorized", "forbidden", "version-conflict", "rate-limited", "server-error",
         "network", "expired", "untrusted-origin", "io", "internal"}
SOURCE_KEYS = ["documentReference", "attachment", "binary", "declaredContentType",
               "contentType", "patient", "title", "url", "file"]
RECORD_KEYS = ["id", "documentType", "format", "content", "createdDate", "source", "bytes",
               "sha256"]
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# What scripts/build test installs is required there (it sets this): a test
# that would skip for want of it fails instead, so a package missing from the
# list cannot hide a whole test file behind a skip.
REQUIRE_ALL = os.environ.get("DOCPIPE_REQUIRE_ALL") == "1"
# ctest reports a test file that exits with this as skipped (SKIP_RETURN_CODE).
SKIPPED_EXIT = 77


def require(present, what):
    """Skip the test unless `what` (a package, a tool) is `present`; under
    scripts/build test, where it is installed, its absence is a failure."""
    if present:
        return
    if REQUIRE_ALL:
        raise AssertionError("%s is missing, though scripts/build test installs it" % what)
    raise unittest.SkipTest("%s is missing" % what)


def needs(present, what):
    """A class decorator: require() for every test of the class."""
    if present:
        return lambda cls: cls
    if not REQUIRE_ALL:
        return unittest.skip("%s is missing" % what)

    def failing(cls):
        def setUpClass(_cls):
            raise AssertionError("%s is missing, though scripts/build test installs it" % what)
        cls.setUpClass = classmethod(setUpClass)
        return cls
    return failing


def main():
    """unittest's main, with exits ctest understands: 0 when tests ran and
    passed, 1 for a failure or when no test ran, SKIPPED_EXIT when every
    test skipped."""
    import sys
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun == 0:
        print("no test ran", file=sys.stderr)
        sys.exit(1)
    if len(r.skipped) == r.testsRun:
        print("every test skipped", file=sys.stderr)
        sys.exit(SKIPPED_EXIT)
    sys.exit(0)


class FedRun:
    """docpipe reading its input from a FIFO that the test fills, so that the
    test, not the clock, decides how far a run has got when it is stopped:
    the lines up to `gate` are written at once, the rest when release() is
    called (an interrupted run never sees the end of its input)."""

    def __init__(self, args, fifo, lines, gate=None, stderr=subprocess.DEVNULL, **popen):
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=stderr, **popen)
        self.fifo, self.lines = fifo, lines
        self.gate = len(lines) if gate is None else gate
        self.more = threading.Event()
        self.writer = threading.Thread(target=self.feed, daemon=True)
        self.writer.start()

    def feed(self):
        fd = None
        while fd is None and self.proc.poll() is None:
            try:  # no reader yet: ENXIO
                fd = os.open(self.fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.005)
        if fd is None:
            return
        os.set_blocking(fd, True)
        try:
            os.write(fd, b"".join(self.lines[:self.gate]))
            if self.gate < len(self.lines):
                self.more.wait()
                os.write(fd, b"".join(self.lines[self.gate:]))
        except OSError:  # the run is gone
            pass
        finally:
            os.close(fd)

    def release(self):
        self.more.set()

    def finish(self, timeout=120):
        self.release()
        out = self.proc.communicate(timeout=timeout)[1]
        self.writer.join()
        return self.proc.returncode, out


def children(pid):
    """The processes whose parent is pid (docpipe's helpers, say)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    # "pid (comm) state ppid ...": comm may hold spaces
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def resume_point(state):
    """The checkpoint a state file holds: {"done", "outputBytes", ...} or None."""
    try:
        with open(state) as f:
            return json.load(f).get("resume")
    except (OSError, ValueError):
        return None


class Run:
    def __init__(self, proc):
        self.status = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.records = [json.loads(l) for l in proc.stdout.decode().splitlines()
                        if l.startswith("{")]
        self.errors = []
        self.other_stderr = []
        for line in proc.stderr.decode(errors="replace").splitlines():
            if line.startswith("{"):
                self.errors.append(json.loads(line))
            elif line.strip():
                self.other_stderr.append(line)

    def by_id(self):
        return {r["id"]: r for r in self.records}


def docpipe(*args, stdin=None, cwd=None, env=None, check_contract=True):
    e = dict(os.environ)
    e.update(env or {})
    proc = subprocess.run([DOCPIPE, *args], input=stdin, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, cwd=cwd, env=e, timeout=300)
    run = Run(proc)
    if check_contract:
        for r in run.records:
            check_record(r)
        for err in run.errors:
            check_error(err)
    return run


def check_deletion(r):
    """A deletion line (RECORD.md): a resource the server reports deleted."""
    assert set(r) == {"id", "deleted", "source"}, "deletion line with other fields: %s" % r
    assert r["deleted"] is True
    assert isinstance(r["id"], str) and re.match(r"^[A-Z][A-Za-z]+/[^/#]+$", r["id"]), r["id"]
    s = r["source"]
    assert isinstance(s, dict) and set(s) == {"url", "transactionTime"}, s
    assert isinstance(s["url"], str) and "?" not in s["url"], s["url"]
    assert s["transactionTime"] is None or isinstance(s["transactionTime"], str)


def check_record(r):
    """Fail loudly when a record breaks RECORD.md."""
    if "deleted" in r:
        return check_deletion(r)
    for k in RECORD_KEYS:
        assert k in r, "record lacks %r: %s" % (k, r.get("id"))
    extra = set(r) - set(RECORD_KEYS) - {"meta"}
    assert not extra, "record has fields outside the contract: %s" % extra
    assert isinstance(r["id"], str) and r["id"], r
    assert r["documentType"] is None or KEBAB.match(r["documentType"]), r["documentType"]
    assert r["format"] in FORMATS, r["format"]
    c = r["content"]
    assert isinstance(c, str)
    c.encode("utf-8")  # raises on lone surrogates: content must be valid UTF-8
    assert "\r" not in c, "content keeps a CR"
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", c), "content keeps control characters"
    if r["format"] == "image" and c:
        assert r.get("meta", {}).get("ocr", {}).get("pages"), "image text comes only from OCR"
    d = r["createdDate"]
    if d is not None:
        assert ISO_DATE.match(d), d
        datetime.date.fromisoformat(d)
    s = r["source"]
    assert isinstance(s, dict) and all(k in s for k in SOURCE_KEYS), s
    # A path that had to be escaped (RECORD.md, "Names that are not UTF-8")
    # carries its bytes, and only such a path does.
    escaped = isinstance(s["file"], str) and "\ufffd" in s["file"]
    assert escaped == ("fileBytes" in s), s
    if escaped:
        base64.b64decode(s["fileBytes"], validate=True)
    assert isinstance(r["bytes"], int) and r["bytes"] >= 0
    assert re.match(r"^[0-9a-f]{64}$", r["sha256"]), r["sha256"]
    meta = r.get("meta", {})
    assert isinstance(meta, dict)
    if "pages" in meta:
        assert isinstance(meta["pages"], int) and meta["pages"] >= 0
    for k in ("title", "author", "messageType"):
        if k in meta:
            assert isinstance(meta[k], str)
    for k in ("sections", "embedded", "warnings"):
        if k in meta:
            assert isinstance(meta[k], list) and all(isinstance(x, str) for x in meta[k])


def check_error(e):
    for k in ("id", "stage", "kind", "message"):
        assert k in e, "error lacks %r: %s" % (k, e)
    assert e["id"] is None or isinstance(e["id"], (str, int))
    assert e["kind"] in KINDS, e["kind"]
    assert isinstance(e["message"], str) and "\n" not in e["message"] and e["message"]
    if "hint" in e:
        assert isinstance(e["hint"], str)
    if "status" in e:
        assert isinstance(e["status"], int)


def squeeze(s):
    return re.sub(r"[\s\u00a0]+", " ", s).strip()


def contains(content, phrase):
    return squeeze(phrase) in squeeze(content)


def expected_rows(path=os.path.join(CORPUS, "expected.tsv")):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            doc, fmt, phrase = line.rstrip("\n").split("\t", 2)
            rows.append((doc, fmt, phrase))
    return rows


def read(path):
    with open(path, "rb") as f:
        return f.read()


def ndjson_lines(path):
    with open(path, "rb") as f:
        return [l for l in f.read().split(b"\n") if l.strip()]


class TempDirTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="docpipe-e2e-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return path


def b64(data):
    return base64.b64encode(data).decode()
