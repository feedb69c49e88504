"""How names and messages are shown: escaped, surrogate-free, every character visible."""

from __future__ import annotations

from pixelmill.report._text import display_text, esc, format_duration, format_number


def test_undecodable_bytes_show_as_hex_escapes_of_the_original_bytes() -> None:
    assert display_text("caf\udce9.jpg") == "caf\\xe9.jpg"


def test_surrogates_that_stand_for_no_byte_show_as_unicode_escapes() -> None:
    assert display_text("a\ud800b") == "a\\ud800b"


def test_control_and_bidi_characters_show_as_escapes() -> None:
    assert display_text("a\nb\tc\x1b[31m\u202egpj.exe") == "a\\nb\\tc\\x1b[31m\\u202egpj.exe"


def test_messages_keep_their_lines_and_tabs() -> None:
    assert display_text("one\n\ttwo\r", keep_lines=True) == "one\n\ttwo\\r"


def test_long_text_is_cut_with_an_ellipsis() -> None:
    assert display_text("abcdefgh", limit=5) == "abcd…"


def test_escaping_covers_tags_ampersands_and_both_quotes() -> None:
    assert esc("<a href='x'>\"&\"</a>") == "&lt;a href=&#x27;x&#x27;&gt;&quot;&amp;&quot;&lt;/a&gt;"


def test_none_shows_as_nothing_and_numbers_as_text() -> None:
    assert display_text(None) == ""
    assert display_text(12) == "12"


def test_durations_read_as_people_say_them() -> None:
    assert [format_duration(s) for s in (0.408, 12.34, 245, 7380, None, -1)] == [
        "0.41 s", "12.3 s", "4 min 05 s", "2 h 03 min", "\u2013", "\u2013",
    ]  # fmt: skip


def test_large_measurements_are_shortened() -> None:
    assert [format_number(v) for v in (152.42, 12_345.0, 4_560_000.0, float("nan"))] == [
        "152.4", "12.3k", "4.56M", "\u2013",
    ]  # fmt: skip
