"""The authorisation matrix of watching: who gets a lecture's media, transcript, captions and
search hits, for lectures that are playable, cancelled, still processing or live, for doctors
in and outside the audience, the lecture's specialist and admins, and for signed media URLs
whose user was deactivated or left the audience, or whose lecture was cancelled, after they
were issued. Every ``/media`` path: playlists, captions, thumbnail track, poster, download
(gated on every fetch) and segments (signature only). On a real ladder
(``tests.support.media_portal``)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.support.media_portal import PortalWithLecture, build_portal, sign_in_as
from tests.support.web import PASSWORD
from training.accounts.models import Role
from training.accounts.services import AccountService
from training.clinics.services import ClinicService
from training.lectures.models import Language, Lecture, LectureStatus
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.ports import SpeechSegment, Transcription
from training.search.services import SearchService
from training.transcripts.services import TranscriptService
from web.app import create_app

TOWNSHIP = "139901001000"
VILLAGE_IN = "139901001001"
VILLAGE_OUT = "139901009001"


@dataclass
class Matrix:
    portal: PortalWithLecture
    ids: dict[str, int]  # lecture kind → id

    def set_status(self, kind: str, status: LectureStatus) -> None:
        with self.portal.services.sessions() as session:
            lecture = session.get(Lecture, self.ids[kind])
            assert lecture is not None
            lecture.status = status
            session.add(lecture)
            session.commit()

    def change_user(self, username: str, **changes: object) -> None:
        with self.portal.services.sessions() as session:
            user = AccountService(session).by_username(username)
            assert user is not None
            for name, value in changes.items():
                setattr(user, name, value)
            session.add(user)
            session.commit()

    def clinic_id(self, code: str) -> int:
        with self.portal.services.sessions() as session:
            clinic = ClinicService(session).by_region_code(code)
            assert clinic is not None
            assert clinic.id is not None
            return clinic.id


def _add_lecture(
    portal: PortalWithLecture,
    title: str,
    status: LectureStatus,
    media: MediaState | None,
    said: str | None,
) -> int:
    """A lecture for township 001 by ``spec-in``: ``media`` the state of a recording whose
    ladder (the portal's) is switched in, ``said`` its transcript."""
    with portal.services.sessions() as session:
        specialist = AccountService(session).by_username("spec-in")
        township = ClinicService(session).by_region_code(TOWNSHIP)
        assert specialist is not None
        assert township is not None
        assert township.id is not None
        draft = LectureDraft(title, audience=[(township.id, True)], language=Language.EN)
        lecture = LectureService(session, SearchService(session)).schedule(specialist, draft)
        assert lecture.id is not None
        if said is not None:
            transcription = Transcription("en", 5.0, [SpeechSegment(0.0, 2.0, said)])
            TranscriptService(session, SearchService(session)).store(lecture, transcription)
        if media is not None:
            ladder = portal.asset.model_dump(exclude={"lecture_id", "state"})
            session.add(MediaAsset(**ladder, lecture_id=lecture.id, state=media))
        lecture.status = status
        session.add(lecture)
        session.commit()
        return lecture.id


@pytest.fixture(scope="module")
def matrix(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[Matrix]:
    for portal in build_portal(tmp_path_factory, embedded_s3):
        with portal.services.sessions() as session:
            accounts, clinics = AccountService(session), ClinicService(session)
            accounts.create("admin-2", PASSWORD, Role.ADMIN, locale="en")
            for username in ("doc-leaving", "doc-deactivated", "doc-cancelled"):
                accounts.create(username, PASSWORD, Role.DOCTOR, locale="en",
                                clinic=clinics.by_region_code(VILLAGE_IN))  # fmt: skip
            session.commit()
        ids = {
            "playable": portal.lecture_id,
            "cancelled": _add_lecture(portal, "Cancelled talk", LectureStatus.CANCELLED,
                                      MediaState.READY, "Zolpidem helps patients sleep."),
            "processing": _add_lecture(portal, "Reprocessing talk", LectureStatus.PROCESSING,
                                       MediaState.PROCESSING, "Warfarin needs regular checks."),
            "live": _add_lecture(portal, "Live talk", LectureStatus.LIVE, None,
                                 "Metformin comes first."),
            "unpublished": _add_lecture(portal, "Scheduled talk", LectureStatus.SCHEDULED,
                                        None, None),
            "to-cancel": _add_lecture(portal, "Soon cancelled", LectureStatus.PUBLISHED,
                                      MediaState.READY, None),
        }  # fmt: skip
        yield Matrix(portal, ids)


@pytest.fixture(scope="module")
def clients(matrix: Matrix) -> Iterator[dict[str, TestClient[Litestar]]]:
    """One signed-in client per role, each on its own app (two clients must not share one)."""
    settings, services = matrix.portal.settings, matrix.portal.services
    opened: dict[str, TestClient[Litestar]] = {}
    for role, username in (("doc-in", "doc-in"), ("doc-out", "doc-out"),
                           ("owner", "spec-in"), ("admin", "admin-2")):  # fmt: skip
        client = TestClient(create_app(settings, services))
        client.__enter__()
        sign_in_as(client, username)
        opened[role] = client
    yield opened
    for client in opened.values():
        client.__exit__(None, None, None)


PATHS = {
    "master": "/lectures/{}/hls/master.m3u8",
    "media": "/api/v1/lectures/{}/media",
    "download": "/lectures/{}/download",
    "transcript": "/api/v1/lectures/{}/transcript",
    "watch": "/lectures/{}/watch",
}
OK = {"master": 200, "media": 200, "download": 303, "transcript": 200, "watch": 200}
NOT_WATCHABLE = {"master": 404, "media": 404, "download": 404, "transcript": 404, "watch": 200}
OUTSIDE = dict.fromkeys(PATHS, 403)
# What each role gets for each kind of lecture. A live lecture has no recording yet: its
# transcript may be read, the recorded media are not there (404), the page says so; the same
# for an unpublished one to those who may always watch.
LIVE = {"master": 404, "media": 404, "download": 404, "transcript": 200, "watch": 200}
EXPECTED = {
    ("playable", "doc-in"): OK,
    ("playable", "owner"): OK,
    ("playable", "admin"): OK,
    ("cancelled", "doc-in"): {**NOT_WATCHABLE, "watch": 404},
    ("cancelled", "owner"): OK,
    ("cancelled", "admin"): OK,
    ("processing", "doc-in"): NOT_WATCHABLE,
    ("processing", "owner"): OK,
    ("processing", "admin"): OK,
    ("unpublished", "doc-in"): NOT_WATCHABLE,
    ("unpublished", "owner"): LIVE,  # they may watch, but nothing is recorded yet
    ("unpublished", "admin"): LIVE,
    ("live", "doc-in"): LIVE,
    ("live", "owner"): LIVE,
    ("live", "admin"): LIVE,
    **{
        (kind, "doc-out"): OUTSIDE
        for kind in ("playable", "cancelled", "processing", "unpublished", "live")
    },
}


@pytest.mark.parametrize(("kind", "role"), EXPECTED.keys(), ids=[f"{k}-{r}" for k, r in EXPECTED])
def test_every_lecture_path_answers_as_the_watch_rule_says(
    matrix: Matrix, clients: dict[str, TestClient[Litestar]], kind: str, role: str
) -> None:
    client, lecture_id = clients[role], matrix.ids[kind]
    got = {
        name: client.get(path.format(lecture_id), follow_redirects=False).status_code
        for name, path in PATHS.items()
    }
    assert got == EXPECTED[kind, role]


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("processing", "Warfarin needs regular checks."),
        ("cancelled", "Zolpidem helps patients sleep."),
    ],
)
def test_the_player_page_shows_no_transcript_of_a_lecture_the_doctor_may_not_watch(
    matrix: Matrix, clients: dict[str, TestClient[Litestar]], kind: str, said: str
) -> None:
    page = clients["doc-in"].get(f"/lectures/{matrix.ids[kind]}/watch")
    assert said not in page.text
    assert 'id="player"' not in page.text
    assert said in clients["owner"].get(f"/lectures/{matrix.ids[kind]}/watch").text


@pytest.mark.parametrize(
    ("query", "kind", "finders"),
    [
        ("warfarin", "processing", {"owner", "admin"}),
        ("zolpidem", "cancelled", set()),  # search never lists a cancelled lecture
        ("metformin", "live", {"doc-in", "owner", "admin"}),
        ("amlodipine", "playable", {"doc-in", "owner", "admin"}),
    ],
)
def test_search_hits_only_lectures_the_user_may_watch(
    matrix: Matrix,
    clients: dict[str, TestClient[Litestar]],
    query: str,
    kind: str,
    finders: set[str],
) -> None:
    for role, client in clients.items():
        found = client.get("/api/v1/search", params={"q": query}).json()
        ids = [lecture["lecture_id"] for lecture in found["lectures"]]
        assert ids == ([matrix.ids[kind]] if role in finders else []), role
        page = client.get("/search", params={"q": query}).text
        assert (f'data-lecture-id="{matrix.ids[kind]}"' in page) is (role in finders), role


def uris(playlist: str) -> list[str]:
    found = []
    for line in playlist.splitlines():
        if line.startswith("#"):
            found += re.findall(r'URI="([^"]*)"', line)
        elif line.strip():
            found.append(line.strip())
    return found


@dataclass
class Issued:
    """Signed URLs handed to one user while they could watch."""

    variant: str
    audio: str
    segment: str
    init: str
    captions: str
    thumbnails: str
    sprite: str
    poster: str
    download: str

    def gated(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in
                ("variant", "audio", "captions", "thumbnails", "poster", "download")}  # fmt: skip

    def signature_only(self) -> dict[str, str]:
        return {"segment": self.segment, "init": self.init, "sprite": self.sprite}


def issue(matrix: Matrix, username: str, lecture_id: int) -> Issued:
    with TestClient(matrix.portal.app) as client:
        sign_in_as(client, username)
        media = client.get(f"/api/v1/lectures/{lecture_id}/media").json()
        master = client.get(f"/lectures/{lecture_id}/hls/master.m3u8").text
        variant = next(url for url in uris(master) if "/audio/" not in url)  # a video rung
        init, segment, *_ = uris(client.get(variant).text)
        sprite = re.findall(r"^(/media/\S+)#xywh=", client.get(media["thumbnails"]).text, re.M)[0]
        download = client.get(media["download"], follow_redirects=False).headers["location"]
    return Issued(variant, media["audio"], segment, init, media["captions"], media["thumbnails"],
                  sprite, media["poster"], download)  # fmt: skip


def fetch_all(matrix: Matrix, urls: dict[str, str]) -> dict[str, int]:
    with TestClient(matrix.portal.other_app) as anonymous:  # signed URLs need no session
        return {name: anonymous.get(url).status_code for name, url in urls.items()}


def test_issued_urls_are_all_signed_portal_urls_of_the_lecture(matrix: Matrix) -> None:
    issued = issue(matrix, "doc-cancelled", matrix.ids["playable"])
    lecture = matrix.ids["playable"]
    for name, url in {**issued.gated(), **issued.signature_only()}.items():
        assert urlsplit(url).path.startswith(f"/media/{lecture}/"), name
    assert set(fetch_all(matrix, {**issued.gated(), **issued.signature_only()}).values()) == {200}


def test_a_deactivated_doctor_s_copied_urls_stop_at_the_next_playlist(matrix: Matrix) -> None:
    issued = issue(matrix, "doc-deactivated", matrix.ids["playable"])
    matrix.change_user("doc-deactivated", is_active=False)
    assert fetch_all(matrix, issued.gated()) == dict.fromkeys(issued.gated(), 403)
    # Segments stay signature-only (cheap): without a playlist there is nothing to play next.
    assert fetch_all(matrix, issued.signature_only()) == dict.fromkeys(issued.signature_only(), 200)
    with TestClient(matrix.portal.app) as client:
        assert client.get(issued.variant).status_code == 403


def test_a_doctor_who_left_the_audience_loses_the_playlists(matrix: Matrix) -> None:
    issued = issue(matrix, "doc-leaving", matrix.ids["playable"])
    matrix.change_user("doc-leaving", clinic_id=matrix.clinic_id(VILLAGE_OUT))
    assert fetch_all(matrix, issued.gated()) == dict.fromkeys(issued.gated(), 403)


def test_urls_issued_before_a_lecture_was_cancelled_stop_working(matrix: Matrix) -> None:
    lecture = matrix.ids["to-cancel"]
    issued = issue(matrix, "doc-cancelled", lecture)
    matrix.set_status("to-cancel", LectureStatus.CANCELLED)
    assert fetch_all(matrix, issued.gated()) == dict.fromkeys(issued.gated(), 403)
    owner = issue(matrix, "spec-in", lecture)  # its specialist still may
    assert set(fetch_all(matrix, owner.gated()).values()) == {200}


def test_the_watch_link_shows_only_when_the_user_may_watch(
    matrix: Matrix, clients: dict[str, TestClient[Litestar]]
) -> None:
    def watch_link_shown(role: str, kind: str) -> bool:
        page = clients[role].get(f"/lectures/{matrix.ids[kind]}").text
        return '<p id="watch" >' in page or '<p id="watch">' in page

    assert watch_link_shown("doc-in", "playable")
    assert watch_link_shown("doc-in", "live")
    assert not watch_link_shown("doc-in", "processing")
    assert watch_link_shown("owner", "processing")
