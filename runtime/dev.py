"""``sgtm dev``: serve a server-container export on 127.0.0.1.

Use it from Python (``serve(...)`` returns a started-or-startable server with ``.port``), or as
a process: ``python -m runtime.dev CONTAINER.json --port 0 --route HOST=http://127.0.0.1:P``
prints ``sgtm dev: serving CONTAINER on http://127.0.0.1:PORT`` as its first stdout line.

The access log (stderr) has method, path, status, client, tag outcomes and timing, never
query strings or bodies; tag ``logToConsole`` output goes to stderr only with ``--debug``.
"""

from __future__ import annotations

import argparse
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from runtime.container import ContainerError, ContainerRuntime, HandledRequest, load_container
from runtime.environment import Environment, parse_route
from runtime.host import Request

MAX_BODY = 10 * 1024 * 1024


class DevError(Exception):
    """The server cannot start; the message says why."""


class DevServer:
    def __init__(
        self, runtime: ContainerRuntime, httpd: ThreadingHTTPServer, log: Any = None
    ) -> None:
        self.runtime = runtime
        self.httpd = httpd
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def serve_forever(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def start(self) -> DevServer:
        """Serve from a background thread (for tests and in-process use)."""
        self._thread = threading.Thread(target=self.serve_forever, name="sgtm-dev", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.httpd.server_close()
        self.runtime.env.close()

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def serve(
    container: str | Path,
    *,
    port: int = 0,
    routes: dict[str, str] | None = None,
    debug: bool = False,
    timeout: float = 10.0,
    log: Any = None,
) -> DevServer:
    """Load ``container`` and bind 127.0.0.1:``port`` (0 = a free port). Call ``start()`` or
    ``serve_forever()`` on the result; ``close()`` when done."""
    try:
        loaded = load_container(container)
    except ContainerError as exc:
        raise DevError(str(exc)) from None
    emit = log or (lambda line: print(line, file=sys.stderr, flush=True))
    env = Environment(routes=dict(routes or {}), debug=debug, log_sink=emit if debug else None)
    runtime = ContainerRuntime(loaded, env, timeout=timeout)
    for warning in loaded.warnings:
        emit(f"sgtm dev: warning: {warning}")
    handler = _handler_for(runtime, emit)
    try:
        httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        raise DevError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    httpd.daemon_threads = True
    return DevServer(runtime, httpd, emit)


_LOCATION = re.compile(r"^(?P<where>.*?:\d+): (?P<message>.*)$", re.S)
CAUSE_MAX = 300


def never_returned(handled: HandledRequest) -> str:
    """The 504 body when the claiming client never answered: the cause first (the exception its
    code raised, e.g. hmacSha256 without SGTM_CREDENTIALS), so a caller that keeps only the
    start of the body (the delivery worker keeps 200 bytes) still has it."""
    prefix = f"client {handled.client!r}: "
    error = next((e[len(prefix) :] for e in handled.errors if e.startswith(prefix)), "")
    tail = f"client {handled.client!r} claimed the request but never called returnResponse"
    if not error:
        return tail
    match = _LOCATION.match(error)
    message, where = (match["message"], match["where"]) if match else (error, "")
    where = where.rsplit("/", 1)[-1]  # the container file's name, not the local path
    cause = " ".join(message.split())[:CAUSE_MAX]
    return f"{cause} ({tail}{'; at ' + where if where else ''})"


def _handler_for(runtime: ContainerRuntime, emit: Any) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "sgtm-dev"
        # TCP_NODELAY: with Nagle's algorithm on, a response written as headers then body waits
        # for the client's delayed ACK (measured 72-76 ms per single event; 26-29 ms without).
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            return  # our own access line below carries what matters, without query strings

        def _serve(self) -> None:
            started = time.perf_counter()
            path, _, query = self.path.partition("?")
            length = self.headers.get("Content-Length")
            try:
                size = int(length) if length else 0
            except ValueError:
                self._plain(400, "Content-Length is not a number\n")
                return
            if size < 0 or size > MAX_BODY:
                self._plain(413, f"body larger than {MAX_BODY} bytes\n")
                return
            body = self.rfile.read(size) if size else b""
            request = Request(
                method=self.command,
                path=path or "/",
                query=query,
                headers=list(self.headers.items()),
                body=body,
                remote_addr=self.client_address[0],
            )
            try:
                handled = runtime.handle(request)
            except Exception as exc:  # noqa: BLE001 - one line, never a traceback to the caller
                emit(
                    f"sgtm dev: {self.command} {path} 502 internal error: {type(exc).__name__}: {exc}"
                )
                if runtime.env.debug:
                    import traceback

                    emit(traceback.format_exc())
                self._plain(502, "internal error in sgtm dev (see its log)\n")
                return
            status = self._answer(handled)
            tags = ",".join(f"{t.name}={t.status}" for t in handled.tags)
            emit(
                f"sgtm dev: {self.command} {path} {status} client={handled.client or '-'} "
                f"tags=[{tags}] {(time.perf_counter() - started) * 1000:.1f}ms"
            )
            for tag in handled.tags:
                if tag.error:
                    emit(f"sgtm dev:   tag {tag.name!r} {tag.status}: {tag.error}")
            for error in handled.errors:
                emit(f"sgtm dev:   {error}")

        def _answer(self, handled: HandledRequest) -> int:
            response = handled.response
            if handled.client is None:
                self._plain(400, "No client claimed the request.\n")
                return 400
            if not response.returned:
                self._plain(504, never_returned(handled) + "\n")
                return 504
            self.send_response(response.status)
            names = {name.lower() for name, _ in response.headers.values()}
            for name, value in response.headers.values():
                self.send_header(name, value)
            for cookie in response.cookies:
                self.send_header("Set-Cookie", cookie)
            if "content-length" not in names:
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            return response.status

        def _plain(self, status: int, text: str) -> None:
            raw = text.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = do_PATCH = _serve  # noqa: N815

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runtime.dev", description=__doc__)
    parser.add_argument("container")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--route", action="append", default=[])
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--timeout", type=float, default=10.0)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; shared by `sgtm dev` and `python -m runtime.dev`."""
    try:
        routes = dict(parse_route(r) for r in args.route)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        server = serve(
            args.container, port=args.port, routes=routes, debug=args.debug, timeout=args.timeout
        )
    except DevError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    # The first line says where: scripts start this on --port 0 and read the URL from it.
    print(f"sgtm dev: serving {args.container} on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
