"""A minimal Elasticsearch/OpenSearch `_bulk` endpoint on 127.0.0.1, for the
README's indexing recipe: it checks the body the way Elasticsearch does
(newline-terminated action/source pairs, an x-ndjson or json content type,
`index` actions with `_index` and `_id`; `delete` actions, which have no
source line) and keeps the documents by index and
id, so a test can see what a real cluster would hold.  Python stdlib only.

    with BulkServer() as es:
        ...  curl --data-binary @- $es.url/_bulk
        es.docs["clinical-docs"]["DocumentReference/1"]
"""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit


class BulkServer:
    def __init__(self):
        self.docs = {}        # index -> {_id: source}
        self.requests = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def bulk(self, body, default_index):
        """Apply a _bulk body; returns (status, response)."""
        if not body.endswith(b"\n"):
            return 400, {"error": {"type": "illegal_argument_exception",
                                   "reason": "The bulk request must be terminated by a newline"}}
        lines = body.split(b"\n")[:-1]
        items, errors = [], False
        i = 0
        while i < len(lines):
            try:
                action = json.loads(lines[i])
            except ValueError:
                return 400, {"error": {"type": "x_content_parse_exception",
                                       "reason": "line %d is not JSON" % (i + 1)}}
            if not isinstance(action, dict) or len(action) != 1:
                return 400, {"error": {"type": "illegal_argument_exception",
                                       "reason": "Malformed action/metadata line [%d]" % (i + 1)}}
            (op, meta), = action.items()
            if op == "delete" and isinstance(meta, dict) and meta.get("_id"):
                index = meta.get("_index", default_index)
                with self.lock:
                    found = self.docs.get(index, {}).pop(meta["_id"], None) is not None
                items.append({op: {"_index": index, "_id": meta["_id"],
                                   "result": "deleted" if found else "not_found",
                                   "status": 200 if found else 404}})
                i += 1
                continue
            if op not in ("index", "create") or i + 1 >= len(lines):
                return 400, {"error": {"type": "illegal_argument_exception",
                                       "reason": "unsupported action %r at line %d" % (op, i + 1)}}
            try:
                source = json.loads(lines[i + 1])
            except ValueError:
                return 400, {"error": {"type": "x_content_parse_exception",
                                       "reason": "source line %d is not JSON" % (i + 2)}}
            index = meta.get("_index", default_index)
            doc_id = meta.get("_id")
            if not index or not isinstance(source, dict) or not doc_id:
                errors = True
                items.append({op: {"status": 400, "error": {"type": "mapper_parsing_exception"}}})
            else:
                with self.lock:
                    docs = self.docs.setdefault(index, {})
                    existed = doc_id in docs
                    docs[doc_id] = source
                items.append({op: {"_index": index, "_id": doc_id,
                                   "result": "updated" if existed else "created",
                                   "status": 200 if existed else 201}})
            i += 2
        return 200, {"took": 1, "errors": errors, "items": items}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, obj):
                body = json.dumps(obj, separators=(",", ":")).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                path = urlsplit(self.path).path.strip("/").split("/")
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with server.lock:
                    server.requests += 1
                ctype = self.headers.get("Content-Type", "").split(";")[0].strip()
                if path[-1] != "_bulk":
                    return self.reply(404, {"error": "no handler for %s" % self.path})
                if ctype not in ("application/x-ndjson", "application/json"):
                    return self.reply(406, {"error": "Content-Type header [%s] is not supported"
                                            % ctype, "status": 406})
                self.reply(*server.bulk(body, unquote(path[0]) if len(path) == 2 else None))

            do_PUT = do_POST

            def do_GET(self):
                path = urlsplit(self.path).path.strip("/").split("/")
                if len(path) == 2 and path[1] == "_count":
                    with server.lock:
                        n = len(server.docs.get(unquote(path[0]), {}))
                    return self.reply(200, {"count": n})
                self.reply(404, {"error": "not found"})

        return Handler
