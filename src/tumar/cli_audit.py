"""``tumar audit ...`` and ``tumar compliance export``: verify the audit chain, sign a
checkpoint, print the public key, export the log as JSON Lines, and export a room, a person or
a time range for compliance. The command line acts as a global operator; its exports are
audited as ``cli:<os user>``."""

from __future__ import annotations

import argparse
import base64
import getpass
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from tumar.core.audit_export import AuditFilter
from tumar.core.compliance_export import ComplianceQuery
from tumar.core.directory import cli_actor
from tumar.core.services import Services
from tumar.errors import MatrixError


def when(value: str) -> int:
    """Milliseconds since the epoch, or an ISO 8601 date or time (UTC unless it says)."""
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither milliseconds nor a date like 2026-01-31 or 2026-01-31T12:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    audit = sub.add_parser("audit", help="the audit log: verify, checkpoint, export")
    cmds = audit.add_subparsers(dest="audit_command", required=True)
    verify = cmds.add_parser(
        "verify", help="check every row's hash and link and every checkpoint's signature"
    )
    common(verify)
    verify.add_argument(
        "--public-key",
        type=Path,
        help="check signatures with this key (base64 or PEM, as `tumar audit public-key` "
        "prints it) instead of the deployment's own",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    checkpoint = cmds.add_parser("checkpoint", help="sign a checkpoint at the chain's head")
    common(checkpoint)
    key = cmds.add_parser("public-key", help="print the checkpoint signing key (public part)")
    common(key)
    key.add_argument("--pem", action="store_true", help="PEM instead of base64")
    export = cmds.add_parser("export", help="export audit rows as JSON Lines")
    common(export)
    _filters(export)
    export.add_argument("--out", type=Path, help="file to write (default: standard output)")

    compliance = sub.add_parser("compliance", help="compliance exports")
    ccmds = compliance.add_subparsers(dest="compliance_command", required=True)
    cexport = ccmds.add_parser(
        "export",
        help="export a room, a person or a time range (JSON Lines and HTML, with the proof)",
    )
    common(cexport)
    cexport.add_argument("--room", help="room id")
    cexport.add_argument("--user", help="a person's user id")
    cexport.add_argument("--since", type=when, help="from (ms or ISO date/time, inclusive)")
    cexport.add_argument("--until", type=when, help="to (ms or ISO date/time, exclusive)")
    cexport.add_argument("--out", type=Path, required=True, help="directory to write into")


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", type=when, help="from (ms or ISO date/time, inclusive)")
    p.add_argument("--until", type=when, help="to (ms or ISO date/time, exclusive)")
    p.add_argument("--actor", help="who acted (user id or cli:<name>)")
    p.add_argument("--action", help="exact action, or a prefix ending in '.' (login.)")
    p.add_argument("--target-type", help="org, person, user, room, ...")
    p.add_argument("--target", help="target id")
    p.add_argument("--org", help="rows about this organisation")


def _read_key(path: Path) -> bytes:
    text = path.read_text().strip()
    if text.startswith("-----BEGIN"):
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
        from cryptography.hazmat.primitives.serialization import (
            Encoding,
            PublicFormat,
            load_pem_public_key,
        )

        key = load_pem_public_key(text.encode())
        if not isinstance(key, Ed25519PublicKey):
            raise MatrixError(400, "M_INVALID_PARAM", "The public key is not an Ed25519 key.")
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    try:
        raw = base64.b64decode(text, validate=True)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise MatrixError(400, "M_INVALID_PARAM", "The public key is not 32 bytes of base64.")
    return raw


async def dispatch(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    if args.command == "compliance":
        return await _compliance(args, svc)
    if args.audit_command == "verify":
        key = _read_key(args.public_key) if args.public_key else None
        report = await svc.audit_export.verify(None, public_key=key)
        if args.json:
            import orjson

            print(orjson.dumps(report.to_json()).decode())
        else:
            print(report.summary())
        return 0 if report.ok else 3
    if args.audit_command == "checkpoint":
        cp = await svc.audit_chain.do_checkpoint()
        if cp is None:
            print("Nothing to sign: the chain's head is signed already (or the log is empty).")
        else:
            print(f"Signed checkpoint at seq {cp.seq}: {cp.row_hash} ({cp.key_id})")
        return 0
    if args.audit_command == "public-key":
        info = await svc.audit_chain.public_key_info()
        print(info["pem"].strip() if args.pem else info["public_key"])
        print(f"key id: {info['key_id']}", file=sys.stderr)
        return 0
    f = AuditFilter(
        since_ts=args.since,
        until_ts=args.until,
        actor=args.actor,
        action=args.action,
        target_type=args.target_type,
        target_id=args.target,
        org_code=args.org,
    )
    lines = await svc.audit_export.start_export(actor, f)
    count = 0
    out = args.out.open("wb") if args.out else sys.stdout.buffer
    try:
        async for line in lines:
            out.write(line)
            count += 1
    finally:
        if args.out:
            out.close()
        else:
            out.flush()
    print(f"Exported {count} audit row(s).", file=sys.stderr)
    return 0


async def _compliance(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    query = ComplianceQuery(
        room_id=args.room, user_id=args.user, since_ts=args.since, until_ts=args.until
    )
    export = await svc.compliance.do_export(actor, query)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "export.jsonl").write_bytes(export.jsonl)
    (args.out / "export.html").write_text(export.html, encoding="utf-8")
    print(
        f"Exported {export.events} event(s) and {export.audit_rows} audit row(s) to "
        f"{args.out / 'export.jsonl'} and {args.out / 'export.html'}."
    )
    return 0
