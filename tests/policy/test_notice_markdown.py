"""The Markdown subset of notification bodies: what renders, and what is refused."""

from __future__ import annotations

import re

import pytest

from tumar.policy.notice_markdown import (
    MAX_BODY_CHARS,
    UnsafeContent,
    check_title,
    render,
)

RENDERS = [
    ("Hello", "<p>Hello</p>"),
    ("line one\nline two", "<p>line one<br>line two</p>"),
    ("one\n\ntwo", "<p>one</p><p>two</p>"),
    ("**bold** and *it* and _it_", "<p><strong>bold</strong> and <em>it</em> and <em>it</em></p>"),
    ("a `<b>` code", "<p>a <code>&lt;b&gt;</code> code</p>"),
    ("# Title", "<h3>Title</h3>"),
    ("### Small", "<h5>Small</h5>"),
    ("- a\n- b", "<ul><li>a</li><li>b</li></ul>"),
    ("1. a\n2. b", "<ol><li>a</li><li>b</li></ol>"),
    ("see [site](https://gov.kz/a?b=1&c=2)",
     '<p>see <a href="https://gov.kz/a?b=1&amp;c=2">site</a></p>'),
    ("[mail](mailto:x@gov.kz)", '<p><a href="mailto:x@gov.kz">mail</a></p>'),
    ("5 > 3 & 2 < 4", "<p>5 &gt; 3 &amp; 2 &lt; 4</p>"),
    ('quote " and \' marks', "<p>quote &quot; and &#x27; marks</p>"),
    ("snake_case_name stays", "<p>snake_case_name stays</p>"),
    ("Сәлем, **әлем**", "<p>Сәлем, <strong>әлем</strong></p>"),
]  # fmt: skip


@pytest.mark.parametrize(("source", "html"), RENDERS)
def test_renders(source: str, html: str) -> None:
    assert render(source).html == html


REFUSED = [
    ("<script>alert(1)</script>", "TUMAR_UNSAFE_CONTENT"),
    ("hi <b onclick=alert(1)>x</b>", "TUMAR_UNSAFE_CONTENT"),
    ("<img src=x onerror=alert(1)>", "TUMAR_UNSAFE_CONTENT"),
    ("<!-- comment -->", "TUMAR_UNSAFE_CONTENT"),
    ("</p>", "TUMAR_UNSAFE_CONTENT"),
    ("[x](javascript:alert(1))", "TUMAR_UNSAFE_CONTENT"),
    ("[x](JAVASCRIPT:alert(1))", "TUMAR_UNSAFE_CONTENT"),
    ("[x](data:text/html;base64,PHNjcmlwdD4=)", "TUMAR_UNSAFE_CONTENT"),
    ("[x](vbscript:msgbox)", "TUMAR_UNSAFE_CONTENT"),
    ("[x](//evil.example/)", "TUMAR_UNSAFE_CONTENT"),
    ("", "M_INVALID_PARAM"),
    ("   \n ", "M_INVALID_PARAM"),
    ("a\x00b", "M_INVALID_PARAM"),
    ("x" * (MAX_BODY_CHARS + 1), "M_TOO_LARGE"),
]


@pytest.mark.parametrize(("source", "errcode"), REFUSED)
def test_refused(source: str, errcode: str) -> None:
    with pytest.raises(UnsafeContent) as err:
        render(source)
    assert err.value.errcode == errcode
    assert err.value.reason


# Whatever the input that is accepted, the output holds only the tags and attributes this
# module writes, and every href is one of the allowed schemes.
ALLOWED_TAG = re.compile(r"</?(p|br|strong|em|code|h3|h4|h5|ul|ol|li|a)( href=\"[^\"]*\")?>")
TRICKY = [
    "**<** not a tag",
    "a < b > c",
    '[**x**](https://a.b/"onmouseover="alert(1))',
    "`[x](javascript:alert(1))`",
    "*_**__nested__**_*",
    "# [h](https://a)",
    "- [x](https://a'b)",
    "&lt;script&gt;",
    "\u202eevil",
    "< script>alert(1)< /script>",
]


@pytest.mark.parametrize("source", TRICKY)
def test_output_has_only_known_tags(source: str) -> None:
    html = render(source).html
    leftover = ALLOWED_TAG.sub("", html)
    assert "<" not in leftover and ">" not in leftover, html
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith(("https://", "http://", "mailto:"))
        assert '"' not in href


def test_title() -> None:
    assert check_title("  Fire   drill ") == "Fire drill"
    for bad, code in (("", "M_INVALID_PARAM"), ("t" * 201, "M_TOO_LARGE"),
                      ("<b>x</b>", "TUMAR_UNSAFE_CONTENT")):  # fmt: skip
        with pytest.raises(UnsafeContent) as err:
            check_title(bad)
        assert err.value.errcode == code


def test_size_limit_is_configurable() -> None:
    assert render("x" * 200, max_chars=200).text == "x" * 200
    with pytest.raises(UnsafeContent):
        render("x" * 201, max_chars=200)
