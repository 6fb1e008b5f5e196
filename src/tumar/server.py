"""The HTTP server of ``tumar serve``: uvicorn, with a graceful drain on SIGTERM/SIGINT.

uvicorn alone, on a signal, stops accepting and then waits for in-flight requests; a ``/sync``
long-poll parked for 30 s would hold the shutdown that long (or be cancelled, a 500, when the
grace time ends). Here a signal instead:

1. marks the node draining: ``/health/ready`` answers 503 (load balancers stop sending);
2. keeps serving for ``shutdown_delay_seconds`` (0 by default) so they notice;
3. answers every parked long-poll at once with what there is (``Notifier.drain``; a valid
   ``next_batch``, so the client just reconnects, to another node) and parks no new one;
4. lets uvicorn stop accepting and wait up to ``shutdown_grace_seconds`` for the rest.

A second SIGINT skips the waiting (uvicorn's force exit). The process then exits normally
(code 0) after the services have closed, rather than re-raising the signal as uvicorn does.
"""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn

from tumar.config import Settings

_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class DrainingServer(uvicorn.Server):
    def __init__(
        self,
        config: uvicorn.Config,
        *,
        mark_draining: Callable[[], None],
        drain: Callable[[], None],
        delay_seconds: float = 0.0,
    ) -> None:
        super().__init__(config)
        self._mark_draining = mark_draining
        self._drain = drain
        self._delay = delay_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: only flag assignments here; the work happens in `shutdown`.
        self._mark_draining()
        super().handle_exit(sig, frame)

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Like uvicorn's, without re-raising the signal afterwards: a drained node has
        finished its work and exits with code 0 once the services are closed."""
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in _SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._mark_draining()
        waited = 0.0
        while waited < self._delay and not self.force_exit:
            await asyncio.sleep(0.1)
            waited += 0.1
        self._drain()
        await super().shutdown(sockets)


def make_server(
    app: Any, settings: Settings, host: str, port: int, **config: Any
) -> DrainingServer:
    """The uvicorn server for ``app`` with tumar's logging, keep-alive and drain settings."""
    from tumar.api.ops import set_draining

    svc = app.state.services
    uv_config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level,
        log_config=None,  # tumar.logs.configure_logging has set up every logger
        access_log=False,  # the middleware writes the access line, with the route template
        lifespan="on",
        # Clients long-poll and reuse connections; 5 s (uvicorn's default) closes them under
        # clients that pause briefly between requests.
        timeout_keep_alive=75,
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        **config,
    )
    return DrainingServer(
        uv_config,
        mark_draining=lambda: set_draining(app),
        drain=svc.notifier.drain,
        delay_seconds=settings.shutdown_delay_seconds,
    )
