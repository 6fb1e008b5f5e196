"""``tumar keys ...``: master keys of encryption at rest (see ``docs/encryption-at-rest.md``).

- ``status``: which master key wraps how many data keys;
- ``new-key``: put a new random master key first in the key file (running servers reload it);
- ``rotate``: re-wrap every data key with the current master key, in small transactions
  while the server keeps serving;
- ``remove-key``: drop an old master key from the key file, once no data key needs it.

Each change is audited (actor ``cli:<os user>``).
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable
from pathlib import Path

from tumar.config import Settings
from tumar.core import audit
from tumar.core.audit import Who
from tumar.core.key_provider import (
    KeyProviderError,
    LocalKeyProvider,
    add_key_to_file,
    remove_key_from_file,
)
from tumar.core.services import Services
from tumar.store import data_keys as key_store


def add_parsers(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    common: Callable[[argparse.ArgumentParser], None],
) -> None:
    keys = sub.add_parser("keys", help="master keys of encryption at rest")
    cmds = keys.add_subparsers(dest="keys_command", required=True)
    status = cmds.add_parser("status", help="which master key wraps how many data keys")
    common(status)
    new = cmds.add_parser(
        "new-key", help="put a new random master key first in the key file (back it up!)"
    )
    common(new)
    new.add_argument("--id", dest="key_id", help="id of the new key (default k<n>)")
    rotate = cmds.add_parser(
        "rotate", help="re-wrap every data key with the current master key (no downtime)"
    )
    common(rotate)
    rotate.add_argument("--batch", type=int, default=500, help="data keys per transaction")
    remove = cmds.add_parser(
        "remove-key", help="drop an old master key from the key file once nothing needs it"
    )
    common(remove)
    remove.add_argument("key_id")


def key_file(settings: Settings) -> Path | None:
    """The key file in use, or None when the keys come from ``master_key``."""
    if settings.master_key:
        return None
    return settings.master_key_file or settings.data_dir / "master.key"


def _who() -> Who:
    return Who(f"cli:{getpass.getuser()}")


async def dispatch(args: argparse.Namespace, svc: Services) -> int:
    command = args.keys_command
    provider = svc.keyring.provider
    path = key_file(svc.settings)
    if command == "status":
        async with svc.db.read() as conn:
            counts = await key_store.count_by_key_id(conn)
        held = provider.key_ids if isinstance(provider, LocalKeyProvider) else []
        current = provider.current_key_id
        print(f"current master key: {current}")
        for key_id in dict.fromkeys([*held, *counts]):
            state = "current" if key_id == current else "old"
            if key_id not in held and held:
                state = "MISSING from the key provider"
            print(f"{key_id}\t{counts.get(key_id, 0)} data keys\t{state}")
        return 0
    if command in ("new-key", "remove-key") and path is None:
        print(
            "tumar: the master keys come from TUMAR_MASTER_KEY (master_key): edit that value "
            "(the new key first), restart, then run `tumar keys rotate`."
        )
        return 1
    if command == "new-key":
        assert path is not None
        try:
            key_id = add_key_to_file(path, args.key_id)
        except KeyProviderError as exc:
            print(f"tumar: {exc}")
            return 1
        await _audit(svc, "keys.new_key", key_id, None)
        print(f"Added master key {key_id} to {path}; it wraps every new data key from now on.")
        print("Back up the key file now, then run `tumar keys rotate`.")
        return 0
    if command == "rotate":
        if args.batch < 1:
            print("tumar: --batch must be at least 1")
            return 1
        current = provider.current_key_id
        done = await svc.keyring.rewrap_all(batch=args.batch)
        await _audit(svc, "keys.rotate", current, {"rewrapped": done})
        async with svc.db.read() as conn:
            counts = await key_store.count_by_key_id(conn)
        print(f"Re-wrapped {done} data keys with master key {current}.")
        old = sorted(k for k in counts if k != current)
        if old:  # only if a node wrapped new data keys with an old key meanwhile
            print(f"Still wrapped with {', '.join(old)}: run `tumar keys rotate` again.")
        else:
            held = provider.key_ids if isinstance(provider, LocalKeyProvider) else []
            retired = [k for k in held if k != current]
            if retired:
                print(
                    f"No data key needs {', '.join(retired)} any more; "
                    "`tumar keys remove-key <id>` drops it from the key file."
                )
        return 0
    if command == "remove-key":
        assert path is not None
        async with svc.db.read() as conn:
            still = (await key_store.count_by_key_id(conn)).get(args.key_id, 0)
        if still:
            print(
                f"tumar: {still} data keys are still wrapped with {args.key_id}; "
                "run `tumar keys rotate` first."
            )
            return 1
        try:
            remove_key_from_file(path, args.key_id)
        except KeyProviderError as exc:
            print(f"tumar: {exc}")
            return 1
        await _audit(svc, "keys.remove_key", args.key_id, None)
        print(f"Removed master key {args.key_id} from {path}.")
        print("Older backups of the database still need it: keep a copy with those backups.")
        return 0
    raise AssertionError(command)


async def _audit(svc: Services, action: str, key_id: str, after: dict[str, int] | None) -> None:
    async with svc.db.write() as conn:
        await audit.record(
            conn, _who(), svc.clock.now_ms(), action, "master_key", key_id, after=after
        )
