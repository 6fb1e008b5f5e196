"""Response models of the audit chain, export and compliance routes (their OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

NDJSON = "application/x-ndjson"


class BreakOut(BaseModel):
    seq: int
    kind: Literal["edited", "deleted", "inserted", "reordered"]
    detail: str


class CheckpointProblemOut(BaseModel):
    seq: int
    reason: str


class VerifyOut(BaseModel):
    ok: bool
    rows: int
    head_seq: int | None
    head_hash: str | None
    first_break: BreakOut | None
    checkpoints: int
    checkpoints_valid: int
    bad_checkpoint: CheckpointProblemOut | None
    last_checkpoint_seq: int | None
    unsigned_rows: int


class CheckpointOut(BaseModel):
    seq: int
    row_hash: str
    ts: int
    key_id: str
    signature: str


class CheckpointResult(BaseModel):
    checkpoint: CheckpointOut | None


class PublicKeyOut(BaseModel):
    algorithm: Literal["ed25519"]
    key_id: str
    public_key: str
    pem: str


def stream_doc(media_type: str, description: str) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"description": description, "content": {media_type: {"schema": {"type": "string"}}}}
    }
