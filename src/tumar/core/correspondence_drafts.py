"""Drafts of letters: what a draft must be before it is stored (plain-text subject, safe
Markdown body within ``letters_max_body_chars``, known organisations and label, a signatory who
holds ``letters.sign`` for the sender, attachments that the author uploaded to this server
within ``letters_max_attachments`` and ``letters_max_attachment_bytes``). Reads only; the
service (``core/correspondence.py``) writes."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from tumar.config import Settings
from tumar.core.correspondence_access import Party
from tumar.errors import MatrixError
from tumar.policy import letters as cycle
from tumar.policy.notice_markdown import UnsafeContent, render
from tumar.policy.roles import Grant, Permission, Role
from tumar.store import accounts as account_store
from tumar.store import correspondence as store
from tumar.store import directory as directory_store
from tumar.store import media as media_store
from tumar.store.correspondence import Attachment

MAX_SUBJECT = 300
MAX_APPROVERS = 20
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class LetterDraft:
    sender_org: str
    recipients: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[tuple[str, str], ...] = ()  # (mxc, name)
    label: str | None = None
    label_orgs: tuple[str, ...] = ()
    reply_to: str | None = None
    approvers: tuple[str, ...] = ()
    approval: str = "ordered"
    signatory: str = ""


def check_text(settings: Settings, draft: LetterDraft) -> LetterDraft:
    subject = " ".join(draft.subject.split())
    if not subject:
        raise MatrixError(400, "M_INVALID_PARAM", "The letter needs a subject.")
    if len(subject) > MAX_SUBJECT or _CONTROL.search(draft.subject):
        raise MatrixError(
            400, "M_INVALID_PARAM",
            f"The subject is plain text of at most {MAX_SUBJECT} characters.",
        )  # fmt: skip
    try:
        render(draft.body, max_chars=settings.letters_max_body_chars)
    except UnsafeContent as exc:
        status = 413 if exc.errcode == "M_TOO_LARGE" else 400
        raise MatrixError(status, exc.errcode, exc.reason) from None
    if draft.approval not in ("ordered", "parallel"):
        raise MatrixError(400, "M_INVALID_PARAM", "approval is ordered or parallel.")
    for name, values, most in (
        ("recipients", draft.recipients, settings.letters_max_recipients),
        ("approvers", draft.approvers, MAX_APPROVERS),
        ("label_orgs", draft.label_orgs, 100),
    ):
        if len(set(values)) != len(values):
            raise MatrixError(400, "M_INVALID_PARAM", f"{name} names someone twice.")
        if len(values) > most:
            raise MatrixError(400, "M_INVALID_PARAM", f"At most {most} {name}.")
    if len(draft.attachments) > settings.letters_max_attachments:
        raise MatrixError(
            400, "M_INVALID_PARAM",
            f"At most {settings.letters_max_attachments} attachments.",
        )  # fmt: skip
    label = draft.label or settings.classification_default_room
    if label not in settings.classification_labels:
        raise MatrixError(
            400, "TUMAR_UNKNOWN_LABEL",
            f"There is no label {label!r}; the labels are: "
            f"{', '.join(settings.classification_labels)}.",
        )  # fmt: skip
    return replace(draft, subject=subject, label=label)


async def check_draft(
    conn: AsyncConnection, settings: Settings, p: Party, draft: LetterDraft, letter_id: str
) -> list[Attachment]:
    """Directory facts of a draft; returns its attachments, sized from the media store."""
    codes = sorted({draft.sender_org, *draft.recipients, *draft.label_orgs})
    orgs = await directory_store.get_orgs(conn, codes)
    unknown = [c for c in codes if c not in orgs]
    if unknown:
        raise MatrixError(
            400, "TUMAR_UNKNOWN_ORG", f"There is no organisation with the code {unknown[0]}."
        )
    sender = orgs[draft.sender_org]
    if not p.who.org_path.startswith(sender.path):
        raise MatrixError(
            403, "M_FORBIDDEN",
            f"You may draft letters only for your own organisation, not for {sender.code}.",
        )  # fmt: skip
    if draft.sender_org in draft.recipients:
        raise MatrixError(400, "M_INVALID_PARAM", "A letter is not sent to its own sender.")
    for user_id in (*draft.approvers, *([draft.signatory] if draft.signatory else [])):
        user = await account_store.get_user(conn, user_id)
        if user is None or user.deactivated:
            raise MatrixError(400, "M_INVALID_PARAM", f"There is no user {user_id}.")
    if draft.signatory:
        rows = await directory_store.grants_of(conn, draft.signatory)
        who = cycle.Who(
            draft.signatory,
            "",
            tuple(Grant(Role(r.role), r.org_code, r.path) for r in rows),
        )
        if not cycle.holds(who, Permission.LETTERS_SIGN, sender.path):
            raise MatrixError(
                400, "M_INVALID_PARAM",
                f"{draft.signatory} is not a signatory of {sender.code}.",
            )  # fmt: skip
    if draft.reply_to is not None and await store.get_letter(conn, draft.reply_to) is None:
        raise MatrixError(400, "M_INVALID_PARAM", f"There is no letter {draft.reply_to}.")
    return await attachments_of(conn, settings, p, draft, letter_id)


async def attachments_of(
    conn: AsyncConnection, settings: Settings, p: Party, draft: LetterDraft, letter_id: str
) -> list[Attachment]:
    prefix = f"mxc://{settings.server_name}/"
    out: list[Attachment] = []
    total = 0
    for i, (mxc, name) in enumerate(draft.attachments):
        media_id = mxc[len(prefix) :] if mxc.startswith(prefix) else ""
        item = await media_store.get_media(conn, media_id) if media_id else None
        if item is None or not item.uploaded or item.size is None:
            raise MatrixError(
                400, "M_INVALID_PARAM",
                f"Attachment {i + 1} is not uploaded media of this server ({prefix}).",
            )  # fmt: skip
        if item.user_id != p.user_id:
            raise MatrixError(
                403, "M_FORBIDDEN", f"Attachment {i + 1} was uploaded by someone else."
            )
        clean = " ".join(name.split())[:255]
        if not clean or "/" in clean or "\\" in clean or clean in (".", ".."):
            raise MatrixError(
                400, "M_INVALID_PARAM", f"Attachment {i + 1} needs a plain file name."
            )
        total += item.size
        out.append(Attachment(letter_id, i, mxc, clean, item.content_type, item.size, None))
    if total > settings.letters_max_attachment_bytes:
        raise MatrixError(
            413, "M_TOO_LARGE",
            f"The attachments come to {total} bytes; a letter may carry at most "
            f"{settings.letters_max_attachment_bytes}.",
        )  # fmt: skip
    if len({a.name for a in out}) != len(out):
        raise MatrixError(400, "M_INVALID_PARAM", "Two attachments have the same name.")
    return out
