"""Conditional access (issue 8): content of rooms whose label a device policy gates reaches a
session only while that session's device is enrolled and compliant, or the policy lets that
kind of client through (say, a desktop session from the office network).

The decision is :func:`tumar.policy.device_access.content_access`; this module gathers its
inputs and is called by the readers:

* ``/sync`` (:meth:`DeviceGate.hold`): a gated room's timeline, state and ephemeral events
  stay out of that session's sync; when access returns, the next sync delivers the room as if
  newly joined (its state, and a limited timeline the client can paginate back from), so
  nothing held back is lost. Which rooms a sync withheld travels in its ``next_batch`` token
  as the id of the set (:func:`hold_id_of`), the set itself stored under that id
  (``store/sync_holds.py``): so the sync that follows knows them on any node, after a
  restart, and again when a client repeats it with the same token;
* ``/messages``, ``/context``, ``/event``, ``/state``, ``/members``, relations
  (:meth:`DeviceGate.check_room`), search (:meth:`DeviceGate.searchable`) and media downloads
  (:meth:`DeviceGate.check_media`): 403 ``TUMAR_DEVICE_NOT_COMPLIANT`` with the reason.

Cost: the policies in force come from the check-ins' cache (``PolicyCache``: re-read after a
few seconds, at once after a change on this node); without a policy that gates a label, a
request costs no query at all. A session's device and organisation are cached for
``device_gate_session_seconds``, dropped at once when a check-in on this node changes the
device's verdict (:meth:`DeviceGate.on_access_change`), and re-read on every request once the
access they gave has expired: access ends by itself at the ``valid_until_ts`` the last
check-in computed (the next schedule boundary, or when the check-in grows stale), and returns
as soon as a fresh check-in is stored.
"""

from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.clock import Clock
from tumar.config import Settings
from tumar.core.device_checkins import Bundle, PolicyCache
from tumar.core.requester import Requester
from tumar.core.tokens import HOLD_ID_CHARS
from tumar.errors import MatrixError
from tumar.policy.decision import Decision
from tumar.policy.device_access import SessionAccess, content_access
from tumar.policy.device_eval import Verdict
from tumar.policy.device_policy import Person, applies_to
from tumar.store import classification as label_store
from tumar.store import device_access as store
from tumar.store import devices as device_store
from tumar.store import sync_holds as hold_store
from tumar.store.devices import ManagedDevice

log = logging.getLogger(__name__)

NOT_COMPLIANT = "TUMAR_DEVICE_NOT_COMPLIANT"
MAX_SESSIONS = 50_000  # sessions whose device and organisation a node keeps
MAX_HOLDS = 10_000  # withheld sets a node keeps by id (they never change)
MOBILE_PLATFORMS = frozenset({"android", "ios", "ipados"})
DESKTOP_PLATFORMS = frozenset({"windows", "macos", "linux"})
_MOBILE_AGENTS = ("android", "iphone", "ipad", "ios;", "mobile")


def not_compliant(reason: str) -> MatrixError:
    return MatrixError(403, NOT_COMPLIANT, reason)


def client_kind(device: ManagedDevice | None, user_agent: str | None) -> str:
    """What kind of client a session is: from its enrolled device's platform, else from the
    User-Agent the client declares (``mobile``, ``web`` for a browser, else ``desktop``). The
    declared kind is a hint: policies pair it with networks, which the server does see."""
    if device is not None:
        if device.platform in MOBILE_PLATFORMS:
            return "mobile"
        return "desktop" if device.platform in DESKTOP_PLATFORMS else "web"
    agent = (user_agent or "").lower()
    if any(m in agent for m in _MOBILE_AGENTS):
        return "mobile"
    if agent.startswith("mozilla/") and "electron" not in agent:
        return "web"
    return "desktop"


def _reasons(device: ManagedDevice | None) -> tuple[str, ...]:
    if device is None:
        return ()
    return tuple(str(f["reason"]) for f in device.findings if f.get("reason"))


def hold_id_of(rooms: Iterable[str]) -> str:
    """The id of a set of withheld rooms: the first hex digits of the SHA-256 of the sorted
    room ids, each ended by a NUL (which no stored id contains)."""
    text = "".join(f"{r}\0" for r in sorted(set(rooms)))
    return hashlib.sha256(text.encode()).hexdigest()[:HOLD_ID_CHARS]


@dataclass(frozen=True, slots=True)
class Hold:
    """What one sync of a session leaves out (``withheld``, named by ``hold_id`` in the next
    token; None when nothing is withheld) and delivers anew (``released``: rooms the sync that
    issued the ``since`` token withheld, whose access has returned). ``unsaved``: ``withheld``
    is not known to be stored yet; the sync stores it (:meth:`DeviceGate.do_save_hold`)
    before its token goes out."""

    withheld: frozenset[str] = frozenset()
    released: tuple[str, ...] = ()
    hold_id: str | None = None
    unsaved: bool = False


NO_HOLD = Hold()


@dataclass(frozen=True, slots=True)
class _Session:
    person: Person
    device: ManagedDevice | None
    loaded_at: float


class DeviceGate:
    def __init__(self, clock: Clock, settings: Settings, policies: PolicyCache) -> None:
        self._clock = clock
        self._settings = settings
        self._cache = policies
        self._default_label = settings.classification_default_room
        self._bundle: Bundle | None = None
        self._gated: frozenset[str] = frozenset()  # labels any policy in force gates
        self._sessions: OrderedDict[tuple[str, str], _Session] = OrderedDict()
        self._holds: OrderedDict[str, frozenset[str]] = OrderedDict()  # stored sets by id

    # ---- caches -------------------------------------------------------------------------------

    async def on_access_change(self, device: ManagedDevice) -> None:
        """A check-in on this node changed the device's verdict, validity or gated labels
        (``Checkins.on_access_change``): its session reads the device again at once."""
        if device.session_device_id is not None:
            self._sessions.pop((device.user_id, device.session_device_id), None)

    def forget_user(self, user_id: str) -> None:
        """The user's devices or organisation changed: read them again."""
        for key in [k for k in self._sessions if k[0] == user_id]:
            del self._sessions[key]

    async def before_sync(self, user_id: str) -> None:
        """``SyncService.before_build``: bring the policies up to date before the sync opens its
        database connection, so that the sync never waits for a second one while holding one."""
        await self._gated_labels()

    async def _gated_labels(
        self, fresh: bool = True, conn: AsyncConnection | None = None
    ) -> frozenset[str]:
        """The labels any policy in force gates. ``fresh`` False: as last read (by
        :meth:`before_sync`), without asking the cache. A caller holding a connection passes
        it, so that a reload reads through it rather than waiting for a second one."""
        if not fresh and self._bundle is not None:
            return self._gated
        bundle = await self._cache.get(conn)
        if bundle is not self._bundle:
            self._bundle = bundle
            self._gated = frozenset(label for p in bundle.policies for label in p.gate.labels)
        return self._gated

    async def _session(self, conn: AsyncConnection, requester: Requester) -> _Session:
        key = (requester.user_id, requester.device_id)
        now = self._clock.monotonic()
        found = self._sessions.get(key)
        if found is not None and now - found.loaded_at < self._settings.device_gate_session_seconds:
            d = found.device
            lapsed = d is not None and (d.valid_until_ts or 0) <= self._clock.now_ms()
            if not lapsed:
                return found
        org = await store.person_org(conn, requester.user_id)
        device = await device_store.device_for_session(conn, requester.user_id, requester.device_id)
        person = Person(requester.user_id, org[1] if org else "", org[0] if org else "")
        session = _Session(person, device, now)
        self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > MAX_SESSIONS:
            self._sessions.popitem(last=False)
        return session

    # ---- decisions ----------------------------------------------------------------------------

    async def _decide(
        self,
        conn: AsyncConnection,
        requester: Requester,
        room_ids: Iterable[str],
        fresh: bool = True,
    ) -> dict[str, Decision]:
        """The refusals for those of ``room_ids`` this session may not read now."""
        gated = await self._gated_labels(fresh, conn)
        if not gated:
            return {}
        ids = sorted(set(room_ids))
        if not ids:
            return {}
        session = await self._session(conn, requester)
        now_ms = self._clock.now_ms()
        assert self._bundle is not None
        bundle = self._bundle
        policies = [
            p for p in bundle.policies if applies_to(p, session.person, now_ms, bundle.org_paths)
        ]
        if not any(p.gate.labels for p in policies):
            return {}
        labels = await label_store.labels_of_rooms(conn, ids, self._default_label)
        device = session.device
        access = SessionAccess(
            verdict=Verdict(device.verdict) if device is not None else None,
            valid_until_ts=device.valid_until_ts if device is not None else None,
            gated_labels=frozenset(device.gated_labels) if device is not None else frozenset(),
            client_kind=client_kind(device, requester.user_agent),
            client_ip=requester.ip,
            reasons=_reasons(device),
        )
        out: dict[str, Decision] = {}
        for room_id, label in labels.items():
            if label not in gated:
                continue
            decision = content_access(label, access, policies, now_ms)
            if not decision:
                out[room_id] = decision
        return out

    async def check_room(self, conn: AsyncConnection, requester: Requester, room_id: str) -> None:
        """403 ``TUMAR_DEVICE_NOT_COMPLIANT`` unless the session may read the room's content."""
        refused = await self._decide(conn, requester, (room_id,))
        if room_id in refused:
            raise not_compliant(refused[room_id].reason)

    async def check_media(self, conn: AsyncConnection, requester: Requester, media_id: str) -> None:
        """Media follow the room where they were first posted."""
        if not await self._gated_labels(conn=conn):
            return
        origin = await label_store.media_origin_room(conn, media_id)
        if origin is not None:
            await self.check_room(conn, requester, origin)

    async def searchable(
        self,
        conn: AsyncConnection,
        requester: Requester,
        room_ids: Sequence[str],
        named: Sequence[str] | None,
    ) -> frozenset[str]:
        """The rooms a search leaves out. A search limited to named rooms that are all gated
        is refused with the reason (rather than answering with nothing)."""
        refused = await self._decide(conn, requester, room_ids)
        if named and refused:
            wanted = [r for r in room_ids if r in set(named)]
            if wanted and all(r in refused for r in wanted):
                raise not_compliant(refused[wanted[0]].reason)
        return frozenset(refused)

    async def hold(
        self,
        conn: AsyncConnection,
        requester: Requester,
        joined: Sequence[str],
        since_hold: str | None,
    ) -> Hold:
        """Which joined rooms this sync of the session withholds, and which it delivers anew
        because the sync that issued its ``since`` token (whose hold id is ``since_hold``)
        withheld them."""
        if since_hold is None and not await self._gated_labels(fresh=False):
            return NO_HOLD
        before = await self._load_hold(conn, since_hold) if since_hold else frozenset[str]()
        withheld = frozenset(await self._decide(conn, requester, joined, fresh=False))
        released = tuple(r for r in joined if r in before and r not in withheld)
        if not withheld:
            return Hold(released=released)
        hold_id = hold_id_of(withheld)
        return Hold(withheld, released, hold_id, unsaved=hold_id not in self._holds)

    async def _load_hold(self, conn: AsyncConnection, hold_id: str) -> frozenset[str]:
        rooms = self._holds.get(hold_id)
        if rooms is None:
            rooms = await hold_store.load(conn, hold_id)
            if rooms is None:
                # Not a set this server stored: a token from another deployment, or made up.
                log.debug("sync token names an unknown hold", extra={"hold_id": hold_id})
                return frozenset()
        self._cache_hold(hold_id, rooms)
        return rooms

    async def do_save_hold(self, conn: AsyncConnection, hold: Hold) -> None:
        """Store an ``unsaved`` withheld set under its id, in a write transaction that the
        caller commits before the token naming it goes out, then calls :meth:`hold_saved`."""
        assert hold.hold_id is not None
        await hold_store.save(conn, hold.hold_id, hold.withheld, self._clock.now_ms())

    def hold_saved(self, hold: Hold) -> None:
        """The set :meth:`do_save_hold` wrote is committed: later syncs need not write it."""
        assert hold.hold_id is not None
        self._cache_hold(hold.hold_id, hold.withheld)

    def _cache_hold(self, hold_id: str, rooms: frozenset[str]) -> None:
        self._holds[hold_id] = rooms
        self._holds.move_to_end(hold_id)
        while len(self._holds) > MAX_HOLDS:
            self._holds.popitem(last=False)

    async def withheld_left(
        self, conn: AsyncConnection, requester: Requester, room_ids: Sequence[str]
    ) -> frozenset[str]:
        """Of the rooms in a sync's ``leave`` section, those whose content it must not carry
        (the section keeps only the user's own membership event)."""
        if not room_ids or not await self._gated_labels(fresh=False):
            return frozenset()
        return frozenset(await self._decide(conn, requester, room_ids, fresh=False))
