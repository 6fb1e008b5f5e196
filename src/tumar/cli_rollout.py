"""``tumar rollout ...``: the registration rollout on the command line (a figures table and the
reminder run, e.g. from a daily cron job). The command line acts as a global operator; audit
rows name ``cli:<os user>``."""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable

from tumar.core.directory import cli_actor
from tumar.core.services import Services
from tumar.policy.rollout import Figures


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    rollout = sub.add_parser("rollout", help="registration rollout: figures and reminders")
    cmds = rollout.add_subparsers(dest="rollout_command", required=True)
    show = cmds.add_parser("show", help="print the figures per organisation, rolled up")
    common(show)
    show.add_argument("--org", help="only this organisation and its units")
    remind = cmds.add_parser(
        "remind",
        help="send due reminders: unregistered staff to their unit head, the transition "
        "deadline to registered officials who have not used tumar for 7 days",
    )
    common(remind)
    remind.add_argument("--org", help="only this organisation and its units")
    remind.add_argument("--dry-run", action="store_true", help="count, send nothing")


def _row(f: Figures) -> str:
    percent = "-" if f.percent_registered is None else f"{f.percent_registered:.1f}"
    return (
        f"{f.people:>8} {f.codes_issued:>7} {f.registered:>10} {percent:>6} "
        f"{f.active_7d:>7} {f.overdue:>7}"
    )


async def dispatch(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    if args.rollout_command == "show":
        board = await svc.rollout.dashboard(actor, args.org)
        print(f"As of {board.as_of.isoformat()} ({svc.settings.rollout_timezone})")
        print(
            f"{'organisation':<32} {'people':>8} {'codes':>7} {'registered':>10} {'%':>6} "
            f"{'active':>7} {'overdue':>7}  register_by  transition_by"
        )
        depth0 = min((e.org.path.count("/") for e in board.organisations), default=0)
        for entry in board.organisations:
            indent = "  " * (entry.org.path.count("/") - depth0)
            name = (indent + entry.org.code)[:32]
            d = entry.deadlines
            register = d.register_by.isoformat() if d.register_by else "-"
            transition = d.transition_by.isoformat() if d.transition_by else "-"
            print(f"{name:<32} {_row(entry.total)}  {register:<11}  {transition}")
        return 0
    if args.rollout_command == "remind":
        report = await svc.rollout.do_remind(actor, args.org, dry_run=args.dry_run)
        verb = "Would send" if report.dry_run else "Sent"
        print(
            f"{verb} {report.head_notices} message(s) to unit heads about "
            f"{report.staff_listed} unregistered official(s), and "
            f"{report.personal_notices} transition reminder(s)."
        )
        if report.without_head:
            print(
                f"{report.without_head} unregistered official(s) have no unit head with an "
                "account up the tree: set organisations' head_person_id."
            )
        if report.skipped:
            print(f"{report.skipped} skipped (sent by a concurrent run, or recipient gone).")
        return 0
    raise AssertionError(args)
