"""Activation codes as CSV for a mail merge of printed letters (``?format=csv`` of the admin
API and ``tumar people codes``)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

from tumar.core.activation import IssuedCode, iso_utc

LETTER_COLUMNS = (
    "personnel_number",
    "name_cyr",
    "name_lat",
    "org_code",
    "organisation_kk",
    "organisation_ru",
    "user_id",
    "localpart",
    "code",
    "expires_utc",
)


def _cell(value: object) -> str:
    """A CSV cell that spreadsheet programs will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def letters_csv(codes: Sequence[IssuedCode]) -> str:
    """The codes as CSV for a mail merge of printed letters, with a byte-order mark so that
    spreadsheet programs read the Cyrillic names as UTF-8."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(LETTER_COLUMNS)
    for c in codes:
        row = (
            c.personnel_number, c.name_cyr, c.name_lat, c.org_code, c.org_name_kk,
            c.org_name_ru, c.user_id, c.localpart, c.code, iso_utc(c.expiry_ts),
        )  # fmt: skip
        writer.writerow([_cell(v) for v in row])
    return "\ufeff" + out.getvalue()
