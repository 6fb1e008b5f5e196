"""The Markdown subset of notification bodies, rendered to the HTML of ``formatted_body``.
Pure: no I/O.

Supported: paragraphs, hard line breaks, ``#``/``##``/``###`` headings, ``-``/``*`` bullet
lists, ``1.`` numbered lists, ``**bold**``, ``*italic*``/``_italic_``, ```code``` and links
``[text](https://...)`` (``https``, ``http`` and ``mailto`` only). Nothing else is interpreted:
every character of the source is HTML-escaped before the few tags above are added, so the HTML
can contain no element, attribute, event handler or URL scheme that this module did not write.

HTML in the source is refused rather than shown (an author who pastes ``<script>`` or
``<b onclick=...>`` made a mistake that an error explains better than escaped text would), and
so are links with any other scheme (``javascript:``, ``data:``, ...). Sizes are limited.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

MAX_TITLE_CHARS = 200
MAX_BODY_CHARS = 16_000
MAX_HTML_CHARS = 48_000

_TAG = re.compile(r"</?[A-Za-z!?][^>]*>?")  # what a browser would take for markup
_LINK = re.compile(r"\[([^\]\n]{1,500})\]\(([^)\s]{1,2000})\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")
_ITALIC = re.compile(r"(?<![\w*])[*_](?=\S)(.+?)(?<=\S)[*_](?![\w*])")
_CODE = re.compile(r"`([^`\n]+)`")
_HEADING = re.compile(r"^(#{1,3})\s+(.*)$")
_BULLET = re.compile(r"^\s*[-*]\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,4}[.)]\s+(.*)$")
SAFE_SCHEMES = ("https://", "http://", "mailto:")


class UnsafeContent(ValueError):
    """The body cannot be sent as it is; the message says why, in plain words."""

    def __init__(self, errcode: str, reason: str) -> None:
        super().__init__(reason)
        self.errcode = errcode
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str  # the plain ``body``
    html: str  # the ``formatted_body``


def check_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise UnsafeContent("M_INVALID_PARAM", "A notification needs a title.")
    if len(title) > MAX_TITLE_CHARS:
        raise UnsafeContent(
            "M_TOO_LARGE", f"The title is longer than {MAX_TITLE_CHARS} characters."
        )
    if _TAG.search(title):
        raise UnsafeContent("TUMAR_UNSAFE_CONTENT", "The title contains HTML; write plain text.")
    return title


def render(source: str, *, max_chars: int = MAX_BODY_CHARS) -> Rendered:
    """Check and render a body; raises :class:`UnsafeContent`."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    if "\x00" in source:
        raise UnsafeContent("M_INVALID_PARAM", "The body contains a NUL character.")
    if not source.strip():
        raise UnsafeContent("M_INVALID_PARAM", "A notification needs a body.")
    if len(source) > max_chars:
        raise UnsafeContent("M_TOO_LARGE", f"The body is longer than {max_chars} characters.")
    outside_code = _CODE.sub("", source)  # code spans are shown as they are, escaped
    tag = _TAG.search(outside_code)
    if tag:
        shown = tag.group(0)[:40]
        raise UnsafeContent(
            "TUMAR_UNSAFE_CONTENT",
            f"The body contains HTML ({shown}); notifications take Markdown only.",
        )
    for match in _LINK.finditer(outside_code):
        url = match.group(2)
        if not url.lower().startswith(SAFE_SCHEMES):
            raise UnsafeContent(
                "TUMAR_UNSAFE_CONTENT",
                f"The link {url[:60]} is not allowed: links must start with https://, "
                "http:// or mailto:.",
            )
    out = _blocks(source)
    if len(out) > MAX_HTML_CHARS:
        raise UnsafeContent("M_TOO_LARGE", "The body is too long once formatted.")
    return Rendered(text=source.strip(), html=out)


def _inline(text: str) -> str:
    """Escape everything, then add the inline tags. Code spans are cut out first so that
    nothing inside them is interpreted."""
    parts: list[str] = []
    last = 0
    for m in _CODE.finditer(text):
        parts.append(_spans(text[last : m.start()]))
        parts.append(f"<code>{html.escape(m.group(1))}</code>")
        last = m.end()
    parts.append(_spans(text[last:]))
    return "".join(parts)


def _spans(text: str) -> str:
    links: list[str] = []

    def keep_link(m: re.Match[str]) -> str:
        label = _emphasis(html.escape(m.group(1)))
        href = html.escape(m.group(2), quote=True)
        links.append(f'<a href="{href}">{label}</a>')
        return f"\x00{len(links) - 1}\x00"

    text = _LINK.sub(keep_link, text)
    escaped = _emphasis(html.escape(text))
    return re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], escaped)


def _emphasis(escaped: str) -> str:
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    return _ITALIC.sub(r"<em>\1</em>", escaped)


def _blocks(source: str) -> str:
    out: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_tag = ""

    def flush_paragraph() -> None:
        if paragraph:
            out.append("<p>" + "<br>".join(_inline(line) for line in paragraph) + "</p>")
            paragraph.clear()

    def flush_list() -> None:
        nonlocal list_tag
        if items:
            body = "".join(f"<li>{_inline(i)}</li>" for i in items)
            out.append(f"<{list_tag}>{body}</{list_tag}>")
            items.clear()
        list_tag = ""

    for raw in source.split("\n"):
        line = raw.rstrip()
        heading = _HEADING.match(line)
        bullet = _BULLET.match(line)
        numbered = _NUMBERED.match(line)
        if not line.strip():
            flush_paragraph()
            flush_list()
        elif heading:
            flush_paragraph()
            flush_list()
            level = len(heading.group(1)) + 2  # h3..h5: below the notification's title
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif bullet or numbered:
            flush_paragraph()
            tag = "ul" if bullet else "ol"
            if list_tag and list_tag != tag:
                flush_list()
            list_tag = tag
            items.append((bullet or numbered).group(1))  # type: ignore[union-attr]
        else:
            flush_list()
            paragraph.append(line.strip())
    flush_paragraph()
    flush_list()
    return "".join(out)
