"""``tumar letters ...``: registered official correspondence on the command line: list and
show letters, verify a letter offline (from the database and the media store) and print the
report, export a registered letter as a zip bundle, print an organisation's registry journal
(or CSV), the control of execution (and run the reminders), and add trust anchors. The command
line acts as a global operator; audit rows name ``cli:<os user>``."""

from __future__ import annotations

import argparse
import datetime
import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from tumar.api.correspondence import bundle_name
from tumar.core.correspondence_bundle import letter_record
from tumar.core.correspondence_control import LetterControl
from tumar.core.directory import cli_actor
from tumar.core.gov_notices_content import iso
from tumar.core.services import Services
from tumar.store import correspondence as store
from tumar.store.correspondence import JournalQuery


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    letters = sub.add_parser("letters", help="registered official correspondence")
    cmds = letters.add_subparsers(dest="letters_command", required=True)
    listing = cmds.add_parser("list", help="list letters, newest first")
    common(listing)
    listing.add_argument("--org", help="only letters from or to this organisation")
    listing.add_argument("--status", help="only letters in this status")
    listing.add_argument("--limit", type=int, default=100)
    show = cmds.add_parser("show", help="a letter as JSON")
    common(show)
    show.add_argument("letter_id")
    verify = cmds.add_parser("verify", help="verify a letter offline and print the report")
    common(verify)
    verify.add_argument("letter_id")
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    export = cmds.add_parser("export", help="write a registered letter's zip bundle")
    common(export)
    export.add_argument("letter_id")
    export.add_argument("directory", type=Path)
    journal = cmds.add_parser("journal", help="an organisation's registry journal")
    common(journal)
    journal.add_argument("org")
    journal.add_argument("--direction", choices=["in", "out"], default="in")
    journal.add_argument("--q", help="text in the subject or body")
    journal.add_argument("--number", help="part of the registration number")
    journal.add_argument("--csv", action="store_true", help="CSV (formula-safe cells)")
    control = cmds.add_parser("control", help="open assignments per unit, rolled up")
    common(control)
    control.add_argument("org")
    control.add_argument("--remind", action="store_true", help="run the reminders first")
    anchors = cmds.add_parser("anchors", help="trust anchors for imported certificates")
    anchor_cmds = anchors.add_subparsers(dest="anchors_command", required=True)
    add = anchor_cmds.add_parser("add", help="add a CA certificate (PEM file)")
    common(add)
    add.add_argument("file", type=Path)
    anchor_list = anchor_cmds.add_parser("list", help="list the trust anchors")
    common(anchor_list)


def _err(text: str) -> int:
    print(f"tumar: {text}", file=sys.stderr)
    return 1


async def dispatch(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    letters = svc.correspondence
    cmd = args.letters_command
    if cmd == "list":
        async with svc.db.read() as conn:
            found = await store.list_letters(
                conn, org_code=args.org, status=args.status, limit=args.limit
            )
        for x in found:
            number = x.outgoing_number or "-"
            print(f"{x.letter_id}\t{x.status}\t{number}\t{x.sender_org}\t{x.subject}")
        return 0
    if cmd == "show":
        ctx, _report = await letters.verify_offline_or_plain(args.letter_id)
        print(orjson.dumps(letter_record(ctx), option=orjson.OPT_INDENT_2).decode())
        return 0
    if cmd == "verify":
        _ctx, report = await letters.verify_offline(args.letter_id)
        print(report.to_json() if args.json else report_text(report.as_json()))
        return 0 if report.ok else 1
    if cmd == "export":
        ctx, data = await letters.export_offline(args.letter_id)
        args.directory.mkdir(parents=True, exist_ok=True)
        path = args.directory / bundle_name(ctx.letter.outgoing_number or args.letter_id)
        path.write_bytes(data)
        print(path)
        return 0
    if cmd == "journal":
        q = JournalQuery(args.org, args.direction, text=args.q, number=args.number, limit=100_000)
        entries = await letters.control.journal(actor, q)
        if args.csv:
            zone = letters.numbering.zone
            sys.stdout.write(LetterControl.journal_csv(entries, iso, lambda ts: _day(ts, zone)))
            return 0
        for e in entries:
            print(f"{e.number}\t{iso(e.registered_ts)}\t{e.letter.letter_id}\t{e.letter.subject}")
        return 0
    if cmd == "control":
        if args.remind:
            r = await letters.control.do_remind()
            print(f"Sent {len(r.reminders)} reminder(s) and {len(r.escalations)} escalation(s).")
        control = await letters.control.control(actor, args.org)
        print(f"{'unit':<32} {'open':>6} {'overdue':>8} {'due soon':>9}")
        depth0 = min((u.org.path.count("/") for u in control.units), default=0)
        for u in control.units:
            name = ("  " * (u.org.path.count("/") - depth0) + u.org.code)[:32]
            t = u.total
            print(f"{name:<32} {t.open:>6} {t.overdue:>8} {t.due_soon:>9}")
        return 0
    if cmd == "anchors":
        if args.anchors_command == "add":
            anchor = await letters.keys.do_add_anchor(actor, args.file.read_text("utf-8"))
            print(f"{anchor.anchor_id}\t{anchor.subject}")
            return 0
        for a in await letters.keys.list_anchors(actor):
            print(f"{a.anchor_id}\t{a.subject}\tuntil {iso(a.not_after_ts)}")
        return 0
    raise AssertionError(args)


def _day(ts: int | None, zone: ZoneInfo) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp((ts - 1) / 1000, zone).date().isoformat()


def report_text(r: dict[str, object]) -> str:
    """The verification report for a terminal."""
    lines = [
        f"Letter {r['letter_id']}: {r['subject']}",
        f"Number: {r['outgoing_number'] or '(not registered)'}",
        f"Verdict: {'VALID' if r['ok'] else 'NOT VALID'}",
        f"Content unchanged: {'yes' if r['content_unchanged'] else 'NO'}",
        f"Attachments unchanged: {'yes' if r['attachments_unchanged'] else 'NO'}",
    ]
    sigs = r["signatures"]
    assert isinstance(sigs, list)
    for s in sigs:
        cert = s.get("certificate")
        key = f"certificate {cert['subject']} (serial {cert['serial']})" if cert else s["key_id"]
        state = "valid" if s["ok"] else "INVALID"
        lines.append(f"- {s['stage']} by {s['signer']} at {s['signed_at']} with {key}: {state}")
    reasons = r["reasons"]
    assert isinstance(reasons, list)
    lines.extend(f"! {reason}" for reason in reasons)
    return "\n".join(lines)
