"""The ``tumar`` command line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from tumar import (
    cli_accounts,
    cli_audit,
    cli_correspondence,
    cli_device_agent,
    cli_devices,
    cli_directory,
    cli_keys,
    cli_labels,
    cli_notices,
    cli_retention,
    cli_rollout,
)
from tumar.config import Settings, load_settings
from tumar.core.directory import cli_actor
from tumar.core.services import Services, build_services
from tumar.errors import MatrixError
from tumar.policy.roles import Role


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.config,
        data_dir=getattr(args, "data_dir", None),
        database_url=getattr(args, "database_url", None),
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML config file (or TUMAR_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="data directory (default ./data)")
    p.add_argument("--database-url", help="SQLAlchemy URL; default SQLite in the data dir")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tumar", description="tumar work messenger server")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    _common(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8008)
    serve.add_argument("--demo", action="store_true", help="seed demo users and a room")

    migrate = sub.add_parser("migrate", help="apply database migrations")
    _common(migrate)

    user = sub.add_parser("user", help="manage accounts")
    users = user.add_subparsers(dest="user_command", required=True)
    create = users.add_parser("create", help="create an account")
    _common(create)
    create.add_argument("localpart")
    create.add_argument("--password", help="password (asked for when omitted)")
    create.add_argument("--admin", action="store_true")
    create.add_argument("--display-name")
    listing = users.add_parser("list", help="list accounts")
    _common(listing)
    deactivate = users.add_parser("deactivate", help="deactivate an account")
    _common(deactivate)
    deactivate.add_argument("localpart")

    role = sub.add_parser("role", help="grant, revoke and list administrative roles")
    roles = role.add_subparsers(dest="role_command", required=True)
    for name, text in (("grant", "grant a role"), ("revoke", "revoke a role")):
        change = roles.add_parser(name, help=text)
        _common(change)
        change.add_argument("user", help="user id or localpart")
        change.add_argument("role", choices=[r.value for r in Role])
        change.add_argument("--org", default="", help="subtree root (default: everywhere)")
    role_list = roles.add_parser("list", help="list role grants")
    _common(role_list)

    cli_directory.add_parsers(sub, _common)
    cli_accounts.add_parsers(sub, _common)  # people codes, user suspend|restore
    cli_rollout.add_parsers(sub, _common)
    cli_retention.add_parsers(sub, _common)  # retention show|run, hold place|lift|list
    cli_audit.add_parsers(sub, _common)  # audit verify|checkpoint|public-key|export, compliance
    cli_keys.add_parsers(sub, _common)  # keys status|new-key|rotate|remove-key
    cli_notices.add_parsers(sub, _common)  # notify preview|send|withdraw|report|remind
    cli_correspondence.add_parsers(sub, _common)  # letters list|show|verify|export|journal|...
    cli_labels.add_parsers(sub, _common)  # labels list|show|set
    cli_devices.add_parsers(sub, _common)  # devices policy|token|list|show|command|retire
    cli_device_agent.add_parsers(sub, _common)  # device-agent (an HTTP client, no database)

    token = sub.add_parser("registration-token", help="create a registration token")
    _common(token)
    token.add_argument("--uses", type=int, default=1)
    return root


async def _with_services(settings: Settings, job: Callable[[Services], Awaitable[int]]) -> int:
    svc = build_services(settings)
    try:
        await svc.db.migrate()
        return await job(svc)
    finally:
        await svc.close()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "device-agent":  # a client of the server: no configuration, no database
        return cli_device_agent.main(args)
    import os

    if args.config is None and os.environ.get("TUMAR_CONFIG"):
        args.config = Path(os.environ["TUMAR_CONFIG"])
    try:
        settings = _settings(args)
    except Exception as exc:  # a bad config file or variable: say so plainly
        print(f"tumar: invalid configuration: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "serve":
            return _serve(settings, args.host, args.port, args.demo)
        return asyncio.run(_with_services(settings, lambda svc: _dispatch(args, svc)))
    except MatrixError as exc:
        print(f"tumar: {exc.error}", file=sys.stderr)
        return 1


async def _dispatch(args: argparse.Namespace, svc: Services) -> int:
    if args.command == "migrate":
        print("Database is up to date.")
        return 0
    if args.command == "role":
        return await _role(args, svc)
    if args.command == "people" and args.people_command == "codes":
        return await cli_accounts.people_codes(args, svc)
    if args.command in ("org", "people"):
        return await cli_directory.dispatch(args, svc)
    if args.command == "rollout":
        return await cli_rollout.dispatch(args, svc)
    if args.command in ("retention", "hold"):
        return await cli_retention.dispatch(args, svc)
    if args.command in ("audit", "compliance"):
        return await cli_audit.dispatch(args, svc)
    if args.command == "keys":
        return await cli_keys.dispatch(args, svc)
    if args.command == "notify":
        return await cli_notices.dispatch(args, svc)
    if args.command == "letters":
        return await cli_correspondence.dispatch(args, svc)
    if args.command == "labels":
        return await cli_labels.dispatch(args, svc)
    if args.command == "devices":
        return await cli_devices.dispatch(args, svc)
    if args.command == "registration-token":
        print(await svc.accounts.do_create_registration_token(uses_allowed=args.uses))
        return 0
    if args.user_command == "create":
        password = args.password or getpass.getpass("Password: ")
        user_id = await svc.accounts.do_create_user(
            args.localpart, password, admin=args.admin, displayname=args.display_name
        )
        print(f"Created {user_id}")
        return 0
    if args.user_command == "list":
        for u in await svc.accounts.list_users():
            flags = " ".join(
                f
                for f, on in (
                    ("admin", u.is_admin),
                    ("deactivated", u.deactivated),
                    ("suspended", u.suspended),
                )
                if on
            )
            print(f"{u.user_id}\t{u.displayname or ''}\t{flags}".rstrip())
        return 0
    if args.user_command in ("suspend", "restore"):
        return await cli_accounts.user_suspension(args, svc)
    if args.user_command == "deactivate":
        return await cli_accounts.user_deactivation(args, svc)
    raise AssertionError(args)


def _serve(settings: Settings, host: str, port: int, demo: bool) -> int:
    from tumar import gc_policy
    from tumar.app import build_app
    from tumar.demo import seed_demo
    from tumar.logs import configure_logging
    from tumar.server import make_server

    configure_logging(settings)
    if settings.public_baseurl is None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        settings = settings.model_copy(update={"public_baseurl": f"http://{shown}:{port}/"})
    svc = build_services(settings)
    app = build_app(settings, svc)
    # SIGTERM/SIGINT: readiness 503, parked long-polls answered, then uvicorn's graceful
    # shutdown within `shutdown_grace_seconds` (tumar/server.py).
    server = make_server(app, settings, host, port, loop="uvloop", http="httptools")

    async def run() -> None:
        await svc.start()
        try:
            if demo:
                for line in await seed_demo(svc):
                    print(line)
            print(f"tumar serving {settings.server_name} on http://{host}:{port}/")
            print(f"Point a Matrix client at http://{host}:{port} as the homeserver.")
            # Full garbage collections on a timer (tumar/gc_policy.py), once started up.
            gc_policy.PROCESS.interval_s = settings.gc_full_interval_seconds
            gc_policy.PROCESS.install()
            collections = asyncio.create_task(gc_policy.PROCESS.run())
            try:
                await server.serve()
            finally:
                collections.cancel()
                gc_policy.PROCESS.uninstall()
        finally:
            await svc.close()

    import uvloop

    # uvicorn applies `loop="uvloop"` only in Server.run(); we own the loop, so choose it here.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(run())
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()


async def _role(args: argparse.Namespace, svc: Services) -> int:
    actor = cli_actor(getpass.getuser())
    if args.role_command == "list":
        for g in await svc.directory.list_grants(actor):
            print(f"{g.user_id}\t{g.role}\t{g.org_code or '*'}")
        return 0
    user = args.user if args.user.startswith("@") else svc.accounts.user_id_for(args.user)
    if args.role_command == "grant":
        await svc.directory.do_grant(actor, user, Role(args.role), args.org)
        print(f"Granted {args.role} over {args.org or 'everything'} to {user}")
    else:
        await svc.directory.do_revoke(actor, user, Role(args.role), args.org)
        print(f"Revoked {args.role} over {args.org or 'everything'} from {user}")
    return 0
