"""The Matrix content of government notifications: the notice itself, its corrections and
withdrawal (``m.replace`` edits), reminders and escalations. Pure functions of the stored
notification; every message is an ``m.room.message`` with ``msgtype: m.notice`` so that any
client shows it, with the structured fields under ``kz.tumar.notification``."""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from typing import Any

from tumar.policy.notice_markdown import render
from tumar.store.gov_notices import Notice

KEY = "kz.tumar.notification"
PRIORITIES = ("information", "important", "urgent")
LABEL = {"information": "Information", "important": "Important", "urgent": "URGENT"}
MARK = {"information": "ℹ️", "important": "❗", "urgent": "🔴"}


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts / 1000, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fields(n: Notice, reactions: Sequence[str]) -> dict[str, Any]:
    return {
        "id": n.notice_id,
        "title": n.title,
        "priority": n.priority,
        "ack_required": n.ack_required,
        "deadline": iso(n.deadline_ts),
        "deadline_ts": n.deadline_ts,
        "version": n.version,
        "withdrawn": n.status == "withdrawn",
        "ack_reactions": list(reactions),
        "attachments": list(n.attachments),
    }


def _ack_line(n: Notice, reactions: Sequence[str]) -> str:
    by = f" by {iso(n.deadline_ts)}" if n.deadline_ts is not None else ""
    keys = " or ".join(reactions)
    return f"Please acknowledge{by}: react with {keys}, or use the button in tumar."


def notice_content(n: Notice, reactions: Sequence[str]) -> dict[str, Any]:
    """The content as it stands now (a withdrawn notification says so instead)."""
    head = f"[{LABEL[n.priority]}] {n.title}"
    if n.status == "withdrawn":
        reason = f" Reason: {n.withdraw_reason}" if n.withdraw_reason else ""
        text = f"[Withdrawn] {n.title}\n\nThis notification has been withdrawn.{reason}"
        formatted = (
            f"<h3>[Withdrawn] {html.escape(n.title)}</h3>"
            f"<p>This notification has been withdrawn.{html.escape(reason)}</p>"
        )
    else:
        rendered = render(n.body, max_chars=max(len(n.body), 1))
        text = f"{head}\n\n{rendered.text}"
        formatted = f"<h3>{MARK[n.priority]} {html.escape(head)}</h3>{rendered.html}"
        if n.attachments:
            names = ", ".join(str(a.get("name", "file")) for a in n.attachments)
            text += f"\n\nAttachments: {names}"
            formatted += f"<p>Attachments: {html.escape(names)}</p>"
        if n.ack_required:
            line = _ack_line(n, reactions)
            text += f"\n\n{line}"
            formatted += f"<p><em>{html.escape(line)}</em></p>"
    return {
        "msgtype": "m.notice",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
        KEY: fields(n, reactions),
    }


def attachment_content(n: Notice, item: dict[str, Any], notice_event_id: str) -> dict[str, Any]:
    """One attachment as its own message after the notice: ``m.image`` for images, else
    ``m.file``, referring to the notice (``m.reference``) so clients can group them."""
    mimetype = item.get("mimetype")
    name = str(item.get("name") or "file")
    info: dict[str, Any] = {}
    if isinstance(mimetype, str) and mimetype:
        info["mimetype"] = mimetype
    if isinstance(item.get("size"), int):
        info["size"] = item["size"]
    image = isinstance(mimetype, str) and mimetype.startswith("image/")
    return {
        "msgtype": "m.image" if image else "m.file",
        "body": name,
        "filename": name,
        "url": str(item.get("url", "")),
        "info": info,
        "m.relates_to": {"rel_type": "m.reference", "event_id": notice_event_id},
        KEY: {"id": n.notice_id, "attachment": True},
    }


def edit_content(n: Notice, original_event_id: str, reactions: Sequence[str]) -> dict[str, Any]:
    """A correction or the withdrawal, as an ``m.replace`` edit of the delivered notice."""
    new = notice_content(n, reactions)
    return {
        "msgtype": "m.notice",
        "body": "* " + new["body"],
        "format": "org.matrix.custom.html",
        "formatted_body": "* " + new["formatted_body"],
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": original_event_id},
        KEY: {**new[KEY], "edit": True},
    }


def reminder_content(
    n: Notice, original_event_id: str, reactions: Sequence[str], round_: int
) -> dict[str, Any]:
    line = _ack_line(n, reactions)
    text = f"Reminder: [{LABEL[n.priority]}] {n.title}\n\n{line}"
    return {
        "msgtype": "m.notice",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": f"<p><strong>Reminder:</strong> {html.escape(n.title)}</p>"
        f"<p>{html.escape(line)}</p>",
        "m.relates_to": {"m.in_reply_to": {"event_id": original_event_id}},
        KEY: {"id": n.notice_id, "reminder": round_, "priority": n.priority},
    }


def escalation_content(
    n: Notice, org_name: str, overdue: Sequence[str], more: int
) -> dict[str, Any]:
    names = "\n".join(f"- {name}" for name in overdue)
    if more:
        names += f"\n- … and {more} more"
    count = len(overdue) + more
    text = (
        f"Overdue acknowledgement: [{LABEL[n.priority]}] {n.title}\n\n"
        f"{count} person(s) in {org_name} have not acknowledged it by the deadline "
        f"{iso(n.deadline_ts)}:\n{names}"
    )
    items = "".join(f"<li>{html.escape(name)}</li>" for name in overdue)
    if more:
        items += f"<li>… and {more} more</li>"
    formatted = (
        f"<p><strong>Overdue acknowledgement:</strong> {html.escape(n.title)}</p>"
        f"<p>{count} person(s) in {html.escape(org_name)} have not acknowledged it by the "
        f"deadline {iso(n.deadline_ts)}:</p><ul>{items}</ul>"
    )
    return {
        "msgtype": "m.notice",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": formatted,
        KEY: {"id": n.notice_id, "escalation": True, "overdue": count},
    }
