"""A file server on 127.0.0.1 for download tests: serves bytes by path, honours `Range: bytes=N-`, and can
cut the connection after a number of bytes (the first `cuts` responses of a path), like a dropped link."""
from __future__ import annotations

import http.server
import threading


class FileServer:
    def __init__(self, files: dict[str, bytes], cut_after: int | None = None, cuts: int = 1):
        self.files, self.cut_after, self.cuts_left = dict(files), cut_after, cuts
        self.requests: list[tuple[str, str | None]] = []   # (path, Range header)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404, "Not Found")
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                if start >= len(data):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                body = data[start:]
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.cut_after is not None and server.cuts_left > 0:
                    server.cuts_left -= 1
                    self.wfile.write(body[:server.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)   # the link drops mid-file
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
