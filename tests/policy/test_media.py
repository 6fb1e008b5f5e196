"""Media decisions: mxc URIs, the media an event refers to, thumbnail sizes, dispositions."""

from __future__ import annotations

from typing import Any

import pytest

from tumar.policy.media import (
    content_disposition,
    parse_mxc,
    referenced_media,
    thumbnail_size,
    valid_filename,
)

HERE = "tumar.test"


def test_parse_mxc() -> None:
    assert parse_mxc("mxc://tumar.test/abcDEF123_-") == ("tumar.test", "abcDEF123_-")
    assert parse_mxc("mxc://host:8448/x") == ("host:8448", "x")
    for bad in (
        None,
        5,
        "",
        "mxc://",
        "mxc://host",
        "mxc://host/",
        "mxc:///id",
        "http://h/i",
        "mxc://h/a/b",
        "mxc://h/a.b",
        "mxc://h/" + "a" * 256,
    ):
        assert parse_mxc(bad) is None, bad


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"url": "mxc://tumar.test/A"}, {"A"}),
        ({"url": "mxc://elsewhere.example/A"}, set()),
        ({"url": "https://tumar.test/A"}, set()),
        ({"url": 5}, set()),
        (
            {"info": {"thumbnail_url": "mxc://tumar.test/T"}, "url": "mxc://tumar.test/A"},
            {"A", "T"},
        ),
        ({"file": {"url": "mxc://tumar.test/F"}}, {"F"}),
        ({"info": {"thumbnail_file": {"url": "mxc://tumar.test/TF"}}}, {"TF"}),
        ({"info": "not an object", "file": ["x"]}, set()),
        ({"avatar_url": "mxc://tumar.test/AV", "membership": "join"}, {"AV"}),
        (
            {"m.new_content": {"url": "mxc://tumar.test/NEW"}, "url": "mxc://tumar.test/OLD"},
            {"NEW", "OLD"},
        ),
        ({"m.new_content": "x"}, set()),
        ({"body": "mxc://tumar.test/IN_TEXT"}, set()),
    ],
)
def test_referenced_media(content: dict[str, Any], expected: set[str]) -> None:
    assert referenced_media(content, HERE) == expected


@pytest.mark.parametrize(
    ("asked", "made"),
    [
        ((1, 1), (32, 32)),
        ((32, 32), (32, 32)),
        ((33, 10), (96, 96)),
        ((100, 50), (320, 240)),
        ((320, 241), (640, 480)),
        ((801, 1), (800, 600)),
        ((10_000, 10_000), (800, 600)),
    ],
)
def test_thumbnail_size(asked: tuple[int, int], made: tuple[int, int]) -> None:
    assert thumbnail_size(*asked) == made


def test_valid_filename() -> None:
    assert valid_filename("report 2024 (final).pdf")
    assert valid_filename("Отчёт.pdf")
    for bad in ("", "a/b", "a\\b", "a\x00b", "tab\there", "x" * 256):
        assert not valid_filename(bad), bad


def test_content_disposition() -> None:
    assert content_disposition("image/png", None) == "inline"
    assert content_disposition("image/PNG; x=y", "a.png") == 'inline; filename="a.png"'
    assert content_disposition("text/html", "a.html") == 'attachment; filename="a.html"'
    assert content_disposition("image/svg+xml", None) == "attachment"
    assert content_disposition("application/pdf", 'say "hi".pdf') == (
        "attachment; filename*=utf-8''say%20%22hi%22.pdf"
    )
    assert content_disposition("application/pdf", "x.pdf", inline=True).startswith("inline")
