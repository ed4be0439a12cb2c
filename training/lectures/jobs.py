"""The last step of a recording's pipeline: the lecture becomes playable on demand."""

from __future__ import annotations

from typing import Any

from training.base import utcnow
from training.lectures.models import Lecture, LectureStatus
from training.media.jobs import current
from training.media.models import MediaState
from training.media.services import pipeline_failed
from training.pipeline.context import JobContext
from training.pipeline.registry import registry
from training.search.services import SearchService


@registry.kind(
    "lectures.publish",
    queue="default",
    max_attempts=5,
    soft_time_limit=300,
    on_failed=pipeline_failed,
)
def publish_lecture(ctx: JobContext, payload: dict[str, Any]) -> None:
    with ctx.session() as session:
        asset = current(session, payload)
        lecture = session.get(Lecture, int(payload["lecture_id"]))
        if asset is None or lecture is None:
            return
        asset.state, asset.error, asset.updated_at = MediaState.READY, None, utcnow()
        lecture.status, lecture.updated_at = LectureStatus.PUBLISHED, utcnow()
        session.add_all([asset, lecture])
        SearchService(session).reindex_lecture(lecture.id or 0)
        session.commit()
