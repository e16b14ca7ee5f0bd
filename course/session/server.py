"""The live session's server: learners post check events, the instructor's page watches them.

tornado (JupyterLab's own server library) and the SQLite store. Three doors:

- ``POST /api/join``, ``/api/leave``, ``/api/events``: for holders of the join
  code (``Authorization: Bearer <code>``). An event is answered 2xx only after
  it is committed; a repeated key is answered as stored, and stored once.
- ``/teach/<key>``: the instructor's page, its data (``/course``, ``/state``)
  and its live stream of server-sent events (``/stream``), for the holder of
  the instructor key. Both secrets are compared in constant time.
- ``/static/``: the page's script and style sheet (no secret in them).

A rejected message gets a 4xx and a sentence; nothing of it is stored.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import signal
import socket
import threading
from pathlib import Path

import tornado.httpserver
import tornado.ioloop
import tornado.iostream
import tornado.netutil
import tornado.web

from course.session import rules
from course.session.catalog import catalog, exercise_ids, hint_codes
from course.session.store import Store

PAGE = Path(__file__).resolve().parent / "page"
DEFAULT_PORT = 8765
KEEPALIVE_MS = 15_000
HEADERS = {
    # The page runs only its own script, talks only to this server, and is never framed.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
                               " img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the instructor key is in the address
    "Cache-Control": "no-store",
}


class Hub:
    """The store, the rules and the open page streams of one server."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.exercises = exercise_ids()
        self.codes = hint_codes()
        self.limit = rules.RateLimit()
        self.streams: set[Stream] = set()

    def broadcast(self, kind: str, data: dict) -> None:
        message = _sse(kind, data)
        for stream in list(self.streams):
            stream.send(message)


def _sse(kind: str, data: dict) -> str:
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


def _same(given: str, secret: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), secret.encode("utf-8"))


class Base(tornado.web.RequestHandler):
    def initialize(self, hub: Hub) -> None:
        self.hub = hub

    def set_default_headers(self) -> None:
        for name, value in HEADERS.items():
            self.set_header(name, value)

    def reject(self, problem: rules.Rejected) -> None:
        self.set_status(problem.status)
        if problem.status == 429:
            self.set_header("Retry-After", "1")
        self.finish({"error": problem.message})

    def write_error(self, status_code: int, **kwargs) -> None:
        self.finish({"error": self._reason})

    def check_xsrf_cookie(self) -> None:  # learners' kernels post without cookies; the join code is the check
        pass


class Learners(Base):
    """POST /api/<action> with the join code."""

    def _code(self) -> None:
        header = self.request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise rules.Rejected(401, "the join code is missing (Authorization: Bearer <code>)")
        if not _same(header[len("Bearer "):].strip().upper(), self.hub.store.join_code):
            raise rules.Rejected(403, "wrong join code: ask the instructor for this session's code")

    def _room_for(self, name: str) -> None:
        if not self.hub.store.knows(name) and self.hub.store.learner_count() >= rules.MAX_LEARNERS:
            raise rules.Rejected(403, f"the session is full ({rules.MAX_LEARNERS} learners)")

    def post(self, action: str) -> None:
        hub = self.hub
        try:
            self._code()
            if action == "events":
                event = rules.event(rules.parse(self.request.body, rules.EVENT_FIELDS), hub.exercises, hub.codes)
                self._room_for(event["name"])
                hub.limit.take(event["name"])
                new, row = hub.store.add(event)  # committed here, before the answer
                if new:
                    hub.broadcast("check", _public(row))
                self.finish({"stored": new, "seq": row["seq"]})
                return
            name = rules.name(rules.parse(self.request.body, rules.NAME_FIELDS)["name"])
            if action == "join":
                self._room_for(name)
                hub.limit.take(name)
                hub.broadcast("learner", hub.store.join(name))
                self.finish({"joined": name})
            else:
                if hub.store.knows(name):  # a bucket only for a stored name: the buckets stay as few as the learners
                    hub.limit.take(name)
                    hub.broadcast("learner", hub.store.leave(name))
                self.finish({"left": name})
        except rules.Rejected as problem:
            self.reject(problem)


def _public(row: dict) -> dict:
    return {k: row[k] for k in ("seq", "key", "learner", "exercise", "passed", "code", "received")}


class Instructor(Base):
    def prepare(self) -> None:
        if not _same(self.path_args[0], self.hub.store.instructor_key):
            self.set_status(403)
            self.finish({"error": "wrong instructor key: use the address `course session start` printed"})


class Page(Instructor):
    def get(self, key: str) -> None:
        if not self.request.path.endswith("/"):
            self.redirect(self.request.path + "/")  # the page's own requests are relative to it
            return
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish((PAGE / "teach.html").read_bytes())


class Data(Instructor):
    def get(self, key: str, what: str) -> None:
        self.finish(catalog() if what == "course" else self.hub.store.snapshot())


class Stream(Instructor):
    """Server-sent events: the snapshot first, then every change as it is committed."""

    async def get(self, key: str) -> None:
        self.set_header("Content-Type", "text/event-stream")
        self.closed = asyncio.Event()
        self.hub.streams.add(self)
        self.write("retry: 1000\n\n")  # after a restart the page is back within a second
        self.send(_sse("snapshot", self.hub.store.snapshot()))
        await self.closed.wait()

    def send(self, message: str) -> None:
        try:
            self.write(message)
            self.flush()
        except (tornado.iostream.StreamClosedError, RuntimeError):  # closed, or finished: this page is gone
            self.on_connection_close()

    def on_connection_close(self) -> None:
        self.hub.streams.discard(self)
        if hasattr(self, "closed"):
            self.closed.set()


class Welcome(Base):
    def get(self) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish("A Gradflow live session. Join it from a notebook: import course; course.join(url, code, name)\n")


class Static(tornado.web.StaticFileHandler):
    def set_default_headers(self) -> None:
        for name, value in HEADERS.items():
            self.set_header(name, value)


def make_app(store: Store) -> tornado.web.Application:
    hub = Hub(store)
    args = {"hub": hub}
    app = tornado.web.Application([
        (r"/", Welcome, args),
        (r"/api/(join|leave|events)", Learners, args),
        (r"/teach/([^/]+)/?", Page, args),
        (r"/teach/([^/]+)/(course|state)", Data, args),
        (r"/teach/([^/]+)/stream", Stream, args),
        (r"/static/(teach\.js|teach\.css)", Static, {"path": str(PAGE)}),
    ])
    app.hub = hub
    keepalive = tornado.ioloop.PeriodicCallback(lambda: [s.send(": keepalive\n\n") for s in list(hub.streams)],
                                                KEEPALIVE_MS)
    app.keepalive = keepalive
    return app


class Running:
    """A server on its own thread (tests and the benchmark): ``url``, ``store``, ``stop()``."""

    def __init__(self, db: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = Store(db)
        self.started = threading.Event()
        self.sockets = tornado.netutil.bind_sockets(port, host, family=socket.AF_INET)
        self.port = self.sockets[0].getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        self.started.wait(30)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopping = asyncio.Event()
        self.app = make_app(self.store)
        self.app.keepalive.start()
        server = tornado.httpserver.HTTPServer(self.app, max_body_size=64 * 1024)
        server.add_sockets(self.sockets)
        self.started.set()
        await self.stopping.wait()
        server.stop()
        self.app.keepalive.stop()
        for stream in list(self.app.hub.streams):
            stream.request.connection.close()
        await server.close_all_connections()

    @property
    def teach_url(self) -> str:
        return f"{self.url}/teach/{self.store.instructor_key}/"

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(30)
        self.store.close()


def announcement(host: str, port: int, store: Store) -> str:
    shown = "<this machine's address on the room's network>" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{port}"
    reach = ("only this machine can reach it; give --host 0.0.0.0 to open it to the room's network"
             if host in ("127.0.0.1", "localhost", "::1") else f"listening on {host}: anyone on that network can reach it")
    return "\n".join([
        f"Live session at {url} ({reach}).",
        "",
        f"Learners join with the code {store.join_code}, in a notebook:",
        f'    import course; course.join("{url}", "{store.join_code}", "their name")',
        "or, set before JupyterLab starts:",
        f'    GRADFLOW_SESSION="{url} {store.join_code} their name"',
        "",
        "Your page (keep this address to yourself: it shows every learner's name):",
        f"    {url}/teach/{store.instructor_key}/",
        "",
        f"Events are kept in {store.path}; start again with the same --db to continue this session. Ctrl-C stops.",
    ])


def start_command(args) -> int:
    import sqlite3

    try:
        store = Store(args.db)
    except (sqlite3.Error, OSError) as exc:
        print(f"session: cannot use {args.db} as the session's file: {exc}", flush=True)
        return 1
    app = make_app(store)
    try:
        sockets = tornado.netutil.bind_sockets(args.port, args.host)
    except OSError as exc:
        print(f"session: cannot listen on {args.host}:{args.port}: {exc.strerror}", flush=True)
        return 1
    print(announcement(args.host, args.port, store), flush=True)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        server = tornado.httpserver.HTTPServer(app, max_body_size=64 * 1024)
        server.add_sockets(sockets)
        app.keepalive.start()
        await stop.wait()
        server.stop()
        app.keepalive.stop()

    asyncio.run(serve())
    store.close()
    print(f"session stopped; {store.path} keeps it", flush=True)
    return 0
