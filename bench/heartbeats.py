"""Heartbeat ingestion benchmark: the real portal over loopback, SQLite and PostgreSQL side by
side, then the reports built on what was ingested.

    .venv/bin/python bench/heartbeats.py [--clinics 304] [--rate 1500] [--seconds 20]
                                         [--processes 2] [--threads 8] [--workers 1]
                                         [--database both|sqlite|postgresql]

For each database: a fresh data directory (SQLite) or database (PostgreSQL), the sample county
(18 township centres and 286 village clinics: 304), one doctor per clinic, a 60-minute lecture
for the whole county, and ``--lectures`` (100) past lectures with one viewing session per
clinic each (a term's matrix). Then ``clinicast serve --no-worker`` in its own process (uvicorn,
the embedded S3 server beside it), every doctor signs in over HTTP, and ``--processes`` client
processes of ``--threads`` threads each send ``POST /api/v1/attendance/heartbeats`` over
keep-alive connections, open loop at ``--rate`` heartbeats per second in total for
``--seconds``: each request carries 1–4 heartbeats of one doctor's player (15-s intervals, the
sizes the player's queue sends), and one request in fifty is sent twice (a retry after a lost
answer). Latency is measured from the moment a request was due, so a server that falls behind
shows it (no coordinated omission).

Printed per database: accepted heartbeats/s, p50/p99/max request latency, errors, and lost
heartbeats (distinct heartbeats sent minus those stored, and minus those the sessions'
aggregates count). Then the report figures on the same data, measured in this process: one
lecture's figures for 304 clinics (``AttendanceAccounting.lecture_figures``, and the
coordinator's per-lecture report of ``training/attendance/reports.py``), p95 over ``--repeats``
runs, and a term's XLSX matrix of 100 lectures × 304 clinics (``exports.matrix_xlsx``).
Goals (2 cores, SQLite): ≥ 1,500 heartbeats/s with p99 < 100 ms and 0 lost; a lecture report
p95 < 100 ms; the matrix < 3 s.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, insert, select, text

from infra.db import make_engine, make_session_factory, upgrade
from infra.processes import port_is_free
from infra.seed import sample_roster
from training.accounts import services as account_services
from training.accounts.models import Role
from training.accounts.services import AccountService
from training.attendance import exports, intervals
from training.attendance.models import Heartbeat, ViewingSession
from training.attendance.report_types import Period
from training.attendance.reports import AttendanceReports
from training.attendance.services import AttendanceAccounting, AttendanceIngest
from training.base import utcnow
from training.clinics.models import ClinicLevel
from training.clinics.services import ClinicService, read_roster
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.search.services import SearchService

REPO = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
PASSWORD = "benchmark-password"  # noqa: S105 - the bench's own throw-away accounts
STEP = 15.0  # seconds of lecture per heartbeat
LENGTH = 3600.0  # the live lecture's length: 240 heartbeats per session


def free_port(count: int = 1) -> int:
    """A port p with p … p+count-1 free (SeaweedFS also takes +10000 twins)."""
    for _ in range(500):
        base = random.randrange(20000, 29000)
        ports = [
            *range(base, base + count),
            *(range(base + 10000, base + 10000 + count) if count > 1 else []),
        ]
        if all(port_is_free(port) for port in ports):
            return base
    raise RuntimeError("no free port")


# --- the data -----------------------------------------------------------------------------


def build(engine: Engine, lectures: int) -> tuple[int, list[int], list[str]]:
    """The county, one doctor per township and village clinic, the live lecture and the
    term's lectures with a session per clinic; (live lecture id, term lecture ids, usernames)."""
    sessions = make_session_factory(engine)
    with sessions() as session:
        clinics = ClinicService(session)
        clinics.import_roster(read_roster(sample_roster()))
        accounts = AccountService(session)
        watching = [c for c in clinics.all() if c.level is not ClinicLevel.COUNTY]
        usernames = []
        for clinic in watching:
            usernames.append(f"doctor-{clinic.region_code}")
            accounts.create(usernames[-1], PASSWORD, Role.DOCTOR, clinic=clinic)
        accounts.create(
            "coordinator", PASSWORD, Role.COORDINATOR, clinic=clinics.by_region_code("139901000000")
        )
        specialist = accounts.create("specialist", PASSWORD, Role.SPECIALIST)
        county = clinics.by_region_code("139901000000")
        assert county is not None
        audience = [(county.id or 0, True)]
        service = LectureService(session, SearchService(session))
        now = utcnow()
        live = service.schedule(
            specialist,
            LectureDraft("直播讲座", audience, scheduled_start=now - timedelta(minutes=70)),
        )
        term = [
            service.schedule(specialist, LectureDraft(f"讲座 {n}", audience, scheduled_start=now - timedelta(days=100 - n)))
            for n in range(lectures)
        ]  # fmt: skip
        session.commit()
        doctors = {
            u.clinic_id: u.id for u in (accounts.by_username(name) for name in usernames) if u
        }
        rng = random.Random(9)
        rows = []
        for lecture in term:
            for clinic in watching:
                start = rng.choice([0.0, 0.0, 600.0, 1800.0])
                spans = [[start, start + rng.uniform(300, 3000)], [3000.0, 3300.0]]
                rows.append({
                    "user_id": doctors[clinic.id], "session_id": uuid.uuid4().hex, "lecture_id": lecture.id,
                    "clinic_id": clinic.id, "live_intervals": spans[:1] if rng.random() < 0.5 else [],
                    "vod_intervals": spans, "head_count": rng.randint(1, 12), "mode": "vod",
                    "rendition": "360", "last_seq": 200, "stalls": rng.randint(0, 9),
                    "stalled_s": rng.uniform(0, 60), "rendition_seconds": {"360": 3000.0, "audio": 300.0},
                    "first_seen_at": lecture.scheduled_start, "last_seen_at": lecture.scheduled_start,
                })  # fmt: skip
        session.execute(insert(ViewingSession), rows)
        session.commit()
        return live.id or 0, [t.id or 0 for t in term], usernames


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{directory}/clinicast.sqlite"
        return
    name = f"clinicast_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    finally:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def portal(url: str, data_dir: Path, workers: int) -> Iterator[str]:
    """``clinicast serve --no-worker`` on ``url`` (or, for ``workers`` > 1, uvicorn with that
    many processes on the same app factory, without the embedded S3 server heartbeats do not
    use); its base URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINICAST_")}
    env |= {"PYTHONPATH": str(REPO), "CLINICAST_DATA_DIR": str(data_dir),
            "CLINICAST_DATABASE__URL": url, "CLINICAST_WEB__PORT": str(port),
            "CLINICAST_STORAGE__EMBEDDED_PORT": str(free_port(4))}  # fmt: skip
    log = (data_dir / "serve.log").open("wb")
    command = [sys.executable, "-m", "infra.cli", "serve", "--no-worker"]
    if workers > 1:
        command = [sys.executable, "-m", "uvicorn", "web.app:create_app_from_environment",
                   "--factory", "--port", str(port), "--workers", str(workers)]  # fmt: skip
    process = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (
                    httpx.get(f"{base}/login", timeout=5).status_code == 200
                ):  # no worker: no /readyz
                    break
            if process.poll() is not None:
                raise RuntimeError((data_dir / "serve.log").read_text()[-2000:])
            time.sleep(0.5)
        else:
            raise RuntimeError("the portal did not become ready")
        yield base
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()


def sign_in(base: str, username: str) -> str:
    """A Cookie header of ``username`` signed in through the login form."""
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get("/login")
        token = client.cookies.get("csrftoken", "")
        data = {"username": username, "password": PASSWORD, "_csrf_token": token}
        response = client.post("/login", data=data, follow_redirects=False)
        assert response.status_code == 303, (username, response.status_code, response.text[:200])
        return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


# --- the load -----------------------------------------------------------------------------


@dataclass
class Player:
    cookie: str
    token: str
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    seq: int = 0

    def batch(self, lecture_id: int, size: int) -> list[dict[str, Any]]:
        if (self.seq + size) * STEP > LENGTH:
            self.session_id, self.seq = uuid.uuid4().hex, 0
        sent_at = utcnow().isoformat()
        beats = [
            {"session_id": self.session_id, "seq": self.seq + i, "lecture_id": lecture_id,
             "mode": "live", "start": (self.seq + i) * STEP, "end": (self.seq + i + 1) * STEP,
             "playing": True, "rendition": "360", "stalls": 0, "stalled": 0.0,
             "head_count": 1, "sent_at": sent_at}
            for i in range(size)
        ]  # fmt: skip
        self.seq += size
        return beats


@dataclass(frozen=True)
class Load:
    """What one client process sends: ``rate`` requests per second to the live lecture,
    spread over ``threads`` threads, from ``start`` (monotonic clock) for ``seconds``."""

    base: str
    lecture_id: int
    rate: float
    threads: int
    start: float
    seconds: float


def client_thread(load: Load, players: list[Player], seed: int, out: dict[str, Any]) -> None:
    """Requests at ``load.rate / load.threads`` per second, round robin over ``players``,
    open loop: each is due at its time whatever happened to the one before."""
    rng = random.Random(seed)
    rate = load.rate / load.threads
    host, port = load.base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    due = time.monotonic() + rng.random() / rate
    index = 0
    while due < load.start + load.seconds:
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        player = players[index % len(players)]
        index += 1
        beats = player.batch(load.lecture_id, rng.randint(1, 4))
        body = json.dumps({"heartbeats": beats}).encode()
        headers = {"content-type": "application/json", "cookie": player.cookie,
                   "x-csrftoken": player.token}  # fmt: skip
        for attempt in range(2 if rng.random() < 0.02 else 1):
            try:
                connection.request("POST", "/api/v1/attendance/heartbeats", body, headers)
                response = connection.getresponse()
                answer = response.read()
            except (OSError, http.client.HTTPException):
                connection.close()
                out["errors"] += 1
                continue
            if attempt == 0:
                out["latencies"].append(time.monotonic() - due)
            if response.status != 200:
                out["errors"] += 1
                continue
            received = json.loads(answer)
            out["accepted"] += received["accepted"]
            out["duplicates"] += received["duplicates"]
            out["rejected"] += len(received["rejected"])
        out["sent"] += len(beats)
        due += 1 / rate
    out["finished"] = time.monotonic()


def client_process(load: Load, players: list[Player], queue: Any) -> None:
    outs = [
        {"sent": 0, "accepted": 0, "duplicates": 0, "rejected": 0, "errors": 0,
         "latencies": [], "finished": load.start}
        for _ in range(load.threads)
    ]  # fmt: skip
    workers = [
        threading.Thread(
            target=client_thread,
            args=(load, players[i :: load.threads], os.getpid() * 100 + i, outs[i]),
        )
        for i in range(load.threads)
    ]
    while time.monotonic() < load.start:
        time.sleep(0.01)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    queue.put(outs)


@dataclass
class LoadResult:
    seconds: float  # from the first request due to the last answer
    sent: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    stored: int = 0
    aggregated: int = 0

    def line(self) -> str:
        cuts = statistics.quantiles(self.latencies, n=100, method="inclusive")
        lost = self.sent - self.stored
        return (f"{self.accepted / self.seconds:8,.0f} {cuts[49] * 1000:6.1f} {cuts[98] * 1000:6.1f} "
                f"{max(self.latencies) * 1000:7.1f} {self.errors:6d} {lost:6d} {self.sent - self.aggregated:6d}")  # fmt: skip


def drive(base: str, engine: Engine, usernames: list[str], lecture_id: int,
          args: argparse.Namespace) -> LoadResult:  # fmt: skip
    """Sign every doctor in, send the load, count what was stored."""
    players = []
    for username in usernames:
        cookie = sign_in(base, username)
        token = next(p.split("=", 1)[1] for p in cookie.split("; ") if p.startswith("csrftoken="))
        players.append(Player(cookie, token))
    requests_per_s = args.rate / 2.5  # 1–4 heartbeats a request: 2.5 on average
    start = time.monotonic() + 1.0
    rate = requests_per_s / args.processes
    load = Load(base, lecture_id, rate, args.threads, start, args.seconds)
    queue: Any = multiprocessing.get_context("fork").Queue()
    processes = [
        multiprocessing.get_context("fork").Process(
            target=client_process, args=(load, players[i :: args.processes], queue)
        )
        for i in range(args.processes)
    ]  # fmt: skip
    for process in processes:
        process.start()
    result = LoadResult(args.seconds)
    for _ in processes:
        for out in queue.get(timeout=args.seconds + 600):
            result.seconds = max(result.seconds, out["finished"] - start)
            for name in ("sent", "accepted", "duplicates", "rejected", "errors"):
                setattr(result, name, getattr(result, name) + out[name])
            result.latencies += out["latencies"]
    for process in processes:
        process.join()
    with make_session_factory(engine)() as session:
        result.stored = session.execute(
            select(func.count()).select_from(Heartbeat).where(Heartbeat.lecture_id == lecture_id)
        ).scalar_one()
        spans = session.execute(
            select(ViewingSession.live_intervals).where(ViewingSession.lecture_id == lecture_id)
        )
        result.aggregated = round(sum(intervals.length(row[0]) for row in spans) / STEP)
    return result


def service_rate(engine: Engine, usernames: list[str], lecture_id: int, seconds: float = 5) -> str:
    """Heartbeats/s through ``AttendanceIngest`` alone, one thread, no HTTP: the share of
    the request the ingestion itself costs."""
    sessions = make_session_factory(engine)
    with sessions() as session:
        users = [AccountService(session).by_username(name) for name in usernames]
        session.expunge_all()
    players = [Player("", "") for _ in users]
    sent, rng, started = 0, random.Random(5), time.perf_counter()
    while time.perf_counter() - started < seconds:
        index = rng.randrange(len(users))
        with sessions() as session:
            beats = players[index].batch(lecture_id, rng.randint(1, 4))
            AttendanceIngest(session).ingest(users[index], beats)  # type: ignore[arg-type]
        sent += len(beats)
    elapsed = time.perf_counter() - started
    return f"{sent / elapsed:,.0f} heartbeats/s ({elapsed / sent * 2.5 * 1000:.2f} ms a request of 2.5)"


# --- the reports --------------------------------------------------------------------------


def p95_ms(run: Any, repeats: int) -> str:
    run()  # warm-up
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        timings.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return f"{cuts[49]:8.1f} {cuts[94]:8.1f}"


def report_timings(engine: Engine, term: list[int], repeats: int) -> list[tuple[str, str]]:
    """(label, "p50 p95") of each report measured, as the county coordinator."""
    lines = []
    with make_session_factory(engine)() as session:
        accounting = AttendanceAccounting(session)
        figures = accounting.lecture_figures(term[0])
        assert len(figures.clinics) == 304, len(figures.clinics)
        lines.append(
            (
                "lecture_figures, 304 clinics",
                p95_ms(lambda: accounting.lecture_figures(term[0]), repeats),
            )
        )
        lines.append(
            ("lectures_figures, 100 lectures", p95_ms(lambda: accounting.lectures_figures(term), 3))
        )
        coordinator = AccountService(session).by_username("coordinator")
        assert coordinator is not None
        service = AttendanceReports(session)
        lines.append(
            (
                "per-lecture report, 304 clinics",
                p95_ms(lambda: service.lecture(coordinator, term[0]), repeats),
            )
        )
        today = utcnow().date()
        period = Period(first_day=today - timedelta(days=102), last_day=today)
        matrix = service.matrix(coordinator, period)
        assert (len(matrix.lectures), len(matrix.rows)) >= (len(term), 304), (
            len(matrix.lectures),
            len(matrix.rows),
        )

        def xlsx() -> None:
            exports.matrix_xlsx(service.matrix(coordinator, period), lambda text: text)

        lines.append((f"term XLSX matrix {len(term)} × 304", p95_ms(xlsx, 3)))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1500, help="heartbeats/s sent in total")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="per client process")
    parser.add_argument("--lectures", type=int, default=100, help="the term's lectures")
    parser.add_argument(
        "--workers", type=int, default=1, help="> 1: uvicorn with this many processes"
    )
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--database", choices=["both", *NAMES], default="both")
    args = parser.parse_args()
    # 300 doctors need 300 password hashes, not two minutes of argon2; the portal verifies
    # with the parameters stored in each hash.
    account_services._hasher = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    kinds = list(NAMES) if args.database == "both" else [args.database]
    results: dict[str, LoadResult] = {}
    reports_of: dict[str, list[tuple[str, str]]] = {}
    alone: dict[str, str] = {}
    for kind in kinds:
        with database(kind) as url, tempfile.TemporaryDirectory() as data_dir:
            engine = make_engine(url)
            upgrade(engine)
            live, term, usernames = build(engine, args.lectures)
            print(f"{kind}: {len(usernames)} doctors, {len(term)} term lectures built", flush=True)
            with portal(url, Path(data_dir), args.workers) as base:
                results[kind] = drive(base, engine, usernames, live, args)
            print(f"{kind}: {results[kind].sent:,} heartbeats sent, load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
            alone[kind] = service_rate(engine, usernames, live)
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(text("ANALYZE"))
            reports_of[kind] = report_timings(engine, term, args.repeats)
            engine.dispose()
    print(f"\nload: {args.rate:,.0f} heartbeats/s offered for {args.seconds:.0f} s by "
          f"{args.processes}×{args.threads} client threads, 1–4 heartbeats a request; "
          f"{os.cpu_count()} cores, load average now {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(
        f"{'':<12}{'accepted/s':>10}{'p50':>7}{'p99':>7}{'max':>8}{'errors':>7}{'lost':>7}{'unagg':>7}"
        "   (latency in ms; lost: sent − stored; unagg: sent − counted by the sessions)"
    )
    for kind, result in results.items():
        print(f"{NAMES[kind]:<12}{result.line()}")
    for kind, line in alone.items():
        print(f"{NAMES[kind]:<12}AttendanceIngest alone, in process: {line}")
    print(f"\n{'report':<34}" + "".join(f"{NAMES[k] + ' p50/p95 ms':>22}" for k in reports_of))
    labels = [label for label, _ in next(iter(reports_of.values()))]
    for label in labels:
        cells = [dict(reports_of[k]).get(label, "") for k in reports_of]
        print(f"{label:<34}" + "".join(f"{cell:>22}" for cell in cells))


if __name__ == "__main__":
    main()
