"""TCP-level fault injection helpers.

* :class:`FaultRelay` forwards 127.0.0.1:<port> to a target. In ``cut`` mode
  it closes a connection after forwarding N bytes target->client since the
  client last sent data (i.e. N bytes of the current HTTP/1.1 response,
  headers included), so any response larger than N bytes is truncated
  mid-stream while small responses (manifests, /v2/, tokens) pass.
* :class:`CountingListener` accepts TCP connections, counts them and closes
  them immediately.
"""
from __future__ import annotations

import socket
import struct
import threading
import time
from typing import List, Optional, Tuple

from .util import free_port


def _listen(port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    s.settimeout(0.2)
    return s


def _close(sock: socket.socket, reset: bool = False) -> None:
    # shutdown() wakes up a recv() blocked in the other pump thread (close()
    # alone does not). For a reset, only shut the read side (no FIN is sent)
    # and close with SO_LINGER=0 so the kernel sends an RST.
    try:
        if reset:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.shutdown(socket.SHUT_RD)
        else:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class FaultRelay:
    """Thread-based TCP relay with a switchable "cut after N bytes" fault."""

    def __init__(self, target_host: str, target_port: int, port: Optional[int] = None) -> None:
        self.target = (target_host, target_port)
        self.port = port or free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._lock = threading.Lock()
        self._cut_after: Optional[int] = None
        self._reset = False
        # Set while frozen: connections are accepted and kept, but no byte moves either way (a
        # server that stopped answering, or a network path that drops packets).
        self._frozen = threading.Event()
        self._stop = threading.Event()
        self._conns: List[Tuple[socket.socket, socket.socket]] = []
        self.connections = 0
        self.cuts = 0
        self._sock = _listen(self.port)
        self._thread = threading.Thread(target=self._accept_loop, name=f"relay-{self.port}", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- controls
    def cut_after(self, nbytes: int, reset: bool = False) -> None:
        """Cut a connection once one response on it has carried ``nbytes`` target->client."""
        with self._lock:
            self._cut_after = nbytes
            self._reset = reset

    def passthrough(self) -> None:
        with self._lock:
            self._cut_after = None

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def _wait_thawed(self) -> None:
        while self._frozen.is_set() and not self._stop.is_set():
            time.sleep(0.05)

    def stats(self) -> dict:
        with self._lock:
            return {"connections": self.connections, "cuts": self.cuts}

    def close(self) -> None:
        self._stop.set()
        _close(self._sock)
        self._thread.join(timeout=5)
        with self._lock:
            conns, self._conns = self._conns, []
        for a, b in conns:
            _close(a)
            _close(b)

    # -------------------------------------------------------------- internals
    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self.connections += 1
                self._conns.append((client, upstream))
            state = {"down": 0, "closed": False}
            threading.Thread(target=self._pump_up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(client, upstream, state), daemon=True).start()

    def _finish(self, client, upstream, state, reset=False) -> None:
        with self._lock:
            if state["closed"]:
                return
            state["closed"] = True
            try:
                self._conns.remove((client, upstream))
            except ValueError:
                pass
        _close(client, reset=reset)
        _close(upstream, reset=reset)

    def _pump_up(self, client, upstream, state) -> None:
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                state["down"] = 0  # new request: count the next response afresh
                self._wait_thawed()
                upstream.sendall(data)
        except OSError:
            pass
        self._finish(client, upstream, state)

    def _pump_down(self, client, upstream, state) -> None:
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                self._wait_thawed()
                with self._lock:
                    limit, reset = self._cut_after, self._reset
                if limit is not None and state["down"] + len(data) >= limit:
                    keep = max(0, limit - state["down"])
                    if keep:
                        client.sendall(data[:keep])
                    state["down"] += keep
                    with self._lock:
                        self.cuts += 1
                    self._finish(client, upstream, state, reset=reset)
                    return
                client.sendall(data)
                state["down"] += len(data)
        except OSError:
            pass
        self._finish(client, upstream, state)


class CountingListener:
    """Accepts and immediately closes TCP connections, counting them."""

    def __init__(self) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._lock = threading.Lock()
        self._count = 0
        self._stop = threading.Event()
        self._sock = _listen(self.port)
        self._thread = threading.Thread(target=self._loop, name=f"counter-{self.port}", daemon=True)
        self._thread.start()

    @property
    def count(self) -> int:
        with self._lock:
            return self._count

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._count += 1
            _close(conn)

    def close(self) -> None:
        self._stop.set()
        _close(self._sock)
        self._thread.join(timeout=5)
