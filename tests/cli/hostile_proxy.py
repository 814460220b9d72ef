"""A hostile man in the middle on 127.0.0.1: forwards to the simulator, then tampers.

Each answer from the simulator goes through ``tamper(method, path, answer)``, which may
return it unchanged, change its status/body, or ask for it to be *trickled* (headers at
once, then one byte every ``trickle_interval`` seconds; or the headers too). Everything is
bounded: a trickle stops after ``trickle_limit`` bytes (the headers' own length for trickled
headers) or when the proxy stops; the proxy stops on exit.
"""

from __future__ import annotations

import http.client
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
}


@dataclass(slots=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    #: send the headers, then the body one byte at a time
    trickle: bool = False
    #: send the status line and headers one byte at a time too (then the body at once)
    trickle_headers: bool = False


Tamper = Callable[[str, str, Answer], Answer]


@dataclass(slots=True)
class HostileProxy:
    url: str
    tamper: Tamper
    stopping: threading.Event = field(default_factory=threading.Event)
    trickle_interval: float = 0.5
    trickle_limit: int = 200
    seen: list[tuple[str, str, int]] = field(default_factory=list)
    #: paths whose client hung up while the proxy was still trickling the headers
    hung_up: list[str] = field(default_factory=list)


def _passthrough(method: str, path: str, answer: Answer) -> Answer:
    return answer


@contextmanager
def hostile_proxy(target: str, tamper: Tamper = _passthrough) -> Iterator[HostileProxy]:
    """A proxy in front of the server at ``target`` (``http://127.0.0.1:PORT``)."""
    parts = urlsplit(target)
    proxy = HostileProxy(url="", tamper=tamper)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def _forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                answer = Answer(
                    reply.status,
                    [(k, v) for k, v in reply.getheaders() if k.lower() not in _HOP_BY_HOP],
                    reply.read(),
                )
            finally:
                upstream.close()
            path = self.path.split("?", 1)[0]
            answer = proxy.tamper(self.command, path, answer)
            proxy.seen.append((self.command, path, answer.status))
            if answer.trickle_headers:
                self._trickle_headers(path, answer)
                return
            self.send_response(answer.status)
            for name, value in answer.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if not answer.trickle:
                try:
                    self.wfile.write(answer.body)
                except OSError:
                    self.close_connection = True  # the client stopped reading: allowed
                return
            self.close_connection = True
            for byte in answer.body[: proxy.trickle_limit]:
                if proxy.stopping.wait(proxy.trickle_interval):
                    return
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up: what a bounded client should do

        def _trickle_headers(self, path: str, answer: Answer) -> None:
            """Status line and headers one byte per interval (each read is quick, the whole
            is not), then the body; the connection closes after it, or after
            ``trickle_limit`` bytes if the headers are longer."""
            self.close_connection = True
            lines = [f"HTTP/1.1 {answer.status} Trickled"]
            lines += [f"{name}: {value}" for name, value in answer.headers]
            lines += [f"Content-Length: {len(answer.body)}", "Connection: close", "", ""]
            head = "\r\n".join(lines).encode("latin-1")
            try:
                for byte in head[: proxy.trickle_limit]:
                    if proxy.stopping.wait(proxy.trickle_interval):
                        return
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                if len(head) <= proxy.trickle_limit:
                    self.wfile.write(answer.body)
            except OSError:
                proxy.hung_up.append(path)  # the client gave up: what a bounded client does

        do_GET = do_POST = do_PUT = do_DELETE = _forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield proxy
    finally:
        proxy.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wait_for(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
