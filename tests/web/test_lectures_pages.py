"""The lecture pages: the library by status, scheduling through the form (time zones,
validation that keeps what was typed), one lecture with its upload and pipeline widgets for
those who manage it, and the 403/404 pages."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.web import Portal, lecture_json, open_portal
from training.lectures.models import LectureStatus
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState


@pytest.fixture(scope="module")
def portal(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[Portal]:
    with open_portal(tmp_path_factory.mktemp("lecture-pages"), embedded_s3) as portal:
        yield portal


def new_lecture(portal: Portal, title: str, status: LectureStatus | None = None) -> int:
    """A lecture of "specialist" for township 1, set to ``status``."""
    response = portal.callers["owner"].post(
        "/api/v1/lectures", json=lecture_json(portal, title=title)
    )
    lecture_id: int = response.json()["id"]
    if status is not None:
        with portal.services.sessions() as session:
            lecture = LectureService(session).get(lecture_id)
            lecture.status = status
            session.add(lecture)
            session.commit()
    return lecture_id


def section(page: str, key: str) -> str:
    match = re.search(
        rf'<section class="lecture-group" id="group-{key}">(.*?)</section>', page, re.S
    )
    assert match is not None
    return match.group(1)


def test_library_splits_the_visible_lectures_into_live_upcoming_and_on_demand(
    portal: Portal,
) -> None:
    live = new_lecture(portal, "正在直播的课程", LectureStatus.LIVE)
    published = new_lecture(portal, "可点播的课程", LectureStatus.PUBLISHED)
    page = portal.callers["doctor_in"].get("/lectures").text
    assert "正在直播" in page
    assert "点播课程库" in page
    assert f'href="/lectures/{live}"' in section(page, "live")
    assert f'href="/lectures/{published}"' in section(page, "library")
    assert "老年高血压患者的降压药调整" in section(page, "upcoming")
    outside = portal.callers["doctor_out"].get("/lectures").text
    assert "正在直播的课程" not in outside
    assert "老年高血压患者的降压药调整" in outside  # the seeded lectures are for the whole county


def test_new_lecture_form_offers_every_clinic_of_the_county(portal: Portal) -> None:
    page = portal.callers["owner"].get("/lectures/new").text
    assert page.count('name="audience"') == 308
    assert 'type="datetime-local"' in page
    assert "Asia/Shanghai" in page  # the time zone the start is read in


def test_creating_a_lecture_stores_the_start_in_utc_and_opens_its_page(portal: Portal) -> None:
    township = portal.region("139901001000")
    response = portal.callers["owner"].post(
        "/lectures/new",
        data={
            "title": "糖尿病足的早期识别",
            "description": "村医如何检查足部",
            "keywords": "糖尿病 足部",
            "language": "zh",
            "scheduled_start": "2030-05-01T09:00",
            "duration_minutes": "45",
            "mandatory": "yes",
            "attendance_percent": "75",
            "audience": [str(township), str(portal.region("139901002000"))],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    lecture_id = int(response.headers["location"].rsplit("/", 1)[1])
    with portal.services.sessions() as session:
        lectures = LectureService(session)
        lecture = lectures.get(lecture_id)
        assert lecture.scheduled_start == datetime(2030, 5, 1, 1, 0, tzinfo=UTC)
        assert (lecture.duration_minutes, lecture.mandatory, lecture.attendance_share) == (
            45,
            True,
            0.75,
        )
        assert (lecture.status, lecture.specialist_id) == (
            LectureStatus.SCHEDULED,
            lecture.specialist_id,
        )
        audience = {
            (entry.clinic_id, entry.include_subtree) for entry in lectures.audience(lecture)
        }
        assert audience == {(township, True), (portal.region("139901002000"), True)}
    page = portal.callers["owner"].get(f"/lectures/{lecture_id}").text
    assert "2030-05-01 09:00" in page  # shown back in the user's time zone
    assert "75 %" in page


def test_a_form_with_mistakes_comes_back_with_what_was_typed_and_what_to_fix(
    portal: Portal,
) -> None:
    township = portal.region("139901001000")
    response = portal.callers["owner"].post(
        "/lectures/new",
        data={
            "title": "",
            "description": "保留这段简介",
            "scheduled_start": "next tuesday",
            "duration_minutes": "0",
            "attendance_percent": "150",
            "audience": str(township),
        },
    )
    assert response.status_code == 400
    page = response.text
    assert "保留这段简介" in page
    assert 'value="next tuesday"' in page
    for message in ("请填写课程标题", "YYYY-MM-DD HH:MM", "1 到 1440 分钟", "1% 到 100%"):
        assert message in page
    assert f'value="{township}" checked' in page
    no_audience = portal.callers["owner"].post("/lectures/new", data={"title": "无对象"})
    assert no_audience.status_code == 400
    assert "请至少选择一个授课对象机构" in no_audience.text


def test_lecture_page_offers_upload_and_progress_only_to_those_who_manage_it(
    portal: Portal,
) -> None:
    lecture_id = new_lecture(portal, "上传测试课程")
    owner = portal.callers["owner"].get(f"/lectures/{lecture_id}").text
    assert 'id="upload"' in owner
    assert re.search(r'src="/[^"]*js/upload\.js"', owner)  # /static/… or a hashed /assets/…
    assert re.search(r'src="/[^"]*js/pipeline\.js"', owner)
    strings = re.search(
        r'<script type="application/json" id="lecture-i18n">(.*?)</script>', owner, re.S
    )
    assert strings is not None  # the step labels reach the scripts in the user's language
    assert json.loads(strings.group(1))["Check the recording"] == "检查录像"
    assert 'id="pipeline-restart"' not in owner
    admin = portal.callers["admin"].get(f"/lectures/{lecture_id}").text
    assert 'id="pipeline-restart"' in admin
    doctor = portal.callers["doctor_in"].get(f"/lectures/{lecture_id}").text
    assert "上传测试课程" in doctor
    assert 'id="upload"' not in doctor
    assert "upload.js" not in doctor


def test_a_published_lecture_links_to_the_player(portal: Portal) -> None:
    lecture_id = new_lecture(portal, "已发布课程", LectureStatus.PUBLISHED)
    with portal.services.sessions() as session:  # published: its ladder is in place
        prefix = f"lectures/{lecture_id}/attempts/g1-1-test/"
        session.add(MediaAsset(lecture_id=lecture_id, state=MediaState.READY, hls_prefix=prefix,
                               master="master.m3u8"))  # fmt: skip
        session.commit()
    page = portal.callers["doctor_in"].get(f"/lectures/{lecture_id}").text
    assert re.search(r'<p id="watch" >\s*<a class="button" href="/lectures/\d+/watch">', page)
    scheduled = portal.callers["doctor_in"].get(f"/lectures/{new_lecture(portal, '未发布')}").text
    assert '<p id="watch" hidden>' in scheduled
    live = portal.callers["doctor_in"].get(
        f"/lectures/{new_lecture(portal, '直播', LectureStatus.LIVE)}"
    )
    assert '<p id="watch" >' in live.text  # live: watchable before any recording
    cancelled = new_lecture(portal, "已取消", LectureStatus.CANCELLED)
    assert '<p id="watch" hidden>' in portal.callers["doctor_in"].get(f"/lectures/{cancelled}").text
    assert '<p id="watch" >' in portal.callers["owner"].get(f"/lectures/{cancelled}").text


def test_a_lecture_outside_the_audience_is_a_403_page_and_a_missing_one_a_404_page(
    portal: Portal,
) -> None:
    lecture_id = new_lecture(portal, "九号乡镇看不到")
    denied = portal.callers["doctor_out"].get(f"/lectures/{lecture_id}")
    assert denied.status_code == 403
    assert "您无权打开此页面" in denied.text
    assert "<html" in denied.text
    missing = portal.callers["doctor_out"].get("/lectures/999999")
    assert missing.status_code == 404
    assert "未找到" in missing.text
    assert portal.callers["doctor_out"].get("/lectures/new").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(portal: Portal) -> None:
    response = portal.callers["anon"].get("/lectures", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_the_upload_and_pipeline_scripts_send_the_csrf_header(portal: Portal) -> None:
    for script in ("upload", "pipeline"):
        response = portal.callers["anon"].get(f"/static/js/{script}.js")
        assert response.status_code == 200
        assert "x-csrftoken" in response.text


def test_nav_links_follow_the_role(portal: Portal) -> None:
    admin = portal.callers["admin"].get("/lectures").text
    assert 'id="nav-admin"' in admin
    assert 'id="nav-new-lecture"' in admin
    doctor = portal.callers["doctor_in"].get("/lectures").text
    assert 'id="nav-lectures"' in doctor
    assert 'id="nav-admin"' not in doctor
    assert 'id="nav-new-lecture"' not in doctor
