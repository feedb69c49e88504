from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pixelmill.messages.jobs import ItemStatus
from pixelmill.store import ItemRow, JobStore

outcomes = st.lists(st.tuples(st.integers(0, 7), st.sampled_from(list(ItemStatus))), max_size=40)


@settings(max_examples=60, deadline=None)
@given(outcomes=outcomes, batch_size=st.integers(1, 6))
def test_any_sequence_of_outcomes_leaves_one_row_per_index_with_the_last_status(
    outcomes: list[tuple[int, ItemStatus]], batch_size: int
) -> None:
    last = {index: status for index, status in outcomes}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "jobs.sqlite3"
        with JobStore(path, batch_size=batch_size, batch_interval_s=3600) as store:
            for index, status in outcomes:
                row = ItemRow(job_id="job1", index=index, path=f"/in/{index}", status=status)
                store.record_item(row)

        with JobStore(path, readonly=True) as reader:
            rows = [(item.index, item.status) for item in reader.items("job1")]

    assert rows == sorted(last.items())
