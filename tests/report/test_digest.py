"""The one-pass digest: bounded keepers and fixed bins."""

from __future__ import annotations

from functools import partial

from pixelmill.report._digest import OTHER_REASONS, Distribution, Lowest, digest_records
from tests.report._records import problem_record


def test_lowest_keeps_the_lowest_keys_whatever_the_order_offered() -> None:
    lowest: Lowest[str] = Lowest(3)
    for key in (5, 1, 9, 0, 7, 2):
        lowest.offer(key, partial("item {}".format, key))

    assert lowest.sorted() == ["item 0", "item 1", "item 2"]
    assert lowest.offered == 6


def test_lowest_builds_only_the_entries_it_keeps() -> None:
    built: list[int] = []
    lowest: Lowest[int] = Lowest(2)

    def make(key: int) -> int:
        built.append(key)
        return key

    for key in range(10):
        lowest.offer(key, partial(make, key))

    assert built == [0, 1]


def test_a_limit_of_zero_keeps_nothing_but_still_counts() -> None:
    lowest: Lowest[int] = Lowest(0)
    lowest.offer(1, lambda: 1)

    assert lowest.sorted() == []
    assert lowest.offered == 1


def test_values_outside_the_bins_count_in_the_end_bins_with_their_exact_range() -> None:
    distribution = Distribution.linear(0, 256, 32)
    for value in (-5.0, 0.0, 100.0, 255.9, 300.0):
        distribution.add(value)

    assert distribution.counts[0] == 2
    assert distribution.counts[-1] == 2
    assert (distribution.low, distribution.high, distribution.n) == (-5.0, 300.0, 5)
    assert distribution.mean == 130.18


def test_log_bins_put_each_decade_in_its_own_bins() -> None:
    distribution = Distribution.decades(-1, 6, 4)
    for value in (0.0, 0.5, 10.0, 99.0, 1e7):
        distribution.add(value)

    assert len(distribution.counts) == 28
    assert distribution.counts[0] == 1  # 0 counts in the lowest bin
    assert distribution.counts[2] == 1  # 0.5 lies in 10**-0.5 .. 10**-0.25
    assert distribution.counts[8] == 1  # 10 opens the second decade
    assert distribution.counts[11] == 1
    assert distribution.counts[-1] == 1


def test_reasons_past_the_limit_share_one_group() -> None:
    records = [problem_record(i, reason=f"input.kind{i}") for i in range(5)]
    digest = digest_records(records, gallery_limit=0, files_per_reason=1, max_reasons=3)

    assert set(digest.reasons) == {"input.kind0", "input.kind1", "input.kind2", OTHER_REASONS}
    assert digest.reasons[OTHER_REASONS].count == 2
    assert digest.problems == 5
