"""Rules of the organisation directory: valid codes and kinds, tree moves, clearances, and
who may see whom in the user directory. Pure functions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from enum import StrEnum

from tumar.policy.decision import Decision

ORG_KINDS = (
    "government",
    "ministry",
    "committee",
    "department",
    "unit",
    "regional_administration",
    "local_administration",
    "state_company",
)
PERSON_KINDS = ("official", "external")
PERSON_STATUSES = ("active", "departed")

_CODE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def valid_org_code(code: str) -> bool:
    """Stable organisation codes: lower-case letters, digits, '.', '_' and '-' (1-64)."""
    return bool(_CODE.match(code))


def child_path(parent_path: str, code: str) -> str:
    return f"{parent_path or '/'}{code}/"


def may_move(org_path: str, new_parent_path: str) -> Decision:
    """An organisation cannot move below itself or one of its descendants."""
    if new_parent_path.startswith(org_path):
        return Decision.deny("An organisation cannot be moved below itself (a cycle).")
    return Decision.allow()


def valid_clearance(clearance: str, labels: Sequence[str]) -> bool:
    return clearance in labels


class DirectoryVisibility(StrEnum):
    SUBTREE = "subtree"  # colleagues in the searcher's own top organisation below government
    GOVERNMENT = "government"  # every official
    SHARED_ROOMS = "shared_rooms"  # only people the searcher shares a room with


def visibility_root(searcher_path: str, visibility: DirectoryVisibility) -> str | None:
    """The subtree an official may browse, or None for "only people sharing a room".

    ``subtree`` means the searcher's top-level organisation under the root (their ministry,
    akimat or company), so a department sees its whole ministry, not only itself.
    """
    if visibility is DirectoryVisibility.GOVERNMENT:
        return ""
    if visibility is DirectoryVisibility.SHARED_ROOMS:
        return None
    parts = [p for p in searcher_path.split("/") if p]
    if len(parts) <= 1:
        return searcher_path
    return f"/{parts[0]}/{parts[1]}/"


def browse_root(
    kind: str | None, searcher_path: str | None, visibility: DirectoryVisibility
) -> str | None:
    """What a searcher may browse beyond their room-mates: None = room-mates only.

    External partners and accounts outside the directory browse nothing.
    """
    if kind != "official" or searcher_path is None:
        return None
    return visibility_root(searcher_path, visibility)


def may_create_room(kind: str | None) -> Decision:
    """External partners join rooms that officials open for them; they open none."""
    if kind == "external":
        return Decision.deny(
            "External partners cannot create rooms; ask an official to invite you."
        )
    return Decision.allow()


def may_invite(inviter_kind: str | None, already_share_a_room: bool) -> Decision:
    """External partners cannot reach people they do not already share a room with."""
    if inviter_kind == "external" and not already_share_a_room:
        return Decision.deny(
            "External partners can invite only people they already share a room with."
        )
    return Decision.allow()
