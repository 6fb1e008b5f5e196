"""Progress of a running import, streamed to the client as JSON Lines.

A client that sends ``Accept: application/x-ndjson`` to an import endpoint gets, instead of
one JSON report at the end, a stream of lines while the import runs::

    {"progress": {"phase": "reading", "done": 4096, "total": 81920}}
    {"progress": {"phase": "importing", "done": 1000, "total": 2400}}
    ...
    {"report": {...the same report as the JSON answer...}}

or, if the import fails after it started, a last line ``{"error": {"status": 400, "errcode":
"TUMAR_BAD_ENCODING", "error": "..."}}``. An import that fails before its first progress
report (a wrong header, an unreadable file, scope) answers the ordinary JSON error with its
HTTP status, as without the header. The phases are those of ``core.imports.ImportProgress``;
progress lines are thinned to about ten a second. The import runs to its end even if the
client goes away: each batch is its own transaction, so stopping half-way would leave a
half-imported file for no gain.

The stream answers one request, so it works behind a load balancer with any number of nodes:
no job state is kept anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tumar.core.imports import ImportProgress, ImportReport
from tumar.errors import MatrixError

log = logging.getLogger(__name__)

NDJSON = "application/x-ndjson"
INTERVAL = 0.1  # seconds between two progress lines of the same phase
Item = dict[str, Any]

# Imports whose client went away run on; holding them here keeps them from being collected.
_running: set[asyncio.Task[ImportReport]] = set()


def wants_progress(request: Request) -> bool:
    return NDJSON in request.headers.get("accept", "")


class _Reporter:
    """The progress callback: called from the reading thread and from the event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Item]) -> None:
        self._loop = loop
        self._queue = queue
        self._phase = ""
        self._last = 0.0

    def __call__(self, phase: str, done: int, total: int | None) -> None:
        now = time.monotonic()
        if phase == self._phase and done != total and now - self._last < INTERVAL:
            return
        self._phase, self._last = phase, now
        item = {"phase": phase, "done": done, "total": total}
        self._loop.call_soon_threadsafe(self._queue.put_nowait, item)


def _line(item: Item) -> bytes:
    return orjson.dumps(item) + b"\n"


def _error_item(exc: BaseException) -> Item:
    if isinstance(exc, MatrixError):
        return {"error": {"status": exc.status, **exc.to_body()}}
    log.error("import failed", exc_info=exc)
    return {"error": {"status": 500, "errcode": "M_UNKNOWN", "error": "Internal server error."}}


async def stream_import(
    work: Callable[[ImportProgress], Awaitable[ImportReport]], cleanup: Callable[[], None]
) -> Response:
    """Run ``work`` (an import given a progress callback) and answer its progress as JSON
    Lines; ``cleanup`` runs once the import has ended, whatever became of the client."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Item] = asyncio.Queue()

    async def run() -> ImportReport:
        return await work(_Reporter(loop, queue))

    task = asyncio.ensure_future(run())
    _running.add(task)

    def ended(t: asyncio.Task[ImportReport]) -> None:
        _running.discard(t)
        cleanup()

    task.add_done_callback(ended)
    first = await _next(queue, task)
    if first is None and task.exception() is not None:
        raise task.exception()  # type: ignore[misc]  # before any progress: a plain error

    async def lines() -> AsyncIterator[bytes]:
        item = first
        while item is not None:
            yield _line({"progress": item})
            item = await _next(queue, task)
        await asyncio.sleep(0)  # progress reports scheduled just before the end
        while not queue.empty():
            yield _line({"progress": queue.get_nowait()})
        exc = task.exception()
        yield _line(_error_item(exc) if exc is not None else {"report": task.result().as_dict()})

    return StreamingResponse(lines(), media_type=NDJSON, headers={"Cache-Control": "no-store"})


async def _next(queue: asyncio.Queue[Item], task: asyncio.Task[ImportReport]) -> Item | None:
    """The next progress report, or None once the import has ended and none is waiting."""
    if not queue.empty():
        return queue.get_nowait()
    if task.done():
        return None
    getter = asyncio.ensure_future(queue.get())
    try:
        await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        getter.cancel()
        raise
    if getter.done():
        return getter.result()
    getter.cancel()
    return None
