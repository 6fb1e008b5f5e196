"""Messages about letters in people's notices rooms (``core/server_notices.py``): a new
letter for a registry, an assignment, a reply, a reminder, an escalation. Sent after the
command's transaction has committed; a notice that cannot be sent is logged, and the letter's
own state (the record that counts) is unaffected."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterable

from tumar.config import Settings
from tumar.core.server_notices import ServerNotices
from tumar.errors import MatrixError

log = logging.getLogger(__name__)


def letter_link(settings: Settings, letter_id: str) -> str:
    return f"{settings.effective_public_baseurl.rstrip('/')}/#/letters/{letter_id}"


class LetterNotices:
    def __init__(self, notices: ServerNotices, settings: Settings) -> None:
        self._notices = notices
        self._settings = settings

    def content(self, letter_id: str, text: str) -> dict[str, str]:
        link = letter_link(self._settings, letter_id)
        return {
            "msgtype": "m.notice",
            "body": f"{text}\n{link}",
            "format": "org.matrix.custom.html",
            "formatted_body": f'<p>{html.escape(text)}</p><p><a href="{html.escape(link)}">'
            f"{html.escape(link)}</a></p>",
            "kz.tumar.letter": letter_id,
        }

    async def tell(self, user_ids: Iterable[str], letter_id: str, text: str) -> int:
        """Send the message to each user once; returns how many got it."""
        sent = 0
        for user_id in sorted(set(user_ids)):
            try:
                await self._notices.send(user_id, self.content(letter_id, text))
                sent += 1
            except MatrixError as exc:
                log.warning(
                    "letter notice not sent",
                    extra={"letter_id": letter_id, "user_id": user_id, "errcode": exc.errcode},
                )
        return sent
