"""Content fingerprints: normalisation tables, then properties. A fingerprint survives layout
(whitespace, case, punctuation, markup, look-alike letters) and small edits, and unrelated text
does not match."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tumar.policy.fingerprint import (
    GRAM,
    WINDOW,
    fingerprint_texts,
    fingerprints,
    gram_hashes,
    html_text,
    message_texts,
    normalise,
    similarity,
    winnow,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
MIN = 40

MEMO = (
    "The ministry will transfer the reserve fund of 4.2 billion tenge to the regional "
    "administrations on 14 March; the list of recipients stays confidential until the "
    "decree is signed by the deputy prime minister."
)


def fp(text: str, key: bytes = KEY) -> frozenset[int]:
    return fingerprints(text, key, min_chars=MIN)


# ---- tables ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "helloworld"),
        ("  spaced\tout\n\nlines  ", "spacedoutlines"),
        ("ÉCOLE école", "écoleécole"),
        ("ﬁnance ①", "finance1"),  # NFKC: ligature and circled digit
        ("Straße", "strasse"),  # case folding, not just lower()
        ("Министерство финансов", "mиhиctepctboфиhahcob"),
        ("Pаypаl", "paypal"),  # Cyrillic а looks like Latin a
        ("Қаржы министрлігі 2024", "қapжыmиhиctpлiгi2024"),
        ("<b>not</b> html here", "bnotbhtmlhere"),  # plain body: tags are just punctuation
        ("", ""),
        ("...!!! ---", ""),
    ],
)
def test_normalise(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("formatted", "expected"),
    [
        ("<p>Hello <b>world</b></p>", " Hello  world  "),
        ("a &amp; b &lt;c&gt;", "a & b <c>"),
        ('<a href="https://x">link</a>', " link "),
        ("<mx-reply><blockquote>quoted</blockquote></mx-reply>reply", "  quoted  reply"),
    ],
)
def test_html_text(formatted: str, expected: str) -> None:
    assert html_text(formatted) == expected


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ({"msgtype": "m.text", "body": "plain"}, ["plain"]),
        ({"body": "b", "formatted_body": "<i>f</i>"}, ["b", " f "]),
        (
            {"body": "* new", "m.new_content": {"body": "new", "formatted_body": "<b>new</b>"}},
            ["* new", "new", " new "],
        ),
        ({"body": 5, "formatted_body": None, "m.new_content": "x"}, []),
        ({"url": "mxc://tumar.test/abc"}, []),
        ({"body": ""}, []),
    ],
)
def test_message_texts(content: dict[str, object], expected: list[str]) -> None:
    assert message_texts(content) == expected


@pytest.mark.parametrize(
    ("text", "fingerprinted"),
    [
        ("short", False),
        ("a" * (MIN - 1), False),
        ("a b c " * 20, True),  # 60 letters
        ("!!! " * 100, False),  # long, but no letters or digits
        (MEMO, True),
    ],
)
def test_minimum_length(text: str, fingerprinted: bool) -> None:
    assert bool(fp(text)) is fingerprinted


@pytest.mark.parametrize(
    ("hashes", "window", "expected"),
    [
        ([], 4, set()),
        ([5, 3, 9], 4, {3}),  # shorter than a window: its minimum
        ([5, 3, 9, 7, 8, 1], 3, {3, 7, 1}),
        ([1, 1, 1, 1], 2, {1}),
    ],
)
def test_winnow(hashes: list[int], window: int, expected: set[int]) -> None:
    assert winnow(hashes, window) == expected


def test_fingerprints_are_signed_64_bit_and_keyed() -> None:
    hashes = gram_hashes(normalise(MEMO), KEY)
    assert len(hashes) == len(normalise(MEMO)) - GRAM + 1
    assert all(-(2**63) <= h < 2**63 for h in hashes)
    assert fp(MEMO).isdisjoint(fp(MEMO, OTHER_KEY))  # another server's index tells nothing


def test_density_follows_the_window() -> None:
    grams = len(normalise(MEMO)) - GRAM + 1
    density = len(fp(MEMO)) / grams
    assert 1 / WINDOW <= density <= 3 / (WINDOW + 1)


@pytest.mark.parametrize(
    ("variant", "at_least"),
    [
        (MEMO, 1.0),
        (MEMO.upper(), 1.0),
        ("  ".join(MEMO.split()), 1.0),
        (MEMO.replace(" ", "\n").replace(";", ",").replace(".", "!"), 1.0),
        (MEMO.replace("a", "а"), 1.0),  # Cyrillic а for Latin a
        (MEMO.replace("reserve", "reserv"), 0.6),  # one typo
        (MEMO.replace("14 March", "15 March").replace("4.2", "4.3"), 0.6),
        (MEMO[: len(MEMO) // 2], 0.8),  # the first half, quoted alone
        (f"FYI, see below:\n> {MEMO}\nThanks", 0.7),  # quoted inside a reply
    ],
)
def test_variants_match(variant: str, at_least: float) -> None:
    assert similarity(fp(variant), fp(MEMO)) >= at_least


@pytest.mark.parametrize(
    "unrelated",
    [
        "Lunch is at one o'clock in the canteen on the second floor, see you all there.",
        "Please remember to update your passwords before the end of the quarter, thanks.",
        "The regional football tournament starts next week; sign up with the sports office.",
    ],
)
def test_unrelated_text_does_not_match(unrelated: str) -> None:
    assert similarity(fp(unrelated), fp(MEMO)) < 0.2


def test_similarity_edges() -> None:
    assert similarity(frozenset(), {1, 2}) == 0.0
    assert similarity({1, 2, 3, 4}, [1, 2, 9]) == 0.5
    assert fingerprint_texts([MEMO, MEMO.upper(), "short"], KEY, min_chars=MIN) == fp(MEMO)


# ---- properties -----------------------------------------------------------------------------

WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyzабвгдеқңө0123456789", min_size=2, max_size=10)
TEXTS = st.lists(WORDS, min_size=25, max_size=80).map(" ".join)
GLUE = st.sampled_from([" ", "  ", "\n", "\t", ", ", ". ", " - ", "; ", "!\n"])


@given(words=st.lists(WORDS, min_size=25, max_size=80), glue=st.lists(GLUE, min_size=1))
def test_property_layout_never_matters(words: list[str], glue: list[str]) -> None:
    text = " ".join(words)
    relaid = "".join(w + glue[i % len(glue)] for i, w in enumerate(words))
    assume(fp(text))
    assert fp(relaid.upper()) == fp(text)
    assert fp(relaid.title()) == fp(text)


@given(text=TEXTS, seed=st.integers(0, 2**32), edits=st.integers(1, 3))
@settings(suppress_health_check=[HealthCheck.too_slow])
def test_property_small_edits_still_match(text: str, seed: int, edits: int) -> None:
    """Up to three single-character edits in a text of at least 200 letters and digits keep
    more than half of its fingerprints (each edit touches at most GRAM grams)."""
    assume(len(normalise(text)) >= 200)
    rnd = random.Random(seed)
    chars = list(text)
    for _ in range(edits):
        i = rnd.randrange(len(chars))
        op = rnd.choice(("replace", "delete", "insert"))
        if op == "replace":
            chars[i] = "x"
        elif op == "delete":
            del chars[i]
        else:
            chars.insert(i, "z")
    assert similarity(fp("".join(chars)), fp(text)) >= 0.5


@given(a=TEXTS, b=TEXTS)
def test_property_unrelated_texts_do_not_match(a: str, b: str) -> None:
    """Two texts of random words share no passage, so at most a stray fingerprint or two."""
    fa, fb = fp(a), fp(b)
    assume(fa and fb and len(normalise(a)) >= 100)
    assume(not set(a.split()) & set(b.split()))
    assert similarity(fa, fb) < 0.2


@given(text=TEXTS, start=st.floats(0, 0.3), length=st.floats(0.6, 0.7))
def test_property_a_quoted_part_matches_the_source(text: str, start: float, length: float) -> None:
    norm_len = len(text)
    part = text[int(norm_len * start) : int(norm_len * (start + length))]
    assume(len(normalise(part)) >= 100)
    assert similarity(fp(part), fp(text)) >= 0.7
