"""A loopback TCP proxy that a test can cut, to play a database that restarts.

``cut()`` closes every open connection and stops listening, so new connections are refused,
as when PostgreSQL is down; ``restore()`` listens again on the same port. The proxy runs its
own event loop in a daemon thread, so a test's loop that blocks (waiting for a subprocess)
never stalls the traffic it forwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")
_CHUNK = 65_536


class TcpProxy:
    """Forward ``127.0.0.1:<port>`` to ``target_host:target_port``."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self.accepted = 0
        """Connections accepted so far (a test can see that its client reconnected)."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    # ---- control, from any thread ----------------------------------------------------------

    def start(self) -> int:
        """Start listening on a free loopback port; returns it."""
        self._thread.start()
        self._run(self._listen())
        return self.port

    def cut(self) -> None:
        """Close every connection and refuse new ones until :meth:`restore`."""
        self._run(self._cut())

    def restore(self) -> None:
        """Accept connections again, on the same port."""
        self._run(self._listen())

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        self._run(self._cut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def cut_off(self) -> bool:
        return self._server is None

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # ---- inside the proxy's loop -----------------------------------------------------------

    async def _listen(self) -> None:
        if self._server is not None:
            return
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self._server = await asyncio.start_server(self._accept, sock=sock)

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._server is None:  # accepted just before a cut
            _abort(writer)
            return
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            _abort(writer)
            return
        self._writers.update((writer, up_writer))
        await asyncio.gather(
            _pump(reader, up_writer), _pump(up_reader, writer), return_exceptions=True
        )
        for w in (writer, up_writer):
            self._writers.discard(w)
            _abort(w)


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.close()


def _abort(writer: asyncio.StreamWriter) -> None:
    """Drop the connection at once (a reset, as when the server process dies)."""
    with contextlib.suppress(OSError, RuntimeError):
        writer.transport.abort()
