# /// script
# requires-python = ">=3.11"
# dependencies = ["pixelmill[web,metrics]"]
# ///
"""A web service for batch image jobs: one AsyncRuntime, a JSON API, live events, metrics.

    python examples/web_service.py --host 127.0.0.1 --port 8000 --root ./photos --state ./service

POST /jobs {"name", "inputs": ["a/", "b/*.png"], "pipeline", "analyses", "priority"}
                                          201 {"id", "status"}; 422 a bad spec; 403 outside --root
POST /jobs/upload (multipart: image files and a `spec` field without inputs)
                                          201 {"id", "status"}; 413 past --max-upload-mb
GET /jobs/ID               status, counts, progress
GET /jobs/ID/events        Server-Sent Events: `progress`, `item`, ..., then one `end`
GET /jobs/ID/report        report.html;  GET /jobs/ID/results.csv;  DELETE /jobs/ID (cancel)
GET /metrics (Prometheus), GET /healthz

Inputs are paths relative to --root; the service chooses where exports go
(under --state), never the client. Files inside --root are the operator's:
a symlink there is followed like any file.
"""

import argparse
import contextlib
import glob
import importlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from pixelmill import AsyncJobHandle, AsyncRuntime, ConfigError, JobSpec, PixelmillError
from pixelmill.messages import ItemFinished, JobFinished, JobProgress
from pixelmill.metrics import RuntimeCollector

SPEC_FIELDS = ("name", "inputs", "pipeline", "analyses", "priority")
"""What a client may say of a job; where its exports go is the service's choice."""
REPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
KEEP_ALIVE_S = 15.0
"""An idle event stream sends a comment this often, so that proxies keep it open."""


class Refused(Exception):
    """A request answered with `status` and `{"error": message}`, not a job."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class TooLarge(Exception):
    """An upload went past --max-upload-mb."""


@dataclass(eq=False)
class Subscriber:
    """One open event stream: a bounded queue of the job's events for it."""

    send: Any
    dropped: int = 0
    """Events skipped because this client read too slowly (its queue was full)."""


@dataclass
class Job:
    handle: AsyncJobHandle
    base: Path
    """Where its inputs are: clients see paths relative to it, never the server's."""
    subscribers: list[Subscriber] = field(default_factory=list)
    relayed: bool = False
    """Its events have all been relayed: a new stream gets a snapshot and the end."""


class Service:
    """The service's state: its settings, the one runtime, the jobs it runs."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.root = Path(args.root).resolve()
        self.state = Path(args.state).resolve()
        self.max_upload = int(args.max_upload_mb * 2**20)
        self.workers = args.workers
        self.jobs: dict[str, Job] = {}
        self.registry = CollectorRegistry()

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        # 1. One AsyncRuntime for the whole service, its jobs in the service's own store.
        overrides = {"workers": self.workers} if self.workers else {}
        async with AsyncRuntime(state_dir=self.state / "store",
                                log_file=self.state / "service.jsonl", **overrides) as runtime:
            self.runtime = runtime
            # 2. The runtime's metrics, in one line.
            self.registry.register(RuntimeCollector(runtime))
            async with anyio.create_task_group() as self.relays:
                try:
                    yield
                finally:
                    # Stopping the service cancels its jobs (running items finish,
                    # the rest end `cancelled`); then each relay ends with its job.
                    await runtime.shutdown(drain=False)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/jobs", self.submit, methods=["POST"]),
                Route("/jobs/upload", self.upload, methods=["POST"]),
                Route("/jobs/{job_id}", self.status, methods=["GET"]),
                Route("/jobs/{job_id}", self.cancel, methods=["DELETE"]),
                Route("/jobs/{job_id}/events", self.events),
                Route("/jobs/{job_id}/report", self.report),
                Route("/jobs/{job_id}/results.csv", self.results),
                Route("/jobs/{job_id}/{path:path}", self.export_file),
                Route("/metrics", self.metrics),
                Route("/healthz", self.healthz),
            ],
            lifespan=self.lifespan,
            exception_handlers={Refused: refused},
        )

    # -- submitting --------------------------------------------------------------

    async def submit(self, request: Request) -> Response:
        try:
            fields = await request.json()
        except ValueError:
            raise Refused(422, "body: expected a JSON object") from None
        if not isinstance(fields, dict):
            raise Refused(422, "body: expected a JSON object")
        inputs = fields.get("inputs")
        if not isinstance(inputs, list) or not all(isinstance(text, str) for text in inputs):
            raise Refused(422, "inputs: expected a list of paths relative to the service's root")
        return await self.start(fields, [self.inside_root(text) for text in inputs], self.root)

    async def upload(self, request: Request) -> Response:
        folder = self.state / "uploads" / uuid.uuid4().hex
        try:
            fields, inputs = await self.receive_upload(request, folder)
        except TooLarge:
            return JSONResponse(
                {"error": f"upload: over the limit of {self.max_upload / 2**20:g} MiB"},
                status_code=413, headers={"Connection": "close"},
            )
        return await self.start(fields, inputs, folder)

    async def receive_upload(
        self, request: Request, folder: Path
    ) -> tuple[dict[str, Any], list[str]]:
        """The spec and the image files of a multipart upload, written under `folder`.

        Raises:
            TooLarge: the request declared, or sent, more than --max-upload-mb
                (what it sent is read and dropped, so that the client reads the answer).
        """
        seen, ended = 0, False

        async def counted() -> Any:
            nonlocal seen, ended
            message = await request.receive()
            seen += len(message.get("body", b""))
            ended = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        async def within_limit() -> Any:
            message = await counted()
            if seen > self.max_upload:
                raise TooLarge
            return message

        declared = request.headers.get("content-length", "0")
        if not declared.isdigit():
            raise Refused(400, "content-length: expected a number of bytes")
        try:
            if int(declared) > self.max_upload:
                raise TooLarge
            form = await Request(request.scope, within_limit).form(max_files=1_000, max_fields=10)
        except TooLarge:
            # Read what is left, up to a bound, and drop it: a client still
            # sending would otherwise not read the answer.
            while not ended and seen < 4 * self.max_upload + 2**24:
                await counted()
            raise
        try:
            fields = json.loads(str(form.get("spec") or "{}"))
        except ValueError:
            raise Refused(422, "spec: expected a JSON object") from None
        if not isinstance(fields, dict) or "inputs" in fields:
            raise Refused(422, "spec: expected a JSON object without inputs (the files are them)")
        folder.mkdir(parents=True)
        inputs: list[str] = []
        for number, (_key, part) in enumerate(form.multi_items()):
            if isinstance(part, str):
                continue
            # A file name, never a path the client chose; unique within the upload.
            name = Path((part.filename or "").replace("\x00", "_")).name.lstrip(".") or "upload"
            target = folder / name
            if target.exists():
                target = folder / f"{number}-{name}"
            target.write_bytes(await part.read())
            inputs.append(str(target))
        await form.close()
        if not inputs:
            raise Refused(422, "upload: no files in the request")
        return fields, inputs

    def inside_root(self, text: str) -> str:
        """An input as the runtime takes it: absolute, and never outside --root."""
        path = self.root / text
        try:
            found = glob.glob(str(path), recursive=True) if glob.has_magic(text) else []
            resolved = [p.resolve() for p in [path, *map(Path, found)]]
        except (ValueError, OSError) as exc:
            raise Refused(422, f"inputs: {text!r}: {exc}") from None
        if not all(p.is_relative_to(self.root) for p in resolved):
            raise Refused(403, f"inputs: {text} is outside the service's root")
        return str(path)

    async def start(self, fields: dict[str, Any], inputs: list[str], base: Path) -> Response:
        unknown = sorted(set(fields) - set(SPEC_FIELDS))
        if unknown:
            raise Refused(422, f"{unknown[0]}: not a job field (known: {', '.join(SPEC_FIELDS)})")
        if not isinstance(fields.get("name", ""), str):
            raise Refused(422, "name: expected a string")
        spec = JobSpec(
            inputs=inputs,
            export_dir=self.state / "exports" / uuid.uuid4().hex,
            name=fields.get("name") or None,
            pipeline=fields.get("pipeline", []),
            analyses=fields.get("analyses", []),
            priority=fields.get("priority", "normal"),
        )
        try:
            handle = await self.runtime.submit(spec)
        except ConfigError as exc:
            raise Refused(422, str(exc)) from None
        job = self.jobs[handle.job_id] = Job(handle, base)
        # 3. One task per job relays its events to the streams open on it.
        self.relays.start_soon(self.relay, job)
        return JSONResponse({"id": handle.job_id, "status": handle.progress().status.value},
                            status_code=201, headers={"Location": f"/jobs/{handle.job_id}"})

    async def relay(self, job: Job) -> None:
        # A runtime broken under the job: each stream says so at its end.
        with contextlib.suppress(PixelmillError):
            async for event in job.handle.events():
                for subscriber in job.subscribers:
                    try:
                        subscriber.send.send_nowait(event)
                    except anyio.WouldBlock:  # never wait for one slow client
                        subscriber.dropped += 1
        job.relayed = True
        for subscriber in job.subscribers:
            subscriber.send.close()

    # -- following ---------------------------------------------------------------

    def job_of(self, request: Request) -> Job:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            raise Refused(404, f"no job {request.path_params['job_id']!r}")
        return job

    async def status(self, request: Request) -> Response:
        job = self.job_of(request)
        progress = job.handle.progress()
        counts = progress.counts
        rate = counts.finished / progress.elapsed_s if progress.elapsed_s > 0 else 0.0
        body: dict[str, Any] = {
            "id": job.handle.job_id, "name": job.handle.name, "status": progress.status.value,
            "counts": counts.as_dict(),
            "progress": {"finished": counts.finished, "total": counts.total,
                         "expanded": progress.expanded, "running": progress.running,
                         "elapsed_s": round(progress.elapsed_s, 3), "rate": round(rate, 3)},
        }
        if job.handle.done():
            with contextlib.suppress(PixelmillError):
                result = await job.handle.wait()
                body |= {"reason": result.reason, "message": result.message}
        return JSONResponse(body)

    async def events(self, request: Request) -> Response:
        job = self.job_of(request)
        send, receive = anyio.create_memory_object_stream[Any](1_000)
        subscriber = Subscriber(send)
        if job.relayed:
            send.close()
        else:
            job.subscribers.append(subscriber)

        async def stream() -> AsyncIterator[str]:
            # Cancelled when the client leaves (Starlette watches for it): the
            # `finally` drops this stream, and the job never waits for it.
            try:
                yield sse("progress", self.event_data(job, job.handle.progress()))
                async with receive:
                    while True:
                        with anyio.move_on_after(KEEP_ALIVE_S):
                            try:
                                event = await receive.receive()
                            except anyio.EndOfStream:
                                break
                            if subscriber.dropped:
                                yield sse("dropped", {"events": subscriber.dropped})
                                subscriber.dropped = 0
                            if not isinstance(event, JobFinished):
                                yield sse(*self.event_kind(job, event))
                            continue
                        yield ": keep-alive\n\n"
                try:
                    yield sse("end", self.event_data(job, await job.handle.wait()))
                except PixelmillError as exc:
                    yield sse("end", {"status": "broken", "reason": exc.reason,
                                      "message": str(exc)})
            finally:
                with contextlib.suppress(ValueError):
                    job.subscribers.remove(subscriber)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    def event_kind(self, job: Job, event: Any) -> tuple[str, dict[str, Any]]:
        kind = "item" if isinstance(event, ItemFinished) else "progress"
        return kind, self.event_data(job, event)

    def event_data(self, job: Job, event: Any) -> dict[str, Any]:
        match event:
            case ItemFinished():
                path = Path(event.path)
                shown = path.relative_to(job.base) if path.is_relative_to(job.base) else path.name
                return {"index": event.index, "path": str(shown), "status": event.status.value,
                        "reason": event.reason, "message": event.message,
                        "duration_ms": round(event.duration_ms, 1)}
            case JobProgress(counts=counts):
                return {"status": event.status.value, "counts": counts.as_dict(),
                        "expanded": event.expanded, "running": event.running}
        # A JobResult: how the job ended.
        return {"status": event.status.value, "counts": event.counts.as_dict(),
                "reason": event.reason, "message": event.message,
                "duration_s": round(event.duration_s, 3)}

    # -- results -----------------------------------------------------------------

    def export_path(self, job: Job, name: str) -> Path:
        if not job.handle.done():
            raise Refused(409, f"job {job.handle.job_id} is running: its export comes at its end")
        base = job.handle.export_dir.resolve()
        path = (base / name).resolve()
        if not path.is_relative_to(base) or not path.is_file():
            raise Refused(404, f"no file {name!r} in the export of job {job.handle.job_id}")
        return path

    async def report(self, request: Request) -> Response:
        path = self.export_path(self.job_of(request), "report.html")
        # The report escapes every name; this policy would stop a script even if one slipped.
        return FileResponse(path, media_type="text/html; charset=utf-8",
                            headers={"Content-Security-Policy": REPORT_POLICY,
                                     "X-Content-Type-Options": "nosniff"})

    async def results(self, request: Request) -> Response:
        path = self.export_path(self.job_of(request), "results.csv")
        return FileResponse(path, media_type="text/csv; charset=utf-8", filename="results.csv")

    async def export_file(self, request: Request) -> Response:
        """Any other file of the export (the outputs the report links to at full size)."""
        path = self.export_path(self.job_of(request), request.path_params["path"])
        return FileResponse(path, headers={"Content-Security-Policy": "default-src 'none'",
                                           "X-Content-Type-Options": "nosniff"})

    async def cancel(self, request: Request) -> Response:
        job = self.job_of(request)
        if job.handle.done():
            raise Refused(409, f"job {job.handle.job_id} has already ended")
        await job.handle.cancel()
        return JSONResponse({"id": job.handle.job_id, "status": "cancelling"}, status_code=202)

    # -- operating ---------------------------------------------------------------

    async def metrics(self, _request: Request) -> Response:
        # A scrape reads the runtime from a thread, never on the event loop.
        body = await anyio.to_thread.run_sync(generate_latest, self.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def healthz(self, _request: Request) -> Response:
        try:
            budget = await self.runtime.budget()  # the actors answer, or they are broken
        except PixelmillError as exc:
            return JSONResponse({"status": "broken", "error": str(exc)}, status_code=503)
        running = sum(not job.handle.done() for job in self.jobs.values())
        streams = sum(len(job.subscribers) for job in self.jobs.values())
        return JSONResponse({"status": "ok", "jobs_running": running, "event_streams": streams,
                             "memory_free_mb": budget.memory_mb_free})


def sse(kind: str, data: dict[str, Any]) -> str:
    return f"event: {kind}\ndata: {json.dumps(data)}\n\n"


async def refused(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--root", required=True, help="the folder inputs are taken from")
    parser.add_argument("--state", required=True,
                        help="the service's own folder: job store, exports, uploads, log")
    parser.add_argument("--max-upload-mb", type=float, default=100.0)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                        help="import MODULE for its own ops and analyses (repeatable)")
    return parser.parse_args()


if __name__ == "__main__":
    args = parse_args()
    for module in args.plugin:
        importlib.import_module(module)
    # Ctrl-C: open event streams get 5 s, then the jobs are cancelled and the runtime stops.
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn raises it again once stopped
        uvicorn.run(Service(args).app(), host=args.host, port=args.port,
                    timeout_graceful_shutdown=5, log_level="warning")
    print("web_service: stopped")
