"""``/_tumar/admin/v1/people/import`` and ``/orgs/import``: staff and organisation files.

The file is the raw request body (not a multipart form), so it streams to a temporary file
under the size limit ``import_max_bytes`` without a form parser. Its ``Content-Type`` names
the format: ``text/csv`` (with an optional ``charset``), the XLSX media type, or
``application/octet-stream`` to let the server tell XLSX (a ZIP archive) from CSV.
"""

from __future__ import annotations

import tempfile
from functools import partial
from typing import IO, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from tumar.api.admin.base import AdminActor
from tumar.api.admin.import_progress import NDJSON, stream_import, wants_progress
from tumar.api.http import Svc, ok, too_large
from tumar.core.imports import ImportOptions, file_error
from tumar.errors import MatrixError
from tumar.tabular import XLSX_MEDIA_TYPE, FileProblem, Format, check_encoding

router = APIRouter(tags=["imports"])

_CSV_TYPES = ("text/csv", "application/csv", "text/plain", "text/tab-separated-values")
_SNIFF_TYPES = ("application/octet-stream", "")
_SPOOL_IN_MEMORY = 1 << 20


class RowErrorOut(BaseModel):
    row: int
    key: str | None  # personnel number (staff) or code (organisations), when the row has one
    error: str


class FieldChange(BaseModel):
    before: object
    after: object


class NewPersonOut(BaseModel):
    row: int
    personnel_number: str
    org_code: str
    name_cyr: str
    name_lat: str


class ChangedPersonOut(BaseModel):
    row: int
    personnel_number: str
    person_id: str
    org_code: str
    changes: dict[str, FieldChange]
    from_org: str | None = None  # moved people: the organisation they leave


class DepartedOut(BaseModel):
    personnel_number: str
    person_id: str
    org_code: str
    name_cyr: str
    name_lat: str
    user_id: str | None


class StaffCounts(BaseModel):
    new: int
    changed: int
    moved: int
    unchanged: int
    departed: int
    errors: int


class StaffImportReport(BaseModel):
    dry_run: bool
    format: str
    encoding: str | None
    delimiter: str | None
    ignored_columns: list[str]
    rows: int
    counts: StaffCounts
    new: list[NewPersonOut]
    changed: list[ChangedPersonOut]
    moved: list[ChangedPersonOut]
    departed: list[DepartedOut]
    departures_applied: bool
    errors: list[RowErrorOut]
    truncated: bool


class NewOrgOut(BaseModel):
    row: int
    code: str
    parent_code: str | None
    path: str
    name_ru: str


class ChangedOrgOut(BaseModel):
    row: int
    code: str
    path: str
    changes: dict[str, FieldChange]


class OrgCounts(BaseModel):
    new: int
    changed: int
    moved: int
    unchanged: int
    errors: int


class OrgImportReport(BaseModel):
    dry_run: bool
    format: str
    encoding: str | None
    delimiter: str | None
    ignored_columns: list[str]
    rows: int
    counts: OrgCounts
    new: list[NewOrgOut]
    changed: list[ChangedOrgOut]
    moved: list[ChangedOrgOut]
    errors: list[RowErrorOut]
    truncated: bool


def _file_body(what: str) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {
            "required": True,
            "description": f"The {what} file itself (not a form): CSV (UTF-8 unless the "
            "Content-Type names a charset) or XLSX.",
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX_MEDIA_TYPE: binary,
                "application/octet-stream": binary,
            },
        }
    }


PROGRESS_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report; with `Accept: application/x-ndjson`, JSON Lines of "
        '`{"progress": {"phase", "done", "total"}}` while the import runs, then '
        '`{"report": ...}` or `{"error": {"status", "errcode", "error"}}`.',
        "content": {NDJSON: {"schema": {"type": "string"}}},
    }
}
DryRun = Query(False, description="Report what the import would do; change nothing.")
Limit = Query(1000, ge=0, le=100_000, description="Entries listed per kind in the report")


@router.post(
    "/people/import",
    response_model=StaffImportReport,
    responses=PROGRESS_DOC,
    openapi_extra=_file_body("staff"),
)
async def import_people(
    request: Request,
    actor: AdminActor,
    svc: Svc,
    dry_run: bool = DryRun,
    confirm_departures: bool = Query(
        False,
        description="Mark people of the scope who are not in the file as departed and "
        "deactivate their accounts. Without it they are only reported.",
    ),
    org: str | None = Query(
        None, max_length=64, description="Import into this subtree only (default: your scope)"
    ),
    limit: int = Limit,
) -> Response:
    fmt, encoding = _content_type(request)
    options = ImportOptions(
        dry_run=dry_run,
        confirm_departures=confirm_departures,
        org=org,
        format=fmt,
        encoding=encoding,
        max_unpacked_bytes=16 * svc.settings.import_max_bytes,
        detail_limit=limit,
    )
    body = await _spool(request, svc.settings.import_max_bytes)
    if wants_progress(request):
        return await stream_import(
            partial(svc.staff_import.do_import_people, actor, body, options), body.close
        )
    with body:
        report = await svc.staff_import.do_import_people(actor, body, options)
    return ok(report.as_dict())


@router.post(
    "/orgs/import",
    response_model=OrgImportReport,
    responses=PROGRESS_DOC,
    openapi_extra=_file_body("organisation"),
)
async def import_orgs(
    request: Request, actor: AdminActor, svc: Svc, dry_run: bool = DryRun, limit: int = Limit
) -> Response:
    fmt, encoding = _content_type(request)
    options = ImportOptions(
        dry_run=dry_run,
        format=fmt,
        encoding=encoding,
        max_unpacked_bytes=16 * svc.settings.import_max_bytes,
        detail_limit=limit,
    )
    body = await _spool(request, svc.settings.import_max_bytes)
    if wants_progress(request):
        return await stream_import(
            partial(svc.org_import.do_import_orgs, actor, body, options), body.close
        )
    with body:
        report = await svc.org_import.do_import_orgs(actor, body, options)
    return ok(report.as_dict())


def _content_type(request: Request) -> tuple[Format | None, str | None]:
    """The file's format and CSV encoding from the Content-Type header."""
    media, _, params = request.headers.get("content-type", "").partition(";")
    media = media.strip().lower()
    charset = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip():
            charset = value.strip().strip('"')
    if charset is not None:
        try:
            charset = check_encoding(charset)
        except FileProblem as problem:
            raise file_error(problem) from None
    if media in _CSV_TYPES:
        return "csv", charset
    if media == XLSX_MEDIA_TYPE:
        return "xlsx", None
    if media in _SNIFF_TYPES:
        return None, charset
    raise MatrixError(
        415,
        "TUMAR_UNSUPPORTED_MEDIA_TYPE",
        f"Send the file itself as the request body with Content-Type text/csv, {XLSX_MEDIA_TYPE} "
        f"or application/octet-stream (not {media}).",
    )


async def _spool(request: Request, limit: int) -> IO[bytes]:
    """The request body in a temporary file (in memory while small), at most ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    spool: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    try:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise too_large(limit)
            spool.write(chunk)
        if size == 0:
            raise MatrixError(400, "TUMAR_BAD_FILE", "The request body (the file) is empty.")
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool
