"""The per-node cache of access tokens (``session_cache_seconds``): a request does not read the
database to know who sent it, yet logout, device deletion, deactivation and suspension take
effect at once, on this node and, through the bus, on every other; and within a second
through the session watch (``core/session_watch.py``) where no doorbell arrives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
from sqlalchemy import update

from tests.support.harness import Api, User
from tumar.app import build_app
from tumar.bus.base import Doorbell
from tumar.bus.local import LocalBus
from tumar.config import Settings
from tumar.core import session_watch
from tumar.core.accounts import hash_token
from tumar.core.directory import cli_actor
from tumar.core.services import Services, build_services
from tumar.store import session_changes
from tumar.store.accounts import TokenOwner
from tumar.store.schema import users


@asynccontextmanager
async def nodes(settings: Settings, *, shared_bus: bool = True) -> AsyncIterator[list[Api]]:
    """Two nodes on one database; with ``shared_bus`` their doorbells reach each other (as
    Redis would carry them)."""
    bus = LocalBus()
    async with AsyncExitStack() as stack:
        apis = []
        for _ in range(2):
            svc = build_services(settings, bus=bus if shared_bus else LocalBus())
            await svc.start()
            stack.push_async_callback(svc.close)
            app = build_app(settings, svc)
            apis.append(await stack.enter_async_context(Api.in_process(app, svc)))
        yield apis


def services(api: Api) -> Services:
    assert api.services is not None
    return api.services


async def whoami(api: Api, user: User) -> None:
    me = await api.call("GET", "/account/whoami", user=user)
    assert me["user_id"] == user.user_id


async def test_a_cached_token_needs_no_database_read(api: Api) -> None:
    alice = await api.register("alice")
    await whoami(api, alice)
    # Behind the cache's back (no service would do this): the cached owner still answers.
    async with services(api).db.write() as conn:
        await conn.execute(
            update(users).where(users.c.user_id == alice.user_id).values(suspended=True)
        )
    await whoami(api, alice)
    services(api).accounts.sessions.drop_users([alice.user_id])
    await api.error("GET", "/account/whoami", 401, "M_USER_LOCKED", user=alice)


async def test_logout_refuses_the_cached_token_at_once(api: Api) -> None:
    alice = await api.register("alice")
    phone = await api.login(alice.user_id)
    await whoami(api, alice)
    await whoami(api, phone)
    await api.call("POST", "/logout", user=alice, json={})
    await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=alice)
    await whoami(api, phone)
    await api.call("POST", "/logout/all", user=phone, json={})
    await api.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=phone)


async def test_logout_on_one_node_refuses_the_token_on_the_other(settings: Settings) -> None:
    async with nodes(settings) as (a, b):
        alice = await a.register("alice")
        phone = await a.login(alice.user_id)
        await whoami(b, alice)  # cached on node B
        await whoami(b, phone)
        await a.call("POST", "/logout", user=alice, json={})
        await b.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=alice)
        await whoami(b, phone)
        # Deactivation on node A ends every session on node B too.
        await services(a).account_admin.do_deactivate_user(cli_actor(), alice.user_id, None)
        await b.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=phone)


@pytest.fixture
def slow_machine(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reading stays trusted for a minute: what these tests do after a reading may take
    longer than 3 s on a loaded machine."""
    monkeypatch.setattr(session_watch, "TRUST_S", 60.0)


@pytest.mark.usefixtures("slow_machine")
async def test_without_the_doorbell_the_other_node_would_trust_its_cache(
    settings: Settings,
) -> None:
    """The control for the test above: what makes node B refuse is the bus, not a re-read
    (B's session watch reads only when told, here: see the next test)."""
    async with nodes(settings, shared_bus=False) as (a, b):
        await services(b).accounts.session_watch.stop()
        await services(b).accounts.session_watch.poll()  # trusted for TRUST_S (patched)
        alice = await a.register("alice")
        await whoami(b, alice)
        await a.call("POST", "/logout", user=alice, json={})
        await a.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=alice)
        await whoami(b, alice)  # until B's session watch reads the change


@pytest.mark.usefixtures("slow_machine")
async def test_a_change_whose_doorbell_was_lost_reaches_the_cache_at_the_next_reading(
    settings: Settings,
) -> None:
    """A lost doorbell, or a command-line process that cannot ring the server's bus: the
    session watch's next reading (every second) drops the sessions all the same."""
    async with nodes(settings, shared_bus=False) as (a, b):
        watch = services(b).accounts.session_watch
        await watch.stop()
        await watch.poll()
        alice = await a.register("alice")
        phone = await a.login(alice.user_id)
        bob = await a.register("bob")
        for user in (alice, phone, bob):
            await whoami(b, user)
        await a.call("POST", "/logout", user=alice, json={})
        await whoami(b, alice)  # cached, and no doorbell came
        await watch.poll()
        await b.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=alice)
        cache = services(b).accounts.sessions
        assert cache.get(hash_token(bob.token)) is not None  # bob's session stays cached
        await whoami(b, phone)
        admin = services(a).account_admin
        await admin.do_set_user_suspended(cli_actor(), alice.user_id, True)
        await whoami(b, phone)
        await watch.poll()
        await b.error("GET", "/account/whoami", 401, "M_USER_LOCKED", user=phone)
        await admin.do_set_user_suspended(cli_actor(), alice.user_id, False)
        await watch.poll()
        await whoami(b, phone)
        await services(a).accounts.do_delete_devices(alice.user_id, [phone.device_id])
        await watch.poll()
        await b.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=phone)


async def test_a_node_whose_session_watch_fails_reads_every_token(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await api.register("alice")
    await whoami(api, alice)
    watch = services(api).accounts.session_watch
    await watch.stop()

    async def broken(*_args: object) -> list[tuple[int, str]]:
        raise OSError("the database is away")

    monkeypatch.setattr(session_watch.store, "since", broken)
    with pytest.raises(OSError):
        await watch.poll()
    assert not watch.fresh
    assert services(api).accounts.sessions.get(hash_token(alice.token)) is None  # forgotten
    await whoami(api, alice)  # read, and put into the cache again...
    assert services(api).accounts.sessions.get(hash_token(alice.token)) is not None
    async with services(api).db.write() as conn:  # ...which is not consulted while stale
        await conn.execute(
            update(users).where(users.c.user_id == alice.user_id).values(suspended=True)
        )
    await api.error("GET", "/account/whoami", 401, "M_USER_LOCKED", user=alice)
    monkeypatch.undo()
    await watch.poll()
    assert watch.fresh


async def test_old_session_changes_are_pruned(api: Api) -> None:
    await services(api).accounts.session_watch.stop()  # its own pruning would race ours
    db = services(api).db
    async with db.write() as conn:
        for pos, ts in ((10_001, 1_000), (10_002, 5_000), (10_003, 9_000)):
            await session_changes.add(conn, f"@u{pos}:t", pos, ts)
    async with db.write() as conn:
        await session_changes.prune(conn, 5_000)
    async with db.read() as conn:
        assert await session_changes.since(conn, 0) == [
            (10_002, "@u10002:t"),
            (10_003, "@u10003:t"),
        ]
        assert await session_changes.latest(conn) == 10_003


async def test_suspension_locks_cached_tokens_at_once_on_every_node(settings: Settings) -> None:
    async with nodes(settings) as (a, b):
        alice = await a.register("alice")
        await whoami(a, alice)
        await whoami(b, alice)
        admin = services(a).account_admin
        await admin.do_set_user_suspended(cli_actor(), alice.user_id, True)
        for node in (a, b):
            body = await node.error("GET", "/account/whoami", 401, "M_USER_LOCKED", user=alice)
            assert body["soft_logout"] is True
        await admin.do_set_user_suspended(cli_actor(), alice.user_id, False)
        await whoami(b, alice)
        await whoami(a, alice)


async def test_a_read_that_raced_a_logout_is_not_cached(api: Api) -> None:
    """A lookup that read the database before a logout committed must not put its answer into
    the cache after the drop (it would serve a dead token for session_cache_seconds)."""
    alice = await api.register("alice")
    accounts = services(api).accounts
    cache = accounts.sessions
    cache.drop_users([alice.user_id])
    epoch = cache.epoch  # what get_requester notes before its read
    owner = await accounts.get_requester(alice.token)  # reads and caches
    assert owner.user_id == alice.user_id
    cache.drop_users([alice.user_id])  # the logout's drop lands
    stale = TokenOwner(alice.user_id, alice.device_id, False, False, False)
    cache.put(hash_token(alice.token), stale, epoch)
    assert cache.get(hash_token(alice.token)) is None


async def test_cache_off_reads_every_time(settings: Settings) -> None:
    off = settings.model_copy(update={"session_cache_seconds": 0})
    async with nodes(off, shared_bus=False) as (a, b):
        alice = await a.register("alice")
        await whoami(b, alice)
        await a.call("POST", "/logout", user=alice, json={})
        await b.error("GET", "/account/whoami", 401, "M_UNKNOWN_TOKEN", user=alice)


def test_the_cache_keeps_a_token_five_minutes_on_one_node_and_not_on_several(
    settings: Settings,
) -> None:
    """One node drops a revoked token before it answers the next request. With several
    nodes (Redis) the doorbell may come after the next request elsewhere, so by default
    every request reads its token there (a logout holds on every node at once); a chosen
    time is bounded by the session watch."""
    assert settings.effective_session_cache_seconds == 300
    redis = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    assert redis.effective_session_cache_seconds == 0
    chosen = redis.model_copy(update={"session_cache_seconds": 3})
    assert chosen.effective_session_cache_seconds == 3


class _DeafBus(LocalBus):
    """A bus that has lost its connection (a node cut off from Redis)."""

    @property
    def connected(self) -> bool:
        return False


async def test_a_node_that_lost_the_bus_does_not_trust_its_cache(settings: Settings) -> None:
    svc = build_services(settings, bus=_DeafBus())
    await svc.start()
    try:
        app = build_app(settings, svc)
        async with Api.in_process(app, svc) as api:
            alice = await api.register("alice")
            await whoami(api, alice)
            # A logout elsewhere whose doorbell never arrives: the cache is not consulted.
            async with svc.db.write() as conn:
                await conn.execute(
                    update(users).where(users.c.user_id == alice.user_id).values(suspended=True)
                )
            await api.error("GET", "/account/whoami", 401, "M_USER_LOCKED", user=alice)
    finally:
        await svc.close()


async def test_a_node_that_may_have_missed_doorbells_forgets_every_session(api: Api) -> None:
    """After an outage of the bus (a wake-all doorbell), a logout elsewhere may have gone
    unheard: every cached session is read again."""
    alice = await api.register("alice")
    await whoami(api, alice)
    async with services(api).db.write() as conn:
        await conn.execute(
            update(users).where(users.c.user_id == alice.user_id).values(suspended=True)
        )
    await whoami(api, alice)  # still cached
    services(api).accounts.sessions.on_doorbell(
        Doorbell(position=0, users=frozenset(), wake_all=True)
    )
    await api.error("GET", "/account/whoami", 401, "M_USER_LOCKED", user=alice)


async def test_closing_a_node_waits_for_its_prune(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A prune still waiting (for a lock, say) when the node closes is cancelled and awaited
    before the database closes: no task of the watch is left behind holding a connection."""
    started = asyncio.Event()

    async def slow_prune(conn: object, before_ts: int) -> None:
        started.set()
        await asyncio.sleep(30)

    monkeypatch.setattr(session_watch, "WATCH_INTERVAL_S", 0.01)
    monkeypatch.setattr(session_watch.store, "prune", slow_prune)
    svc = build_services(settings)
    await svc.start()
    try:
        await asyncio.wait_for(started.wait(), 10)
    finally:
        await asyncio.wait_for(svc.close(), 10)
    me = asyncio.current_task()
    left = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
    assert not [t for t in left if "_prune" in repr(t) or "_run" in repr(t)]
