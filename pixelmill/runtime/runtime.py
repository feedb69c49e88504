"""`Runtime`: the façade a host embeds; it starts, feeds and stops the actors."""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from typing import TYPE_CHECKING, Any, Self

import psutil
import pykka

from pixelmill.actors.base import ActorContext, Role
from pixelmill.actors.exporter import Exporter
from pixelmill.actors.guardian import Guardian
from pixelmill.actors.job_manager import JobManager
from pixelmill.actors.journal import stored_order
from pixelmill.actors.monitor import Monitor
from pixelmill.actors.processor import DEPTH
from pixelmill.actors.processor_pool import ProcessorPool
from pixelmill.actors.resource_manager import ResourceManager
from pixelmill.actors.supervisor import Supervisor
from pixelmill.actors.thresholds import thresholds_at
from pixelmill.actors.timer import Timer
from pixelmill.errors import (
    BusyJobError,
    BusyRuntimeError,
    ClosedRuntimeError,
    ConfigError,
    InjectedCrashError,
    PixelmillError,
)
from pixelmill.imaging.save import translate_write_error
from pixelmill.messages import (
    Budget,
    CancelJob,
    GetActor,
    GetBudget,
    GetMetrics,
    JobRefused,
    JobStatus,
    Metrics,
    Sample,
    SubmitJob,
    Subscribe,
    SupervisorExited,
    ThresholdCleared,
    ThresholdCrossed,
    Watch,
)
from pixelmill.runtime._main_guard import refuse_unguarded_main
from pixelmill.runtime._ray_backend import join_ray, ray_available_mb
from pixelmill.runtime.config import RuntimeConfig
from pixelmill.runtime.handle import JobEvent, JobHandle, JobResult
from pixelmill.runtime.log_writer import make_logger
from pixelmill.runtime.relay import HandleTable, Relay
from pixelmill.runtime.spec import JobSpec, new_job_id
from pixelmill.runtime.statistics import EventTally, RestartTally, RuntimeStatistics
from pixelmill.store import STORE_FILE, JobRow, JobStore, Owner, state_dir

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType

    from pixelmill.messages import JobOrder

__all__ = ["Runtime"]


_RETRY_EVERY_S = 0.05
"""How often the façade asks again an actor that died under its question."""
_PASSING = (pykka.ActorDeadError, InjectedCrashError)
"""What an ask may meet while an actor is being replaced: worth asking again."""
_STATISTICS_WAIT_S = 0.5
"""How long `statistics()` waits for the budget: a scrape must not hang on a busy actor."""


class Runtime:
    """An embedded pixelmill: a set of actors that run image jobs for the host.

    Use it as a context manager, or call `shutdown()` yourself. Every method
    is safe to call from any host thread. Two Runtimes in one process share
    nothing: each starts, addresses and stops its own actors.

    Args:
        config: the settings; keyword arguments override its fields, e.g.
            `Runtime(workers=2, memory_mb=512, log_file="run.jsonl")`.

    Raises:
        ConfigError: a setting is invalid; the message names it. Or the main
            script starts the Runtime outside `if __name__ == "__main__":`,
            so that every worker process would start it again.
    """

    def __init__(self, config: RuntimeConfig | None = None, **overrides: Any) -> None:
        config = config or RuntimeConfig()
        if overrides:
            config = config.replace(**overrides)
        refuse_unguarded_main(backend=config.backend)
        self.config = config
        self.store_path = state_dir(config.state_dir) / STORE_FILE if config.journal else None
        """The job store this Runtime records its jobs in, or None."""
        self._restarts = RestartTally()
        self._events = EventTally()
        self._log, self._sink = make_logger(
            config.log_file, level=config.log_level, console=config.log_console,
            tally=self._restarts,
        )
        self._timer = Timer()
        self._handles = HandleTable()
        self._lock = threading.Lock()
        self._closed = False
        self._started_ray = False
        if config.backend == "ray":
            config, self._started_ray = join_ray(config, workers_given="workers" in overrides)
            self.config = config
        memory_mb = config.memory_mb or max(256, self._available_mb() // 2)
        self.owner = Owner.of_this_process()
        """Who this Runtime's jobs belong to in the job store: this process, this Runtime."""
        context = ActorContext(log=self._log, timer=self._timer)
        self._relay = Relay.start(context, handles=self._handles, tally=self._events,
                                  jobs_survive_restarts=self.store_path is not None)
        factories: dict[str, Any] = {
            # A CPU slot per piece of work a Processor holds: the running one
            # and the next, queued in its worker.
            Role.RESOURCE_MANAGER: functools.partial(
                ResourceManager.start, memory_mb=memory_mb, cpu_slots=config.workers * DEPTH
            ),
            Role.MONITOR: functools.partial(
                Monitor.start,
                interval_s=config.monitor_interval_s,
                history=config.monitor_history,
                thresholds=thresholds_at(config.thresholds),
            ),
            Role.EXPORTER: functools.partial(Exporter.start, min_free_mb=config.min_free_mb),
            Role.PROCESSOR_POOL: functools.partial(
                ProcessorPool.start, workers=config.workers, settings=config.worker_settings
            ),
            Role.JOB_MANAGER: functools.partial(
                JobManager.start,
                owner=self.owner,
                listener=self._relay,
                window=config.workers * 2,
                admission_control=config.admission_control,
                batch_max=config.batch_items,
                journal=self.store_path,
                cache_enabled=config.cache_enabled,
                cache_max_entries=config.cache_max_entries,
                verify_cache=config.verify_cache,
            ),
        }
        if not config.monitor_enabled:
            del factories[Role.MONITOR]

        def start_supervisor(
            supervisor_context: ActorContext, adopt: SupervisorExited | None
        ) -> pykka.ActorRef[Any]:
            return Supervisor.start(
                supervisor_context,
                factories=factories,
                policy=config.recovery,
                max_restarts=config.max_restarts,
                restart_window_s=config.restart_window_s,
                adopt=adopt,
            )

        try:
            self._guardian = Guardian.start(
                ActorContext(log=self._log, timer=self._timer, faults=config.faults),
                start_supervisor=start_supervisor,
                max_restarts=config.max_restarts,
                restart_window_s=config.restart_window_s,
            )
        except Exception:
            self._relay.stop()
            self._timer.close()
            self._sink.close()
            raise
        self._guardian.tell(Watch(ref=self._relay))
        self._log.info("runtime.started", workers=config.workers, memory_mb=memory_mb)

    def _available_mb(self) -> int:
        if self.config.backend == "ray":
            return ray_available_mb()
        return int(psutil.virtual_memory().available // 2**20)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Leaving by an exception (Ctrl-C included) cancels; leaving normally drains.
        self.shutdown(drain=exc_type is None)

    def submit(
        self,
        spec: JobSpec,
        *,
        on_event: Callable[[JobEvent], None] | None = None,
        timeout: float | None = None,
    ) -> JobHandle:
        """Start a job and return its handle as soon as the job is accepted.

        When `max_jobs` jobs are open, wait for one to end, up to `timeout`
        seconds (None: as long as it takes).

        Args:
            spec: the job.
            on_event: called with each `ItemFinished`, `JobProgress` and
                `JobFinished`, from a runtime thread: keep it short.
            timeout: how long to wait for room among `max_jobs`.

        Raises:
            ConfigError: the spec is invalid; the message names the field or step.
            BusyRuntimeError: still no room after `timeout`.
            ClosedRuntimeError: the runtime was shut down.
        """
        order = spec.to_order(job_id=new_job_id(), max_pixels=self.config.max_pixels,
                              formats=self.config.formats,
                              include_hidden=self.config.include_hidden)
        return self._start(order, on_event=on_event, timeout=timeout, resume=False)

    def resume(
        self,
        job_id: str,
        *,
        on_event: Callable[[JobEvent], None] | None = None,
        timeout: float | None = None,
    ) -> JobHandle:
        """Run an interrupted job again: what it finished is kept, the rest is done.

        Items done, failed or skipped before are not redone; items that were
        running or cancelled are. The export files are written complete again,
        from the store and the new results. `job_id` may be a unique prefix.
        Waits for room among `max_jobs` as `submit` does, up to `timeout`.

        Raises:
            ConfigError: no such job, or it completed, or no job store is kept.
            BusyJobError: another live process runs the job (a `ConfigError`
                whose message names the process).
            BusyRuntimeError: still no room after `timeout`.
        """
        if self.store_path is None:
            raise ConfigError("journal: resuming needs the job store, which is off")
        with JobStore(self.store_path, readonly=True) as store:
            row = store.job(job_id)
        if row is None:
            raise ConfigError(f"no job {job_id!r} in {self.store_path}")
        if row.status == JobStatus.COMPLETED:
            raise ConfigError(f"job {row.job_id} completed; there is nothing to resume")
        order = stored_order(row.spec, job_id=row.job_id)
        return self._start(order, on_event=on_event, timeout=timeout, resume=True)

    def jobs(self, limit: int | None = None) -> list[JobRow]:
        """Past and present jobs from the store, newest first."""
        if self.store_path is None or not self.store_path.exists():
            return []
        with JobStore(self.store_path, readonly=True) as store:
            return store.jobs(limit)

    def _start(
        self,
        order: JobOrder,
        *,
        on_event: Callable[[JobEvent], None] | None,
        timeout: float | None,
        resume: bool,
    ) -> JobHandle:
        job_id = order.job_id
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self._handles.wait_room(self.config.max_jobs, remaining):
                raise BusyRuntimeError(
                    f"the runtime already runs {self.config.max_jobs} jobs (max_jobs); "
                    f"none ended within {timeout:g} s"
                )
            with self._lock:
                handle = self._admit(order, on_event)
            if handle is not None:
                break
        try:
            _make_dirs(order.output_dir, order.export_dir)
            # Asked again after a JobManager restart, the same order is taken once.
            answer = self._ask(
                Role.JOB_MANAGER,
                SubmitJob(order=order, listener=self._relay, resume=resume),
                "submit",
            )
            if isinstance(answer, JobRefused):
                raise BusyJobError(answer.message)
        except BaseException:
            self._handles.pop(job_id)
            raise
        return handle

    def submit_nowait(
        self, spec: JobSpec, *, on_event: Callable[[JobEvent], None] | None = None
    ) -> JobHandle:
        """Like `submit`, but raise `BusyRuntimeError` at once when `max_jobs` are open."""
        return self.submit(spec, on_event=on_event, timeout=0)

    def _admit(
        self, order: JobOrder, on_event: Callable[[JobEvent], None] | None
    ) -> JobHandle | None:
        """Register the job's handle if there is room; called under the runtime's lock."""
        if self._closed:
            raise ClosedRuntimeError("the runtime is shut down; it accepts no more jobs")
        if self._handles.broken is not None:
            raise self._handles.broken
        open_handles = self._handles.open()
        if len(open_handles) >= self.config.max_jobs:
            return None
        if any(h.export_dir == order.export_dir for h in open_handles):
            raise ConfigError(
                f"export_dir: {order.export_dir} is in use by a running job; give each job its own"
            )
        handle = JobHandle(
            order.job_id,
            order.name,
            export_dir=order.export_dir,
            cancel=self._cancel,
            on_event=on_event,
        )
        self._handles.add(handle)
        return handle

    def metrics(self) -> Metrics:
        """The Monitor's latest sample and its bounded history (empty when it is off)."""
        if not self.config.monitor_enabled:
            return Metrics(latest=None, history=(), interval_s=self.config.monitor_interval_s)
        metrics = self._ask(Role.MONITOR, GetMetrics(), "metrics")
        assert isinstance(metrics, Metrics)
        return metrics

    def subscribe(self, callback: Callable[[Sample | ThresholdCrossed | ThresholdCleared], None]
                  ) -> None:
        """Call `callback` with every Monitor sample and threshold event, from a runtime thread.

        Thresholds have hysteresis: `memory` is crossed above 90 % of system
        memory in use and cleared below 80 %; `cpu` likewise at 95/80 %;
        `disk:<dir>` below 500 MiB free in an export dir, cleared above 750.
        `RuntimeConfig.thresholds` (`[monitoring.thresholds]`) moves the levels.
        Under `memory` the ResourceManager halves its budget until it clears.
        """
        if not self.config.monitor_enabled:
            raise ConfigError("monitor_enabled: subscribing needs the Monitor, which is off")
        first = not self._handles.watchers
        self._handles.watchers.append(callback)
        if first:  # and again, by the relay, whenever the Monitor is replaced
            self._tell(Role.MONITOR, Subscribe(ref=self._relay), "subscribe")

    def budget(self) -> Budget:
        """The ResourceManager's budget: memory and CPU slots, held and free."""
        budget = self._ask(Role.RESOURCE_MANAGER, GetBudget(), "budget")
        assert isinstance(budget, Budget)
        return budget

    def statistics(self) -> RuntimeStatistics:
        """What this Runtime has done since it started and what it holds now.

        Safe from any thread and quick: the counts are kept on the host's side
        as events pass; only the budget is asked of the ResourceManager, for
        at most half a second (its fields are None when it does not answer,
        and after shutdown). `pixelmill.metrics` publishes this to Prometheus.
        """
        items, durations, jobs = self._events.read()
        worker_restarts, actor_restarts = self._restarts.read()
        open_handles = self._handles.open()
        queued = running = 0
        for handle in open_handles:
            progress = handle.progress()
            running += progress.running
            queued += max(0, progress.counts.total - progress.counts.finished - progress.running)
        budget = None if self._closed else self._budget_within(_STATISTICS_WAIT_S)
        held: dict[str, int] = {}
        if budget is not None:
            held = {
                "memory_mb": budget.memory_mb,
                "memory_leased_mb": budget.memory_mb - budget.memory_mb_free,
                "cpu_slots": budget.cpu_slots,
                "cpu_slots_leased": budget.cpu_slots - budget.cpu_slots_free,
                "leases_queued": budget.queued,
            }
        return RuntimeStatistics(
            items_finished=items,
            item_durations=durations,
            jobs_running=len(open_handles),
            jobs_finished=jobs,
            items_queued=queued,
            items_running=running,
            **held,
            worker_restarts=worker_restarts,
            actor_restarts=actor_restarts,
            rss_mb=_tree_rss_mb(),
        )

    def _budget_within(self, seconds: float) -> Budget | None:
        deadline = time.monotonic() + seconds
        try:
            budget = self._actor(Role.RESOURCE_MANAGER, deadline).ask(
                GetBudget(), timeout=self._left(deadline)
            )
        except (TimeoutError, pykka.Timeout, PixelmillError, *_PASSING):
            return None  # a statistic missing from one reading, not an error of the host's
        assert isinstance(budget, Budget)
        return budget

    def wait_idle(self, timeout: float | None = None) -> list[JobResult]:
        """Wait for every open job to end; return their results."""
        return [handle.wait(timeout) for handle in self._handles.open()]

    def shutdown(self, *, drain: bool = True, timeout: float | None = None) -> None:
        """Stop the runtime; idempotent.

        Args:
            drain: True lets running jobs finish; False cancels them first
                (their running items still finish, the rest end `cancelled`).
            timeout: how long to wait for jobs to end before stopping anyway.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
        handles = self._handles.open()
        for handle in handles:
            try:
                if not drain:
                    handle.cancel()
                handle.wait(timeout)
            except (TimeoutError, PixelmillError) as exc:
                # Stop anyway: a job that cannot end must not keep the runtime up.
                self._log.warning("runtime.stop_unfinished", job_id=handle.job_id,
                                  error=f"{type(exc).__name__}: {exc}")
        self._guardian.stop(block=True, timeout=130)
        self._relay.stop(block=True, timeout=10)
        self._handles.break_all(ClosedRuntimeError("the runtime was shut down"))
        self._timer.close()
        if self._started_ray:
            import ray

            ray.shutdown()
        self._log.info("runtime.stopped")
        self._sink.close()

    def _ask(self, role: str, message: Any, what: str) -> Any:
        """Ask the actor playing `role`, with the runtime's timeout.

        An actor that dies under the question (or a drill's crash) is asked
        again once it is replaced, until the timeout; the asks the façade makes
        are all safe to repeat.

        Raises:
            TimeoutError: no answer within `ask_timeout_s`.
            BrokenRuntimeError: the runtime broke.
        """
        deadline = time.monotonic() + self.config.ask_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            try:
                return self._actor(role, deadline).ask(message, timeout=max(0.01, remaining))
            except _PASSING:
                self._wait_for_restart(deadline, what)
            except pykka.Timeout:
                raise TimeoutError(f"{what}: the runtime did not answer within "
                                   f"{self.config.ask_timeout_s:g} s") from None

    def _actor(self, role: str, deadline: float) -> pykka.ActorRef[Any]:
        """The current ref of `role`, as the current Supervisor knows it."""
        while True:
            try:
                supervisor: pykka.ActorRef[Any] = self._guardian.ask(
                    GetActor(role=Role.SUPERVISOR), block=True, timeout=self._left(deadline)
                )
                ref: pykka.ActorRef[Any] | None = supervisor.ask(
                    GetActor(role=role), block=True, timeout=self._left(deadline)
                )
            except _PASSING:
                self._wait_for_restart(deadline, f"the {role}")
                continue
            except pykka.Timeout:
                raise TimeoutError(f"the {role} did not answer in time") from None
            if ref is None:
                raise ConfigError(f"the runtime runs no {role}")
            return ref

    def _wait_for_restart(self, deadline: float, what: str) -> None:
        if self._handles.broken is not None:
            raise self._handles.broken
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: an actor of the runtime was not replaced in time")
        time.sleep(_RETRY_EVERY_S)

    @staticmethod
    def _left(deadline: float) -> float:
        return max(0.01, deadline - time.monotonic())

    def _tell(self, role: str, message: Any, what: str) -> None:
        """Tell the actor playing `role`; if it is dead, tell the one that replaces it."""
        deadline = time.monotonic() + self.config.ask_timeout_s
        while True:
            try:
                self._actor(role, deadline).tell(message)
                return
            except pykka.ActorDeadError:
                self._wait_for_restart(deadline, what)

    def _cancel(self, job_id: str, abandon: bool) -> None:
        self._tell(Role.JOB_MANAGER, CancelJob(job_id=job_id, abandon=abandon), "cancel")


def _tree_rss_mb() -> float | None:
    """Resident memory of this process and its children, as the Monitor reads it."""
    try:
        process = psutil.Process()
        members = [process, *process.children(recursive=True)]
    except psutil.Error:
        return None
    total = 0
    for member in members:
        with contextlib.suppress(psutil.Error):  # a worker that ended meanwhile
            total += member.memory_info().rss
    return total / 2**20


def _make_dirs(*directories: Path | None) -> None:
    """Create the job's dirs up front: a worker never races the Exporter to make them."""
    for directory in directories:
        if directory is None:
            continue
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise translate_write_error(exc, directory) from exc
