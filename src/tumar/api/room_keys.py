"""Server-side key backup: ``/room_keys/version`` and ``/room_keys/keys``.

The backed-up session data is encrypted by the client to a key the server never sees.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field, StrictBool, StrictInt, StrictStr

from tumar.api.http import Auth, Body, RequestBody, Svc, ok, parse
from tumar.core.key_backup import BackupInfo, UpdateResult
from tumar.errors import missing_param, not_found
from tumar.ids import RoomId
from tumar.store.key_backup import RoomKey

router = APIRouter()

Count = Annotated[StrictInt, Field(ge=0, le=2**53 - 1)]


class BackupVersionBody(RequestBody):
    algorithm: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    auth_data: dict[str, Any]
    version: StrictStr | None = None


class KeyBackupData(RequestBody):
    first_message_index: Count
    forwarded_count: Count
    is_verified: StrictBool
    session_data: dict[str, Any]


class RoomKeyBackup(RequestBody):
    sessions: dict[str, KeyBackupData]


class RoomKeysBody(RequestBody):
    rooms: dict[str, RoomKeyBackup]


def _info(info: BackupInfo) -> dict[str, Any]:
    v = info.version
    return {
        "algorithm": v.algorithm,
        "auth_data": dict(v.auth_data),
        "count": info.count,
        "etag": str(v.etag),
        "version": str(v.version),
    }


def _update(result: UpdateResult) -> dict[str, Any]:
    return {"etag": str(result.etag), "count": result.count}


def _version(version: str | None) -> str:
    if not version:
        raise missing_param("The `version` query parameter (the backup version) is required.")
    return version


def _key(room_id: str, session_id: str, data: KeyBackupData) -> RoomKey:
    RoomId.parse(room_id)
    return RoomKey(
        room_id,
        session_id,
        data.first_message_index,
        data.forwarded_count,
        data.is_verified,
        data.session_data,
    )


def _rooms(keys: list[RoomKey]) -> dict[str, Any]:
    rooms: dict[str, Any] = {}
    for key in keys:
        rooms.setdefault(key.room_id, {"sessions": {}})["sessions"][key.session_id] = key.to_json()
    return rooms


# ---- versions -------------------------------------------------------------------------------


@router.post("/room_keys/version")
async def create_version(svc: Svc, requester: Auth, body: Body) -> Any:
    req = parse(BackupVersionBody, body)
    version = await svc.key_backup.do_create_version(requester, req.algorithm, req.auth_data)
    return ok({"version": version})


@router.get("/room_keys/version")
async def current_version(svc: Svc, requester: Auth) -> Any:
    return ok(_info(await svc.key_backup.get_version(requester, None)))


@router.get("/room_keys/version/{version}")
async def get_version(svc: Svc, requester: Auth, version: str) -> Any:
    return ok(_info(await svc.key_backup.get_version(requester, version)))


@router.put("/room_keys/version/{version}")
async def update_version(svc: Svc, requester: Auth, version: str, body: Body) -> Any:
    req = parse(BackupVersionBody, body)
    await svc.key_backup.do_update_version(
        requester, version, req.algorithm, req.auth_data, req.version
    )
    return ok()


@router.delete("/room_keys/version/{version}")
async def delete_version(svc: Svc, requester: Auth, version: str) -> Any:
    await svc.key_backup.do_delete_version(requester, version)
    return ok()


# ---- keys -----------------------------------------------------------------------------------


@router.put("/room_keys/keys")
async def put_all_keys(svc: Svc, requester: Auth, body: Body, version: str | None = None) -> Any:
    req = parse(RoomKeysBody, body)
    keys = [
        _key(room_id, session_id, data)
        for room_id, room in req.rooms.items()
        for session_id, data in room.sessions.items()
    ]
    return ok(_update(await svc.key_backup.do_put_keys(requester, _version(version), keys)))


@router.put("/room_keys/keys/{room_id}")
async def put_room_keys(
    svc: Svc, requester: Auth, room_id: str, body: Body, version: str | None = None
) -> Any:
    req = parse(RoomKeyBackup, body)
    keys = [_key(room_id, session_id, data) for session_id, data in req.sessions.items()]
    return ok(_update(await svc.key_backup.do_put_keys(requester, _version(version), keys)))


@router.put("/room_keys/keys/{room_id}/{session_id:path}")
async def put_session_key(
    svc: Svc, requester: Auth, room_id: str, session_id: str, body: Body, version: str | None = None
) -> Any:
    data = parse(KeyBackupData, body)
    keys = [_key(room_id, session_id, data)]
    return ok(_update(await svc.key_backup.do_put_keys(requester, _version(version), keys)))


@router.get("/room_keys/keys")
async def get_all_keys(svc: Svc, requester: Auth, version: str | None = None) -> Any:
    keys = await svc.key_backup.get_keys(requester, _version(version))
    return ok({"rooms": _rooms(keys)})


@router.get("/room_keys/keys/{room_id}")
async def get_room_keys(svc: Svc, requester: Auth, room_id: str, version: str | None = None) -> Any:
    keys = await svc.key_backup.get_keys(requester, _version(version), room_id)
    return ok(_rooms(keys).get(room_id, {"sessions": {}}))


@router.get("/room_keys/keys/{room_id}/{session_id:path}")
async def get_session_key(
    svc: Svc, requester: Auth, room_id: str, session_id: str, version: str | None = None
) -> Any:
    keys = await svc.key_backup.get_keys(requester, _version(version), room_id, session_id)
    if not keys:
        raise not_found("No key for this session in the backup.")
    return ok(keys[0].to_json())


@router.delete("/room_keys/keys")
async def delete_all_keys(svc: Svc, requester: Auth, version: str | None = None) -> Any:
    return ok(_update(await svc.key_backup.do_delete_keys(requester, _version(version))))


@router.delete("/room_keys/keys/{room_id}")
async def delete_room_keys(
    svc: Svc, requester: Auth, room_id: str, version: str | None = None
) -> Any:
    result = await svc.key_backup.do_delete_keys(requester, _version(version), room_id)
    return ok(_update(result))


@router.delete("/room_keys/keys/{room_id}/{session_id:path}")
async def delete_session_key(
    svc: Svc, requester: Auth, room_id: str, session_id: str, version: str | None = None
) -> Any:
    result = await svc.key_backup.do_delete_keys(requester, _version(version), room_id, session_id)
    return ok(_update(result))
