"""The Redis bus: doorbells between the nodes of one deployment, over Redis pub/sub.

Redis is treated as an unreliable doorbell, never as storage: a node delivers its own doorbells
to its local subscribers at once and publishes them for the others; a message lost in Redis
costs the other nodes latency, not data, because readers re-read the database. While Redis is
unreachable the node polls the stream position in the database every ``bus_fallback_poll_ms``
and wakes every parked long-poll when it moved; after reconnecting it wakes them once more, as
doorbells may have been lost meanwhile. A Redis error never fails the request that published.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
import uuid
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from tumar.bus import wire
from tumar.bus.base import Doorbell, Handler
from tumar.store.db import Database

log = logging.getLogger(__name__)

REDIS_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError)
"""What a Redis call raises when Redis is unreachable or misbehaves."""

_MIN_BACKOFF = 0.1
_MAX_BACKOFF = 2.0
_START_WAIT = 3.0  # how long start() waits for the first subscription before carrying on
_OUTBOX = 10_000  # doorbells waiting to be sent; beyond it they are dropped (lossy by design)

# Numbers a typing doorbell with the global typing serial and publishes it in one atomic step,
# so every node receives typing doorbells in serial order. ARGV[1] is the message without its
# final ``0}`` (the typing serial written by wire.encode); ARGV[2] a serial the counter must
# pass (one handed out locally while Redis was unreachable).
_TYPING_LUA = """
local serial = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[2])
if serial <= floor then
  serial = floor + 1
  redis.call('SET', KEYS[1], serial)
end
redis.call('PUBLISH', KEYS[2], ARGV[1] .. serial .. '}')
return serial
"""


def redis_client(url: str) -> Redis:
    """A client with short timeouts: a request never waits long on an unreachable Redis.

    One retry on a fresh connection covers pooled connections broken by a Redis restart. TCP
    keepalive notices a Redis host that vanished without closing the connection (the pub/sub
    connection waits for messages without a timeout) within about 25 seconds."""
    keepalive = {
        getattr(socket, name): value
        for name, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3))
        if hasattr(socket, name)
    }
    return Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=2.0,
        socket_keepalive=True,
        socket_keepalive_options=keepalive,
        retry=Retry(NoBackoff(), 1),
    )


class RedisBus:
    def __init__(
        self,
        client: Redis,
        db: Database,
        *,
        prefix: str,
        fallback_poll_ms: int = 1000,
        node_id: str | None = None,
    ) -> None:
        self.client = client
        """The Redis client, shared with what else keeps cross-node state in Redis (typing
        serial, rate limits); closed with the bus."""
        self.prefix = prefix
        self.node_id = node_id or uuid.uuid4().hex[:12]
        self._channel = f"{prefix}:doorbell"
        self._db = db
        self._poll_seconds = fallback_poll_ms / 1000
        self._handlers: list[Handler] = []
        self._connected = False
        self._error = "not started"
        self._lag = 0.0
        self._position = 0  # the highest stream position delivered on this node
        self._outage = False  # disconnected since the last subscription: catch up on reconnect
        self._publish_failing = False
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(_OUTBOX)
        self._sender: asyncio.Task[None] | None = None
        self._closed = False
        self._typing_script = client.register_script(_TYPING_LUA)

    def key(self, name: str) -> str:
        """A Redis key of this deployment (``PREFIX:SERVER_NAME:name``)."""
        return f"{self.prefix}:{name}"

    # ---- the Bus protocol ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None or self._closed:
            return
        self._position = await self._read_position() or 0
        self._task = asyncio.create_task(self._run(), name="tumar-redis-bus")
        self._sender = asyncio.create_task(self._send(), name="tumar-redis-bus-send")
        # Wait for the first subscription (or its failure), so doorbells published right after
        # start reach this node; an unreachable Redis does not stop the node from serving.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), _START_WAIT)

    async def publish(self, bell: Doorbell) -> None:
        """Deliver to this node's subscribers now; queue for the other nodes (a request never
        waits for Redis: a background task sends queued doorbells in pipelined batches)."""
        self._deliver(bell)
        if not self._connected or self._sender is None:
            return  # the other nodes poll the database meanwhile
        try:
            self._outbox.put_nowait(wire.encode(bell, self.node_id, time.time()))
        except asyncio.QueueFull:
            if not self._publish_failing:
                log.warning("Redis bus: %d doorbells waiting; dropping new ones", _OUTBOX)
            self._publish_failing = True

    def subscribe(self, handler: Handler) -> None:
        self._handlers.append(handler)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._sender is not None:
            with contextlib.suppress(TimeoutError):  # send what is queued, if Redis answers
                await asyncio.wait_for(self._outbox.join(), 1.0)
        self._connected = False
        for task in (self._task, self._poller, self._sender):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, *REDIS_ERRORS):
                    await task
        with contextlib.suppress(*REDIS_ERRORS):
            await self.client.aclose()
        self._handlers.clear()

    async def check(self) -> str | None:
        if not self._connected:
            return f"redis: {self._error}"
        try:
            await asyncio.wait_for(self.client.ping(), 2.0)
        except REDIS_ERRORS as exc:
            # Readiness is unauthenticated: the kind of failure only (the detail is logged).
            log.warning("Redis bus: health check failed: %s", _reason(exc))
            return f"redis: {type(exc).__name__}"
        return None

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def lag_seconds(self) -> float:
        return self._lag

    # ---- typing: numbered by a global serial --------------------------------------------------

    async def publish_typing(self, bell: Doorbell, floor: int) -> int | None:
        """Give ``bell`` the next global typing serial (above ``floor``) and publish it to every
        node, this one included, in serial order. Returns the serial, or None when Redis is
        unreachable: the caller numbers the doorbell itself and publishes it locally."""
        if not self._connected:
            return None
        message = wire.encode(
            Doorbell(
                position=bell.position,
                users=bell.users,
                rooms=bell.rooms,
                sessions=bell.sessions,
                wake_all=bell.wake_all,
                typing_room=bell.typing_room,
                typing_users=bell.typing_users,
            ),
            self.node_id,
            time.time(),
            to_self=True,
        )
        assert message.endswith(b"0}"), "wire.encode must end with the typing serial"
        try:
            result: Any = await self._typing_script(
                keys=[self.key("typing_serial"), self._channel], args=[message[:-2], floor]
            )
        except REDIS_ERRORS as exc:
            log.warning("Redis bus: publishing a typing doorbell failed: %s", _reason(exc))
            return None
        return int(result)

    async def typing_serial(self) -> int | None:
        """The global typing serial now, or None when Redis is unreachable."""
        try:
            value: Any = await self.client.get(self.key("typing_serial"))
        except REDIS_ERRORS as exc:
            log.warning("Redis bus: reading the typing serial failed: %s", _reason(exc))
            return None
        return int(value or 0)

    async def _send(self) -> None:
        """Send queued doorbells, in order, as many per round trip as are waiting."""
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 500:
                batch.append(self._outbox.get_nowait())
            try:
                if self._connected:
                    async with self.client.pipeline(transaction=False) as pipe:
                        for message in batch:
                            pipe.publish(self._channel, message)
                        await pipe.execute()
                    self._publish_failing = False
            except REDIS_ERRORS as exc:
                if not self._publish_failing:
                    log.warning("Redis bus: publishing doorbells failed: %s", _reason(exc))
                self._publish_failing = True
            finally:
                for _ in batch:
                    self._outbox.task_done()

    # ---- receiving ----------------------------------------------------------------------------

    async def _run(self) -> None:
        """Subscribe and deliver; on any Redis failure fall back to polling and reconnect."""
        backoff = _MIN_BACKOFF
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                while True:  # the subscription is active once Redis confirms it
                    msg = await pubsub.get_message(timeout=1.0)
                    if msg is not None and msg["type"] == "subscribe":
                        break
                await self._on_connected()
                backoff = _MIN_BACKOFF
                while True:  # blocks until a message or a broken connection
                    msg = await pubsub.get_message(timeout=None)
                    if msg is None:
                        continue
                    if msg["type"] == "message":
                        self._receive(msg["data"])
                    elif msg["type"] == "subscribe":
                        # redis-py reconnected and subscribed again by itself: doorbells sent
                        # in between are lost, so catch up as after any outage.
                        log.warning("Redis bus: the subscription was renewed")
                        self._outage = True
                        await self._on_connected()
            except REDIS_ERRORS as exc:
                self._on_lost(exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
            finally:
                with contextlib.suppress(*REDIS_ERRORS):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def _on_connected(self) -> None:
        self._connected = True
        self._error = ""
        self._ready.set()
        if self._poller is not None:
            self._poller.cancel()
            self._poller = None
        if self._outage:
            self._outage = False
            log.warning("Redis bus: connected again; waking every long-poll once")
            position = await self._read_position()
            self._deliver(
                Doorbell(position=position or self._position, users=frozenset(), wake_all=True)
            )

    def _on_lost(self, exc: BaseException) -> None:
        if self._connected or not self._outage:
            log.warning(
                "Redis bus: unreachable (%s); polling the database every %d ms until it is back",
                _reason(exc),
                round(self._poll_seconds * 1000),
            )
        self._connected = False
        self._outage = True
        self._error = type(exc).__name__  # shown by readiness: the kind only, the detail is logged
        self._ready.set()
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(), name="tumar-bus-fallback-poll")

    async def _poll(self) -> None:
        """While disconnected: wake every long-poll when the stream moved."""
        seen = self._position
        while not self._connected:
            await asyncio.sleep(self._poll_seconds)
            position = await self._read_position()
            if position is not None and position > seen and not self._connected:
                seen = position
                self._deliver(Doorbell(position=position, users=frozenset(), wake_all=True))

    def _receive(self, data: bytes) -> None:
        try:
            envelope = wire.decode(data)
        except ValueError as exc:
            log.warning("Redis bus: ignoring a message: %s", exc)
            return
        if envelope.node == self.node_id and not envelope.to_self:
            return  # delivered locally when it was published
        self._lag = max(0.0, time.time() - envelope.sent)
        self._deliver(envelope.bell)

    def _deliver(self, bell: Doorbell) -> None:
        self._position = max(self._position, bell.position)
        for handler in list(self._handlers):
            try:
                handler(bell)
            except Exception:
                log.exception("Redis bus: a doorbell handler failed")

    async def _read_position(self) -> int | None:
        try:
            return await self._db.current_position()
        except Exception as exc:  # the database may be restarting too: try again next time
            log.warning("Redis bus: reading the stream position failed: %s", exc)
            return None


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
