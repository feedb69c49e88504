"""examples/web_service.py end to end: a real uvicorn process on 127.0.0.1, driven with httpx."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pixelmill.testing import wait_until, write_image, write_sample_set
from tests._web_service import free_port, read_events, wait_until_serving

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parent.parent
MAX_UPLOAD_MB = 1
THUMBS = [{"op": "thumbnail", "size": 48}, {"op": "save", "format": "png"}]
# Each item pauses in its worker (tests/runtime/_slow_op.py, loaded with --plugin),
# so that a test can act while a job runs.
SLOW = [{"op": "test_pause", "ms": 400}, *THUMBS]
HOSTILE = "<img src=x onerror=alert(1)>&amp;.png"


_colors = itertools.count(1)


def image(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A solid image of a colour no other test image has: no job finds it in the cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = next(_colors)
    return write_image(path, size=size, color=(n % 256, n // 256 % 256, 99))


def counts(done: int = 0, skipped: int = 0, total: int | None = None) -> dict[str, int]:
    return {"total": done + skipped if total is None else total, "done": done, "cached": 0,
            "failed": 0, "skipped": skipped, "cancelled": 0}


class Service:
    def __init__(self, root: Path, url: str) -> None:
        self.root = root
        self.url = url
        self.client = httpx.Client(base_url=url, timeout=30)

    def submit(self, **spec: Any) -> str:
        answer = self.client.post("/jobs", json={"pipeline": THUMBS, **spec})
        assert answer.status_code == 201, answer.text
        assert answer.headers["location"] == f"/jobs/{answer.json()['id']}"
        return str(answer.json()["id"])

    def events(self, job_id: str, until: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        return read_events(self.client, f"/jobs/{job_id}/events", until=until)

    def healthz(self) -> dict[str, Any]:
        answer = self.client.get("/healthz")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    base = tmp_path_factory.mktemp("web")
    root = base / "root"
    root.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, str(REPO / "examples" / "web_service.py"), "--host", "127.0.0.1",
         "--port", url.rsplit(":", 1)[1], "--root", str(root), "--state", str(base / "state"),
         "--workers", "2", "--max-upload-mb", str(MAX_UPLOAD_MB),
         "--plugin", "tests.runtime._slow_op"],
        cwd=base, env=os.environ | {"PYTHONPATH": str(REPO)}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        wait_until_serving(url, process)
        running = Service(root, url)
        yield running
        running.client.close()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        assert "Traceback" not in stderr, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_job_streams_its_progress_and_items_then_ends(service: Service) -> None:
    write_sample_set(service.root / "first", 4, broken=1)
    job_id = service.submit(name="first", inputs=["first"], analyses=["channel_stats"])

    events = service.events(job_id)

    kinds = [kind for kind, _ in events]
    assert kinds[0] == "progress"
    assert kinds[-1] == "end" and kinds.count("end") == 1
    items = {data["path"]: data["status"] for kind, data in events if kind == "item"}
    # Paths as the client named them, relative to the root: never the server's.
    assert items == {**{f"first/photo_{i:04d}{s}": "done" for i, s in enumerate(
        (".jpg", ".png", ".webp", ".jpg"))}, "first/broken_0000_truncated_jpeg.jpg": "skipped"}
    assert sorted(data["index"] for kind, data in events if kind == "item") == [0, 1, 2, 3, 4]
    assert events[-1][1]["status"] == "completed"
    assert events[-1][1]["counts"] == counts(done=4, skipped=1)
    status = service.client.get(f"/jobs/{job_id}").json()
    assert status["status"] == "completed"
    assert status["progress"]["finished"] == status["progress"]["total"] == 5
    table = service.client.get(f"/jobs/{job_id}/results.csv")
    assert table.status_code == 200
    rows = list(csv.DictReader(io.StringIO(table.text)))
    assert sorted(row["status"] for row in rows) == ["done"] * 4 + ["skipped"]


def test_twenty_jobs_submitted_at_once_all_end_with_their_counts(service: Service) -> None:
    for n in range(20):
        for i in range(n % 3 + 1):  # 1, 2 or 3 tiny images per job
            image(service.root / "many" / f"job{n}" / f"img{i}.png", (24, 16))

    def run(n: int) -> tuple[int, dict[str, Any]]:
        job_id = service.submit(name=f"many-{n}", inputs=[f"many/job{n}"])
        kind, end = service.events(job_id)[-1]
        assert kind == "end"
        return n, end

    with ThreadPoolExecutor(20) as pool:
        ends = dict(pool.map(run, range(20)))

    assert {n: end["counts"] for n, end in ends.items()} == {
        n: counts(done=n % 3 + 1) for n in range(20)}
    assert {end["status"] for end in ends.values()} == {"completed"}


@pytest.mark.parametrize("path", ["../outside", "/etc/hostname", "inner/../../outside",
                                  "../*", "escape/link.png"])
def test_an_input_outside_the_root_is_refused(service: Service, path: str) -> None:
    (service.root.parent / "outside").mkdir(exist_ok=True)
    image(service.root.parent / "outside" / "secret.png")
    (service.root / "escape").mkdir(exist_ok=True)
    link = service.root / "escape" / "link.png"
    if not link.is_symlink():
        link.symlink_to(service.root.parent / "outside" / "secret.png")

    answer = service.client.post("/jobs", json={"inputs": ["first", path], "pipeline": THUMBS})

    assert answer.status_code == 403, answer.text
    assert "outside the service's root" in answer.json()["error"]


def test_a_bad_spec_is_refused_naming_the_field(service: Service) -> None:
    image(service.root / "bad" / "a.png")
    bad_step = {"inputs": ["bad"], "pipeline": [{"op": "thumbnail", "size": -3}]}
    elsewhere = {"inputs": ["bad"], "export_dir": "/tmp/mine"}

    answers = [service.client.post("/jobs", json=body) for body in (bad_step, elsewhere)]

    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].json()["error"] == (
        "pipeline step 1 (thumbnail): size: expected a positive integer, got -3")
    assert answers[1].json()["error"].startswith("export_dir: not a job field")


def test_an_upload_past_the_limit_is_refused_and_one_within_it_runs(
    service: Service, tmp_path: Path
) -> None:
    big = os.urandom(MAX_UPLOAD_MB * 2**20 + 1024)
    small = [image(tmp_path / f"up{i}.png", (40, 30)) for i in range(2)]

    refused = service.client.post("/jobs/upload", data={"spec": "{}"},
                                  files={"files": ("big.png", big, "image/png")})
    accepted = service.client.post(
        "/jobs/upload", data={"spec": json.dumps({"name": "uploaded", "pipeline": THUMBS})},
        files=[("files", (p.name, p.read_bytes(), "image/png")) for p in small],
    )

    assert refused.status_code == 413, refused.text
    assert "limit of 1 MiB" in refused.json()["error"]
    assert accepted.status_code == 201, accepted.text
    kind, end = service.events(accepted.json()["id"])[-1]
    assert (kind, end["counts"]) == ("end", counts(done=2))


def test_a_client_dropping_its_event_stream_mid_job_costs_nothing(service: Service) -> None:
    for i in range(14):
        image(service.root / "slow" / f"s{i}.png", (640, 480))  # not batched
    job_id = service.submit(name="slow", inputs=["slow"], pipeline=SLOW)

    dropped = [service.events(job_id, until="item") for _ in range(3)]
    wait_until(lambda: service.healthz()["event_streams"] == 0, what="the dropped streams released")
    events = service.events(job_id)

    assert [stream[-1][0] for stream in dropped] == ["item"] * 3
    first_kind, first = events[0]
    # NOTE: the job was still running after the drops: the stream opened after
    # them saw items finish. Had it ended, nothing would have been tested.
    assert first_kind == "progress" and first["counts"]["done"] < 14, first
    assert any(kind == "item" for kind, _ in events)
    assert events[-1] == ("end", events[-1][1])
    assert events[-1][1]["counts"] == counts(done=14)
    assert service.healthz()["status"] == "ok"


def test_the_report_shows_a_hostile_file_name_as_text(service: Service, tmp_path: Path) -> None:
    plain = image(tmp_path / "plain.png", (40, 30))
    answer = service.client.post(
        "/jobs/upload", data={"spec": json.dumps({"pipeline": THUMBS})},
        files={"files": (HOSTILE, plain.read_bytes(), "image/png")},
    )
    assert answer.status_code == 201, answer.text
    job_id = answer.json()["id"]
    assert service.events(job_id)[-1][0] == "end"

    report = service.client.get(f"/jobs/{job_id}/report")

    assert report.status_code == 200
    assert report.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in report.headers["content-security-policy"]
    assert "<img src=x" not in report.text
    assert "&lt;img src=x onerror=alert(1)&gt;&amp;amp;.png" in report.text


def test_metrics_parse_with_prometheus_clients_parser_and_count_the_items(
    service: Service,
) -> None:
    def done_items() -> float:
        answer = service.client.get("/metrics")
        assert answer.status_code == 200
        families = {f.name: f for f in text_string_to_metric_families(answer.text)}
        samples = families["pixelmill_items_finished"].samples
        return sum(s.value for s in samples
                   if s.name == "pixelmill_items_finished_total" and s.labels["status"] == "done")

    before = done_items()
    write_sample_set(service.root / "measured", 3)
    job_id = service.submit(name="measured", inputs=["measured"])
    assert service.events(job_id)[-1][1]["counts"] == counts(done=3)

    assert done_items() == before + 3


def test_an_unknown_job_is_404_and_a_running_jobs_export_409(service: Service) -> None:
    for i in range(8):
        image(service.root / "cancelled" / f"c{i}.png", (640, 480))
    job_id = service.submit(name="cancelled", inputs=["cancelled"], pipeline=SLOW)
    service.events(job_id, until="item")

    early = service.client.get(f"/jobs/{job_id}/results.csv")
    cancelling = service.client.delete(f"/jobs/{job_id}")
    kind, end = service.events(job_id)[-1]

    assert service.client.get("/jobs/nosuchjob").status_code == 404
    assert early.status_code == 409  # NOTE: the job runs 8 items of 400 ms on 2 workers
    assert cancelling.status_code == 202
    assert (kind, end["status"]) == ("end", "cancelled")
    assert end["counts"]["cancelled"] > 0
    assert service.client.delete(f"/jobs/{job_id}").status_code == 409
