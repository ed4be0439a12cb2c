"""Every table, imported in one place so Alembic and ``create_all`` see the whole schema."""

from training.accounts.models import User
from training.base import metadata
from training.clinics.models import Clinic
from training.lectures.models import Lecture, LectureAudience
from training.pipeline.models import Job, WorkerPresence

__all__ = ["Clinic", "Job", "Lecture", "LectureAudience", "User", "WorkerPresence", "metadata"]
