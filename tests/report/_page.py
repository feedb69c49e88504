"""A strict reading of a rendered report: every tag closed in order, and what it holds."""

from __future__ import annotations

from collections import Counter
from html.parser import HTMLParser

_VOID = frozenset({"meta", "img", "br", "hr", "input", "link", "source", "wbr"})


class PageReader(HTMLParser):
    """Parses a page and records nesting errors, tag counts and every element's attributes.

    `html.parser` itself never fails on bad markup, so the nesting is checked
    here: a close tag must close the innermost open element.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.errors: list[str] = []
        self.tags: Counter[str] = Counter()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._record(tag, attrs)
        if tag not in _VOID:
            self._open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._record(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1] != tag:
            self.errors.append(f"</{tag}> closes {self._open[-1:] or 'nothing'}")
            return
        self._open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def _record(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        self.elements.append((tag, dict(attrs)))

    def close(self) -> None:
        super().close()
        if self._open:
            self.errors.append(f"never closed: {self._open}")

    def with_tag(self, tag: str) -> list[dict[str, str | None]]:
        """The attributes of every `tag` element, in page order."""
        return [attrs for name, attrs in self.elements if name == tag]

    def with_class(self, css: str) -> list[tuple[str, dict[str, str | None]]]:
        """Every element whose class list holds `css`."""
        return [(n, a) for n, a in self.elements if css in (a.get("class") or "").split()]


def read_page(page: str) -> PageReader:
    """The page read strictly; the caller asserts `reader.errors == []`."""
    reader = PageReader()
    reader.feed(page)
    reader.close()
    return reader
