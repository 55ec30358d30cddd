"""A real HTTP server on 127.0.0.1 serving a folder, with byte ranges (for resumed downloads).

Tests put a dataset's demo twin in the folder and point the dataset's ``base_url`` at the
server, so downloads go through exactly the code users run against the real hosts.
"""

from __future__ import annotations

import http.server
import os
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """SimpleHTTPRequestHandler plus single ``Range: bytes=N-`` / ``N-M`` requests, ``ETag`` and
    ``Last-Modified`` validators and ``If-Range`` (a range is served only while the file is unchanged)."""

    # Set per server: stop sending a file after this many bytes (simulates a dropped connection).
    cut_after: int | None = None
    # False: a server that sends no validator (no ETag, no Last-Modified).
    validators: bool = True
    # False: a server that ignores If-Range and serves the range of whatever the file is now.
    honor_if_range: bool = True
    # URL path -> (status, Content-Type, body) answered instead of the file (an HTML login page, an empty body).
    pages: dict = {}
    requests: list[dict] = []

    def log_message(self, format, *args):  # keep test output quiet
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path.split("?", 1)[0]))
        type(self).requests.append(
            {
                "path": self.path,
                "range": self.headers.get("Range"),
                "if_range": self.headers.get("If-Range"),
                "auth": self.headers.get("Authorization"),
            }
        )
        if self.path in self.pages:
            status, kind, body = self.pages[self.path]
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if not path.is_file():
            return super().do_GET()
        info = path.stat()
        size = info.st_size
        etag, modified = f'"{size:x}-{info.st_mtime_ns:x}"', self.date_time_string(int(info.st_mtime))
        match = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range") or "")
        if match and self.honor_if_range and self.headers.get("If-Range") not in (None, etag, modified):
            match = None  # the file changed since the part was started: the whole file (RFC 9110 §13.1.5)
        start, end = (int(match.group(1)), int(match.group(2) or size - 1)) if match else (0, size - 1)
        if match and start >= size:  # a range past the end: what real servers answer
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if match else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        if self.validators:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
        if match:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        with open(path, "rb") as f:
            f.seek(start)
            remaining = end - start + 1
            if self.cut_after is not None:
                remaining = min(remaining, self.cut_after)
            self.wfile.write(f.read(remaining))
        if self.cut_after is not None:
            self.close_connection = True


@contextmanager
def serve_directory(
    root: str | os.PathLike, cut_after: int | None = None, validators: bool = True, pages: dict | None = None, honor_if_range: bool = True
) -> Iterator[tuple[str, type]]:
    """Serve ``root`` on a free port of 127.0.0.1; yields (base URL, handler class with ``requests``).

    The handler's ``cut_after``, ``validators`` and ``pages`` may be changed while it serves."""
    handler = type(
        "Handler",
        (RangeRequestHandler,),
        {"cut_after": cut_after, "validators": validators, "pages": dict(pages or {}), "honor_if_range": honor_if_range, "requests": []},
    )

    def factory(*args, **kwargs):
        return handler(*args, directory=str(root), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), factory)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
