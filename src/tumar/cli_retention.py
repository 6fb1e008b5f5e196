"""``tumar retention ...`` and ``tumar hold ...``: the retention policy, the purge job (e.g. from
cron when ``retention_interval_seconds`` is 0) and legal holds. The command line acts as a
global operator; audit rows name ``cli:<os user>``."""

from __future__ import annotations

import argparse
import datetime
import getpass
from collections.abc import Callable

from tumar.core.directory import cli_actor, who
from tumar.core.retention import RunReport
from tumar.core.services import Services
from tumar.policy.retention import Reason


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    retention = sub.add_parser("retention", help="retention per classification label")
    cmds = retention.add_subparsers(dest="retention_command", required=True)
    show = cmds.add_parser("show", help="print the retention policy and the recent runs")
    common(show)
    run = cmds.add_parser(
        "run", help="purge expired messages and their media, and old device check-ins, now"
    )
    common(run)
    run.add_argument("--dry-run", action="store_true", help="count what would go; change nothing")
    run.add_argument("--room", help="only this room (device check-ins are left alone)")

    hold = sub.add_parser("hold", help="legal holds: suspend purging of a room or a person")
    holds = hold.add_subparsers(dest="hold_command", required=True)
    place = holds.add_parser("place", help="place a legal hold")
    common(place)
    place.add_argument("target_type", choices=["room", "person"])
    place.add_argument("target", help="room id; or person id, or user id of an account")
    place.add_argument("--reason", required=True, help="why (e.g. a case number)")
    lift = holds.add_parser("lift", help="lift a legal hold")
    common(lift)
    lift.add_argument("hold_id")
    lift.add_argument("--reason", required=True, help="why the hold ends")
    listing = holds.add_parser("list", help="list legal holds")
    common(listing)
    listing.add_argument("--all", action="store_true", help="also lifted holds")


def _print_report(report: RunReport) -> None:
    verb = "Would purge" if report.dry_run else "Purged"
    for room in report.rooms:
        kept = ", ".join(f"{n} {reason}" for reason, n in sorted(room.kept.items()))
        if room.purged or kept:
            line = f"{room.room_id}\t{room.label}\t{verb.lower()} {room.purged}"
            print(line + (f"\tkept: {kept}" if kept else ""))
    held = report.kept(Reason.ROOM_HELD) + report.kept(Reason.SENDER_HELD)
    media = (
        f"{report.media_deleted} media file(s) deleted"
        if not report.dry_run
        else f"{sum(r.media_refs for r in report.rooms)} media reference(s)"
    )
    run = f" (run {report.run_id})" if report.run_id is not None else ""
    print(
        f"{verb} {report.events_purged} message(s) in {report.rooms_touched} room(s), {media}; "
        f"{held} kept by legal hold{run}."
    )
    if report.checkin_cutoff_ts is not None:
        print(
            f"{verb} {report.checkins_purged} device check-in(s) received before "
            f"{_utc(report.checkin_cutoff_ts)} (each device's newest is kept)."
        )


def _utc(ms: int) -> str:
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


async def dispatch(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    if args.command == "retention":
        if args.retention_command == "show":
            for p in svc.retention.policy_view():
                days = "forever" if p.days is None else f"{p.days} days"
                note = "" if p.configured else "  (not a configured label: ignored)"
                print(f"{p.label:<24} {days}{note}")
            checkin_days = svc.settings.device_checkin_history_days
            print(f"{'device check-ins':<24} {checkin_days} days (each device's newest is kept)")
            interval = svc.settings.retention_interval_seconds
            if interval:
                print(f"Runs every {interval} s in the server.")
            else:
                print("No runs in the server (retention_interval_seconds = 0).")
            for r in await svc.retention.list_runs(10):
                print(
                    f"run {r.run_id}\t{r.trigger}\t{r.actor}\t{r.status}\t"
                    f"{r.events_purged} message(s)\t{r.media_deleted} media"
                )
            return 0
        report = await svc.retention.do_run(
            who(actor), "cli", dry_run=args.dry_run, room_id=args.room
        )
        _print_report(report)
        return 0
    if args.hold_command == "place":
        hold = await svc.legal_holds.do_place(actor, args.target_type, args.target, args.reason)
        print(f"Placed {hold.hold_id} on {hold.target_type} {hold.target_id}")
        return 0
    if args.hold_command == "lift":
        hold = await svc.legal_holds.do_lift(actor, args.hold_id, args.reason)
        print(f"Lifted {hold.hold_id} ({hold.target_type} {hold.target_id})")
        return 0
    if args.hold_command == "list":
        for h in await svc.legal_holds.list(actor, active_only=not args.all):
            state = "active" if h.active else f"lifted by {h.lifted_by}"
            print(
                f"{h.hold_id}\t{h.target_type}\t{h.target_id}\t{state}\t{h.placed_by}\t{h.reason}"
            )
        return 0
    raise AssertionError(args)
