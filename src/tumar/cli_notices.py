"""``tumar notify ...``: government notifications on the command line (preview, send,
withdraw, report, and the reminder run, e.g. from cron when ``gov_notices_tick_seconds`` is 0).
The command line acts as a global operator; audit rows name ``cli:<os user>``."""

from __future__ import annotations

import argparse
import datetime
import getpass
import sys
from collections.abc import Callable
from pathlib import Path

from tumar.core.directory import cli_actor
from tumar.core.gov_notices import Draft
from tumar.core.gov_notices_report import Figures
from tumar.core.services import Services
from tumar.errors import MatrixError
from tumar.policy.audience import AudienceSpec


def _audience_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--org", action="append", default=[], help="organisation subtree (repeat)")
    p.add_argument("--exclude", action="append", default=[], help="subtree to leave out")
    p.add_argument("--role", action="append", default=[], help="holders of this role")
    p.add_argument("--person", action="append", default=[], help="person id (repeat)")
    p.add_argument("--everyone", action="store_true", help="every active official")


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    notify = sub.add_parser("notify", help="government notifications")
    cmds = notify.add_subparsers(dest="notify_command", required=True)
    preview = cmds.add_parser("preview", help="count the recipients of an audience")
    common(preview)
    _audience_args(preview)
    send = cmds.add_parser("send", help="send a notification")
    common(send)
    _audience_args(send)
    send.add_argument("--title", required=True)
    send.add_argument("--body", help="Markdown text (or --body-file)")
    send.add_argument("--body-file", type=Path, help="read the Markdown body from a file")
    send.add_argument(
        "--priority", choices=["information", "important", "urgent"], default="information"
    )
    send.add_argument("--ack", action="store_true", help="acknowledgement required")
    send.add_argument("--deadline", help="ISO 8601 date-time with offset")
    send.add_argument("--at", help="schedule: ISO 8601 date-time with offset")
    withdraw = cmds.add_parser("withdraw", help="withdraw a notification")
    common(withdraw)
    withdraw.add_argument("notice_id")
    withdraw.add_argument("--reason")
    report = cmds.add_parser("report", help="delivered, read, acknowledged per organisation")
    common(report)
    report.add_argument("notice_id")
    report.add_argument("--pending", action="store_true", help="also list who is pending")
    remind = cmds.add_parser(
        "remind", help="send due scheduled notifications, reminders and escalations"
    )
    common(remind)
    remind.add_argument("--dry-run", action="store_true", help="count, send nothing")


def _spec(args: argparse.Namespace) -> AudienceSpec:
    return AudienceSpec(
        everyone=args.everyone,
        orgs=tuple(args.org),
        exclude_orgs=tuple(args.exclude),
        roles=tuple(args.role),
        people=tuple(args.person),
    )


def _time(value: str | None, name: str) -> int | None:
    if value is None:
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name}: not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise MatrixError(400, "M_INVALID_PARAM", f"{name}: give a time-zone offset, e.g. Z")
    return int(parsed.timestamp() * 1000)


def _row(f: Figures) -> str:
    return (
        f"{f.audience:>9} {f.delivered:>9} {f.read:>7} {f.acknowledged:>7} "
        f"{f.pending:>7} {f.overdue:>7}"
    )


async def dispatch(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    cmd = args.notify_command
    if cmd == "preview":
        print(f"{await svc.gov_notices.preview(actor, _spec(args))} recipient(s)")
        return 0
    if cmd == "send":
        if (args.body is None) == (args.body_file is None):
            print("tumar: give exactly one of --body and --body-file", file=sys.stderr)
            return 2
        body = args.body if args.body is not None else args.body_file.read_text("utf-8")
        draft = Draft(
            title=args.title,
            body=body,
            priority=args.priority,
            audience=_spec(args),
            ack_required=args.ack,
            deadline_ts=_time(args.deadline, "--deadline"),
            send_at_ts=_time(args.at, "--at"),
        )
        n = await svc.gov_notices.do_create(actor, draft, send=True)
        print(f"{n.notice_id} {n.status} ({n.recipients_at_send or 0} recipient(s))")
        return 0
    if cmd == "withdraw":
        n = await svc.gov_notices.do_withdraw(actor, args.notice_id, args.reason)
        print(f"{n.notice_id} {n.status}")
        return 0
    if cmd == "report":
        r = await svc.notice_reports.report(actor, args.notice_id)
        state = "overdue" if r.overdue else "open"
        print(f"{r.notice.notice_id}: {r.notice.title} ({r.notice.status}, {state})")
        print(
            f"{'organisation':<32} {'audience':>9} {'delivered':>9} {'read':>7} {'acked':>7} "
            f"{'pending':>7} {'overdue':>7}"
        )
        depth0 = min((o.org.path.count("/") for o in r.organisations), default=0)
        for o in r.organisations:
            name = ("  " * (o.org.path.count("/") - depth0) + o.org.code)[:32]
            print(f"{name:<32} {_row(o.total)}")
        print(f"{'total':<32} {_row(r.total)}")
        if args.pending:
            _n, rows, _total = await svc.notice_reports.recipients(
                actor, args.notice_id, pending_only=True, limit=None
            )
            for p in rows:
                print(f"pending: {p.personnel_number}\t{p.name_cyr}\t{p.org_code}")
        return 0
    if cmd == "remind":
        rr = await svc.notice_reports.do_remind(actor, dry_run=args.dry_run)
        verb = "Would send" if rr.dry_run else "Sent"
        print(
            f"{verb} {len(rr.sent_scheduled)} scheduled notification(s), "
            f"{len(rr.reminder_rounds)} reminder round(s), {rr.escalations} escalation(s) "
            f"about {rr.escalated_people} person(s)."
        )
        if rr.without_head:
            print(f"{rr.without_head} overdue person(s) have no unit head with an account.")
        return 0
    raise AssertionError(args)
