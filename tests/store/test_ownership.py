"""Who runs a job: owners' liveness, claiming a job, and pruning by last sign of life."""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import psutil
import pytest

from pixelmill.errors import BusyJobError, ConfigError
from pixelmill.messages.jobs import ItemStatus
from pixelmill.store import INTERRUPTED, JobStore, Owner, RunRow
from pixelmill.store._owner import STALE_AFTER_S
from pixelmill.testing import wait_until
from tests.store._records import OWNER, dead_owner, record_done, record_job, record_state

if TYPE_CHECKING:
    from pathlib import Path

ELSEWHERE = "elsewhere.invalid"
"""A host name that is not this one's."""


def _status(store: JobStore, job_id: str = "job1") -> str:
    row = store.job(job_id)
    assert row is not None
    [listed] = [row.status for row in store.jobs() if row.job_id == job_id]
    assert listed == row.status
    return row.status


def _remote(host: str = ELSEWHERE) -> Owner:
    return dataclasses.replace(OWNER, host=host, pid=1, token="remote")


# -- liveness ---------------------------------------------------------------


def test_a_job_owned_by_this_process_reads_running(store: JobStore) -> None:
    record_job(store)

    assert _status(store) == "running"


def test_a_job_whose_owner_exited_reads_interrupted(store: JobStore) -> None:
    owner = dead_owner()
    record_job(store, owner=owner)

    assert _status(store) == INTERRUPTED
    row = store.job("job1")
    assert row is not None
    assert row.owner == owner


def test_a_job_whose_owner_exited_but_is_not_reaped_reads_interrupted(store: JobStore) -> None:
    # A zombie keeps its pid and start time until its parent waits for it.
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        zombie = psutil.Process(process.pid)
        owner = Owner(host=socket.gethostname(), pid=process.pid,
                      started=zombie.create_time(), token="zombie")
        deadline = time.monotonic() + 30
        while zombie.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
            time.sleep(0.01)
        assert zombie.status() == psutil.STATUS_ZOMBIE
        record_job(store, owner=owner)

        assert _status(store) == INTERRUPTED
    finally:
        process.wait(30)


def test_a_reused_pid_is_not_the_owner(store: JobStore) -> None:
    # This process's pid, but the owner's process started an hour earlier.
    record_job(store, owner=dataclasses.replace(OWNER, started=OWNER.started - 3600))

    assert _status(store) == INTERRUPTED


def test_a_job_owned_on_another_host_lives_as_long_as_its_heartbeat(store: JobStore) -> None:
    record_job(store, "fresh", owner=_remote())
    record_job(store, "stale", owner=_remote())
    record_job(store, "silent", owner=_remote())
    store.heartbeat(["fresh"], at=time.time() - STALE_AFTER_S / 2)
    store.heartbeat(["stale"], at=time.time() - STALE_AFTER_S - 5)
    store.heartbeat(["silent"], at=0.0)

    assert _status(store, "fresh") == "running"
    assert _status(store, "stale") == INTERRUPTED
    assert _status(store, "silent") == INTERRUPTED


def test_a_remote_owner_is_judged_by_its_heartbeat_at_the_given_time() -> None:
    owner = _remote()

    assert owner.alive(1000.0, now=1000.0 + STALE_AFTER_S - 1)
    assert not owner.alive(1000.0, now=1000.0 + STALE_AFTER_S)
    assert not owner.alive(None, now=1000.0)


def test_a_local_owner_is_judged_by_its_process_whatever_its_heartbeat() -> None:
    assert OWNER.alive(None)
    assert OWNER.alive(0.0, now=1e12)
    assert not dead_owner().alive(time.time())


def test_a_heartbeat_leaves_a_finished_job_alone(store: JobStore) -> None:
    record_job(store)
    store.finish_job("job1", status="completed", counts={}, finished_at=2000.0)
    before = store.job("job1")

    store.heartbeat(["job1"], at=3000.0)

    assert store.job("job1") == before


def test_an_owner_describes_its_process_and_host() -> None:
    text = OWNER.describe()

    assert text.startswith(f"process {os.getpid()} on {socket.gethostname()} (started ")


# -- claim ------------------------------------------------------------------


def test_claiming_a_job_a_live_owner_runs_is_refused_naming_it(store: JobStore) -> None:
    record_job(store)

    with pytest.raises(BusyJobError, match=rf"process {os.getpid()} on {socket.gethostname()}"):
        store.claim("job1", Owner.of_this_process())

    row = store.job("job1")
    assert row is not None
    assert (row.status, row.owner, row.runs) == ("running", OWNER, 1)


def test_claiming_a_job_run_on_another_host_with_a_fresh_heartbeat_is_refused(
    store: JobStore,
) -> None:
    record_job(store, owner=_remote())

    with pytest.raises(BusyJobError, match=f"on {ELSEWHERE}") as caught:
        store.claim("job1", OWNER)

    assert caught.value.reason == "job.busy"
    assert isinstance(caught.value, ConfigError)


def test_claiming_a_job_whose_owner_died_takes_it_over(store: JobStore) -> None:
    gone = dead_owner()
    record_job(store, owner=gone)
    record_done(store, "job1", 0)

    before = store.claim("job", OWNER)

    assert (before.job_id, before.status, before.owner, before.runs) == (
        "job1", INTERRUPTED, gone, 1,
    )
    after = store.job("job1")
    assert after is not None
    assert (after.status, after.owner, after.runs) == ("running", OWNER, 2)
    assert before.heartbeat_at is not None
    assert after.heartbeat_at is not None
    assert after.heartbeat_at >= before.heartbeat_at
    assert [item.index for item in store.items("job1")] == [0]


def test_claiming_a_job_marked_interrupted_takes_it_over(store: JobStore) -> None:
    record_job(store)
    store.mark_interrupted("job1")
    other = Owner.of_this_process()

    store.claim("job1", other)

    row = store.job("job1")
    assert row is not None
    assert (row.status, row.owner, row.runs) == ("running", other, 2)


def test_the_owner_itself_may_claim_its_job_again(store: JobStore) -> None:
    record_job(store)

    before = store.claim("job1", OWNER)

    assert (before.status, before.runs) == ("running", 1)
    row = store.job("job1")
    assert row is not None
    assert (row.status, row.owner, row.runs) == ("running", OWNER, 2)


def test_a_resume_starts_a_new_run_and_the_same_runtime_taking_its_job_up_goes_on(
    store: JobStore,
) -> None:
    store.record_job("job1", name="n", priority=2, spec={}, created_at=1.0, owner=dead_owner())
    first = store.job("job1")
    assert first is not None and first.run_started_at is not None
    time.sleep(0.01)

    store.claim("job1", OWNER)  # a resume, by another runtime
    resumed = store.job("job1")
    assert resumed is not None and resumed.run_started_at is not None
    assert resumed.run_started_at > first.run_started_at
    store.claim("job1", OWNER)  # this runtime's JobManager taking it up again

    again = store.job("job1")
    assert again is not None
    assert (again.run_started_at, again.runs) == (resumed.run_started_at, 3)


def test_claiming_an_unknown_job_is_a_config_error(store: JobStore) -> None:
    with pytest.raises(ConfigError, match="no job 'nope'") as caught:
        store.claim("nope", OWNER)

    assert not isinstance(caught.value, BusyJobError)


_CLAIMER = """
import json, sys, time
from pathlib import Path
from pixelmill.errors import BusyJobError
from pixelmill.store import JobStore, Owner

store_path, ready, go, result, done = map(Path, sys.argv[1:])
owner = Owner.of_this_process()
with JobStore(store_path) as store:
    ready.touch()
    deadline = time.monotonic() + 60
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    try:
        store.claim("job1", owner)
        outcome = {"claimed": True, "message": None}
    except BusyJobError as exc:
        outcome = {"claimed": False, "message": str(exc)}
    result.write_text(json.dumps({**outcome, "pid": owner.pid, "token": owner.token}))
# The winner stays alive until the test has both answers: a dead winner's
# claim would read as interrupted and let the loser take the job too.
deadline = time.monotonic() + 60
while not done.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
"""


def _wait_for(paths: list[Path], processes: list[subprocess.Popen[bytes]]) -> None:
    def arrived() -> bool:
        failed = [process.returncode for process in processes if process.poll()]
        assert not failed, f"a claimer exited early with {failed}"
        return all(path.exists() for path in paths)

    wait_until(arrived, 60, f"the claimers' {[path.name for path in paths]}")


def test_two_processes_claiming_a_dead_owners_job_at_once_one_gets_it(
    store_path: Path, tmp_path: Path
) -> None:
    with JobStore(store_path) as store:
        record_job(store, owner=dead_owner())
    go, done = tmp_path / "go", tmp_path / "done"
    ready = [tmp_path / f"ready{n}" for n in range(2)]
    results = [tmp_path / f"result{n}.json" for n in range(2)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CLAIMER, str(store_path), str(ready[n]), str(go),
             str(results[n]), str(done)],
            stderr=subprocess.PIPE,
        )
        for n in range(2)
    ]
    try:
        _wait_for(ready, processes)
        # Both poll for this file every millisecond, their stores already open.
        go.touch()
        _wait_for(results, processes)
        answers = [json.loads(path.read_text()) for path in results]
        with JobStore(store_path, readonly=True) as reader:
            row = reader.job("job1")
    finally:
        done.touch()
        for process in processes:
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr.decode()

    [winner] = [answer for answer in answers if answer["claimed"]]
    [loser] = [answer for answer in answers if not answer["claimed"]]
    assert f"process {winner['pid']} on {socket.gethostname()}" in loser["message"]
    assert row is not None
    assert row.status == "running"
    assert row.owner is not None
    assert (row.owner.token, row.owner.pid, row.runs) == (winner["token"], winner["pid"], 2)


# -- prune ------------------------------------------------------------------

_DAY = 86_400.0
_NOW = 100 * _DAY


def _record_with_work(store: JobStore, job_id: str, owner: Owner, last_seen: float) -> None:
    """A job with an item, one failed run and one running, last heartbeat at `last_seen`."""
    record_job(store, job_id, created_at=last_seen - _DAY, owner=owner)
    record_done(store, job_id, 0)
    record_state(store, job_id, 1, ItemStatus.RUNNING)
    for run in (1, 2):
        store.record_run(RunRow(job_id=job_id, index=0, run=run, attempt=run, job_run=1,
                                started_at=last_seen - 10))
    store.heartbeat([job_id], at=last_seen)


def test_prune_deletes_an_old_interrupted_job_with_its_items_and_runs(store: JobStore) -> None:
    _record_with_work(store, "died", dead_owner(), last_seen=_NOW - 10 * _DAY)
    _record_with_work(store, "stopped", OWNER, last_seen=_NOW - 10 * _DAY)
    store.mark_interrupted("stopped")
    _record_with_work(store, "kept", dead_owner(), last_seen=_NOW - 1 * _DAY)

    pruned = store.prune(older_than_days=5, now=_NOW)

    assert pruned == 2
    assert [row.job_id for row in store.jobs()] == ["kept"]
    for job_id in ("died", "stopped"):
        assert list(store.items(job_id)) == []
        assert store.runs(job_id, 0) == []
    assert [item.index for item in store.items("kept")] == [0, 1]
    assert len(store.runs("kept", 0)) == 2


def test_prune_keeps_an_interrupted_job_seen_after_the_cutoff(store: JobStore) -> None:
    # Created long ago, but its heartbeat is what counts.
    record_job(store, "recent", created_at=0.0, owner=dead_owner())
    store.heartbeat(["recent"], at=_NOW - 4 * _DAY)

    assert store.prune(older_than_days=5, now=_NOW) == 0
    assert _status(store, "recent") == INTERRUPTED


def test_prune_never_deletes_a_job_whose_owner_is_alive(store: JobStore) -> None:
    _record_with_work(store, "local", OWNER, last_seen=_NOW - 50 * _DAY)
    record_job(store, "remote", created_at=0.0, owner=_remote())

    assert store.prune(older_than_days=5, now=_NOW) == 0
    assert store.prune(older_than_days=0, now=time.time() + 365 * _DAY) == 0
    assert sorted(row.job_id for row in store.jobs()) == ["local", "remote"]
    assert [item.index for item in store.items("local")] == [0, 1]
