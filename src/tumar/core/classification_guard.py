"""The server's enforcement of room labels on the one append path (``RoomService.append_one``)
and on media downloads. It gathers the facts (the room's label and audience, the person's
clearance, kind and organisation) and asks the policy chain (``policy.chain.judge``) and the
pure decisions of ``policy.classification_rules``; it decides nothing itself.

- membership: an ``invite``, ``join`` or ``knock`` is judged for the person it would admit;
- the label event: its content is checked, lowering (or widening the audience) needs a
  security officer (a batch opened by ``core.classification_admin``), a change may exclude no
  current member, and an encrypted room cannot take a label that forbids E2EE;
- redacting the label event is refused (it would empty it, i.e. lower the room);
- every event gets the E2EE mode of the room's label (``e2ee_by_label``, else ``e2ee``).

Membership and label events that Matrix's own rules refuse anyway (not invited, too little
power) are left to them, so that outsiders learn nothing about a room's label.

Accounts without a directory entry (service accounts, operators, test users) count as holding
``default_clearance``, with no kind and no organisation: rooms that restrict kinds or
organisations do not admit them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.config import Settings
from tumar.core import audit
from tumar.core.audit import Who
from tumar.core.classification import room_label
from tumar.errors import MatrixError, PolicyDenied
from tumar.policy import classification_rules as rules
from tumar.policy.chain import Action, Facts, Subject, Verdict, judge, known_rules
from tumar.policy.directory import PERSON_KINDS
from tumar.policy.e2ee import ENCRYPTION, E2eeMode
from tumar.policy.event_auth import AuthEvent, check_event_auth
from tumar.policy.labels import (
    LABEL_EVENT,
    LabelProblem,
    LabelState,
    at_least,
    parse_content,
    state_of,
)
from tumar.store import classification as store
from tumar.store import events as event_store
from tumar.store.events import StateKey, StoredEvent
from tumar.store.media import RefMembership

if TYPE_CHECKING:
    from tumar.core.rooms import NewEvent, RoomBatch

LABEL_KEY: StateKey = (LABEL_EVENT, "")
ENCRYPTION_KEY: StateKey = (ENCRYPTION, "")
MISSING_ORG = "\x00missing:"  # a path that no organisation has (its code was deleted)


class ClassificationGuard:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.labels: tuple[str, ...] = tuple(settings.classification_labels)

    # ---- settings -------------------------------------------------------------------------

    @property
    def default_label(self) -> str:
        """The label of rooms without a label event."""
        return self._settings.classification_default_room

    def default_for(self, is_direct: bool) -> str:
        s = self._settings
        return s.classification_default_direct if is_direct else s.classification_default_room

    def e2ee_mode(self, label: str) -> E2eeMode:
        return rules.e2ee_mode(label, self._settings.e2ee_by_label, self._settings.e2ee)

    async def e2ee_mode_of(self, conn: AsyncConnection, room_id: str) -> E2eeMode:
        return self.e2ee_mode(await room_label(conn, room_id, self.default_label))

    def order(self) -> list[str]:
        """The configured chain, without rules no module has registered (yet)."""
        known = known_rules()
        return [name for name in self._settings.classification_rules if name in known]

    # ---- facts ----------------------------------------------------------------------------

    async def subjects(self, conn: AsyncConnection, user_ids: Sequence[str]) -> list[Subject]:
        found = await store.person_facts(conn, user_ids)
        out = []
        for user_id in user_ids:
            person = found.get(user_id)
            if person is None:
                out.append(Subject(user_id, self._settings.default_clearance, None, None))
            else:
                out.append(Subject(user_id, person.clearance, person.kind, person.org_path))
        return out

    async def _paths(self, conn: AsyncConnection, orgs: Sequence[str]) -> tuple[str, ...]:
        found = await store.org_paths(conn, orgs)
        return tuple(found.get(code, MISSING_ORG + code) for code in orgs)

    def facts(
        self,
        action: Action,
        room_id: str,
        state: LabelState,
        org_paths: tuple[str, ...],
        subject: Subject,
    ) -> Facts:
        cap = self._settings.classification_external_max
        return Facts(
            action=action,
            labels=self.labels,
            room_id=room_id,
            room_label=state.label,
            subject=subject,
            room_kinds=state.kinds,
            room_org_paths=org_paths,
            extra={rules.EXTERNAL_MAX: cap} if cap else {},
        )

    # ---- room creation --------------------------------------------------------------------

    def creation_label(
        self, initial_state: Sequence[NewEvent], is_direct: bool
    ) -> tuple[LabelState, list[NewEvent]]:
        """The label of a new room: the creator's ``kz.tumar.classification`` from
        ``initial_state`` (at or above the default), else the default for its kind; and the
        initial state without it (the label goes right after the power levels)."""
        default = LabelState(self.default_for(is_direct))
        chosen = [ev for ev in initial_state if ev.type == LABEL_EVENT]
        rest = [ev for ev in initial_state if ev.type != LABEL_EVENT]
        if not chosen:
            return default, rest
        if chosen[-1].state_key != "":
            raise MatrixError(400, "M_BAD_JSON", "The label event's state key must be empty.")
        parsed = self._parse(chosen[-1].content, officer=False)
        change = rules.change_of(default, parsed, self.labels)
        self._raise_if(rules.may_change(change, officer=False), status=403)
        return parsed, rest

    # ---- the append path ------------------------------------------------------------------

    async def check_append(
        self, batch: RoomBatch, sender: str, ev: NewEvent, keys: Iterable[StateKey]
    ) -> E2eeMode:
        """Refuse ``ev`` if it breaks the room's classification; the E2EE mode of the room."""
        await batch.load([*keys, LABEL_KEY, ENCRYPTION_KEY])
        current = self._current(batch)
        mode = self.e2ee_mode(current.label)
        if ev.type in ("m.room.member", LABEL_EVENT) and not self._matrix_allows(batch, sender, ev):
            return mode  # refused by Matrix's own rules next, without revealing the label
        if ev.type == "m.room.member":
            await self._check_member(batch, ev, current)
        elif ev.type == LABEL_EVENT:
            await self._check_label(batch, ev, current)
        elif ev.type == "m.room.redaction":
            await self._check_redaction(batch.conn, ev)
        return mode

    @staticmethod
    def _matrix_allows(batch: RoomBatch, sender: str, ev: NewEvent) -> bool:
        auth = AuthEvent(type=ev.type, sender=sender, content=ev.content, state_key=ev.state_key)
        return bool(check_event_auth(auth, batch.auth_state()))

    async def record(self, batch: RoomBatch, stored: StoredEvent) -> None:
        """Materialise a new label in ``room_labels`` and audit a room admin's change (a
        security officer's change is audited, with its reason, by the admin command)."""
        if stored.type != LABEL_EVENT or stored.state_key != "":
            return
        new = state_of(stored.content, self.default_label)
        await store.put_room_label(
            batch.conn, batch.room_id, new.label, new.kinds, new.orgs,
            stored.stream_pos, stored.origin_server_ts,
        )  # fmt: skip
        if stored.prev_content is not None and batch.label_officer is None:
            old = state_of(stored.prev_content, self.default_label)
            await audit.record(
                batch.conn, Who(stored.sender), stored.origin_server_ts, "room.label",
                "room", batch.room_id, before=old.content(), after=new.content(),
            )  # fmt: skip

    def _current(self, batch: RoomBatch) -> LabelState:
        event = batch.state.get(LABEL_KEY)
        return state_of(event.content if event is not None else None, self.default_label)

    async def _check_member(self, batch: RoomBatch, ev: NewEvent, current: LabelState) -> None:
        membership = ev.content.get("membership")
        target = ev.state_key
        if membership not in ("invite", "join", "knock") or target is None:
            return
        previous = batch.state.get(("m.room.member", target))
        if membership == "join" and previous is not None and previous.membership == "join":
            return  # a profile change, not a new admission
        [subject] = await self.subjects(batch.conn, [target])
        paths = await self._paths(batch.conn, current.orgs)
        action: Action = "invite" if membership == "invite" else "join"
        judgement = judge(self.facts(action, batch.room_id, current, paths, subject), self.order())
        self._raise_if(judgement.verdict, status=403)

    async def _check_label(self, batch: RoomBatch, ev: NewEvent, current: LabelState) -> None:
        if ev.state_key != "":
            raise MatrixError(400, "M_BAD_JSON", "The label event's state key must be empty.")
        officer = batch.label_officer is not None
        creating = any(e.type == "m.room.create" for e in batch.written)
        # An upgrade copies the old label, with the officer's mark if it has one.
        new = self._parse(ev.content, officer=officer or creating)
        found = await store.org_paths(batch.conn, new.orgs)
        unknown = [code for code in new.orgs if code not in found]
        if unknown:
            raise MatrixError(
                400, "TUMAR_UNKNOWN_ORG", f"No organisation with the code(s) {', '.join(unknown)}."
            )
        new_paths = tuple(found[code] for code in new.orgs)
        if not creating:  # a new room's label was checked against its default by the creator
            old_paths = await self._paths(batch.conn, current.orgs)
            change = rules.change_of(current, new, self.labels, old_paths, new_paths)
            self._raise_if(rules.may_change(change, officer=officer), status=403)
            encryption = batch.state.get(ENCRYPTION_KEY)
            encrypted = encryption is not None and bool(encryption.content.get("algorithm"))
            verdict = rules.may_relabel_encryption(new.label, self.e2ee_mode(new.label), encrypted)
            self._raise_if(verdict, status=403)
        members = await event_store.room_members(batch.conn, batch.room_id, ("join", "invite"))
        subjects = await self.subjects(batch.conn, sorted(members))
        if subjects:
            base = self.facts("label", batch.room_id, new, new_paths, subjects[0])
            excluded = rules.excluded_members(base, subjects, self.order())
            self._raise_if(rules.exclusion_verdict(new.label, excluded), status=403)

    async def _check_redaction(self, conn: AsyncConnection, ev: NewEvent) -> None:
        redacts = ev.content.get("redacts")
        if not isinstance(redacts, str):
            return
        target = await event_store.get_event(conn, redacts)
        if target is not None and target.type == LABEL_EVENT and target.state_key is not None:
            raise MatrixError(
                403,
                rules.LOWERING,
                "A room's label cannot be redacted: that would lower it. Only a security "
                "officer can lower a label.",
            )

    def _parse(self, content: Any, *, officer: bool) -> LabelState:
        parsed = parse_content(content, self.labels, PERSON_KINDS, officer=officer)
        if isinstance(parsed, LabelProblem):
            raise MatrixError(400, parsed.errcode, parsed.reason)
        return parsed

    @staticmethod
    def _raise_if(verdict: Verdict, *, status: int) -> None:
        if not verdict:
            raise PolicyDenied(status, verdict.errcode, verdict.reason)

    # ---- media ----------------------------------------------------------------------------

    async def media_refs_visible(
        self, conn: AsyncConnection, user_id: str, media_id: str, refs: list[RefMembership]
    ) -> list[RefMembership]:
        """Of the references through which ``user_id`` could see a media item, those in rooms
        labelled at least as high as the room where it was first posted; none if the user's
        clearance does not reach that label."""
        if not refs:
            return refs
        origin = await store.media_origin_room(conn, media_id)
        if origin is None:
            return refs
        labels = await store.labels_of_rooms(
            conn, [origin, *(r.room_id for r in refs)], self.default_label
        )
        floor = labels[origin]
        [subject] = await self.subjects(conn, [user_id])
        facts = self.facts("media", origin, LabelState(floor), (), subject)
        if not judge(facts, self.order()):
            return []
        return [r for r in refs if at_least(labels[r.room_id], floor, self.labels)]
