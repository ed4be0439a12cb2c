"""Search benchmark: query latency over a year's worth of lecture transcripts, SQLite and
PostgreSQL side by side.

    .venv/bin/python bench/search.py [--lectures 2000] [--minutes 60] [--repeats 5]
                                     [--database both|sqlite|postgresql] [--keep PATH]

Builds the index through the real services (``LectureService.schedule``,
``TranscriptService.store``), so the build time is what the transcription jobs would spend:
``--lectures`` lectures of ``--minutes`` minutes, one segment per 5 s (720 per hour), in a temp
SQLite file and a fresh PostgreSQL database (or just one of them, ``--database``). The text is
synthetic: sentences drawn from a medical vocabulary with Zipf-like term frequencies, each
lecture with a few topic terms it repeats, one lecture in ten in English. Then
``SearchService.search`` (the whole call a web controller makes: ranking, moments, snippets)
runs a few dozen Chinese and English queries, ``--repeats`` times each, for an admin (sees
every lecture) and a village doctor (sees about a third), and prints p50/p95/max latency per
language and user, a column group per database; each row is measured on one database right
after the other, so a burst of other load on the machine falls on both. Goal: p95 < 30 ms.

``--keep PATH`` keeps the index for the next run, which reuses it (and upgrades its schema):
SQLite in the file PATH, PostgreSQL in the database ``clinicast_bench_<stem of PATH>`` on
``POSTGRES_ADMIN``'s server (drop it by hand when done).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
from argon2 import PasswordHasher
from sqlalchemy import Engine, text

from infra.db import make_engine, make_session_factory, upgrade
from training.accounts import services as account_services
from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.clinics.models import Clinic, ClinicKind, ClinicLevel
from training.clinics.services import ClinicService
from training.lectures.models import Language
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.ports import SpeechSegment, Transcription
from training.search.services import SearchService
from training.transcripts.services import TranscriptService

SEGMENT_SECONDS = 5.0
POSTGRES_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}

# Terms, most frequent first: sampling weight 1/rank.
ZH_VOCABULARY = """
血压 发热 患者 治疗 诊断 高血压 糖尿病 用药 检查 症状 感染 咳嗽 头痛 胸痛 心率 血糖 抗生素
降压药 体温 呼吸 肺炎 心电图 胰岛素 随访 转诊 慢性病 老年人 儿童 孕妇 疫苗 腹泻 呕吐 脱水 贫血
哮喘 冠心病 心力衰竭 脑卒中 中风 骨折 外伤 止血 缝合 输液 过敏 皮疹 黄疸 肝炎 结核 艾滋病 梅毒
营养不良 肥胖 血脂 胆固醇 尿酸 痛风 关节炎 骨质疏松 甲状腺 抑郁症 焦虑 失眠 癫痫 帕金森 痴呆
白内障 青光眼 中耳炎 扁桃体炎 牙周炎 胃炎 消化性溃疡 阑尾炎 胆囊炎 胰腺炎 肾炎 尿路感染 前列腺
宫颈癌 乳腺癌 肺癌 胃癌 肝癌 结肠癌 化疗 放疗 镇痛 吗啡 阿司匹林 二甲双胍 氨氯地平 硝苯地平
"""
EN_VOCABULARY = """
patient blood pressure hypertension fever diagnosis treatment dose injection insulin infection
antibiotic pneumonia diabetes screening referral vaccine asthma stroke fracture bleeding allergy
tuberculosis hepatitis anemia dehydration sepsis arrhythmia ultrasound biopsy chemotherapy
"""
ZH_TERMS = ZH_VOCABULARY.split()
EN_TERMS = EN_VOCABULARY.split()
ZH_TEMPLATES = [
    "我们来看{0}的处理原则，尤其要注意{1}。",
    "对于{0}患者，基层医生首先要评估{1}。",
    "{0}和{1}经常同时出现，需要鉴别。",
    "在乡镇卫生院，{0}的规范管理非常重要。",
    "下面这张幻灯片总结了{0}的常见原因。",
    "如果出现{0}，应当及时转诊到县医院。",
    "村医在随访时要记录{0}和{1}的变化。",
    "这个病例里，{0}控制得不好，后来调整了{1}。",
]
EN_TEMPLATES = [
    "Let us look at how {0} is managed in primary care.",
    "Patients with {0} often also need {1}.",
    "Check the {0} before you change the {1}.",
    "In a village clinic, {0} should be referred early.",
    "This slide summarises the evidence on {0}.",
]
ZH_QUERIES = [
    "血压", "发热", "高血压", "糖尿病", "降压药", "胰岛素", "心电图", "肺炎", "转诊", "随访",
    "冠心病", "脑卒中", "骨质疏松", "甲状腺", "癫痫", "青光眼", "阑尾炎", "胰腺炎", "宫颈癌",
    "二甲双胍", "硝苯地平", "高血压 转诊", "发热 儿童", "糖尿病 随访", "發熱", "头痛 呕吐",
]  # fmt: skip
EN_QUERIES = [
    "hypertension", "Hypertension", "fever", "injections", "insulin", "pneumonia", "vaccine",
    "stroke", "sepsis", "biopsy", "chemotherapy", "blood pressure", "diabetes screening",
    "antibiotics", "fractures",
]  # fmt: skip


def zipf_choice(rng: random.Random, terms: list[str], topic: list[str]) -> str:
    """A term: one of the lecture's topic terms a third of the time, else Zipf over all."""
    if rng.random() < 0.35:
        return rng.choice(topic)
    return rng.choices(terms, weights=[1 / (rank + 1) for rank in range(len(terms))])[0]


def transcription(rng: random.Random, english: bool, minutes: int) -> Transcription:
    terms, templates = (EN_TERMS, EN_TEMPLATES) if english else (ZH_TERMS, ZH_TEMPLATES)
    topic = rng.sample(terms, 3)
    count = int(minutes * 60 / SEGMENT_SECONDS)
    segments = [
        SpeechSegment(
            i * SEGMENT_SECONDS,
            (i + 1) * SEGMENT_SECONDS,
            rng.choice(templates).format(
                zipf_choice(rng, terms, topic), zipf_choice(rng, terms, topic)
            ),
        )
        for i in range(count)
    ]
    return Transcription("en" if english else "zh", count * SEGMENT_SECONDS, segments)


def build(engine: Engine, lectures: int, minutes: int) -> tuple[User, User, float]:
    """The clinics, two users and the lectures; returns (admin, doctor, seconds spent)."""
    rng = random.Random(20261124)
    sessions = make_session_factory(engine)
    started = time.perf_counter()
    with sessions() as session:
        clinics = ClinicService(session)
        county = clinics.add(
            Clinic(
                name="县卫健局",
                level=ClinicLevel.COUNTY,
                kind=ClinicKind.BUREAU,
                region_code="139901000000",
            )
        )
        townships = [
            clinics.add(Clinic(name=f"乡镇{i}卫生院", level=ClinicLevel.TOWNSHIP, kind=ClinicKind.TOWNSHIP_CENTRE, region_code=f"1399010{i:02d}000"), county)
            for i in range(1, 19)
        ]  # fmt: skip
        village = clinics.add(Clinic(name="东村卫生室", level=ClinicLevel.VILLAGE, kind=ClinicKind.VILLAGE_CLINIC, region_code="139901001001"), townships[0])  # fmt: skip
        accounts = AccountService(session)
        admin = accounts.create("admin", "benchmark-password", Role.ADMIN)
        doctor = accounts.create("dr.li", "benchmark-password", Role.DOCTOR, clinic=village)
        specialist = accounts.create("dr.wang", "benchmark-password", Role.SPECIALIST)
        session.commit()
        for number in range(lectures):
            # A third for the whole county (the doctor sees them), the rest for one township.
            audience = county if rng.random() < 1 / 3 else rng.choice(townships)
            english = rng.random() < 0.1
            said = transcription(rng, english, minutes)
            draft = LectureDraft(
                f"讲座 {number}: {said.segments[0].text[:20]}",
                audience=[(audience.id or 0, True)],
                language=Language.EN if english else Language.ZH,
            )
            lecture = LectureService(session, SearchService(session)).schedule(specialist, draft)
            TranscriptService(session, SearchService(session)).store(
                lecture, said, model="synthetic"
            )
            # Transcribed, so its ladder is in place: the audience may watch it (and find it).
            prefix = f"lectures/{lecture.id}/attempts/g1-1-bench/"
            session.add(MediaAsset(lecture_id=lecture.id or 0, state=MediaState.READY,
                                   hls_prefix=prefix, master="master.m3u8"))  # fmt: skip
            session.commit()
            if (number + 1) % 100 == 0:
                elapsed = time.perf_counter() - started
                print(f"  {number + 1} lectures indexed, {elapsed:.0f} s", flush=True)
        session.expunge_all()
    return admin, doctor, time.perf_counter() - started


def existing_users(engine: Engine) -> tuple[User, User]:
    with make_session_factory(engine)() as session:
        accounts = AccountService(session)
        admin, doctor = accounts.by_username("admin"), accounts.by_username("dr.li")
    assert admin is not None
    assert doctor is not None
    return admin, doctor


def measure(engine: Engine, user: User, queries: list[str], repeats: int) -> list[float]:
    """Milliseconds per search call, every query ``repeats`` times, interleaved."""
    timings: list[float] = []
    with make_session_factory(engine)() as session:
        service = SearchService(session)
        for query in queries:  # warm-up: first touch of each query's pages
            service.search(user, query)
        for _ in range(repeats):
            for query in queries:
                started = time.perf_counter()
                service.search(user, query, limit=20)
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def percentiles(timings: list[float]) -> str:
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return f"{cuts[49]:6.1f} {cuts[94]:6.1f} {max(timings):6.1f}"


@dataclass
class Bench:
    """One database under test: its engine and the two users who search it."""

    kind: str
    engine: Engine
    admin: User
    doctor: User


def report(benches: list[Bench], repeats: int) -> None:
    """p50/p95/max per language and role, one column group per database, row by row."""
    for bench in benches:
        with make_session_factory(bench.engine)() as session:
            for user in (bench.admin, bench.doctor):
                results = SearchService(session).search(user, "血压", limit=1)
                print(f"{bench.kind}: '血压' for {user.username}: {results.total} lectures match")
    groups = "".join(f"{NAMES[bench.kind]:^24}" for bench in benches)
    cuts = "".join(f"{'p50':>7}{'p95':>7}{'max':>7}   " for _ in benches)
    print(f"\n{'':<22}{'':<8}{groups}\n{'queries':<22}{'user':<8}{cuts}   (ms)")
    everything: dict[str, list[float]] = {bench.kind: [] for bench in benches}
    for label, queries in (("Chinese", ZH_QUERIES), ("English", EN_QUERIES)):
        for role in ("admin", "doctor"):
            line = f"{label + f' ({len(queries)})':<22}{role:<8}"
            for bench in benches:
                user = bench.admin if role == "admin" else bench.doctor
                timings = measure(bench.engine, user, queries, repeats)
                everything[bench.kind] += timings
                line += f" {percentiles(timings)}   "
            print(line, flush=True)
    print(f"{'all':<30}" + "".join(f" {percentiles(everything[b.kind])}   " for b in benches))


@contextlib.contextmanager
def database(kind: str, keep: Path | None) -> Iterator[tuple[str, bool]]:
    """(URL, whether it already holds a built index): a temporary one, or the one ``keep``
    names (SQLite: that file; PostgreSQL: the database ``clinicast_bench_<its stem>``)."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            path = keep or Path(directory) / "bench.sqlite"
            yield f"sqlite:///{path}", path.exists()
        return
    name = f"clinicast_bench_{keep.stem if keep else uuid.uuid4().hex[:8]}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        found = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        exists = found.fetchone() is not None
        if not exists:
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", exists
    finally:
        if keep is None:
            with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def prepare(kind: str, url: str, reuse: bool, args: argparse.Namespace) -> Bench:
    """The schema at head, the index built (or reused), statistics fresh."""
    engine = make_engine(url)
    upgrade(engine)
    segments = args.lectures * int(args.minutes * 60 / SEGMENT_SECONDS)
    if reuse:
        print(f"{kind}: reusing the index in {engine.url.database}")
        admin, doctor = existing_users(engine)
    else:
        print(
            f"{kind}: building {args.lectures} lectures x {args.minutes} min = {segments:,} segments"
        )
        admin, doctor, seconds = build(engine, args.lectures, args.minutes)
        print(f"{kind}: built in {seconds:.0f} s ({segments / seconds:,.0f} segments/s)")
    # Statistics fresh, and on PostgreSQL the visibility map set as autovacuum leaves it in
    # steady state (index-only scans skip the heap only for pages it marks all-visible).
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if kind == "sqlite":
            connection.execute(text("ANALYZE"))
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            size = Path(url.removeprefix("sqlite:///")).stat().st_size
        else:
            connection.execute(text("VACUUM ANALYZE"))
            query = "SELECT pg_database_size(current_database())"
            size = connection.execute(text(query)).scalar_one()
    print(f"{kind}: database size {size / 2**20:,.0f} MiB", flush=True)
    return Bench(kind, engine, admin, doctor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lectures", type=int, default=2000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--database", choices=["both", *NAMES], default="both")
    parser.add_argument("--keep", type=Path, help="keep the index built, or reuse it: see above")
    args = parser.parse_args()
    # Three users need three password hashes, not three seconds of argon2.
    account_services._hasher = PasswordHasher(time_cost=1, memory_cost=64)
    kinds = list(NAMES) if args.database == "both" else [args.database]
    with contextlib.ExitStack() as stack:
        benches = []
        for kind in kinds:
            url, reuse = stack.enter_context(database(kind, args.keep))
            bench = prepare(kind, url, reuse, args)
            stack.callback(bench.engine.dispose)
            benches.append(bench)
        report(benches, args.repeats)


if __name__ == "__main__":
    main()
