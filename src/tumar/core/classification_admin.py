"""Security officers and room labels: listing rooms by label, showing one, and setting a label
(raising or lowering it) with a mandatory reason, audited in the same transaction.

Scope: ``labels.manage`` over the organisation of the room's creator, or globally (rooms whose
creator is not in the directory need a global grant).

The change is an ordinary ``kz.tumar.classification`` state event, so every client sees it.
Matrix authorises an event by its sender's power in the room, and the officer is usually not
a member; the event is therefore carried by a member who may send it (the creator if still
there, else the member with the highest power level), and its content names the officer in
``kz.tumar.set_by``. The reason stays in the audit log. A room with no member able to carry
the change answers 409 ``TUMAR_NO_ROOM_ADMIN``.
"""

from __future__ import annotations

from dataclasses import dataclass

from tumar.bus.base import Bus
from tumar.clock import Clock
from tumar.config import Settings
from tumar.core import audit
from tumar.core.classification_guard import LABEL_KEY
from tumar.core.directory import out_of_scope, who
from tumar.core.rooms import CREATE, POWER_LEVELS, NewEvent, RoomBatch, RoomService
from tumar.errors import MatrixError, not_found
from tumar.ids import RoomId
from tumar.policy.e2ee import E2eeMode
from tumar.policy.labels import LABEL_EVENT, OFFICER_KEY, LabelState, state_of
from tumar.policy.power_levels import PowerLevels
from tumar.policy.roles import Actor, Permission
from tumar.store import classification as store
from tumar.store import events as event_store
from tumar.store.classification import LabelledRoom
from tumar.store.db import Database

MAX_LIST = 500


@dataclass(frozen=True, slots=True)
class LabelSettings:
    labels: tuple[str, ...]
    default_room: str
    default_direct: str
    external_max: str | None
    e2ee: dict[str, E2eeMode]
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RoomLabelView:
    room_id: str
    label: str
    kinds: tuple[str, ...]
    orgs: tuple[str, ...]
    labelled: bool
    e2ee: E2eeMode
    creator: str
    creator_org: str | None
    updated_ts: int | None


@dataclass(frozen=True, slots=True)
class LabelChange:
    room: RoomLabelView
    changed: bool
    event_id: str | None


class LabelAdmin:
    def __init__(
        self, db: Database, bus: Bus, clock: Clock, settings: Settings, rooms: RoomService
    ) -> None:
        self._db = db
        self._bus = bus
        self._clock = clock
        self._settings = settings
        self._rooms = rooms
        self._guard = rooms.labels

    def _view(self, room: LabelledRoom) -> RoomLabelView:
        return RoomLabelView(
            room.room_id, room.label, room.kinds, room.orgs, room.labelled,
            self._guard.e2ee_mode(room.label), room.creator, room.creator_org, room.updated_ts,
        )  # fmt: skip

    @staticmethod
    def _require_some_scope(actor: Actor) -> None:
        if not actor.scopes(Permission.LABELS_MANAGE):
            raise out_of_scope("Only a security officer manages room labels.")

    @staticmethod
    def _check_scope(actor: Actor, room: LabelledRoom) -> None:
        if room.creator_org_path is None:
            if not actor.is_global(Permission.LABELS_MANAGE):
                raise out_of_scope(
                    "This room's creator is not in the directory: only a security officer "
                    "for the whole deployment manages its label."
                )
            return
        decision = actor.may(Permission.LABELS_MANAGE, room.creator_org_path)
        if not decision:
            raise out_of_scope(decision.reason)

    # ---- reading --------------------------------------------------------------------------

    def label_settings(self, actor: Actor) -> LabelSettings:
        self._require_some_scope(actor)
        s = self._settings
        return LabelSettings(
            labels=self._guard.labels,
            default_room=s.classification_default_room,
            default_direct=s.classification_default_direct,
            external_max=s.classification_external_max,
            e2ee={label: self._guard.e2ee_mode(label) for label in self._guard.labels},
            rules=tuple(s.classification_rules),
        )

    async def list_rooms(
        self,
        actor: Actor,
        *,
        label: str | None = None,
        at_least: str | None = None,
        after: str | None = None,
        limit: int = 100,
    ) -> list[RoomLabelView]:
        self._require_some_scope(actor)
        labels = self._guard.labels
        for name in (label, at_least):
            if name is not None and name not in labels:
                raise MatrixError(400, "TUMAR_UNKNOWN_LABEL", f"There is no label {name!r}.")
        only: list[str] | None = None
        if label is not None:
            only = [label]
        if at_least is not None:
            floor = labels[labels.index(at_least) :]
            only = [x for x in (only or floor) if x in floor]
        async with self._db.read() as conn:
            found = await store.list_labelled_rooms(
                conn,
                scopes=actor.scopes(Permission.LABELS_MANAGE),
                only=only,
                default=self._guard.default_label,
                after=after,
                limit=max(1, min(limit, MAX_LIST)),
            )
        return [self._view(room) for room in found]

    async def get_room(self, actor: Actor, room_id: str) -> RoomLabelView:
        self._require_some_scope(actor)
        RoomId.parse(room_id)
        async with self._db.read() as conn:
            room = await store.labelled_room(conn, room_id, self._guard.default_label)
        if room is None:
            raise not_found(f"No room {room_id}.")
        self._check_scope(actor, room)
        return self._view(room)

    # ---- writing --------------------------------------------------------------------------

    async def do_set_label(
        self,
        actor: Actor,
        room_id: str,
        new: LabelState,
        reason: str,
    ) -> LabelChange:
        """Set the room's label and audience (raise or lower), as a security officer."""
        self._require_some_scope(actor)
        RoomId.parse(room_id)
        if not reason.strip():
            raise MatrixError(400, "M_MISSING_PARAM", "A reason is required to change a label.")
        async with self._db.write() as conn:
            if not await self._db.lock_room(conn, room_id):
                raise not_found(f"No room {room_id}.")
            room = await store.labelled_room(conn, room_id, self._guard.default_label)
            assert room is not None
            self._check_scope(actor, room)
            batch = RoomBatch(conn, room_id, label_officer=actor.user_id)
            await batch.load([LABEL_KEY, CREATE, POWER_LEVELS])
            current = batch.state.get(LABEL_KEY)
            before = state_of(current.content if current else None, self._guard.default_label)
            if before == new and current is not None:
                return LabelChange(self._view(room), False, None)
            carrier = await self._carrier(batch, room.creator)
            content = {**new.content(), OFFICER_KEY: actor.user_id}
            stored = await self._rooms.append_one(
                batch, carrier, NewEvent(LABEL_EVENT, content, "")
            )
            await audit.record(
                conn, who(actor), stored.origin_server_ts, "room.label.set", "room", room_id,
                org_code=room.creator_org, before=before.content(),
                after={**new.content(), "reason": reason, "event_id": stored.event_id},
            )  # fmt: skip
            bell = await self._rooms.doorbell_for(conn, room_id, batch)
            updated = await store.labelled_room(conn, room_id, self._guard.default_label)
            assert updated is not None
        await self._bus.publish(bell)
        return LabelChange(self._view(updated), True, stored.event_id)

    async def _carrier(self, batch: RoomBatch, creator: str) -> str:
        """A joined member whose power level lets them send the label event."""
        levels_event = batch.state.get(POWER_LEVELS)
        levels = PowerLevels.from_content(
            levels_event.content if levels_event is not None else None, creator
        )
        needed = levels.event_level(LABEL_EVENT, True)
        joined = await event_store.room_members(batch.conn, batch.room_id, ("join",))
        able = sorted(
            (u for u in joined if levels.user_level(u) >= needed),
            key=lambda u: (u != creator, -levels.user_level(u), u),
        )
        if not able:
            raise MatrixError(
                409,
                "TUMAR_NO_ROOM_ADMIN",
                "No member of this room may change its state, so the label change cannot be "
                "carried into the room.",
            )
        return able[0]
