"""Every table, imported in one place so Alembic and ``create_all`` see the whole schema."""

from training.accounts.models import ApiToken, SignInBackoff, User
from training.attendance.models import Heartbeat, ViewingSession
from training.base import metadata
from training.clinics.models import Clinic
from training.jobs.models import Job, WorkerPresence
from training.lectures.models import Lecture, LectureAudience
from training.media.models import MediaAsset
from training.search.models import (
    FTS_TABLES,
    TSVECTOR_COLUMN,
    TSVECTOR_INDEXES,
    SearchDocument,
    SearchSegment,
)
from training.transcripts.models import Transcript, TranscriptSegment

__all__ = [
    "ApiToken",
    "Clinic",
    "Heartbeat",
    "Job",
    "Lecture",
    "LectureAudience",
    "MediaAsset",
    "SearchDocument",
    "SearchSegment",
    "SignInBackoff",
    "Transcript",
    "TranscriptSegment",
    "User",
    "ViewingSession",
    "WorkerPresence",
    "include_name",
    "metadata",
]


def include_name(name: str | None, type_: str, _parent_names: object) -> bool:
    """What Alembic compares with the models: not the full-text index, which each database
    builds its own way outside the metadata (migration 0002): SQLite's FTS5 table and its
    shadow tables (``search_fts``, ``search_fts_data``…), PostgreSQL's ``tsv`` columns and GIN
    indexes."""
    if type_ == "table":
        return not (name or "").startswith(FTS_TABLES)
    if type_ == "column":
        return name != TSVECTOR_COLUMN
    if type_ == "index":
        return name not in TSVECTOR_INDEXES
    return True
