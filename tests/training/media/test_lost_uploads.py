"""An upload that object storage no longer has (its multipart upload aborted by a lifecycle
rule, or completed by S3 while our record of that was lost) never sticks: the state says
"none in progress", begin starts again, complete adopts the assembled recording when it is
there in full. Real SeaweedFS; the upload is aborted or completed behind the portal's back."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from sqlmodel import Session, select

from infra.storage.s3 import S3BlobStore
from tests.support.pipeline import user
from training.errors import UploadNotFound
from training.jobs.models import Job
from training.media.models import MediaState
from training.media.pipeline import FIRST_STEP, MediaKeys, step_key
from training.media.services import PART_SIZE, MediaService

LECTURE = 2
DATA = os.urandom(PART_SIZE + 4321)


def _parts_sent(session: Session, s3_store: S3BlobStore, filename: str = "talk.mp4") -> str:
    """Begin an upload of DATA and send both parts; returns the upload id."""
    service, specialist = MediaService(session, s3_store), user(session, "specialist")
    state = service.begin_upload(specialist, LECTURE, filename=filename, size=len(DATA))
    for number in (1, 2):
        chunk = DATA[(number - 1) * PART_SIZE : number * PART_SIZE]
        service.upload_part(specialist, LECTURE, state.upload_id, number, chunk)
    session.commit()
    return state.upload_id


def test_upload_aborted_behind_the_portals_back_can_be_begun_again(
    sessions: Callable[[], Session], s3_store: S3BlobStore
) -> None:
    with sessions() as session:
        lost = _parts_sent(session, s3_store)
        key = MediaKeys(LECTURE).source(1, "talk.mp4")
        s3_store.abort_upload(key, lost)  # the bucket's lifecycle rule did it

        service, specialist = MediaService(session, s3_store), user(session, "specialist")
        assert service.upload_state(specialist, LECTURE) is None  # "none in progress", not 500
        with pytest.raises(UploadNotFound, match="begin it again"):
            service.complete_upload(specialist, LECTURE, lost)
        session.rollback()  # what the portal does with a failed request

        again = service.begin_upload(specialist, LECTURE, filename="talk.mp4", size=len(DATA))
        assert again.upload_id != lost
        assert again.parts == {}
        for number in (1, 2):
            chunk = DATA[(number - 1) * PART_SIZE : number * PART_SIZE]
            service.upload_part(specialist, LECTURE, again.upload_id, number, chunk)
        asset = service.complete_upload(specialist, LECTURE, again.upload_id)
        session.commit()
        assert (asset.generation, asset.state, asset.upload_id) == (1, MediaState.PROCESSING, None)
    assert b"".join(s3_store.read_stream(key)) == DATA


def test_upload_completed_by_s3_but_not_recorded_is_adopted_on_complete(
    sessions: Callable[[], Session], s3_store: S3BlobStore
) -> None:
    with sessions() as session:
        upload_id = _parts_sent(session, s3_store)
        key = MediaKeys(LECTURE).source(1, "talk.mp4")
        # CompleteMultipartUpload succeeded, then the database commit failed.
        s3_store.complete_upload(key, upload_id)

        service, specialist = MediaService(session, s3_store), user(session, "specialist")
        assert service.upload_state(specialist, LECTURE) is None
        asset = service.complete_upload(specialist, LECTURE, upload_id)  # the browser retries
        session.commit()
        assert (asset.generation, asset.source_key, asset.source_size) == (1, key, len(DATA))
        assert asset.upload_id is None
        probe = session.exec(
            select(Job).where(Job.dedupe_key == step_key(FIRST_STEP, LECTURE, 1))
        ).first()
        assert probe is not None  # the pipeline is queued


def test_begin_after_a_lost_completion_starts_a_fresh_upload(
    sessions: Callable[[], Session], s3_store: S3BlobStore
) -> None:
    with sessions() as session:
        upload_id = _parts_sent(session, s3_store)
        s3_store.complete_upload(MediaKeys(LECTURE).source(1, "talk.mp4"), upload_id)
        service, specialist = MediaService(session, s3_store), user(session, "specialist")
        for filename in ("talk.mp4", "other.mov"):  # the same file again, or another one
            state = service.begin_upload(specialist, LECTURE, filename=filename, size=len(DATA))
            session.commit()
            assert state.upload_id != upload_id
            assert service.upload_state(specialist, LECTURE) == state
