"""A webhook receiver on 127.0.0.1 that records every POST (path, headers, body)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import List, Tuple

from .util import free_port


class WebhookReceiver:
    """Records every POST; a POST to ``/hang`` is answered only after 20 seconds."""

    def __init__(self) -> None:
        self.posts: List[Tuple[str, dict, bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path == "/hang":
                    time.sleep(20)
                with receiver.lock:
                    receiver.posts.append((self.path, dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def events(self, name: str, path: str = "/hook") -> list:
        """Parsed bodies of the events of kind ``name`` posted to ``path``."""
        with self.lock:
            return [json.loads(b) for p, _, b in self.posts if p == path and json.loads(b)["event"] == name]

    def about(self, name: str, *ids: str, path: str = "/hook") -> list:
        """Events of kind ``name`` whose data names one of ``ids``."""
        return [e for e in self.events(name, path) if any(i in json.dumps(e.get("data")) for i in ids)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
