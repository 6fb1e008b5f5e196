"""Forwarding control (DLP): the facts for the rules ``dlp`` and ``media_origin``, and the
fingerprints of what rooms above the lowest label say.

``RoomService.append_one`` calls :meth:`DlpGuard.check` after event authorisation and before
the event takes a stream position (a refusal raises, so nothing is written), and
:meth:`DlpGuard.record` after the event is inserted, in the same transaction.

The check fingerprints the texts of the new message (``body``, ``formatted_body`` without
tags, and the same inside ``m.new_content`` of an edit), counts per room how many of them
rooms hold, and for every room holding at least the threshold's share looks up its label; it
also looks up where the media the message refers to was posted. The policy chain (the
configured rules that handle sends, see :data:`tumar.policy.dlp.SEND_RULES`) decides.
State events are not checked (names and topics are copied by room upgrades before the label).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.config import Settings
from tumar.core.classification import room_label
from tumar.core.data_keys import DataKeyring
from tumar.errors import PolicyDenied
from tumar.policy.chain import DlpMatch, Facts, Subject, judge
from tumar.policy.dlp import SEND_RULES
from tumar.policy.fingerprint import fingerprint_texts, message_texts
from tumar.policy.labels import LABEL_EVENT, rank, state_of
from tumar.policy.media import referenced_media
from tumar.store import dlp as dlp_store

if TYPE_CHECKING:
    from tumar.core.rooms import NewEvent, RoomBatch
    from tumar.store.events import StoredEvent

log = logging.getLogger(__name__)

KEY_SCOPE = "dlp"
LABEL_KEY = (LABEL_EVENT, "")


@dataclass(frozen=True, slots=True)
class DlpPlan:
    """What to store once the checked event is written: its fingerprints, for its room."""

    room_id: str
    fingerprints: frozenset[int]


class DlpGuard:
    def __init__(self, settings: Settings, keyring: DataKeyring) -> None:
        self._settings = settings
        self._keyring = keyring
        self._labels = tuple(settings.classification_labels)
        self._default = settings.classification_default_room

    def send_rules(self) -> list[str]:
        """The configured rules, in order, that handle sends."""
        return [name for name in self._settings.classification_rules if name in SEND_RULES]

    async def check(self, batch: RoomBatch, sender: str, ev: NewEvent) -> DlpPlan | None:
        """Refuse (403, ``TUMAR_DLP``/``TUMAR_DLP_MEDIA``) a message that carries content of a
        higher-labelled room; else what :meth:`record` stores after the event is written."""
        if not self._settings.dlp_enabled or ev.state_key is not None:
            return None
        texts = message_texts(ev.content)
        media_ids = referenced_media(ev.content, self._settings.server_name)
        if not texts and not media_ids:
            return None
        conn, room_id = batch.conn, batch.room_id
        await batch.load([LABEL_KEY])  # usually loaded already, by the label checks
        event = batch.state.get(LABEL_KEY)
        label = state_of(event.content if event else None, self._default).label
        here = rank(label, self._labels)
        top = here >= len(self._labels) - 1  # nothing is labelled higher
        fps: frozenset[int] = frozenset()
        if texts and (here > 0 or not top):
            key = await self._keyring.key_for(conn, KEY_SCOPE)
            fps = fingerprint_texts(texts, key, min_chars=self._settings.dlp_min_chars)
        rules = self.send_rules()
        if not top and rules and (fps or media_ids):
            facts = Facts(
                action="send",
                labels=self._labels,
                room_id=room_id,
                room_label=label,
                subject=Subject(sender, None, None, None),
                dlp_matches=await self._matches(conn, room_id, fps) if "dlp" in rules else (),
                dlp_threshold=self._settings.dlp_threshold,
                media_origin_labels=(
                    await self._media_origins(conn, media_ids) if "media_origin" in rules else ()
                ),
            )
            judgement = judge(facts, rules)
            if not judgement:
                log.info(
                    "dlp refused a message",
                    extra={"user_id": sender, "room_id": room_id, "rule": judgement.trail[-1][0]},
                )
                raise PolicyDenied(403, judgement.verdict.errcode, judgement.verdict.reason)
        if here == 0 or not fps:
            return None  # the lowest label protects nothing: nothing to remember
        return DlpPlan(room_id, fps)

    async def record(self, conn: AsyncConnection, plan: DlpPlan | None, event: StoredEvent) -> None:
        """Remember the fingerprints of an event that was written (in its transaction)."""
        if plan is not None:
            await dlp_store.record(conn, plan.room_id, plan.fingerprints, event.stream_pos)

    # ---- facts ----------------------------------------------------------------------------

    async def _label(self, conn: AsyncConnection, room_id: str) -> str:
        return await room_label(conn, room_id, self._default)

    async def _matches(
        self, conn: AsyncConnection, room_id: str, fps: frozenset[int]
    ) -> tuple[DlpMatch, ...]:
        """Rooms holding at least the threshold's share of ``fps``, with their labels. (A room
        holding less cannot refuse the message, so its label is not looked up.)"""
        if not fps:
            return ()
        found = await dlp_store.found_per_room(conn, fps)
        matches = []
        for source, count in sorted(found.items(), key=lambda item: (-item[1], item[0])):
            share = count / len(fps)
            if source == room_id or share < self._settings.dlp_threshold:
                continue
            matches.append(DlpMatch(source, await self._label(conn, source), share))
        return tuple(matches)

    async def _media_origins(
        self, conn: AsyncConnection, media_ids: Iterable[str]
    ) -> tuple[str, ...]:
        """Per media item that rooms already show, the lowest label among those rooms: media
        that a lower room already shows discloses nothing new there."""
        origins = []
        for rooms in (await dlp_store.rooms_of_media(conn, set(media_ids))).values():
            labels = [await self._label(conn, r) for r in sorted(rooms)]
            origins.append(min(labels, key=lambda lbl: rank(lbl, self._labels)))
        return tuple(origins)
