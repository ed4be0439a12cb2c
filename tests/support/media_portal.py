"""A portal whose lecture has a real ladder, captions and an indexed transcript: a generated
clip transcoded by the real transcoder and stored in the session's SeaweedFS, for the media,
player and search tests."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from infra.db import upgrade
from infra.media import FFmpegMediaProcessor
from infra.seed import seed
from infra.settings import Settings
from infra.storage.seaweed import EmbeddedSeaweedFS
from tests.conftest import S3_ACCESS_KEY, S3_SECRET_KEY
from tests.support.web import PASSWORD, sign_in
from training.accounts.models import Role
from training.accounts.services import AccountService
from training.clinics.services import ClinicService
from training.lectures.models import Language
from training.lectures.rules import LectureDraft
from training.lectures.services import LectureService
from training.media.models import MediaAsset, MediaState
from training.ports import SpeechSegment, Transcription
from training.search.services import SearchService
from training.transcripts.formats import to_webvtt
from training.transcripts.services import TranscriptService
from web.app import build_services, create_app
from web.state import Services

SPEECH = (
    (0.0, 1.5, "Good morning, colleagues."),
    (1.5, 3.0, "Today we adjust blood pressure drugs."),
    (3.2, 4.8, "Amlodipine suits elderly patients."),
)


@dataclass
class PortalWithLecture:
    """A portal (portal delivery) whose lecture ``lecture_id`` has a real ladder, captions and
    an indexed transcript; ``ladder`` is the local copy of what was uploaded. ``other_app`` is
    the same portal again, for a second client while the first is open (two clients must not
    share one app: each runs its lifespan)."""

    settings: Settings
    services: Services
    app: Litestar
    other_app: Litestar
    lecture_id: int
    ladder: Path
    asset: MediaAsset

    def app_with(self, **media: object) -> Litestar:
        """The same portal with other media settings (delivery, URL lifetime)."""
        settings = self.settings.model_copy(
            update={"media": self.settings.media.model_copy(update=media)}
        )
        return create_app(settings, dataclasses.replace(self.services, settings=settings))


def make_clip(folder: Path) -> Path:
    clip = folder / "clip.mp4"
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=5",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=5",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-shortest", str(clip)],
        check=True, timeout=60,
    )  # fmt: skip
    return clip


def build_portal(
    tmp_path_factory: pytest.TempPathFactory, embedded_s3: EmbeddedSeaweedFS
) -> Iterator[PortalWithLecture]:
    """Seed a portal, schedule a lecture for township 001 and give it a real ladder."""
    folder = tmp_path_factory.mktemp("media-portal")
    ladder = FFmpegMediaProcessor(preset="ultrafast").transcode(
        make_clip(folder), folder / "ladder"
    )
    settings = Settings(
        data_dir=folder / "data",
        storage={
            "endpoint_url": embedded_s3.endpoint_url,
            "bucket": embedded_s3.bucket,
            "access_key": S3_ACCESS_KEY,
            "secret_key": S3_SECRET_KEY,
        },
        media={"delivery": "portal"},
    )
    services = build_services(settings)
    upgrade(services.engine)
    with services.sessions() as session:
        seed(session)
        clinics, accounts = ClinicService(session), AccountService(session)
        township = clinics.by_region_code("139901001000")
        assert township is not None
        for username, code in (("doc-in", "139901001001"), ("doc-out", "139901009001")):
            accounts.create(
                username, PASSWORD, Role.DOCTOR, clinic=clinics.by_region_code(code), locale="en"
            )
        specialist = accounts.create(
            "spec-in", PASSWORD, Role.SPECIALIST, clinic=clinics.by_region_code("139901000001")
        )
        assert township.id is not None
        draft = LectureDraft(
            "Hypertension drugs for the elderly",
            audience=[(township.id, True)],
            language=Language.EN,
        )
        lecture = LectureService(session, SearchService(session)).schedule(specialist, draft)
        assert lecture.id is not None
        prefix = f"lectures/{lecture.id}/attempts/g1-1-test/"
        for path in sorted(p for p in ladder.outdir.rglob("*") if p.is_file()):
            services.blobs.put_file(prefix + path.relative_to(ladder.outdir).as_posix(), path)
        transcription = Transcription("en", 5.0, [SpeechSegment(*s) for s in SPEECH])
        captions_key = f"lectures/{lecture.id}/captions/g1.vtt"
        services.blobs.put_bytes(
            captions_key, to_webvtt(transcription).encode(), content_type="text/vtt"
        )
        TranscriptService(session, SearchService(session)).store(
            lecture, transcription, model="fixed"
        )
        asset = MediaAsset(
            lecture_id=lecture.id, state=MediaState.READY, generation=1, duration=5.0,
            hls_prefix=prefix, master=ladder.master, renditions=list(ladder.renditions),
            poster=ladder.poster, thumbnails=ladder.thumbnails, download=ladder.download,
            captions_key=captions_key,
        )  # fmt: skip
        session.add(asset)
        session.commit()
        session.refresh(asset)
        session.expunge(asset)
        lecture_id = lecture.id
    yield PortalWithLecture(
        settings,
        services,
        create_app(settings, services),
        create_app(settings, services),
        lecture_id,
        ladder.outdir,
        asset,
    )
    services.engine.dispose()


def sign_in_as(client: TestClient[Litestar], username: str) -> None:
    """Sign ``client`` in as one of the portal's accounts (all have ``PASSWORD``)."""
    status = sign_in(client, username, PASSWORD)
    assert status == 303, f"{username} could not sign in ({status})"
