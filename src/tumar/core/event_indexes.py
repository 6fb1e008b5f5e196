"""What the room writer records next to an event, in the event's transaction: its relation (after
checking it) and its searchable text; and what a redaction takes away again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.errors import MatrixError, bad_json
from tumar.policy.relations import (
    ANNOTATION,
    MalformedRelation,
    Parent,
    Relation,
    check_relation,
    parse_relation,
    relation_type,
)
from tumar.store import events as event_store
from tumar.store import relations as relation_store
from tumar.store import search as search_store
from tumar.store.events import StoredEvent
from tumar.store.relations import RelationRow


async def check_new_event(
    conn: AsyncConnection,
    room_id: str,
    sender: str,
    event_type: str,
    state_key: str | None,
    content: Mapping[str, Any],
) -> Relation | None:
    """The event's relation, refused (400, nothing written) when it breaks a rule."""
    try:
        relation = parse_relation(content)
    except MalformedRelation as exc:
        raise bad_json(str(exc)) from None
    if relation is None:
        return None
    found = await event_store.get_event(conn, relation.event_id)
    parent = None
    if found is not None:
        parent = Parent(
            room_id=found.room_id,
            type=found.type,
            sender=found.sender,
            state_key=found.state_key,
            rel_type=relation_type(found.content),
        )
    verdict = check_relation(
        relation,
        room_id=room_id,
        event_type=event_type,
        state_key=state_key,
        sender=sender,
        content=content,
        parent=parent,
    )
    if not verdict:
        raise MatrixError(400, verdict.errcode, verdict.reason)
    if (
        relation.rel_type == ANNOTATION
        and relation.key is not None
        and await relation_store.has_annotation(
            conn, relation.event_id, sender, event_type, relation.key
        )
    ):
        raise MatrixError(
            400,
            "M_DUPLICATE_ANNOTATION",
            f"You already reacted to this event with {relation.key!r}.",
        )
    return relation


async def index_event(
    conn: AsyncConnection,
    ev: StoredEvent,
    relation: Relation | None,
    blind: Callable[[str], str] | None = None,
) -> None:
    """Record ``ev``'s relation and searchable text (as a blind index with ``blind``: the
    event is sealed at rest, see ``core.at_rest``)."""
    if relation is not None:
        await relation_store.insert_relation(
            conn,
            RelationRow(
                event_id=ev.event_id,
                relates_to_id=relation.event_id,
                rel_type=relation.rel_type,
                key=relation.key,
                room_id=ev.room_id,
                sender=ev.sender,
                type=ev.type,
                stream_pos=ev.stream_pos,
            ),
        )
    await search_store.index_event(conn, ev, blind)


async def unindex_event(conn: AsyncConnection, ev: StoredEvent) -> None:
    """A redacted event loses its relation (room version 11 strips ``m.relates_to``) and its
    text."""
    await relation_store.delete_relation(conn, ev.event_id)
    await search_store.unindex_event(conn, ev.stream_pos)
