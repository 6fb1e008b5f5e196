"""``tumar people codes`` (activation letters as CSV) and ``tumar user suspend|restore``.

The command line acts as a global operator; audit rows name ``cli:<os user>``.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable

from tumar.core.directory import cli_actor
from tumar.core.letters import letters_csv
from tumar.core.services import Services


def _subcommands(
    parser: argparse.ArgumentParser,
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise AssertionError(f"{parser.prog} has no subcommands")


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add ``codes`` to ``tumar people`` and ``suspend``/``restore`` to ``tumar user``
    (both commands are defined elsewhere; call this after them)."""
    codes = _subcommands(sub.choices["people"]).add_parser(
        "codes",
        help="issue activation codes and print them as CSV for printed letters",
        description="Issues a personal activation code for every active person of the "
        "organisation subtree who has no account and no live code (or for the given "
        "personnel numbers) and prints them as CSV: tumar people codes --org mof > letters.csv",
    )
    common(codes)
    target = codes.add_mutually_exclusive_group(required=True)
    target.add_argument("--org", help="every person of this organisation subtree")
    target.add_argument("--number", nargs="+", help="these personnel numbers")
    codes.add_argument(
        "--reissue", action="store_true", help="replace live codes (earlier letters stop working)"
    )

    users = _subcommands(sub.choices["user"])
    users.choices["deactivate"].add_argument("--reason", help="kept in the audit log")
    for name, text in (
        ("suspend", "suspend an account: it keeps its sessions but can do nothing"),
        ("restore", "restore a suspended account"),
    ):
        cmd = users.add_parser(name, help=text)
        common(cmd)
        cmd.add_argument("user", help="user id or localpart")
        cmd.add_argument("--reason", help="kept in the audit log")


async def people_codes(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    person_ids = None
    if args.number:
        person_ids = []
        for number in args.number:
            found = await svc.directory.get_person_by_number(actor, number)
            person_ids.append(found.person_id)
    codes = await svc.activation.do_issue(
        actor, person_ids=person_ids, org_code=args.org, reissue=args.reissue
    )
    sys.stdout.write(letters_csv(codes))
    sys.stdout.flush()
    print(f"{len(codes)} activation codes issued.", file=sys.stderr)
    return 0


async def user_suspension(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    user_id = args.user if args.user.startswith("@") else svc.accounts.user_id_for(args.user)
    suspend = args.user_command == "suspend"
    state = await svc.account_admin.do_set_user_suspended(actor, user_id, suspend, args.reason)
    if state.changed:
        print(f"{'Suspended' if suspend else 'Restored'} {user_id}.")
    else:
        print(f"{user_id} already was {'suspended' if suspend else 'active'}.")
    return 0


async def user_deactivation(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    user_id = (
        args.localpart
        if args.localpart.startswith("@")
        else svc.accounts.user_id_for(args.localpart)
    )
    done = await svc.account_admin.do_deactivate_user(actor, user_id, args.reason)
    rooms = done if isinstance(done, int) else done.rooms_left
    print(f"Deactivated {user_id}; left {rooms} rooms.")
    return 0
