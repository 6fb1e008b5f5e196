"""``tumar labels list|show|set``: room classification labels on the command line.

The command line acts as a global operator (a security officer for every room); changes are
audited as ``cli:<os user>``, with the mandatory reason.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable

from tumar.core.classification_admin import RoomLabelView
from tumar.core.directory import cli_actor
from tumar.core.services import Services
from tumar.policy.labels import LabelState


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    labels = sub.add_parser("labels", help="room classification labels")
    cmds = labels.add_subparsers(dest="labels_command", required=True)
    listing = cmds.add_parser("list", help="the labels, then rooms by label")
    common(listing)
    listing.add_argument("--label", help="only rooms with this label")
    listing.add_argument("--at-least", help="only rooms with this label or a higher one")
    listing.add_argument("--limit", type=int, default=500, help="at most this many rooms (500)")
    show = cmds.add_parser("show", help="one room's label, audience and E2EE mode")
    common(show)
    show.add_argument("room", help="room id")
    setting = cmds.add_parser("set", help="set a room's label (raise or lower), with a reason")
    common(setting)
    setting.add_argument("room", help="room id")
    setting.add_argument("label", help="the new label")
    setting.add_argument("--reason", required=True, help="why (kept in the audit log)")
    setting.add_argument(
        "--kinds", default="", help="person kinds the room admits, comma-separated (any)"
    )
    setting.add_argument(
        "--orgs", default="", help="organisation codes whose subtrees it admits (any)"
    )


def _line(room: RoomLabelView) -> str:
    audience = []
    if room.kinds:
        audience.append("kinds=" + ",".join(room.kinds))
    if room.orgs:
        audience.append("orgs=" + ",".join(room.orgs))
    default = "" if room.labelled else " (default)"
    return "\t".join(
        [room.room_id, room.label + default, f"e2ee={room.e2ee}", *audience, room.creator]
    )


def _split(value: str) -> tuple[str, ...]:
    return tuple(sorted({v.strip() for v in value.split(",") if v.strip()}))


async def dispatch(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    command = args.labels_command
    if command == "list":
        found = svc.labels.label_settings(actor)
        for label in found.labels:
            print(f"label {label}\te2ee={found.e2ee[label]}")
        rooms = await svc.labels.list_rooms(
            actor, label=args.label, at_least=args.at_least, limit=args.limit
        )
        for room in rooms:
            print(_line(room))
        return 0
    if command == "show":
        print(_line(await svc.labels.get_room(actor, args.room)))
        return 0
    new = LabelState(args.label, _split(args.kinds), _split(args.orgs))
    change = await svc.labels.do_set_label(actor, args.room, new, args.reason)
    print(_line(change.room) + ("" if change.changed else "\t(unchanged)"))
    return 0
