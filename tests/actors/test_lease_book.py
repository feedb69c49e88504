"""A job's lease book on its own: which items each lease covers, and when it is free."""

from __future__ import annotations

from pathlib import Path

from pixelmill.actors._inputs import Input
from pixelmill.actors._lease_book import LeaseBook
from pixelmill.actors.job_lifecycle import Item


def _items(*indices: int) -> list[Item]:
    return [Item(index=i, input=Input(path=Path(f"/in/{i}.png"), stem=str(i), rel_dir=""))
            for i in indices]


def test_each_lease_gets_a_new_id_and_each_item_learns_it() -> None:
    book = LeaseBook("job/2")
    first, second = _items(0), _items(1, 2)

    one, two = book.open(first), book.open(second)

    assert (one, two) == ("job/2/1", "job/2/2")
    assert [item.lease for item in [*first, *second]] == [one, two, two]
    assert book.covered(two) == {1, 2}
    assert sorted(lease for lease, _ in book) == [one, two]


def test_a_batch_lease_is_free_once_its_last_item_no_longer_needs_it() -> None:
    book = LeaseBook("job/1")
    a, b, c = _items(0, 1, 2)
    lease = book.open([a, b, c])

    assert book.drop(b) is None
    assert book.drop(a) is None
    assert book.covered(lease) == {2}
    assert book.drop(c) == lease
    assert book.covered(lease) is None
    assert len(book) == 0
    assert c.lease == ""


def test_dropping_an_item_twice_or_without_a_lease_frees_nothing() -> None:
    book = LeaseBook("job/1")
    (a,) = _items(0)
    lease = book.open([a])
    assert book.drop(a) == lease
    assert book.drop(a) is None
