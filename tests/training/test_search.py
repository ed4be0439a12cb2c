"""Searching what was said in lectures, on SQLite (FTS5) and PostgreSQL (tsvector) alike:
Chinese words inside sentences, English in any case and inflection, ranking, the moments to
jump to, highlighting, and never a lecture outside the user's audience."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Engine, event, text
from sqlmodel import Session

from infra.db import alembic_config
from training.accounts.models import Role, User
from training.accounts.services import AccountService
from training.clinics.models import Clinic, ClinicKind, ClinicLevel
from training.clinics.services import ClinicService
from training.lectures.models import Lecture, LectureStatus
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.ports import SpeechSegment, Transcription
from training.search.services import FIELD_WEIGHTS, SearchService
from training.transcripts.services import TranscriptService

PASSWORD = "correct-horse-battery"
SECONDS_PER_SEGMENT = 5.0


@dataclass
class World:
    """A county with two townships; lectures are for township A (and the village below it)."""

    session: Session
    township_a: Clinic
    admin: User
    specialist: User
    doctor_a: User  # at a village clinic below township A: inside the audience
    doctor_b: User  # at township B: outside it

    def lecture(
        self, title: str, said: list[str], *, media: MediaState = MediaState.READY, **details: str
    ) -> Lecture:
        """A lecture for township A with its transcript indexed and its recording in the state
        ``media`` (READY: the ladder switched in, the audience may watch it)."""
        assert self.township_a.id is not None
        draft = LectureDraft(title, audience=[(self.township_a.id, True)], **details)
        lecture = LectureService(self.session, SearchService(self.session)).schedule(
            self.specialist, draft
        )
        segments = [
            SpeechSegment(i * SECONDS_PER_SEGMENT, (i + 1) * SECONDS_PER_SEGMENT, text)
            for i, text in enumerate(said)
        ]
        transcription = Transcription("zh", len(said) * SECONDS_PER_SEGMENT, segments)
        TranscriptService(self.session, SearchService(self.session)).store(
            lecture, transcription, model="test"
        )
        assert lecture.id is not None
        prefix = f"lectures/{lecture.id}/attempts/g1-1-test/"
        self.session.add(
            MediaAsset(lecture_id=lecture.id, state=media, hls_prefix=prefix, master="master.m3u8")
        )
        self.session.commit()
        return lecture

    def search(self, user: User, query: str, **options: int) -> list[int]:
        """The ids of the lectures found, best first."""
        results = SearchService(self.session).search(user, query, **options)
        return [found.lecture_id for found in results.lectures]


def _clinic(clinics: ClinicService, name: str, code: str, parent: Clinic | None) -> Clinic:
    level = ClinicLevel.COUNTY if parent is None else ClinicLevel.TOWNSHIP
    if parent is not None and parent.parent_id is not None:
        level = ClinicLevel.VILLAGE
    kind = {
        ClinicLevel.COUNTY: ClinicKind.BUREAU,
        ClinicLevel.TOWNSHIP: ClinicKind.TOWNSHIP_CENTRE,
        ClinicLevel.VILLAGE: ClinicKind.VILLAGE_CLINIC,
    }[level]
    return clinics.add(Clinic(name=name, level=level, kind=kind, region_code=code), parent)


@pytest.fixture
def world(session: Session) -> World:
    clinics = ClinicService(session)
    county = _clinic(clinics, "示范县卫生健康局", "139901000000", None)
    township_a = _clinic(clinics, "城关镇卫生院", "139901001000", county)
    village_a = _clinic(clinics, "东村卫生室", "139901001001", township_a)
    township_b = _clinic(clinics, "河西乡卫生院", "139901002000", county)
    accounts = AccountService(session)
    world = World(
        session=session,
        township_a=township_a,
        admin=accounts.create("admin", PASSWORD, Role.ADMIN),
        specialist=accounts.create("dr.wang", PASSWORD, Role.SPECIALIST),
        doctor_a=accounts.create("dr.li", PASSWORD, Role.DOCTOR, clinic=village_a),
        doctor_b=accounts.create("dr.zhao", PASSWORD, Role.DOCTOR, clinic=township_b),
    )
    session.commit()
    return world


def test_two_character_chinese_words_are_found_inside_longer_sentences(world: World) -> None:
    lecture = world.lecture(
        "基层常见病", ["今天讲儿童常见病。", "患者出现发热和高血压症状时应当及时就诊。"]
    )
    assert world.search(world.doctor_a, "发热") == [lecture.id]
    assert world.search(world.doctor_a, "血压") == [lecture.id]
    assert world.search(world.doctor_a, "高血压") == [lecture.id]


def test_the_drug_word_and_its_shorter_stem_both_find_antihypertensives(world: World) -> None:
    lecture = world.lecture("用药", ["医生开了降压药，每天早上服用一次。"])
    assert world.search(world.doctor_a, "降压药") == [lecture.id]
    assert world.search(world.doctor_a, "降压") == [lecture.id]


def test_a_query_in_traditional_characters_finds_simplified_text(world: World) -> None:
    lecture = world.lecture("儿科", ["小儿发热的处理原则。"])
    assert world.search(world.doctor_a, "發熱") == [lecture.id]


@pytest.mark.parametrize("query", ["Hypertension", "hypertension", "HYPERTENSION"])
def test_english_words_match_in_any_case(world: World, query: str) -> None:
    lecture = world.lecture("Grand round", ["Today we discuss hypertension in older adults."])
    assert world.search(world.doctor_a, query) == [lecture.id]


def test_plural_and_inflected_english_words_find_each_other(world: World) -> None:
    lecture = world.lecture(
        "Insulin", ["Give one injection before breakfast.", "Doses are adjusted."]
    )
    assert world.search(world.doctor_a, "injections") == [lecture.id]
    assert world.search(world.doctor_a, "dose") == [lecture.id]
    assert world.search(world.doctor_a, "adjusting") == [lecture.id]


def test_a_query_must_match_every_word_of_it(world: World) -> None:
    world.lecture("A", ["发热的处理"])
    both = world.lecture("B", ["儿童发热的处理"])
    assert world.search(world.doctor_a, "儿童 发热") == [both.id]


def test_the_lecture_that_mentions_the_query_more_densely_ranks_first(world: World) -> None:
    filler = ["今天我们讨论基层医疗的一些问题。"] * 8
    sparse = world.lecture("讲座甲", [*filler[:7], "注意监测血压。"])
    dense = world.lecture(
        "讲座乙", ["血压是什么？", *filler[:3], "血压升高的原因。", "家庭自测血压。", *filler[:2]]
    )
    assert world.search(world.doctor_a, "血压") == [dense.id, sparse.id]


def test_a_title_hit_weighs_more_than_a_single_mention_in_a_transcript(world: World) -> None:
    mention = world.lecture("基层医疗", ["顺便提一下糖尿病。", "其他内容。"])
    titled = world.lecture("糖尿病的综合管理", ["今天的内容。", "其他内容。"])
    assert world.search(world.doctor_a, "糖尿病") == [titled.id, mention.id]


def test_results_carry_the_start_seconds_of_every_hit_for_deep_links(world: World) -> None:
    world.lecture("发热门诊", ["开场白。", "发热的定义。", "其他。", "其他。", "发热的处理。"])
    [found] = SearchService(world.session).search(world.doctor_a, "发热").lectures
    assert found.hit_count == 2
    assert found.moments == [5.0, 20.0]
    assert [(hit.start, hit.end) for hit in found.hits] == [(5.0, 10.0), (20.0, 25.0)]


def test_hits_per_lecture_keeps_the_best_few_in_time_order(world: World) -> None:
    world.lecture("血压", [f"第{i}次测量血压。" for i in range(10)])
    [found] = (
        SearchService(world.session).search(world.doctor_a, "血压", hits_per_lecture=3).lectures
    )
    assert found.hit_count == 10
    assert len(found.moments) == 10
    starts = [hit.start for hit in found.hits]
    assert len(starts) == 3
    assert starts == sorted(starts)


def test_snippets_mark_the_hits_and_escape_everything_else(world: World) -> None:
    world.lecture("Dosing <script>", ['Injections of <b>insulin</b> & "care".'])
    [found] = SearchService(world.session).search(world.doctor_a, "injection insulin").lectures
    assert found.hits[0].snippet_html == (
        "<mark>Injections</mark> of &lt;b&gt;<mark>insulin</mark>&lt;/b&gt; &amp; &quot;care&quot;."
    )
    assert found.title_html == "Dosing &lt;script&gt;"


def test_chinese_snippet_marks_the_word_inside_the_sentence(world: World) -> None:
    world.lecture("高血压", ["患者出现发热和高血压症状，应及时就诊。"])
    [found] = SearchService(world.session).search(world.doctor_a, "血压").lectures
    assert found.hits[0].snippet_html == "患者出现发热和高<mark>血压</mark>症状，应及时就诊。"
    assert found.title_html == "高<mark>血压</mark>"


def test_a_description_hit_comes_with_a_snippet(world: World) -> None:
    world.lecture("基层讲座", ["无关内容。"], description="本讲介绍社区获得性肺炎的诊断。")
    [found] = SearchService(world.session).search(world.doctor_a, "肺炎").lectures
    assert found.hit_count == 0
    assert "<mark>肺炎</mark>" in found.description_html


def test_a_doctor_outside_the_audience_finds_nothing_even_when_the_text_matches(
    world: World,
) -> None:
    lecture = world.lecture("发热", ["发热的处理。"])
    assert world.search(world.doctor_b, "发热") == []
    assert world.search(world.doctor_a, "发热") == [lecture.id]
    assert world.search(world.admin, "发热") == [lecture.id]
    assert world.search(world.specialist, "发热") == [lecture.id]


def test_the_audience_is_applied_before_a_page_is_cut(world: World) -> None:
    services = LectureService(world.session, SearchService(world.session))
    township_b = ClinicService(world.session).get(world.doctor_b.clinic_id or 0)
    for i in range(4):  # dense matches for township B only: the doctor may not see them
        draft = LectureDraft(f"血压 {i}", audience=[(township_b.id or 0, True)])
        lecture = services.schedule(world.specialist, draft)
        transcription = Transcription("zh", 10.0, [SpeechSegment(0, 5, "血压血压血压")])
        TranscriptService(world.session, SearchService(world.session)).store(lecture, transcription)
    visible = world.lecture("其他", ["偶尔提到血压。", "别的。", "别的。"])
    results = SearchService(world.session).search(world.doctor_a, "血压", limit=1)
    assert [found.lecture_id for found in results.lectures] == [visible.id]
    assert results.total == 1
    assert len(world.search(world.admin, "血压", limit=10)) == 5


def test_pages_follow_each_other_without_overlap(world: World) -> None:
    ids = {world.lecture(f"讲座{i}", ["发热。"] * (i + 1)).id for i in range(5)}
    first = SearchService(world.session).search(world.doctor_a, "发热", limit=2)
    second = SearchService(world.session).search(world.doctor_a, "发热", limit=2, offset=2)
    third = SearchService(world.session).search(world.doctor_a, "发热", limit=2, offset=4)
    pages = [[found.lecture_id for found in page.lectures] for page in (first, second, third)]
    assert first.total == 5
    assert [len(page) for page in pages] == [2, 2, 1]
    assert {i for page in pages for i in page} == ids


def test_a_cancelled_lecture_is_not_found(world: World) -> None:
    lecture = world.lecture("发热", ["发热。"])
    lecture.status = LectureStatus.CANCELLED
    world.session.add(lecture)
    world.session.commit()
    assert world.search(world.admin, "发热") == []


@pytest.mark.parametrize("state", [MediaState.UPLOADING, MediaState.PROCESSING, MediaState.FAILED])
def test_a_lecture_its_audience_may_not_watch_yet_is_found_only_by_those_who_manage_it(
    world: World, state: MediaState
) -> None:
    unready = world.lecture("发热", ["发热的处理。"], media=state)
    ready = world.lecture("咳嗽", ["发热以后咳嗽。"])
    assert world.search(world.doctor_a, "发热") == [ready.id]
    assert set(world.search(world.specialist, "发热")) == {unready.id, ready.id}
    assert set(world.search(world.admin, "发热")) == {unready.id, ready.id}
    asset = world.session.get(MediaAsset, unready.id)
    assert asset is not None
    asset.state = MediaState.READY  # the ladder is in place: the audience may watch
    world.session.add(asset)
    world.session.commit()
    assert set(world.search(world.doctor_a, "发热")) == {unready.id, ready.id}


def test_a_live_lecture_is_found_before_it_has_a_recording(world: World) -> None:
    lecture = world.lecture("发热", ["发热的处理。"], media=MediaState.UPLOADING)
    assert world.search(world.doctor_a, "发热") == []
    for status in (LectureStatus.LIVE, LectureStatus.ENDED):
        lecture.status = status
        world.session.add(lecture)
        world.session.commit()
        assert world.search(world.doctor_a, "发热") == [lecture.id], status


@pytest.mark.parametrize("query", ["", "   ", "的", "，。！", "the of"])
def test_a_query_without_any_searchable_word_finds_nothing(world: World, query: str) -> None:
    world.lecture("的", ["的 the of，。！"])
    results = SearchService(world.session).search(world.admin, query)
    assert results.lectures == []
    assert results.total == 0


def test_a_changed_title_is_found_after_the_lecture_is_reindexed(world: World) -> None:
    lecture = world.lecture("旧标题", ["内容。"])
    lecture.title = "慢性阻塞性肺疾病"
    world.session.add(lecture)
    assert lecture.id is not None
    SearchService(world.session).reindex_lecture(lecture.id)
    world.session.commit()
    assert world.search(world.doctor_a, "阻塞性") == [lecture.id]
    assert world.search(world.doctor_a, "旧标题") == []


def test_the_schema_after_migrations_matches_the_models(engine: Engine) -> None:
    # ``alembic check`` fails if autogenerate would change anything; the full-text index that
    # each database builds its own way is kept out of the comparison by env.py.
    command.check(alembic_config(engine.url.render_as_string(hide_password=False)))


# -- PostgreSQL: documents are found and ranked from their postings (migration 0005) -----------

ON_POSTGRESQL = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _rows(session: Session, query: str, **params: str) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in session.connection().execute(text(query), params)]


@ON_POSTGRESQL
def test_postings_follow_the_documents_through_corrections_and_reindexing(world: World) -> None:
    lecture = world.lecture("高血压管理", ["患者出现发热和高血压症状。", "血压控制目标。"])
    assert lecture.id is not None
    transcripts = TranscriptService(world.session, SearchService(world.session))
    second = transcripts.segments(lecture.id)[1]
    assert second.id is not None
    transcripts.correct_segment(world.specialist, second.id, "糖尿病随访。")
    lecture.title = "慢性病管理"
    world.session.add(lecture)
    SearchService(world.session).reindex_lecture(lecture.id)
    world.session.commit()
    # A posting for every word of every document, with the score of a one-word query computed
    # by the same function over the same vector as a search computed it before postings.
    expected = """
        SELECT d.id, entry.lexeme, d.lecture_id, d.field,
               ts_rank_cd(d.tsv, plainto_tsquery('simple', entry.lexeme), 2)
        FROM search_document AS d, unnest(d.tsv) AS entry ORDER BY 1, 2"""
    postings = (
        "SELECT document_id, lexeme, lecture_id, field, rank FROM search_posting ORDER BY 1, 2"
    )
    assert _rows(world.session, postings) == _rows(world.session, expected)
    assert world.search(world.doctor_a, "糖尿病") == [lecture.id]
    assert world.search(world.doctor_a, "控制") == []
    assert world.search(world.doctor_a, "慢性病") == [lecture.id]


@ON_POSTGRESQL
@pytest.mark.parametrize("query", ["血压", "高血压 症状", "发热 血压", "Hypertension"])
def test_scores_sum_each_word_s_cover_density_in_every_field(world: World, query: str) -> None:
    world.lecture("血压", ["血压的测量。", "发热时血压会变化。"], keywords="高血压 症状")
    world.lecture("高血压的症状", ["发热和头痛。"] * 3 + ["高血压症状，注意血压。"])
    world.lecture("Hypertension", ["Hypertension and fever: check the blood pressure."])
    world.lecture("其他", ["没有相关内容。"], description="血压和发热的关系。")
    results = SearchService(world.session).search(world.admin, query)
    # Every field that holds all the words scores the sum of each word's cover density in it
    # (additive, as SQLite's bm25 is), weighted and summed per lecture.
    relevance = """
        SELECT lecture_id, field, sum(ts_rank_cd(tsv, plainto_tsquery('simple', word), 2))
        FROM search_document, unnest(tsvector_to_array(to_tsvector('simple', :words))) AS word
        WHERE tsv @@ plainto_tsquery('simple', :words)
        GROUP BY id, lecture_id, field"""
    scores: dict[int, float] = {}
    for lecture_id, name, rank in _rows(world.session, relevance, words=" ".join(results.tokens)):
        scores[lecture_id] = scores.get(lecture_id, 0.0) + FIELD_WEIGHTS[name] * rank
    assert results.lectures
    assert {found.lecture_id: found.score for found in results.lectures} == pytest.approx(scores)


@ON_POSTGRESQL
def test_a_word_s_postings_are_read_through_their_index_never_by_a_scan(world: World) -> None:
    world.lecture("高血压", ["高血压的症状。", "血压。"])
    # A vocabulary's worth of other words, so that the planner weighs the tables as it would
    # in use (on a handful of rows it would rightly read everything).
    connection = world.session.connection()
    connection.execute(
        text("""
        INSERT INTO search_posting (document_id, lexeme, lecture_id, field, rank)
        SELECT id, 'word' || n, lecture_id, field, 0.1
        FROM search_document, generate_series(1, 20000) AS n""")
    )
    connection.execute(text("ANALYZE search_posting"))
    statements: list[tuple[str, Any]] = []
    bind = world.session.get_bind()

    def capture(_c: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        statements.append((statement, params))

    event.listen(bind, "before_cursor_execute", capture)
    try:
        results = SearchService(world.session).search(world.doctor_a, "高血压 症状")
    finally:
        event.remove(bind, "before_cursor_execute", capture)
    assert results.total == 1
    [(ranking, params)] = [each for each in statements if "search_posting" in each[0]]
    explain = connection.exec_driver_sql(f"EXPLAIN {ranking}", params)
    plan = "\n".join(row[0] for row in explain)
    assert "ix_search_posting_lexeme" in plan
    assert "Index Cond: (lexeme = ANY " in plan
    assert "Seq Scan on search_posting" not in plan
    assert "Seq Scan on search_document" not in plan
