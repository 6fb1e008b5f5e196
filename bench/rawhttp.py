"""A lean HTTP/1.1 client for the benchmarks: keep-alive connections over asyncio streams.

The benchmark client shares the machine's two cores with the server it measures. httpx costs
about 1.2 ms of CPU per request here (its pool bookkeeping, header models and URL handling),
which on a saturated machine is taken from the server and makes the client, not the server,
the bottleneck. This client does only what the benchmarks need: requests with a body of known
length, answers with ``Content-Length`` or chunked transfer encoding, keep-alive, and one
resend of a request whose reused connection the server had already closed. It costs about a
tenth of httpx per request.

Its surface is the subset of ``httpx.AsyncClient`` the benchmarks use (``request``, ``get``,
``post``, ``aclose``; responses with ``status_code``, ``content``, ``text``, ``json()``), so
:class:`harness.Api` takes either.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson


class ProtocolError(Exception):
    """The server's answer was not HTTP/1.x as this client understands it."""


# What a failed request raises: the connection broke, the answer was cut short or malformed,
# or it took longer than the timeout.
TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.IncompleteReadError,
    asyncio.LimitOverrunError,
    TimeoutError,
    ProtocolError,
)
# Methods whose request may be sent again when a reused connection turns out closed: the
# server may have processed it before the connection broke, so only idempotent ones.
_RESENDABLE = frozenset({"GET", "PUT", "DELETE"})


class RawResponse:
    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: dict[bytes, bytes], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return orjson.loads(self.content)


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    async def exchange(self, request: bytes) -> tuple[RawResponse, bool]:
        """Send one request and read its answer; also whether the connection stays open."""
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head[:-4].split(b"\r\n")
        status_line = lines[0]
        if not status_line.startswith(b"HTTP/1."):
            raise ProtocolError(f"not an HTTP/1.x answer: {status_line[:60]!r}")
        try:
            status = int(status_line[9:12])
        except ValueError:
            raise ProtocolError(f"bad status line: {status_line[:60]!r}") from None
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        keep = headers.get(b"connection", b"").lower() != b"close"
        if status_line.startswith(b"HTTP/1.0") and headers.get(b"connection", b"").lower() != (
            b"keep-alive"
        ):
            keep = False
        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            body = await self._chunked()
        elif b"content-length" in headers:
            body = await self.reader.readexactly(int(headers[b"content-length"]))
        elif status in (204, 304) or 100 <= status < 200:
            body = b""
        else:  # delimited by the end of the connection
            body = await self.reader.read()
            keep = False
        return RawResponse(status, headers, body), keep

    async def _chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await self.reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


class RawClient:
    """Keep-alive connections to one origin; concurrent requests each take an idle connection
    or open one (at most ``max_connections`` at a time, if given)."""

    def __init__(
        self,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        timeout: float | None = 60.0,
        max_connections: int | None = None,
    ) -> None:
        url = urlsplit(base_url)
        if url.scheme != "http" or url.hostname is None:
            raise ValueError(f"only plain http:// origins: {base_url!r}")
        self._host = url.hostname
        self._port = url.port or 80
        self._prefix = url.path.rstrip("/")
        self._host_header = f"{self._host}:{self._port}".encode()
        self._headers = {k.lower(): v for k, v in (headers or {}).items()}
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections) if max_connections else None
        self.resent = 0

    def _encode(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> bytes:
        lines = [f"{method} {self._prefix}{path} HTTP/1.1".encode(), b"host: " + self._host_header]
        for name, value in {**self._headers, **{k.lower(): v for k, v in headers.items()}}.items():
            lines.append(f"{name}: {value}".encode())
        if body is not None or method in ("POST", "PUT", "PATCH"):
            lines.append(b"content-length: " + str(len(body or b"")).encode())
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")

    async def _connect(self) -> _Connection:
        reader, writer = await asyncio.open_connection(self._host, self._port, limit=1 << 22)
        return _Connection(reader, writer)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> RawResponse:
        if json is not None:
            content = orjson.dumps(json)
            headers = {"content-type": "application/json", **(headers or {})}
        if params:
            path = f"{path}?{urlencode(params)}"
        wire = self._encode(method, path, headers or {}, content)
        limit = timeout if timeout is not None else self._timeout
        resend = method in _RESENDABLE
        if self._slots is not None:
            async with self._slots:
                return await self._send(wire, limit, resend)
        return await self._send(wire, limit, resend)

    def _take_idle(self) -> _Connection | None:
        """An idle connection the server has not visibly closed yet."""
        while self._idle:
            conn = self._idle.pop()
            if conn.reader.at_eof() or conn.writer.is_closing():
                conn.close()
                continue
            return conn
        return None

    async def _send(self, wire: bytes, limit: float | None, resend: bool) -> RawResponse:
        while True:
            conn = self._take_idle()
            reused = conn is not None
            try:
                async with asyncio.timeout(limit):
                    if conn is None:
                        conn = await self._connect()
                    response, keep = await conn.exchange(wire)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                if conn is not None:
                    conn.close()
                # A reused keep-alive connection the server closed as we sent (uvicorn closes
                # idle ones after 5 s): an idempotent request goes once more on a fresh one.
                partial = isinstance(exc, asyncio.IncompleteReadError) and exc.partial
                if reused and resend and not partial:
                    self.resent += 1
                    continue
                raise
            except BaseException:
                if conn is not None:
                    conn.close()
                raise
            if keep:
                self._idle.append(conn)
            else:
                conn.close()
            return response

    async def get(self, path: str, **kwargs: Any) -> RawResponse:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> RawResponse:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> RawResponse:
        return await self.request("PUT", path, **kwargs)

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
