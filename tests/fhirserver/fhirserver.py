#!/usr/bin/env python3
"""FHIR R4 test server that behaves like Oracle Health (Cerner) Millennium R4.

Standard library only (Debian 12 python3.11). Used by docpipe's end-to-end
tests and benchmarks, both as a module:

    from fhirserver import FhirTestServer, make_jwk
    srv = FhirTestServer.from_ndjson("docrefs.ndjson", "binaries.ndjson")
    srv.register_client("app", jwks={"keys": [make_jwk(pem, "k1")]}, scopes=[...])
    srv.start(); ...; srv.configure(rate_limit=5); ...; srv.stop()

and as a program (see main() and README.md). It serves SMART Backend Services
token requests (private_key_jwt RS384/ES384 and client_secret_basic),
DocumentReference search/read/update, Binary read, Bulk Data export, and a
second loopback listener standing in for the pre-signed object storage that
binaries and export files are redirected to. Faults (rate limits, 503s, cut
bodies, hidden documents, version conflicts...) can be switched at any time
with configure() or POST /_admin/config, and counters are read with stats().

It binds 127.0.0.1 only.
"""

import argparse
import base64
import binascii
import collections
import datetime
import email.utils
import gzip
import hmac
import http.server
import importlib.util
import json
import math
import os
import re
import secrets
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
import urllib.parse
import uuid

_HERE = os.path.dirname(os.path.abspath(__file__))


def _load_jose():
    # Loaded by path under a private name: an unrelated PyPI "jose" package may be installed.
    name = "_docpipe_fhirserver_jose"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, os.path.join(_HERE, "jose.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


jose = _load_jose()
make_jwk = jose.make_jwk

__all__ = ["FhirTestServer", "make_jwk", "jose", "DEFAULT_TENANT", "FAULT_DEFAULTS", "main"]

DEFAULT_TENANT = "ec2458f2-1e24-41c8-b71b-0e701af7583d"
HOST = "127.0.0.1"
FHIR_JSON = "application/fhir+json"
FHIR_NDJSON = "application/fhir+ndjson"
JSON_TYPES = ("application/fhir+json", "application/json", "application/json+fhir")
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_BODY = 64 << 20
MAX_EXP_AHEAD = 300          # SMART: a client assertion lives at most five minutes
EXPORT_TYPES = ("DocumentReference", "Binary", "Patient")
SCOPES_SUPPORTED = [
    "system/Binary.read", "system/DocumentReference.read", "system/DocumentReference.write",
    "system/Patient.read", "system/Group.read", "system/*.read",
    "system/Binary.r", "system/DocumentReference.rs", "system/DocumentReference.cruds",
    "system/DocumentReference.u", "system/Patient.rs", "system/Group.rs",
]
SEARCH_PARAMS = [("_id", "token"), ("patient", "reference"), ("subject", "reference"),
                 ("category", "token"), ("type", "token"), ("date", "date"),
                 ("_lastUpdated", "date"), ("_count", "number")]

FAULT_DEFAULTS = {
    "hidden": frozenset(),        # {"Binary/ID", "DocumentReference/ID"}: 404 on read, listed in search
    "rate_limit": 0,              # requests/second over resource + token endpoints (0 = off)
    "retry_after_date": False,    # 429 Retry-After as an HTTP-date instead of "1"
    "token_lifetime": 570,        # seconds
    "refuse_tokens": False,       # every access token is answered 401 invalid_token (revoked)
    "no_binary_scope": False,     # never grant a scope that covers Binary
    "fail_503_every": 0,          # every k-th resource request -> 503 (no Retry-After)
    "cut_body_every": 0,          # every k-th Binary/bulk-file body is cut in half
    "slow_ms": 0,                 # delay before answering resource requests
    "redirect_binaries": False,   # Binary (and bulk files) -> 307 to the storage listener
    "required_header": None,      # {"name": ..., "value": ...} every resource request must carry
    "conflict_status": 412,       # status for an If-Match version mismatch (412 or 409)
    "export_polls": 2,            # status polls answered 202 before the manifest
    "export_retry_after": 1,      # Retry-After on those 202s
    "export_requires_token": True,  # manifest requiresAccessToken
    "groups": None,               # {"G1": ["4300201", ...]}; None = one group "all" with everyone
    "clock_skew_s": 0,            # shift of the server's "now" for client assertion checks
    # Bulk Data export, as servers other than Millennium do it (the SMART reference server):
    "export_script": None,        # {"kickoff"|"status"|"file": [answer, ...]}: answers given, in order,
                                  # instead of the normal ones (see _scripted)
    "export_retry_after_header": None,  # Retry-After of 202 polls as sent ("1796154259", a date)
    "export_page_size": 0,        # manifest pages of N files linked by "next" (0: one page, or 2
                                  # when the kick-off says allowPartialManifests=true)
    "export_page_polls": 0,       # 202s before each next page is ready
    "export_resources_per_file": 0,  # split each type's output into files of N resources (0: one)
    "export_deleted": frozenset(),   # {"Patient/1", ...}: listed in deleted[] when _since is given
    "export_errors": (),          # diagnostics: one OperationOutcome each in error[], no final newline
    "export_post_only": False,    # GET kick-offs answer 405 (Allow: POST)
    "export_file_delay_ms": 0,    # delay before answering each export file
    "export_slow_file": None,     # ["DocumentReference.1.", ms]: more delay for the files so named
    "fail_429_every": 0,          # every k-th request of the kinds below -> 429 (1 = always)
    "fail_429_only": None,        # those kinds ("token", "search", "read:Binary", "export",
                                  # "bulkstatus", ...); None = every resource and token request
    "retry_after": None,          # Retry-After of every 429: "N" as is, "epoch+N" (Unix time
                                  # N s ahead), "epoch-ms+N", "date+N" (HTTP-date); None: "1"
    "throttle_text": None,        # 429 bodies as this line (text/html, as Express sends it)
    "redirect_binaries_to": None,  # with redirect_binaries: this origin instead of the storage
                                  # listener's ("http://localhost:PORT", "http://0.0.0.0:PORT")
    "export_files_on_storage": False,  # manifest file URLs on the storage listener even when
                                  # requiresAccessToken (it then wants the Bearer token)
    "missing_types": frozenset(),  # resource types the server has none of: scopes naming them
                                  # are refused (invalid_scope), as the Bulk Data reference server does
    "scope_refusal": "named",     # "named": that refusal names the type; "vague": "Invalid scope"
    "smart_scopes": None,         # scopes_supported: None = the default list, "omit", or a list
    "smart_capabilities": None,   # capabilities of the SMART configuration (None = default)
    "bulk_only": False,           # a search-less Bulk Data server like the SMART reference
                                  # server: $export only, no Binary, attachments as absolute
                                  # URLs under {base}/attachments/, a registration endpoint
}

# Answers an export_script may give: {"status": 429, "retry_after": "1796154259", "text": "..."}
# (a plain-text body), {"status": 500, "code": "transient", "diagnostics": "..."} (an
# OperationOutcome, the default), {"status": 404, "json": {...}} (any JSON body);
# "content_type" overrides the type; a "file" entry may name the file it is for ("match").
_SCRIPT_KEYS = ("kickoff", "status", "file")


_RETRY_AFTER_TEMPLATE = r"^(epoch|epoch-ms|date)([+-][0-9]+(?:\.[0-9]*)?)$"


def _norm_fault(name, value):
    if name not in FAULT_DEFAULTS:
        raise ValueError("unknown fault %r (known: %s)" % (name, ", ".join(sorted(FAULT_DEFAULTS))))
    if value is None:
        return FAULT_DEFAULTS[name]
    if name == "hidden":
        if isinstance(value, str):
            value = [value]
        out = frozenset(str(v) for v in value)
        for v in out:
            if not re.match(r"^(Binary|DocumentReference)/[^/]+$", v):
                raise ValueError("hidden entries look like Binary/ID or DocumentReference/ID: %r" % v)
        return out
    if name == "export_script":
        if not isinstance(value, dict) or set(value) - set(_SCRIPT_KEYS):
            raise ValueError("export_script is {%s: [answers]}" % "|".join(_SCRIPT_KEYS))
        for k, answers in value.items():
            if not isinstance(answers, (list, tuple)) or not all(
                    isinstance(a, dict) and isinstance(a.get("status"), int) for a in answers):
                raise ValueError("export_script[%s] is a list of {\"status\": N, ...}" % k)
        return {k: [dict(a) for a in v] for k, v in value.items()}
    if name == "export_retry_after_header":
        return str(value)
    if name == "export_slow_file":
        if not isinstance(value, (list, tuple)) or len(value) != 2:
            raise ValueError('export_slow_file is ["name part", ms]')
        return (str(value[0]), int(value[1]))
    if name == "export_deleted":
        if isinstance(value, str):
            value = [value]
        out = frozenset(str(v) for v in value)
        for v in out:
            if not re.match(r"^[A-Z][A-Za-z]+/[^/]+$", v):
                raise ValueError("export_deleted entries look like Type/ID: %r" % v)
        return out
    if name == "export_errors":
        if isinstance(value, str):
            value = [value]
        return tuple(str(v) for v in value)
    if name in ("export_page_size", "export_page_polls", "export_resources_per_file",
                "export_file_delay_ms"):
        value = int(value)
        if value < 0:
            raise ValueError("%s must be >= 0" % name)
        return value
    if name == "missing_types":
        if isinstance(value, str):
            value = [value]
        return frozenset(str(v) for v in value)
    if name == "scope_refusal":
        if value not in ("named", "vague"):
            raise ValueError('scope_refusal is "named" or "vague"')
        return value
    if name in ("smart_scopes", "smart_capabilities"):
        if value == "omit" and name == "smart_scopes":
            return value
        if not isinstance(value, (list, tuple)):
            raise ValueError("%s is a list of strings%s" % (name, ' or "omit"' if name == "smart_scopes" else ""))
        return tuple(str(v) for v in value)
    if name == "bulk_only":
        return bool(value)
    if name == "redirect_binaries_to":
        if not re.match(r"^https?://[^/?#]+$", str(value)):
            raise ValueError("redirect_binaries_to is an origin: scheme://host[:port]")
        return str(value)
    if name in ("retry_after_date", "no_binary_scope", "refuse_tokens", "redirect_binaries", "export_requires_token",
                "export_post_only", "export_files_on_storage"):
        return bool(value)
    if name in ("fail_503_every", "cut_body_every", "export_polls"):
        value = int(value)
        if value < 0:
            raise ValueError("%s must be >= 0" % name)
        return value
    if name in ("rate_limit", "slow_ms", "token_lifetime", "export_retry_after"):
        value = float(value)
        if value < 0 or (name == "token_lifetime" and value == 0):
            raise ValueError("%s must be positive" % name)
        return int(value) if value == int(value) else value
    if name == "clock_skew_s":
        return float(value)
    if name == "fail_429_every":
        value = int(value)
        if value < 0:
            raise ValueError("fail_429_every must be >= 0")
        return value
    if name == "fail_429_only":
        if isinstance(value, str):
            value = [value]
        return frozenset(str(v) for v in value)
    if name in ("retry_after", "throttle_text"):
        if not isinstance(value, str):
            raise ValueError("%s is a string" % name)
        if (name == "retry_after" and re.match(r"^(epoch|date)", value)
                and not re.match(_RETRY_AFTER_TEMPLATE, value)):
            raise ValueError("retry_after templates are epoch+N, epoch-ms+N, date+N")
        return value
    if name == "conflict_status":
        value = int(value)
        if value not in (409, 412):
            raise ValueError("conflict_status must be 409 or 412")
        return value
    if name == "required_header":
        if isinstance(value, (list, tuple)) and len(value) == 2:
            value = {"name": value[0], "value": value[1]}
        if not isinstance(value, dict) or not value.get("name") or "value" not in value:
            raise ValueError('required_header is {"name": ..., "value": ...}')
        return {"name": str(value["name"]), "value": str(value["value"])}
    if name == "groups":
        if not isinstance(value, dict):
            raise ValueError("groups is {group_id: [patient ids]}")
        return {str(g): [_strip_prefix(str(p), "Patient/") for p in ids] for g, ids in value.items()}
    raise AssertionError(name)


def _new_stats():
    return {
        "requests": 0, "resource_requests": 0, "token_requests": 0, "status_counts": {},
        "sent_429": 0, "sent_503": 0, "cut_bodies": 0, "peak_concurrency": 0, "in_flight": 0,
        "auth_on_storage": 0, "storage_requests": 0, "export_jobs_started": 0,
        "export_jobs_deleted": 0, "user_agents": set(), "last_user_agent": None,
        "accept_encoding_seen": False, "paths": {}, "tokens_issued": 0,
        "last_scope_granted": None, "export_kickoffs": [], "last_export_params": None,
        "export_status_polls": 0, "export_files_served": 0, "export_files_in_flight": 0,
        "export_files_peak": 0,
        "scopes_requested": [], "registrations": 0,
        "path_log": [],  # the kinds of the first 1000 requests, in order
    }


# ---------------------------------------------------------------- helpers

def _strip_prefix(text, prefix):
    return text[len(prefix):] if text.startswith(prefix) else text


def _json_bytes(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _iso(ts):
    dt = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def b64url_text(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


_DT_RE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?"
                    r"(Z|[+-]\d{2}:\d{2})?)?)?)?$")


def _fhir_range(text):
    """A FHIR date/dateTime/instant -> [start, end) in epoch seconds, by its precision."""
    m = _DT_RE.match(text.strip())
    if not m:
        raise ValueError("not a FHIR date: %r" % text)
    y, mo, d, hh, mi, ss, frac, tz = m.groups()
    tzinfo = datetime.timezone.utc
    if tz and tz != "Z":
        sign = 1 if tz[0] == "+" else -1
        tzinfo = datetime.timezone(sign * datetime.timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6])))
    y = int(y)
    if mo is None:
        start = datetime.datetime(y, 1, 1, tzinfo=tzinfo)
        end = datetime.datetime(y + 1, 1, 1, tzinfo=tzinfo)
    elif d is None:
        mo = int(mo)
        start = datetime.datetime(y, mo, 1, tzinfo=tzinfo)
        end = datetime.datetime(y + mo // 12, mo % 12 + 1, 1, tzinfo=tzinfo)
    elif hh is None:
        start = datetime.datetime(y, int(mo), int(d), tzinfo=tzinfo)
        end = start + datetime.timedelta(days=1)
    else:
        start = datetime.datetime(y, int(mo), int(d), int(hh), int(mi), int(ss or 0), tzinfo=tzinfo)
        if ss is None:
            step = 60.0
        elif frac:
            start += datetime.timedelta(seconds=float(frac))
            step = 10.0 ** -(len(frac) - 1)
        else:
            step = 1.0
        end = start + datetime.timedelta(seconds=step)
    return start.timestamp(), end.timestamp()


def _instant(text):
    try:
        return _fhir_range(text)[0] if isinstance(text, str) else None
    except ValueError:
        return None


_DATE_PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le")


def _date_filter(value):
    """'ge2020-01-01' -> predicate on an instant (epoch seconds)."""
    m = re.match(r"^(eq|ne|gt|lt|ge|le|sa|eb|ap)?(.+)$", value)
    if not m:
        raise _BadRequest("empty date parameter")
    prefix = m.group(1) or "eq"
    if prefix not in _DATE_PREFIXES:
        raise _BadRequest("date prefix %s is not supported" % prefix)
    try:
        lo, hi = _fhir_range(m.group(2))
    except ValueError as e:
        raise _BadRequest(str(e)) from None
    return {
        "eq": lambda t: lo <= t < hi, "ne": lambda t: not lo <= t < hi,
        "gt": lambda t: t >= hi, "ge": lambda t: t >= lo,
        "lt": lambda t: t < lo, "le": lambda t: t < hi,
    }[prefix]


def _token_match(concepts, tokens):
    for tok in tokens:
        system, bar, code = tok.partition("|")
        if not bar:
            system, code = None, tok
        for cc in concepts:
            for c in (cc or {}).get("coding") or []:
                if system is None:
                    ok = c.get("code") == code
                elif system == "":
                    ok = "system" not in c and c.get("code") == code
                elif code == "":
                    ok = c.get("system") == system
                else:
                    ok = c.get("system") == system and c.get("code") == code
                if ok:
                    return True
    return False


def _ref_id(reference, rtype):
    """'Patient/1', 'http://x/r4/t/Patient/1' -> '1'; other types -> None."""
    if not isinstance(reference, str):
        return None
    parts = reference.rstrip("/").split("/")
    if len(parts) >= 2 and parts[-2] == rtype:
        return parts[-1]
    if len(parts) >= 4 and parts[-2] == "_history" and parts[-4] == rtype:
        return parts[-3]
    return None


def _patient_of(doc):
    return _ref_id(((doc.get("subject") or {}).get("reference")), "Patient")


def _binary_ids(doc):
    out = []
    for c in doc.get("content") or []:
        bid = _ref_id(((c or {}).get("attachment") or {}).get("url"), "Binary")
        if bid:
            out.append(bid)
    return out


def _parse_scope(scope):
    """'system/T.read' | 'system/T.rs' -> (T, set of cruds letters); None if not a system scope."""
    m = re.match(r"^system/([A-Za-z]+|\*)\.(read|write|\*|c?r?u?d?s?)$", scope)
    if not m or not m.group(2):
        return None
    perm = m.group(2)
    if perm == "read":
        perms = {"r", "s"}
    elif perm == "write":
        perms = {"c", "u", "d"}
    elif perm == "*":
        perms = set("cruds")
    else:
        perms = set(perm)
    return m.group(1), frozenset(perms)


def _permits(perms, rtype, p):
    return any((t == rtype or t == "*") and p in ps for t, ps in perms)


def _needed_scope(rtype, p):
    return "system/%s.%s" % (rtype, "write" if p in "cud" else "read")


def _parse_etag(value):
    v = value.strip()
    if v.startswith("W/"):
        v = v[2:]
    return v.strip('"')


def _accepts_gzip(header):
    for part in (header or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        if fields[0].lower() in ("gzip", "x-gzip"):
            q = 1.0
            for f in fields[1:]:
                if f.lower().startswith("q="):
                    try:
                        q = float(f[2:])
                    except ValueError:
                        q = 0.0
            if q > 0:
                return True
    return False


def _media_prefers_json(accept):
    best = None
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        media, q = fields[0].lower(), 1.0
        for f in fields[1:]:
            if f.lower().startswith("q="):
                try:
                    q = float(f[2:])
                except ValueError:
                    q = 0.0
        if media and q > 0 and (best is None or q > best[0]):
            best = (q, media)
    return best is not None and best[1] in JSON_TYPES


def _read_ndjson(path):
    out = []
    with open(path, "rb") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except ValueError as e:
                raise ValueError("%s:%d: %s" % (path, n, e)) from None
    return out


def _oo(code, diagnostics, severity="error"):
    return {"resourceType": "OperationOutcome",
            "issue": [{"severity": severity, "code": code, "diagnostics": diagnostics}]}


_OO_CODES = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported",
             409: "conflict", 410: "not-found", 412: "conflict", 413: "too-costly",
             429: "throttled", 500: "exception", 503: "transient"}


class _BadRequest(Exception):
    pass


_TYPE_FILTER_PARAMS = ("type", "category", "status")


def _parse_type_filters(values):
    """_typeFilter values ("DocumentReference?type=...&status=current") -> {type: [query]}."""
    out = {}
    for v in values:
        rtype, sep, query = v.partition("?")
        if not sep or not re.match(r"^[A-Z][A-Za-z]+$", rtype):
            raise _BadRequest("_typeFilter %s is not Type?query" % v)
        q = urllib.parse.parse_qs(query, keep_blank_values=True)
        for k in q:
            if k not in _TYPE_FILTER_PARAMS:
                raise _BadRequest("_typeFilter parameter %s is not supported (supported: %s)"
                                  % (k, ", ".join(_TYPE_FILTER_PARAMS)))
        out.setdefault(rtype, []).append(q)
    return out


def _type_filter_match(d, q):
    for v in q.get("type", []):
        if not _token_match([d.get("type") or {}], [x for x in v.split(",") if x]):
            return False
    for v in q.get("category", []):
        if not _token_match(d.get("category") or [], [x for x in v.split(",") if x]):
            return False
    for v in q.get("status", []):
        if d.get("status") not in v.split(","):
            return False
    return True


def _job_part(job, fname):
    """The (list, name, type, data, count) of an export job's file, or None."""
    if job is None:
        return None
    for part in job["parts"]:
        if part[1] == fname:
            return part
    return None


def _parameters_query(body):
    """A kick-off's FHIR Parameters body -> {name: [value, ...]} as a GET query gives."""
    try:
        params = json.loads(body or b"null")
    except ValueError:
        params = None
    if not isinstance(params, dict) or params.get("resourceType") != "Parameters":
        raise _BadRequest("The POST body should be a Parameters resource")
    q = {}
    for p in params.get("parameter") or []:
        name = p.get("name") if isinstance(p, dict) else None
        keys = [k for k in (p or {}) if k.startswith("value")] if name else []
        if not name or len(keys) != 1:
            raise _BadRequest("every parameter needs a name and one value[x]")
        v = p[keys[0]]
        if keys[0] == "valueReference":
            v = _strip_prefix(str((v or {}).get("reference", "")), "Patient/")
        elif keys[0] == "valueBoolean":
            v = "true" if v is True else "false"
        q.setdefault(name, []).append(str(v))
    return q


class _BodyError(Exception):
    def __init__(self, status, msg):
        super().__init__(msg)
        self.status = status


# ---------------------------------------------------------------- the server

class FhirTestServer:
    """A Millennium-like FHIR R4 server on 127.0.0.1 with switchable faults.

    docrefs: DocumentReference dicts; binaries: Binary dicts ({"id", "contentType",
    "data": base64 text, possibly wrapped, or raw bytes}). Faults may be passed
    as keyword arguments (same names as configure()).
    """

    def __init__(self, docrefs=(), binaries=(), tenant=DEFAULT_TENANT, port=0, storage_port=0,
                 verbose=False, **faults):
        if not re.match(r"^[A-Za-z0-9._-]+$", tenant):
            raise ValueError("bad tenant %r" % tenant)
        self.tenant = tenant
        self.verbose = verbose
        self._want_ports = (port, storage_port)
        self._lock = threading.RLock()
        self._docs = collections.OrderedDict()
        self._bins = {}
        for d in docrefs:
            self._add_docref(d)
        for b in binaries:
            self._add_binary(b)
        self._clients = {}
        self._tokens = {}
        self._jtis = {}
        self._faults = dict(FAULT_DEFAULTS)
        self._stats = _new_stats()
        self._rate_window = collections.deque()
        self._seq_503 = 0
        self._seq_429 = 0
        self._seq_cut = 0
        self._script = {k: collections.deque() for k in _SCRIPT_KEYS}
        self._pages = collections.OrderedDict()
        self._jobs = {}
        self._sigs = collections.OrderedDict()
        self._servers = []
        self._threads = []
        self._conns = set()
        self.port = self.storage_port = None
        self.origin = self.base_url = self.token_url = self.storage_url = self.register_url = None
        self.configure(**faults)

    # ---- data

    @classmethod
    def from_ndjson(cls, docrefs_path, binaries_path=None, **kw):
        """Load FHIR NDJSON files (one resource a line; Binary data may be wrapped)."""
        docrefs = _read_ndjson(docrefs_path) if docrefs_path else []
        binaries = _read_ndjson(binaries_path) if binaries_path else []
        return cls(docrefs=docrefs, binaries=binaries, **kw)

    def _add_docref(self, d):
        if not isinstance(d, dict) or d.get("resourceType", "DocumentReference") != "DocumentReference":
            raise ValueError("not a DocumentReference: %r" % (d,)[:80])
        if not d.get("id"):
            raise ValueError("DocumentReference without id")
        d = json.loads(json.dumps(d))
        d["resourceType"] = "DocumentReference"
        meta = d.setdefault("meta", {})
        meta.setdefault("versionId", "1")
        meta["versionId"] = str(meta["versionId"])
        meta.setdefault("lastUpdated", _iso(time.time()))
        self._docs[str(d["id"])] = d

    def _add_binary(self, b):
        if not isinstance(b, dict) or not b.get("id"):
            raise ValueError("Binary without id")
        data = b.get("data", b"")
        if isinstance(data, (bytes, bytearray)):
            raw = bytes(data)
        else:
            try:
                raw = base64.b64decode("".join(str(data).split()), validate=True)
            except (binascii.Error, ValueError) as e:
                raise ValueError("Binary/%s: bad base64 data: %s" % (b["id"], e)) from None
        self._bins[str(b["id"])] = {"contentType": b.get("contentType") or "application/octet-stream",
                                    "bytes": raw, "b64": base64.b64encode(raw).decode("ascii")}

    def get_resource(self, rtype, rid):
        """Current stored copy of DocumentReference/ID or Binary/ID (None if unknown)."""
        with self._lock:
            if rtype == "DocumentReference":
                d = self._docs.get(rid)
                return json.loads(json.dumps(d)) if d else None
            b = self._bins.get(rid)
            return {"resourceType": "Binary", "id": rid, "contentType": b["contentType"],
                    "data": b["b64"]} if b else None

    # ---- clients and tokens

    def register_client(self, client_id, jwks=None, secret=None, scopes=None):
        """Allow client_id to get tokens with a JWKS (private_key_jwt) and/or a secret (Basic).

        scopes: the scopes this client may be granted (v1 or v2 forms; None = all)."""
        if jwks is None and secret is None:
            raise ValueError("register_client needs jwks or secret")
        if jwks is not None:
            if isinstance(jwks, dict) and "keys" not in jwks:
                jwks = {"keys": [jwks]}
            elif isinstance(jwks, (list, tuple)):
                jwks = {"keys": list(jwks)}
            for k in jwks["keys"]:
                jose.jwk_to_key(k)
        if scopes is None:
            scopes = ["system/*.cruds"]
        elif isinstance(scopes, str):
            scopes = scopes.split()
        perms = [p for p in (_parse_scope(s) for s in scopes) if p]
        with self._lock:
            self._clients[client_id] = {"jwks": jwks, "secret": secret, "perms": perms,
                                        "scopes": list(scopes)}

    def mint_token(self, scopes="system/*.read system/DocumentReference.write", client_id="_minted",
                   lifetime=None):
        """A valid access token without the token endpoint (for benchmarks); not counted."""
        if isinstance(scopes, str):
            scopes = scopes.split()
        return self._issue(client_id, list(scopes), lifetime)

    def _issue(self, client_id, scopes, lifetime=None):
        if lifetime is None:
            lifetime = self._faults["token_lifetime"]
        tok = secrets.token_urlsafe(32)
        perms = [p for p in (_parse_scope(s) for s in scopes) if p]
        with self._lock:
            if len(self._tokens) > 100000:
                now = time.time()
                for k in [k for k, v in self._tokens.items() if v["expires"] < now - 3600]:
                    del self._tokens[k]
            self._tokens[tok] = {"client": client_id, "scopes": scopes, "perms": perms,
                                 "expires": time.time() + lifetime}
        return tok

    def _lookup_token(self, tok):
        with self._lock:
            rec = self._tokens.get(tok)
        if rec is None:
            return None, "The access token is invalid"
        if time.time() >= rec["expires"]:
            return None, "The access token expired"
        return rec, None

    def _grant(self, client, requested, no_binary):
        out = []
        for s in dict.fromkeys(requested):
            parsed = _parse_scope(s)
            if not parsed or not all(_permits(client["perms"], parsed[0], p) for p in parsed[1]):
                continue
            if no_binary and parsed[0] == "Binary":
                continue
            if no_binary and parsed[0] == "*":
                out.extend(s.replace("*", t, 1) for t in ("DocumentReference", "Patient", "Group"))
                continue
            out.append(s)
        return list(dict.fromkeys(out))

    def _check_assertion(self, form, faults):
        """SMART Backend Services client authentication -> (client_id, None) or (None, why)."""
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            return None, "client_assertion_type must be " + ASSERTION_TYPE
        token = form.get("client_assertion")
        if not token:
            return None, "client_assertion is required"
        try:
            header, claims, _, _ = jose.decode_jwt(token)
        except jose.JoseError as e:
            return None, str(e)
        if header.get("alg") not in jose.SUPPORTED_ALGS:
            return None, "unsupported alg %r (use RS384 or ES384)" % (header.get("alg"),)
        cid = form.get("client_id") or claims.get("iss")
        if form.get("client_id") and claims.get("iss") != form["client_id"]:
            return None, "iss must equal client_id"
        with self._lock:
            client = self._clients.get(cid) if isinstance(cid, str) else None
        if client is None:
            return None, "unknown client %r" % (cid,)
        if not client["jwks"]:
            return None, "client %s has no registered JWKS" % cid
        try:
            jose.verify_jwt(token, client["jwks"])
        except jose.JoseError as e:
            return None, str(e)
        if claims.get("iss") != cid or claims.get("sub") != cid:
            return None, "iss and sub must both equal the client_id"
        aud = claims.get("aud")
        if not (aud == self.token_url or (isinstance(aud, list) and self.token_url in aud)):
            return None, "aud must be the token URL"
        now = time.time() + faults["clock_skew_s"]
        exp = claims.get("exp")
        if isinstance(exp, bool) or not isinstance(exp, (int, float)):
            return None, "exp is required (a NumericDate)"
        if exp <= now:
            return None, "assertion expired (check the clock)"
        if exp > now + MAX_EXP_AHEAD:
            return None, "exp too far in the future"
        nbf = claims.get("nbf")
        if isinstance(nbf, (int, float)) and not isinstance(nbf, bool) and nbf > now:
            return None, "assertion not valid yet: nbf is in the future (check the clock)"
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            return None, "jti is required"
        with self._lock:
            if len(self._jtis) > 10000:
                old = time.time() - 3600 - abs(faults["clock_skew_s"])
                for k in [k for k, v in self._jtis.items() if v < old]:
                    del self._jtis[k]
            if (cid, jti) in self._jtis:
                return None, "jti replayed"
            self._jtis[(cid, jti)] = exp
        return cid, None

    # ---- faults and counters

    def configure(self, **faults):
        """Change faults (thread-safe); a value of None restores the default."""
        norm = {k: _norm_fault(k, v) for k, v in faults.items()}
        with self._lock:
            self._faults.update(norm)
            if "fail_503_every" in norm:
                self._seq_503 = 0
            if "fail_429_every" in norm:
                self._seq_429 = 0
            if "cut_body_every" in norm:
                self._seq_cut = 0
            if "rate_limit" in norm:
                self._rate_window.clear()
            if "export_script" in norm:
                script = norm["export_script"] or {}
                self._script = {k: collections.deque(script.get(k, ())) for k in _SCRIPT_KEYS}

    def faults(self):
        with self._lock:
            return dict(self._faults)

    def _take_script(self, key, path=""):
        """The next scripted answer for a kick-off, status poll or file (export_script), or None."""
        with self._lock:
            q = self._script[key]
            for i, a in enumerate(q):
                if a.get("match", "") in path:
                    del q[i]
                    return a
        return None

    def stats(self):
        with self._lock:
            s = dict(self._stats)
            s["status_counts"] = dict(s["status_counts"])
            s["paths"] = dict(s["paths"])
            s["path_log"] = list(s["path_log"])
            s["scopes_requested"] = list(s["scopes_requested"])
            s["user_agents"] = set(s["user_agents"])
            s["export_kickoffs"] = list(s["export_kickoffs"])
        return s

    def reset_stats(self):
        with self._lock:
            in_flight = self._stats["in_flight"]
            self._stats = _new_stats()
            self._stats["in_flight"] = self._stats["peak_concurrency"] = in_flight

    def _begin(self, handler):
        h = handler.headers
        with self._lock:
            s = self._stats
            s["requests"] += 1
            s["in_flight"] += 1
            s["peak_concurrency"] = max(s["peak_concurrency"], s["in_flight"])
            ua = h.get("User-Agent")
            if ua:
                if len(s["user_agents"]) < 1000:
                    s["user_agents"].add(ua)
                s["last_user_agent"] = ua
            if _accepts_gzip(h.get("Accept-Encoding")):
                s["accept_encoding_seen"] = True
            return dict(self._faults)

    def _end(self):
        with self._lock:
            self._stats["in_flight"] -= 1

    def _count(self, key, n=1):
        with self._lock:
            self._stats[key] += n

    def _count_path(self, kind):
        with self._lock:
            paths = self._stats["paths"]
            paths[kind] = paths.get(kind, 0) + 1
            if len(self._stats["path_log"]) < 1000:
                self._stats["path_log"].append(kind)

    def _count_status(self, status, cut):
        with self._lock:
            s = self._stats
            s["status_counts"][status] = s["status_counts"].get(status, 0) + 1
            if status == 429:
                s["sent_429"] += 1
            elif status == 503:
                s["sent_503"] += 1
            if cut:
                s["cut_bodies"] += 1

    def _rate_ok(self, faults):
        rate = faults["rate_limit"]
        if not rate:
            return True
        now = time.monotonic()
        with self._lock:
            w = self._rate_window
            while w and w[0] <= now - 1.0:
                w.popleft()
            if len(w) >= rate:
                return False
            w.append(now)
            return True

    def _take_503(self, faults):
        k = faults["fail_503_every"]
        if not k:
            return False
        with self._lock:
            self._seq_503 += 1
            return self._seq_503 % k == 0

    def _take_429(self, faults, kind):
        k = faults["fail_429_every"]
        only = faults["fail_429_only"]
        if not k or (only is not None and kind not in only):
            return False
        with self._lock:
            self._seq_429 += 1
            return self._seq_429 % k == 0

    def _take_cut(self, faults):
        k = faults["cut_body_every"]
        if not k:
            return False
        with self._lock:
            self._seq_cut += 1
            return self._seq_cut % k == 0

    def _new_sig(self, target):
        sig = secrets.token_urlsafe(24)
        with self._lock:
            self._sigs[sig] = (target, time.time() + 600)
            while len(self._sigs) > 50000:
                self._sigs.popitem(last=False)
        return sig

    def _check_sig(self, sig, target):
        with self._lock:
            rec = self._sigs.get(sig or "")
        return rec is not None and rec[0] == target and rec[1] > time.time()

    # ---- search

    def _search_ids(self, q):
        if not any(k in q for k in ("patient", "subject", "_id", "_lastUpdated")):
            raise _BadRequest("DocumentReference search needs a patient, subject, _id or "
                              "_lastUpdated parameter")
        for k in q:
            if ":" in k and k.split(":", 1)[0] in dict(SEARCH_PARAMS):
                raise _BadRequest("search modifier %s is not supported" % k)
        preds = []
        for v in q.get("patient", []):
            want = {_strip_prefix(x.strip(), "Patient/") for x in v.split(",") if x.strip()}
            if not want:
                raise _BadRequest("empty patient parameter")
            preds.append(lambda d, w=want: _patient_of(d) in w)
        for v in q.get("subject", []):
            want = {x.strip() for x in v.split(",") if x.strip()}
            if not want:
                raise _BadRequest("empty subject parameter")
            want = {x if "/" in x else "Patient/" + x for x in want}
            preds.append(lambda d, w=want: (d.get("subject") or {}).get("reference") in w or
                         ("Patient/%s" % _patient_of(d)) in w)
        for v in q.get("_id", []):
            want = {x.strip() for x in v.split(",") if x.strip()}
            preds.append(lambda d, w=want: d["id"] in w)
        for v in q.get("category", []):
            toks = [x for x in v.split(",") if x]
            preds.append(lambda d, t=toks: _token_match(d.get("category") or [], t))
        for v in q.get("type", []):
            toks = [x for x in v.split(",") if x]
            preds.append(lambda d, t=toks: _token_match([d.get("type") or {}], t))
        for name, get in (("date", lambda d: d.get("date")),
                          ("_lastUpdated", lambda d: (d.get("meta") or {}).get("lastUpdated"))):
            for v in q.get(name, []):
                fs = [_date_filter(x) for x in v.split(",") if x]

                def pred(d, fs=fs, get=get):
                    t = _instant(get(d))
                    return t is not None and any(f(t) for f in fs)
                preds.append(pred)
        with self._lock:
            docs = list(self._docs.values())
        return [d["id"] for d in docs if all(p(d) for p in preds)]

    # ---- export

    def _export_files(self, types, since, patients, hidden, type_filters=None, attachments=False):
        """{type: (ndjson bytes, count)} for an export; patients: list of ids or None (all);
        type_filters: {type: [query dict, ...]} from _typeFilter (a resource passes one).

        attachments: DocumentReference attachment urls "Binary/ID" become absolute
        {base}/attachments/ID urls (the reference server's form)."""
        pset = None if patients is None else set(patients)
        doc_filters = (type_filters or {}).get("DocumentReference")
        with self._lock:
            docs = list(self._docs.values())
            bins = dict(self._bins)
        sel = []
        for d in docs:
            if "DocumentReference/" + d["id"] in hidden:
                continue
            if pset is not None and _patient_of(d) not in pset:
                continue
            if since is not None:
                t = _instant((d.get("meta") or {}).get("lastUpdated"))
                if t is not None and t <= since:
                    continue
            if doc_filters and not any(_type_filter_match(d, f) for f in doc_filters):
                continue
            sel.append(d)
        files = {}
        for t in types:
            if t == "DocumentReference" and attachments:
                lines = []
                for d in sel:
                    d = json.loads(json.dumps(d))
                    for c in d.get("content") or []:
                        att = (c or {}).get("attachment") or {}
                        bid = _ref_id(att.get("url"), "Binary")
                        if bid:
                            att["url"] = "%s/attachments/%s" % (self.base_url, urllib.parse.quote(bid))
                    lines.append(_json_bytes(d))
            elif t == "DocumentReference":
                lines = [_json_bytes(d) for d in sel]
            elif t == "Binary":
                ids = dict.fromkeys(b for d in sel for b in _binary_ids(d))
                lines = [_json_bytes({"resourceType": "Binary", "id": b, "contentType": bins[b]["contentType"],
                                      "data": bins[b]["b64"]})
                         for b in ids if b in bins and "Binary/" + b not in hidden]
            else:
                pids = patients if patients is not None else [_patient_of(d) for d in docs]
                lines = [_json_bytes({"resourceType": "Patient", "id": p})
                         for p in dict.fromkeys(p for p in pids if p)]
            files[t] = (b"".join(line + b"\n" for line in lines), len(lines))
        return files

    def _export_parts(self, files, faults, since_given):
        """The files of an export, in manifest order: [(list, name, type, data, count)].
        list is "output", "deleted" or "error"; output is split by export_resources_per_file."""
        parts = []
        per = faults["export_resources_per_file"]
        for t, (data, count) in files.items():
            if not count:
                continue
            if not per:
                parts.append(("output", "%s.ndjson" % t, t, data, count))
                continue
            lines = data.splitlines(keepends=True)
            for k in range(0, len(lines), per):
                chunk = lines[k:k + per]
                parts.append(("output", "%s.%d.ndjson" % (t, k // per + 1), t, b"".join(chunk), len(chunk)))
        if since_given and faults["export_deleted"]:
            # Bulk Data IG: transaction Bundles of DELETE requests, one per line
            refs = sorted(faults["export_deleted"])
            data = b"".join(_json_bytes({"resourceType": "Bundle", "type": "transaction", "entry": [
                {"request": {"method": "DELETE", "url": ref}}]}) + b"\n" for ref in refs)
            parts.append(("deleted", "deleted.ndjson", "Bundle", data, len(refs)))
        if faults["export_errors"]:
            # as the SMART reference server writes them: no newline after the last one
            data = b"\n".join(_json_bytes(_oo("processing", d)) for d in faults["export_errors"])
            parts.append(("error", "errors.ndjson", "OperationOutcome", data, len(faults["export_errors"])))
        return parts

    def _all_patients(self):
        with self._lock:
            return list(dict.fromkeys(p for p in (_patient_of(d) for d in self._docs.values()) if p))

    # ---- capability documents

    def missing_types(self):
        with self._lock:
            f = self._faults
            return set(f["missing_types"]) | ({"Binary"} if f["bulk_only"] else set())

    def capability_statement(self):
        doc = self._capability_statement()
        with self._lock:
            bulk_only = self._faults["bulk_only"]
        missing = self.missing_types()
        rest = doc["rest"][0]
        rest["resource"] = [r for r in rest["resource"] if r["type"] not in missing]
        if bulk_only:
            # The SMART reference server: resources can be read, none searched.
            for r in rest["resource"]:
                if r["type"] == "DocumentReference":
                    r["interaction"] = [{"code": "read"}]
                    r.pop("versioning", None)
                    r.pop("updateCreate", None)
            rest["security"]["extension"][0]["extension"].append(
                {"url": "register", "valueUri": self.register_url})
        return doc

    def _capability_statement(self):
        return {
            "resourceType": "CapabilityStatement", "id": "docpipe-fhirserver", "status": "active",
            "date": "2024-01-15T12:00:00Z", "publisher": "docpipe tests", "kind": "instance",
            "software": {"name": "docpipe FHIR test server (Millennium R4 emulation)", "version": "1"},
            "implementation": {"description": "Oracle Health Millennium R4 emulation", "url": self.base_url},
            "fhirVersion": "4.0.1", "format": ["application/fhir+json", "application/json"],
            "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
            "rest": [{
                "mode": "server",
                "security": {
                    "extension": [{
                        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                        "extension": [{"url": "token", "valueUri": self.token_url}]}],
                    "service": [{"coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR"}], "text": "OAuth2 using SMART-on-FHIR profile"}]},
                "resource": [
                    {"type": "DocumentReference",
                     "interaction": [{"code": "search-type"}, {"code": "read"}, {"code": "update"}],
                     "versioning": "versioned-update", "updateCreate": False,
                     "searchParam": [{"name": n, "type": t} for n, t in SEARCH_PARAMS]},
                    {"type": "Binary", "interaction": [{"code": "read"}]},
                    {"type": "Patient", "operation": [{
                        "name": "export",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"}]},
                    {"type": "Group", "operation": [{
                        "name": "export",
                        "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"}]},
                ],
                "operation": [{"name": "export",
                               "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}],
            }],
        }

    def smart_configuration(self):
        doc = self._smart_configuration()
        with self._lock:
            f = dict(self._faults)
        missing = self.missing_types()
        if f["smart_scopes"] == "omit":
            del doc["scopes_supported"]
        elif f["smart_scopes"] is not None:
            doc["scopes_supported"] = list(f["smart_scopes"])
        else:
            doc["scopes_supported"] = [s for s in doc["scopes_supported"]
                                       if (_parse_scope(s) or ("",))[0] not in missing]
        if f["smart_capabilities"] is not None:
            doc["capabilities"] = list(f["smart_capabilities"])
        if f["bulk_only"]:
            doc["registration_endpoint"] = self.register_url
        return doc

    def _smart_configuration(self):
        return {
            "token_endpoint": self.token_url,
            "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
            "token_endpoint_auth_signing_alg_values_supported": list(jose.SUPPORTED_ALGS),
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": list(SCOPES_SUPPORTED),
            "capabilities": ["client-confidential-asymmetric", "client-confidential-symmetric",
                             "permission-v1", "permission-v2"],
        }

    # ---- lifecycle

    def start(self):
        """Bind 127.0.0.1 (FHIR + token listener, and the storage listener) and serve."""
        if self._servers:
            raise RuntimeError("already started")
        main = _Server((HOST, self._want_ports[0]), _FhirHandler, self)
        try:
            storage = _Server((HOST, self._want_ports[1]), _StorageHandler, self)
        except OSError:
            main.server_close()
            raise
        self._servers = [main, storage]
        self.port = main.server_address[1]
        self.storage_port = storage.server_address[1]
        self.origin = "http://%s:%d" % (HOST, self.port)
        self.base_url = "%s/r4/%s" % (self.origin, self.tenant)
        self.token_url = "%s/tenants/%s/protocols/oauth2/profiles/smart-v1/token" % (self.origin, self.tenant)
        self.register_url = "%s/auth/register" % self.origin
        self.storage_url = "http://%s:%d" % (HOST, self.storage_port)
        for s in self._servers:
            t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.1},
                                 name="fhirserver-%d" % s.server_address[1], daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        """Stop both listeners and drop open keep-alive connections."""
        servers, self._servers = self._servers, []
        for s in servers:
            s.shutdown()
            s.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self._threads:
            t.join(5)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, addr, handler, app):
        self.app = app
        super().__init__(addr, handler)

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        if self.app.verbose:
            super().handle_error(request, client_address)


# ---------------------------------------------------------------- handlers

class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "docpipe-fhirserver/1"
    sys_version = ""
    timeout = 120
    disable_nagle_algorithm = True
    admin_ok = False

    @property
    def app(self):
        return self.server.app

    def setup(self):
        super().setup()
        with self.app._lock:
            self.app._conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with self.app._lock:
                self.app._conns.discard(self.connection)

    def version_string(self):
        return self.server_version

    def log_message(self, fmt, *args):
        if self.app.verbose:
            sys.stderr.write("fhirserver: %s %s\n" % (self.address_string(), fmt % args))

    def send_response(self, code, message=None):
        super().send_response(code, message)
        self.send_header("X-Request-Id", str(uuid.uuid4()))
        self.send_header("opc-request-id", "%s/%s" % (uuid.uuid4().hex.upper(), secrets.token_hex(16).upper()))

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PATCH(self):
        self._dispatch("PATCH")

    def do_HEAD(self):
        self._dispatch("HEAD")

    def do_OPTIONS(self):
        self._dispatch("OPTIONS")

    # ---- plumbing

    def _dispatch(self, method):
        self._responded = False
        split = urllib.parse.urlsplit(self.path)
        self._query = urllib.parse.parse_qs(split.query, keep_blank_values=True)
        parts = [urllib.parse.unquote(p) for p in split.path.split("/")[1:]]
        if parts and parts[-1] == "" and len(parts) > 1:
            parts.pop()
        self._counted = not (self.admin_ok and parts[:1] == ["_admin"])
        self._faults = self.app._begin(self) if self._counted else self.app.faults()
        self._gzip_ok = _accepts_gzip(self.headers.get("Accept-Encoding"))
        try:
            try:
                self._body = self._read_body()
            except _BodyError as e:
                self.close_connection = True
                return self._send_oo(e.status, str(e))
            self._route(method, parts)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            if not self._responded:
                try:
                    self._send_oo(500, "internal error in the test server")
                except OSError:
                    pass
        finally:
            if self._counted:
                self.app._end()

    def _read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionResetError("eof in chunked body")
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _BodyError(400, "bad chunked encoding") from None
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                if len(out) + size > MAX_BODY:
                    raise _BodyError(413, "request body too large")
                chunk = self.rfile.read(size)
                if len(chunk) < size:
                    raise ConnectionResetError("eof in chunk")
                out += chunk
                self.rfile.readline(3)
        try:
            n = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise _BodyError(400, "bad Content-Length") from None
        if n < 0:
            raise _BodyError(400, "bad Content-Length")
        if n > MAX_BODY:
            raise _BodyError(413, "request body too large")
        body = self.rfile.read(n) if n else b""
        if len(body) < n:
            raise ConnectionResetError("eof in body")
        return body

    def _send(self, status, body=b"", ctype=None, headers=(), cuttable=False, compressible=None):
        if compressible is None:
            compressible = bool(ctype) and "json" in ctype
        extra = list(headers)
        if compressible:
            if body and self._gzip_ok:
                body = gzip.compress(body, compresslevel=6, mtime=0)
                extra.append(("Content-Encoding", "gzip"))
            extra.append(("Vary", "Accept-Encoding"))
        cut = bool(body) and cuttable and self.app._take_cut(self._faults)
        if self._counted:
            self.app._count_status(status, cut)
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._responded = True
        if self.command == "HEAD" or not body:
            return
        if cut:
            # full Content-Length announced, half the body sent, then the connection closes
            self.wfile.write(body[:len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
        else:
            self.wfile.write(body)

    def _send_json(self, status, obj, ctype=FHIR_JSON, headers=(), cuttable=False):
        self._send(status, _json_bytes(obj), ctype, headers, cuttable=cuttable)

    def _send_oo(self, status, diagnostics, headers=(), code=None):
        self._send_json(status, _oo(code or _OO_CODES.get(status, "processing"), diagnostics),
                        headers=headers)

    def _send_part(self, job, part, fname):
        """An export file: after export_file_delay_ms, and unless export_script says otherwise."""
        app = self.app
        with app._lock:
            s = app._stats
            s["export_files_in_flight"] += 1
            s["export_files_peak"] = max(s["export_files_peak"], s["export_files_in_flight"])
        try:
            delay = self._faults["export_file_delay_ms"]
            slow = self._faults["export_slow_file"]
            if slow and slow[0] in fname:
                delay += slow[1]
            if delay:
                time.sleep(delay / 1000.0)
        finally:
            app._count("export_files_in_flight", -1)
        scripted = app._take_script("file", fname)
        if scripted:
            return self._scripted(scripted)
        app._count("export_files_served")
        self._send(200, part[3], FHIR_NDJSON, cuttable=True)

    def _scripted(self, a):
        """Send an answer of export_script (see _SCRIPT_KEYS)."""
        st = a["status"]
        headers = [("Retry-After", str(a["retry_after"]))] if "retry_after" in a else []
        if "text" in a:
            return self._send(st, str(a["text"]).encode(), a.get("content_type", "text/plain; charset=utf-8"),
                              headers, compressible=False)
        if "json" in a:
            return self._send(st, _json_bytes(a["json"]), a.get("content_type", "application/json"), headers)
        return self._send_json(st, _oo(a.get("code") or _OO_CODES.get(st, "processing"),
                                       a.get("diagnostics", "scripted failure")),
                               ctype=a.get("content_type", FHIR_JSON), headers=headers)

    def _not_found(self):
        self.app._count_path("unknown")
        self._send_oo(404, "Unknown path %s" % urllib.parse.urlsplit(self.path).path)

    def _method_not_allowed(self, allowed):
        self._send_oo(405, "Method %s is not allowed here" % self.command,
                      headers=[("Allow", ", ".join(allowed))])

    def _dispatch_table(self, method, table):
        fn = table.get(method)
        if fn is None:
            return self._method_not_allowed(sorted(table))
        return fn()

    def _send_binary(self, bid, as_json):
        b = self.app._bins.get(bid)
        if as_json:
            self._send_json(200, {"resourceType": "Binary", "id": bid, "contentType": b["contentType"],
                                  "data": b["b64"]}, cuttable=True)
        else:
            self._send(200, b["bytes"], b["contentType"], cuttable=True, compressible=False)


class _FhirHandler(_Handler):
    admin_ok = True

    def _route(self, method, parts):
        app = self.app
        if parts[:1] == ["_admin"]:
            return self._admin(method, parts[1:])
        if parts == ["auth", "register"]:
            app._count_path("register")
            return self._dispatch_table(method, {"POST": self._register})
        if parts == ["tenants", app.tenant, "protocols", "oauth2", "profiles", "smart-v1", "token"]:
            app._count_path("token")
            return self._dispatch_table(method, {"POST": self._token})
        if parts[:2] != ["r4", app.tenant] or len(parts) < 3:
            return self._not_found()
        rest = parts[2:]
        n = len(rest)
        r = self._resource
        table = None
        if rest == [".well-known", "smart-configuration"]:
            table = {"GET": lambda: self._plain("smart-configuration", app.smart_configuration(),
                                                "application/json")}
        elif rest == ["metadata"]:
            table = {"GET": lambda: self._plain("metadata", app.capability_statement(), FHIR_JSON)}
        elif self._faults["bulk_only"] and (rest[0] == "Binary" or rest == ["DocumentReference"]
                                            or rest == ["DocumentReference", "_search"]):
            table = None  # no search, no Binary on a Bulk Data server like the reference one
        elif n == 2 and rest[0] == "attachments" and self._faults["bulk_only"]:
            table = {"GET": lambda: r("attachment", lambda t: self._attachment(rest[1]))}
        elif rest == ["DocumentReference"]:
            table = {"GET": lambda: r("search", self._search)}
        elif rest == ["DocumentReference", "_search"]:
            table = {"POST": lambda: r("search", self._search)}
        elif n == 2 and rest[0] == "DocumentReference":
            table = {"GET": lambda: r("read:DocumentReference", lambda t: self._read_docref(t, rest[1])),
                     "PUT": lambda: r("update", lambda t: self._update(t, rest[1]))}
        elif n == 2 and rest[0] == "Binary":
            table = {"GET": lambda: r("read:Binary", lambda t: self._read_binary(t, rest[1]))}
        elif rest == ["$export"]:
            table = {m: lambda: r("export", lambda t: self._export(t, "system", None))
                     for m in ("GET", "POST")}
        elif rest == ["Patient", "$export"]:
            table = {m: lambda: r("export", lambda t: self._export(t, "patient", None))
                     for m in ("GET", "POST")}
        elif n == 3 and rest[0] == "Group" and rest[2] == "$export":
            table = {m: lambda: r("export", lambda t: self._export(t, "group", rest[1]))
                     for m in ("GET", "POST")}
        elif n == 2 and rest[0] == "bulkstatus":
            table = {"GET": lambda: r("bulkstatus", lambda t: self._bulk_status(t, rest[1])),
                     "DELETE": lambda: r("bulkstatus", lambda t: self._bulk_status(t, rest[1]))}
        elif n == 3 and rest[0] == "bulkfiles":
            table = {"GET": lambda: r("bulkfile", lambda t: self._bulk_file(rest[1], rest[2]), auth=False)}
        if table is None:
            return self._not_found()
        return self._dispatch_table(method, table)

    def _plain(self, kind, obj, ctype):
        self.app._count_path(kind)
        self._send_json(200, obj, ctype=ctype)

    # ---- admin (no auth, not counted)

    def _admin(self, method, rest):
        app = self.app
        if rest == ["config"]:
            if method == "GET":
                return self._send_json(200, _jsonable(app.faults()), "application/json")
            if method != "POST":
                return self._method_not_allowed(["GET", "POST"])
            try:
                cfg = json.loads(self._body or b"{}")
                if not isinstance(cfg, dict):
                    raise ValueError("config body must be a JSON object")
                app.configure(**cfg)
            except (ValueError, TypeError) as e:
                return self._send_oo(400, "bad config: %s" % e)
            return self._send_json(200, _jsonable(app.faults()), "application/json")
        if rest == ["info"]:
            if method != "GET":
                return self._method_not_allowed(["GET"])
            return self._send_json(200, {"base_url": app.base_url, "token_url": app.token_url,
                                         "storage_url": app.storage_url, "tenant": app.tenant},
                                   "application/json")
        if rest == ["stats"]:
            if method != "GET":
                return self._method_not_allowed(["GET"])
            return self._send_json(200, _jsonable(app.stats()), "application/json")
        if rest == ["reset"]:
            if method != "POST":
                return self._method_not_allowed(["POST"])
            app.reset_stats()
            return self._send_json(200, {"ok": True}, "application/json")
        return self._send_oo(404, "unknown admin endpoint")

    # ---- auth

    def _resource(self, kind, fn, auth=True):
        """Common front of every authenticated FHIR endpoint: counters, faults, Bearer check."""
        app, faults = self.app, self._faults
        app._count("resource_requests")
        app._count_path(kind)
        if not app._rate_ok(faults) or app._take_429(faults, kind):
            return self._send_429()
        if faults["slow_ms"]:
            time.sleep(faults["slow_ms"] / 1000.0)
        if app._take_503(faults):
            return self._send_oo(503, "The service is temporarily unavailable")
        rh = faults["required_header"]
        if rh and self.headers.get(rh["name"]) != rh["value"]:
            return self._send_oo(403, "missing header %s" % rh["name"])
        tok = None
        if auth:
            tok = self._bearer()
            if tok is None:
                return None
        return fn(tok)

    def _send_429(self):
        faults = self._faults
        tmpl = faults["retry_after"]
        m = re.match(_RETRY_AFTER_TEMPLATE, tmpl or "")
        if m:
            when = time.time() + float(m.group(2))
            ra = {"epoch": lambda: "%d" % math.ceil(when),
                  "epoch-ms": lambda: "%d" % math.ceil(when * 1000),
                  "date": lambda: _http_date(when)}[m.group(1)]()
        elif tmpl is not None:
            ra = tmpl
        elif faults["retry_after_date"]:
            ra = _http_date(time.time() + 1)
        else:
            ra = "1"
        if faults["throttle_text"] is not None:
            # As the reference server's Express sends a string: text/html.
            return self._send(429, faults["throttle_text"].encode(), "text/html; charset=utf-8",
                              [("Retry-After", ra)])
        self._send_oo(429, "Too many requests: rate limit exceeded", headers=[("Retry-After", ra)])

    def _bearer(self):
        h = self.headers.get("Authorization")
        if not h:
            self._send_oo(401, "An Authorization: Bearer header is required",
                          headers=[("WWW-Authenticate", 'Bearer realm="fhir"')])
            return None
        scheme, _, tok = h.strip().partition(" ")
        rec, why = (None, "The access token is invalid")
        if scheme.lower() == "bearer" and tok.strip() and not self.app.faults()["refuse_tokens"]:
            rec, why = self.app._lookup_token(tok.strip())
        if rec is None:
            self._send_oo(401, why, headers=[(
                "WWW-Authenticate",
                'Bearer realm="fhir", error="invalid_token", error_description="%s"' % why)])
        return rec

    def _require(self, tok, rtype, p):
        if _permits(tok["perms"], rtype, p):
            return True
        need = _needed_scope(rtype, p)
        self._send_oo(403, "Insufficient scope: %s is required" % need, headers=[(
            "WWW-Authenticate", 'Bearer realm="fhir", error="insufficient_scope", scope="%s"' % need)])
        return False

    # ---- token endpoint

    def _oauth_error(self, status, error, desc, headers=()):
        self._send_json(status, {"error": error, "error_description": desc}, "application/json",
                        headers=[("Cache-Control", "no-store"), ("Pragma", "no-cache")] + list(headers))

    def _token(self):
        app, faults = self.app, self._faults
        app._count("token_requests")
        if not app._rate_ok(faults) or app._take_429(faults, "token"):
            return self._send_429()
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return self._oauth_error(400, "invalid_request",
                                     "Content-Type must be application/x-www-form-urlencoded")
        try:
            form = urllib.parse.parse_qs(self._body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            return self._oauth_error(400, "invalid_request", "form body is not UTF-8")
        dup = sorted(k for k, v in form.items() if len(v) > 1)
        if dup:
            return self._oauth_error(400, "invalid_request", "repeated parameter %s" % dup[0])
        f = {k: v[0] for k, v in form.items()}
        if not f.get("grant_type"):
            return self._oauth_error(400, "invalid_request", "grant_type is required")
        if f["grant_type"] != "client_credentials":
            return self._oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
        basic = self.headers.get("Authorization")
        has_assertion = "client_assertion" in f or "client_assertion_type" in f
        if basic and has_assertion:
            return self._oauth_error(400, "invalid_request", "use one client authentication method")
        if has_assertion:
            cid, why = app._check_assertion(f, faults)
            if cid is None:
                return self._oauth_error(400, "invalid_client", why)
        elif basic:
            cid, why = self._check_basic(basic, f)
            if cid is None:
                return self._oauth_error(401, "invalid_client", why,
                                         [("WWW-Authenticate", 'Basic realm="token"')])
        else:
            return self._oauth_error(401, "invalid_client", "client authentication is required")
        with app._lock:
            client = app._clients[cid]
        requested = f.get("scope", "").split()
        with app._lock:
            app._stats["scopes_requested"].append(f.get("scope", ""))
        if not requested:
            return self._oauth_error(400, "invalid_scope", "scope is required")
        missing = app.missing_types()
        for sc in requested:
            parsed = _parse_scope(sc)
            if parsed and parsed[0] in missing:
                if faults["scope_refusal"] == "vague":
                    return self._oauth_error(400, "invalid_scope", "Invalid scope")
                return self._oauth_error(400, "invalid_scope",
                                         'Resources of type "%s" do not exist on this server '
                                         '(requested by scope "%s")' % (parsed[0], sc))
        granted = app._grant(client, requested, faults["no_binary_scope"])
        if not granted:
            return self._oauth_error(400, "invalid_scope", "none of the requested scopes is allowed")
        lifetime = faults["token_lifetime"]
        tok = app._issue(cid, granted, lifetime)
        scope = " ".join(granted)
        with app._lock:
            app._stats["tokens_issued"] += 1
            app._stats["last_scope_granted"] = scope
        self._send_json(200, {"access_token": tok, "token_type": "Bearer",
                              "expires_in": int(math.ceil(lifetime)), "scope": scope},
                        "application/json;charset=UTF-8",
                        headers=[("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    def _register(self):
        """The SMART Bulk Data reference server's /auth/register: a form with the
        client's JWKS (jwks=<JSON>); the answer, as text, is the client id."""
        app = self.app
        ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            return self._oauth_error(400, "invalid_request", "Invalid request content-type header "
                                     "(must be 'application/x-www-form-urlencoded')")
        try:
            form = {k: v[0] for k, v in urllib.parse.parse_qs(self._body.decode("utf-8"),
                                                               keep_blank_values=True).items()}
        except UnicodeDecodeError:
            return self._oauth_error(400, "invalid_request", "form body is not UTF-8")
        dur = form.get("dur", "15")
        if not re.match(r"^[0-9]+$", dur):
            return self._oauth_error(400, "invalid_request", "Invalid dur parameter")
        if form.get("jwks_url") and not form.get("jwks"):
            return self._oauth_error(400, "invalid_request", "jwks_url is not supported here")
        try:
            jwks = json.loads(form.get("jwks") or "")
            app_client = "reg-" + b64url_text(_json_bytes({"jwks": jwks, "n": secrets.token_hex(8)}))
            app.register_client(app_client, jwks=jwks)
        except (ValueError, TypeError, KeyError, jose.JoseError) as e:
            return self._oauth_error(400, "invalid_request", "Either 'jwks' or 'jwks_url' is "
                                     "required, as a JWK Set (%s)" % e)
        app._count("registrations")
        self._send(200, app_client.encode(), "text/plain; charset=utf-8")

    def _attachment(self, bid):
        """A bulk-only server's attachment file: the raw bytes, any token."""
        if bid not in self.app._bins:
            return self._send_oo(404, "Cannot find attachment %s" % bid)
        b = self.app._bins[bid]
        self._send(200, b["bytes"], b["contentType"], cuttable=True, compressible=False)

    def _check_basic(self, header, form):
        scheme, _, cred = header.strip().partition(" ")
        if scheme.lower() != "basic":
            return None, "unsupported Authorization scheme %s" % scheme
        try:
            raw = base64.b64decode(cred.strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            return None, "malformed Basic credentials"
        cid, sep, secret = raw.partition(":")
        cid, secret = urllib.parse.unquote_plus(cid), urllib.parse.unquote_plus(secret)
        if not sep:
            return None, "malformed Basic credentials"
        with self.app._lock:
            client = self.app._clients.get(cid)
        if client is None:
            return None, "unknown client %r" % cid
        if client["secret"] is None or not hmac.compare_digest(secret.encode(), client["secret"].encode()):
            return None, "wrong client secret"
        if form.get("client_id") not in (None, cid):
            return None, "client_id does not match the Basic credentials"
        return cid, None

    # ---- DocumentReference

    def _search(self, tok):
        app = self.app
        if not self._require(tok, "DocumentReference", "s"):
            return None
        q = {k: list(v) for k, v in self._query.items()}
        if self.command == "POST":
            try:
                for k, v in urllib.parse.parse_qs(self._body.decode("utf-8"), keep_blank_values=True).items():
                    q.setdefault(k, []).extend(v)
            except UnicodeDecodeError:
                return self._send_oo(400, "form body is not UTF-8")
        try:
            if "_getpages" in q:
                pt = q["_getpages"][0]
                try:
                    page = int(q.get("_page", ["1"])[0])
                    if page < 1:
                        raise ValueError
                except ValueError:
                    raise _BadRequest("_page must be a positive integer") from None
                with app._lock:
                    snap = app._pages.get(pt)
                if snap is None:
                    raise _BadRequest("unknown or expired _getpages token")
                ids, count = snap
                self_url = "%s/DocumentReference?_getpages=%s&_page=%d" % (app.base_url, pt, page)
            else:
                count = 10
                if "_count" in q:
                    try:
                        count = int(q["_count"][0])
                        if count < 0:
                            raise ValueError
                    except ValueError:
                        raise _BadRequest("_count must be a non-negative integer") from None
                count = min(count, 100)
                ids = app._search_ids(q)
                page = 1
                pt = secrets.token_urlsafe(18)
                with app._lock:
                    app._pages[pt] = (ids, count)
                    while len(app._pages) > 10000:
                        app._pages.popitem(last=False)
                self_url = "%s/DocumentReference?%s" % (app.base_url, urllib.parse.urlencode(
                    [(k, v) for k, vs in q.items() for v in vs], safe=",|/:"))
        except _BadRequest as e:
            return self._send_oo(400, str(e))
        start = (page - 1) * count
        chunk = ids[start:start + count] if count else []
        links = [{"relation": "self", "url": self_url}]
        if count and start + count < len(ids):
            links.append({"relation": "next", "url": "%s/DocumentReference?_getpages=%s&_page=%d"
                          % (app.base_url, pt, page + 1)})
        entries = []
        with app._lock:
            docs = [app._docs.get(i) for i in chunk]
        for d in docs:
            if d is not None:
                entries.append({"fullUrl": "%s/DocumentReference/%s" % (app.base_url, d["id"]),
                                "resource": d, "search": {"mode": "match"}})
        bundle = {"resourceType": "Bundle", "id": str(uuid.uuid4()), "meta": {"lastUpdated": _iso(time.time())},
                  "type": "searchset", "total": len(ids), "link": links}
        if entries:
            bundle["entry"] = entries
        self._send_json(200, bundle)

    def _doc_headers(self, d):
        meta = d.get("meta") or {}
        h = [("ETag", 'W/"%s"' % meta.get("versionId", "1"))]
        t = _instant(meta.get("lastUpdated"))
        if t is not None:
            h.append(("Last-Modified", _http_date(t)))
        return h

    def _visible_doc(self, rid):
        with self.app._lock:
            d = self.app._docs.get(rid)
        if d is None or "DocumentReference/" + rid in self._faults["hidden"]:
            self._send_oo(404, "Resource DocumentReference/%s is not known" % rid)
            return None
        return d

    def _read_docref(self, tok, rid):
        if not self._require(tok, "DocumentReference", "r"):
            return None
        d = self._visible_doc(rid)
        if d is not None:
            self._send_json(200, d, headers=self._doc_headers(d))

    def _update(self, tok, rid):
        app = self.app
        if not self._require(tok, "DocumentReference", "u"):
            return None
        if self._visible_doc(rid) is None:
            return None
        try:
            body = json.loads(self._body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self._send_oo(400, "The request body is not valid JSON")
        if not isinstance(body, dict) or body.get("resourceType") != "DocumentReference":
            return self._send_oo(400, "The request body must be a DocumentReference")
        if body.get("id") not in (None, rid):
            return self._send_oo(400, "Resource id %s does not match the URL id %s" % (body.get("id"), rid))
        if_match = self.headers.get("If-Match")
        with app._lock:
            cur = app._docs[rid]
            curv = str((cur.get("meta") or {}).get("versionId", "1"))
            etag = [("ETag", 'W/"%s"' % curv)]
            if if_match is None:
                return self._send_oo(412, "If-Match is required: current is %s" % curv, headers=etag)
            want = _parse_etag(if_match)
            if want != "*" and want != curv:
                return self._send_oo(self._faults["conflict_status"],
                                     "Resource version mismatch: current is %s" % curv, headers=etag)
            try:
                newv = str(int(curv) + 1)
            except ValueError:
                newv = "1"
            new = json.loads(json.dumps(body))
            new["id"] = rid
            meta = dict(new.get("meta") or {})
            meta["versionId"] = newv
            meta["lastUpdated"] = _iso(time.time())
            new["meta"] = meta
            app._docs[rid] = new
        headers = self._doc_headers(new) + [
            ("Content-Location", "%s/DocumentReference/%s/_history/%s" % (app.base_url, rid, newv))]
        if "return=minimal" in self.headers.get("Prefer", ""):
            return self._send(200, b"", None, headers)
        self._send_json(200, new, headers=headers)

    # ---- Binary

    def _wants_json(self):
        fmt = self._query.get("_format")
        if fmt:
            return fmt[0] in ("json", "application/json", "application/fhir+json")
        accept = self.headers.get("Accept")
        return bool(accept) and _media_prefers_json(accept)

    def _read_binary(self, tok, bid):
        app = self.app
        if not self._require(tok, "Binary", "r"):
            return None
        if bid not in app._bins or "Binary/" + bid in self._faults["hidden"]:
            return self._send_oo(404, "Resource Binary/%s is not known" % bid)
        as_json = self._wants_json()
        if self._faults["redirect_binaries"]:
            sig = app._new_sig(("blob", bid))
            loc = "%s/blob/%s?sig=%s&accept=%s" % (self._faults["redirect_binaries_to"] or app.storage_url,
                                                   urllib.parse.quote(bid, safe=""), sig,
                                                   "json" if as_json else "raw")
            return self._send(307, b"", None, [("Location", loc)])
        self._send_binary(bid, as_json)

    # ---- Bulk Data export

    def _export(self, tok, level, gid):
        app, faults = self.app, self._faults
        with app._lock:
            app._stats["export_kickoffs"].append(self.command)
        scripted = app._take_script("kickoff")
        if scripted:
            return self._scripted(scripted)
        if self.command == "GET" and faults["export_post_only"]:
            return self._send_oo(405, "Kick-off requests must be POSTed to this server",
                                 headers=[("Allow", "POST")])
        if "respond-async" not in self.headers.get("Prefer", ""):
            return self._send_oo(400, "Prefer: respond-async is required for $export")
        q = self._query
        try:
            if self.command == "POST":
                q = _parameters_query(self._body)
            elif q.get("patient"):
                raise _BadRequest('The "patient" parameter is only available in POST requests')
            type_filters = _parse_type_filters(q.get("_typeFilter", []))
        except _BadRequest as e:
            return self._send_oo(400, str(e))
        with app._lock:
            app._stats["last_export_params"] = {k: list(v) for k, v in q.items()}
        fmt = q.get("_outputFormat", ["application/fhir+ndjson"])[0]
        if fmt not in ("application/fhir+ndjson", "application/ndjson", "ndjson"):
            return self._send_oo(400, "_outputFormat %s is not supported" % fmt)
        types = [t.strip() for v in q.get("_type", []) for t in v.split(",") if t.strip()]
        types = list(dict.fromkeys(types)) or ["DocumentReference"]
        for t in types:
            if t not in EXPORT_TYPES:
                return self._send_oo(400, "_type %s is not supported (supported: %s)" % (t, ", ".join(EXPORT_TYPES)))
        for t in types:
            if not self._require(tok, t, "r"):
                return None
        since = None
        if q.get("_since"):
            since = _instant(q["_since"][0])
            if since is None:
                return self._send_oo(400, "_since must be a FHIR instant")
        if level == "system":
            patients = None
        elif level == "patient":
            patients = app._all_patients()
        else:
            groups = faults["groups"] if faults["groups"] is not None else {"all": app._all_patients()}
            if gid not in groups:
                return self._send_oo(404, "Resource Group/%s is not known" % gid)
            patients = groups[gid]
        want = [_strip_prefix(p, "Patient/") for v in q.get("patient", []) for p in v.split(",") if p]
        if want:
            if level == "system":
                return self._send_oo(400, "The patient parameter is not available in system-level export requests")
            patients = [p for p in patients if p in set(want)]
        files = app._export_files(types, since, patients, faults["hidden"], type_filters,
                                  faults["bulk_only"])
        partial = q.get("allowPartialManifests", ["false"])[0].lower() == "true"
        job = {"id": uuid.uuid4().hex, "client": tok["client"], "types": types, "files": files,
               "parts": app._export_parts(files, faults, since is not None),
               "since_given": since is not None, "partial": partial, "page_polls": {},
               "transactionTime": _iso(time.time()), "request": app.origin + self.path,
               "polls": 0, "polls_needed": faults["export_polls"],
               "retry_after": faults["export_retry_after"], "requires_token": faults["export_requires_token"],
               "sig": secrets.token_urlsafe(24), "deleted": False}
        with app._lock:
            app._jobs[job["id"]] = job
            app._stats["export_jobs_started"] += 1
        self._send(202, b"", None, [("Content-Location", "%s/bulkstatus/%s" % (app.base_url, job["id"]))])

    def _job(self, job_id, client=None):
        with self.app._lock:
            job = self.app._jobs.get(job_id)
            if job is None or job["deleted"] or (client is not None and job["client"] != client):
                return None
            return job

    def _bulk_status(self, tok, job_id):
        app = self.app
        job = self._job(job_id, tok["client"])
        if job is None:
            return self._send_oo(404, "Export job %s is not known" % job_id)
        if self.command == "DELETE":
            with app._lock:
                job["deleted"] = True
                app._stats["export_jobs_deleted"] += 1
            return self._send(202, b"", None)
        app._count("export_status_polls")
        scripted = app._take_script("status")
        if scripted:
            return self._scripted(scripted)
        try:
            page = int(self._query.get("page", ["1"])[0])
        except ValueError:
            page = 0
        if page < 1:
            return self._send_oo(400, "page must be a positive number")
        ra = self._faults["export_retry_after_header"]
        if page == 1:
            with app._lock:
                job["polls"] += 1
                n = job["polls"]
            if n <= job["polls_needed"]:
                pct = int(100 * n / (job["polls_needed"] + 1))
                return self._send(202, b"", None, [("Retry-After", ra or "%g" % job["retry_after"]),
                                                  ("X-Progress", "%d%% complete" % pct)])
        else:
            with app._lock:
                n = job["page_polls"][page] = job["page_polls"].get(page, 0) + 1
            if n <= self._faults["export_page_polls"]:
                return self._send(202, b"", None, [("Retry-After", ra or "%g" % job["retry_after"]),
                                                  ("X-Progress", "page %d in progress" % page)])
        entries = []
        for lst, fname, t, data, count in job["parts"]:
            if self._faults["export_files_on_storage"]:
                url = "%s/export/%s/%s?sig=%s" % (app.storage_url, job["id"], fname, job["sig"])
            elif job["requires_token"] or self._faults["redirect_binaries"]:
                url = "%s/bulkfiles/%s/%s" % (app.base_url, job["id"], fname)
            else:
                url = "%s/export/%s/%s?sig=%s" % (app.storage_url, job["id"], fname, job["sig"])
            entries.append((lst, {"type": t, "url": url, "count": count}))
        size = self._faults["export_page_size"] or (2 if job["partial"] else 0)
        more = False
        if size:
            more = len(entries) > page * size
            entries = entries[(page - 1) * size:page * size]
        elif page > 1:
            entries = []
        manifest = {"transactionTime": job["transactionTime"], "request": job["request"],
                    "requiresAccessToken": job["requires_token"],
                    "output": [e for lst, e in entries if lst == "output"],
                    "error": [e for lst, e in entries if lst == "error"]}
        if job["since_given"]:
            manifest["deleted"] = [e for lst, e in entries if lst == "deleted"]
        if more:
            manifest["link"] = [{"relation": "next",
                                 "url": "%s/bulkstatus/%s?page=%d" % (app.base_url, job["id"], page + 1)}]
        self._send_json(200, manifest, "application/json")

    def _bulk_file(self, job_id, fname):
        app = self.app
        job = self._job(job_id)
        part = _job_part(job, fname)
        if part is None:
            return self._send_oo(404, "Export file %s/%s is not known" % (job_id, fname))
        t = part[2]
        if job["requires_token"]:
            tok = self._bearer()
            if tok is None:
                return None
            if tok["client"] != job["client"]:
                return self._send_oo(404, "Export file %s/%s is not known" % (job_id, fname))
            if part[0] == "output" and not self._require(tok, t, "r"):
                return None
        if self._faults["redirect_binaries"]:
            loc = "%s/export/%s/%s?sig=%s" % (app.storage_url, job_id, fname, job["sig"])
            return self._send(307, b"", None, [("Location", loc)])
        self._send_part(job, part, fname)


class _StorageHandler(_Handler):
    """The 'object storage' origin: pre-signed URLs, no auth, OCI-style errors."""

    def _storage_error(self, status, code, message):
        self._send_json(status, {"code": code, "message": message}, "application/json")

    def _route(self, method, parts):
        app = self.app
        with app._lock:
            app._stats["storage_requests"] += 1
            if self.headers.get("Authorization"):
                app._stats["auth_on_storage"] += 1
        if method != "GET":
            return self._send(405, b"", None, [("Allow", "GET")])
        sig = self._query.get("sig", [""])[0]
        if len(parts) == 2 and parts[0] == "blob":
            app._count_path("storage:blob")
            bid = parts[1]
            if not app._check_sig(sig, ("blob", bid)) or bid not in app._bins:
                return self._storage_error(404, "NotAuthorizedOrNotFound",
                                           "Authorization failed or requested resource not found")
            return self._send_binary(bid, self._query.get("accept", ["raw"])[0] == "json")
        if len(parts) == 3 and parts[0] == "export":
            app._count_path("storage:bulkfile")
            with app._lock:
                job = app._jobs.get(parts[1])
            part = _job_part(job, parts[2])
            if (part is None or job["deleted"]
                    or not hmac.compare_digest(sig.encode(), job["sig"].encode())):
                return self._storage_error(404, "NotAuthorizedOrNotFound",
                                           "Authorization failed or requested resource not found")
            if job["requires_token"] and self._faults["export_files_on_storage"]:
                # A file server apart from the FHIR server that wants the token
                # the manifest's requiresAccessToken announces.
                scheme, _, tok = (self.headers.get("Authorization") or "").partition(" ")
                rec = app._lookup_token(tok.strip())[0] if scheme.lower() == "bearer" else None
                if rec is None or rec["client"] != job["client"]:
                    return self._storage_error(401, "NotAuthenticated", "a valid Bearer token is required")
            return self._send_part(job, part, parts[2])
        app._count_path("storage:unknown")
        return self._storage_error(404, "NotAuthorizedOrNotFound",
                                   "Authorization failed or requested resource not found")


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (set, frozenset)):
        return sorted(_jsonable(v) for v in obj)
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


# ---------------------------------------------------------------- CLI

def main(argv=None):
    ap = argparse.ArgumentParser(
        prog="fhirserver.py",
        description="FHIR R4 test server emulating Oracle Health (Cerner) Millennium, on 127.0.0.1.")
    ap.add_argument("--docrefs", required=True, help="DocumentReference NDJSON")
    ap.add_argument("--binaries", help="Binary NDJSON")
    ap.add_argument("--tenant", default=DEFAULT_TENANT)
    ap.add_argument("--client-id", help="register this client")
    ap.add_argument("--jwks", help="client JWKS JSON file (or a public key PEM, see --kid)")
    ap.add_argument("--kid", help="kid for a PEM given to --jwks (default: the client id)")
    ap.add_argument("--secret", help="client secret for client_secret_basic")
    ap.add_argument("--scopes", help="scopes the client may be granted (space separated; default all)")
    ap.add_argument("--rate", type=float, help="rate_limit fault: requests per second")
    ap.add_argument("--token-lifetime", type=float, help="token_lifetime in seconds (default 570)")
    ap.add_argument("--faults", help="JSON object of faults to set at start")
    ap.add_argument("--port", type=int, default=0, help="FHIR/token port (default: a free one)")
    ap.add_argument("--storage-port", type=int, default=0, help="storage port (default: a free one)")
    ap.add_argument("--port-file", help="write the base URL here once listening")
    ap.add_argument("--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args(argv)

    try:
        faults = json.loads(args.faults) if args.faults else {}
        if not isinstance(faults, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        ap.error("--faults: %s" % e)
    if args.rate is not None:
        faults["rate_limit"] = args.rate
    if args.token_lifetime is not None:
        faults["token_lifetime"] = args.token_lifetime
    try:
        srv = FhirTestServer.from_ndjson(args.docrefs, args.binaries, tenant=args.tenant,
                                         port=args.port, storage_port=args.storage_port,
                                         verbose=args.verbose, **faults)
        if args.client_id:
            jwks = None
            if args.jwks:
                with open(args.jwks, "rb") as f:
                    raw = f.read()
                if b"-----BEGIN" in raw:
                    jwks = {"keys": [make_jwk(raw, args.kid or args.client_id)]}
                else:
                    jwks = json.loads(raw)
            if jwks is None and args.secret is None:
                ap.error("--client-id needs --jwks or --secret")
            srv.register_client(args.client_id, jwks=jwks, secret=args.secret,
                                scopes=args.scopes.split() if args.scopes else None)
        srv.start()
    except (OSError, ValueError) as e:
        print("fhirserver: %s" % e, file=sys.stderr)
        return 2

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(srv.base_url)
        os.replace(tmp, args.port_file)
    print("listening base=%s token=%s" % (srv.base_url, srv.token_url), flush=True)
    while not stop.wait(0.5):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
