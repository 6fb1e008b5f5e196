"""``tumar devices ...``: device policy on the command line (issue 8): policies (list, show,
apply a document file as a new policy or a new version, versions, retire, schedule preview),
enrolment tokens (with the QR code as PNG or SVG), devices (list, show, command, retire).
The command line acts as a global operator; audit rows name ``cli:<os user>``. The device side
is ``tumar device-agent`` (``cli_device_agent.py``)."""

from __future__ import annotations

import argparse
import datetime
import getpass
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import segno

from tumar.core.devices import COMMAND_KINDS
from tumar.core.directory import cli_actor
from tumar.core.services import Services
from tumar.errors import MatrixError
from tumar.policy.roles import Actor


def iso(ts: int | None) -> str:
    if ts is None:
        return "-"
    return datetime.datetime.fromtimestamp(ts / 1000, datetime.UTC).isoformat(timespec="seconds")


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    devices = sub.add_parser("devices", help="device policies, enrolment tokens, devices")
    cmds = devices.add_subparsers(dest="devices_command", required=True)

    policy = cmds.add_parser("policy", help="device policies")
    pcmds = policy.add_subparsers(dest="policy_command", required=True)
    common(pcmds.add_parser("list", help="the policies in force"))
    show = pcmds.add_parser("show", help="a policy's current document (JSON)")
    common(show)
    show.add_argument("policy_id")
    apply = pcmds.add_parser("apply", help="create a policy, or a new version of it")
    common(apply)
    apply.add_argument("file", type=Path, help="policy document (JSON)")
    apply.add_argument("--id", dest="policy_id", help="policy id (default: generated)")
    versions = pcmds.add_parser("versions", help="every version of a policy")
    common(versions)
    versions.add_argument("policy_id")
    retire = pcmds.add_parser("retire", help="retire a policy")
    common(retire)
    retire.add_argument("policy_id")
    preview = pcmds.add_parser("preview", help="restricted now? next change at ...")
    common(preview)
    preview.add_argument("policy_id")
    preview.add_argument("--at", help="ISO 8601 date-time with offset (default: now)")

    token = cmds.add_parser("token", help="issue a one-time enrolment token")
    common(token)
    token.add_argument("user", help="the official's user id")
    token.add_argument("--qr", type=Path, help="also write the QR code (.png or .svg)")

    listing = cmds.add_parser("list", help="enrolled devices")
    common(listing)
    listing.add_argument("--org", help="only this organisation's subtree")
    listing.add_argument("--verdict", choices=["compliant", "non_compliant", "unknown"])
    listing.add_argument("--limit", type=int, default=100)
    dshow = cmds.add_parser("show", help="a device with its check-in history")
    common(dshow)
    dshow.add_argument("device_id")
    dshow.add_argument("--history", type=int, default=20, help="check-ins shown")
    command = cmds.add_parser("command", help="send a command to a device")
    common(command)
    command.add_argument("device_id")
    command.add_argument("kind", choices=COMMAND_KINDS)
    command.add_argument("--message", help="the text of show_message")
    dretire = cmds.add_parser("retire", help="retire a device (it can no longer check in)")
    common(dretire)
    dretire.add_argument("device_id")
    summary = cmds.add_parser("summary", help="devices per organisation by verdict, rolled up")
    common(summary)
    summary.add_argument("--org", help="only this organisation's subtree")
    violations = cmds.add_parser("violations", help="open violations (--all: closed ones too)")
    common(violations)
    violations.add_argument("--org", help="only this organisation's subtree")
    violations.add_argument("--all", action="store_true", help="closed violations too")
    violations.add_argument("--limit", type=int, default=100)


def _time(value: str | None, now: int) -> int:
    if value is None:
        return now
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise MatrixError(400, "M_INVALID_PARAM", "--at: not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise MatrixError(400, "M_INVALID_PARAM", "--at: give a time-zone offset, e.g. +05:00")
    return int(parsed.timestamp() * 1000)


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise MatrixError(400, "M_BAD_JSON", f"{path}: {exc}") from None
    if not isinstance(doc, dict):
        raise MatrixError(400, "M_BAD_JSON", f"{path}: a policy document is a JSON object")
    return doc


async def _policy(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    cmd = args.policy_command
    if cmd == "list":
        for p in await svc.devices.list_policies(actor):
            print(f"{p.policy_id}\tv{p.version}\t{p.name}\t{iso(p.created_ts)}\t{p.created_by}")
        return 0
    if cmd == "show":
        p = await svc.devices.get_policy(actor, args.policy_id)
        print(json.dumps(p.document, ensure_ascii=False, indent=2))
        return 0
    if cmd == "apply":
        doc = _read_doc(args.file)
        exists = False
        if args.policy_id:
            try:
                exists = (await svc.devices.get_policy(actor, args.policy_id)).retired_ts is None
            except MatrixError as exc:
                if exc.status != 404:
                    raise
        if exists:
            p = await svc.devices.do_update_policy(actor, args.policy_id, doc)
        else:
            p = await svc.devices.do_create_policy(actor, doc, policy_id=args.policy_id)
        print(f"{p.policy_id} v{p.version} {p.name}")
        return 0
    if cmd == "versions":
        for p in await svc.devices.policy_versions(actor, args.policy_id):
            retired = f"\tretired {iso(p.retired_ts)}" if p.retired_ts else ""
            print(f"v{p.version}\t{iso(p.created_ts)}\t{p.created_by}\t{p.name}{retired}")
        return 0
    if cmd == "retire":
        p = await svc.devices.do_retire_policy(actor, args.policy_id)
        print(f"{p.policy_id} retired")
        return 0
    if cmd == "preview":
        at = _time(args.at, svc.clock.now_ms())
        pv = await svc.devices.preview(actor, args.policy_id, at)
        state = (
            "working hours: restrictions apply on the premises"
            if pv.in_hours
            else ("outside working hours")
        )
        print(f"{pv.policy.name} at {iso(at)}: {state}")
        print(f"next change: {iso(pv.next_change_ts)}")
        active = ", ".join(sorted(pv.policy.restrictions_active)) or "none"
        print(f"restricted while active: {active}")
        return 0
    raise AssertionError(args)


async def dispatch(args: argparse.Namespace, svc: Services) -> int:
    if args.devices_command == "policy":
        return await _policy(args, svc)
    actor = cli_actor(getpass.getuser())
    cmd = args.devices_command
    if cmd == "token":
        t = await svc.devices.do_issue_token(actor, args.user)
        print(f"token: {t.token}")
        print(f"expires: {iso(t.expires_ts)}")
        print(f"qr payload: {t.qr_payload}")
        if args.qr is not None:
            kind = "svg" if args.qr.suffix.lower() == ".svg" else "png"
            segno.make(t.qr_payload, error="m").save(str(args.qr), kind=kind, scale=6)
            print(f"QR code written to {args.qr}")
        return 0
    if cmd == "summary":
        return await _summary(args, svc, actor)
    if cmd == "violations":
        return await _violations(args, svc, actor)
    if cmd == "list":
        rows, total = await svc.devices.list_devices(
            actor, org_code=args.org, verdict=args.verdict, limit=args.limit
        )
        for r in rows:
            print(
                f"{r.device_id}\t{r.user_id}\t{r.org_code or '-'}\t{r.platform}\t{r.model}\t"
                f"{r.verdict}\t{iso(r.last_checkin_ts)}"
            )
        print(f"{total} device(s)")
        return 0
    if cmd == "show":
        x = await svc.devices.device_detail(actor, args.device_id)
        d = x.device
        print(f"{d.device_id} of {d.user_id} ({x.org_code or 'no organisation'})")
        print(f"  {d.platform} {d.os_version}, {d.model}, {d.management_mode}, {d.ownership}")
        print(f"  enrolled {iso(d.enrolled_ts)}, session {d.session_device_id}")
        retired = f", retired {iso(d.retired_ts)}" if d.retired_ts else ""
        print(f"  verdict {d.verdict}, valid until {iso(d.valid_until_ts)}{retired}")
        for f in d.findings:
            print(f"  finding: {f.get('reason')}")
        for ci in x.history[: args.history]:
            print(f"  check-in {ci.seq} at {iso(ci.received_ts)}: {ci.verdict}")
        for queued in x.commands:
            state = (
                f"acked {iso(queued.acked_ts)} ({queued.result})"
                if queued.acked_ts
                else (f"delivered {iso(queued.delivered_ts)}" if queued.delivered_ts else "pending")
            )
            print(f"  command {queued.command_id} {queued.kind}: {state}")
        for v in x.violations:
            print(f"  violation {v.violation_id} opened {iso(v.opened_ts)}, "
                  f"closed {iso(v.closed_ts)}")  # fmt: skip
        return 0
    if cmd == "command":
        c = await svc.devices.do_command(actor, args.device_id, args.kind, args.message)
        print(f"{c.command_id} {c.kind} queued for {c.device_id}")
        return 0
    if cmd == "retire":
        d = await svc.devices.do_retire_device(actor, args.device_id)
        print(f"{d.device_id} retired")
        return 0
    raise AssertionError(args)


async def _summary(args: argparse.Namespace, svc: Services, actor: Actor) -> int:
    sm = await svc.device_dashboard.summary(actor, org=args.org)
    print("organisation\tenrolled\tcompliant\tnon_compliant\tunknown (subtree totals)")
    rows = [(oc.org.code, oc.total) for oc in sm.organisations] + [("total", sm.total)]
    for name, c in rows:
        print(f"{name}\t{c.enrolled}\t{c.compliant}\t{c.non_compliant}\t{c.unknown}")
    return 0


async def _violations(args: argparse.Namespace, svc: Services, actor: Actor) -> int:
    found, count = await svc.device_dashboard.violations(
        actor, open_only=not args.all, org=args.org, limit=args.limit, offset=0
    )
    for v in found:
        state = f"closed {iso(v.closed_ts)}" if v.closed_ts else "open"
        reasons = "; ".join(str(f.get("reason")) for f in v.findings if f.get("reason"))
        print(
            f"{v.violation_id}\t{v.device_id}\t{v.user_id}\t{v.org_code or '-'}\t"
            f"opened {iso(v.opened_ts)}\t{state}\t{reasons}"
        )
    print(f"{count} violation(s)")
    return 0
