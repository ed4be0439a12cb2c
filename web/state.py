"""What the portal holds for its lifetime, built once by the app factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from celery import Celery
from sqlalchemy import Engine
from sqlmodel import Session

from infra.settings import Settings
from training.ports import BlobStore


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: Callable[[], Session]
    blobs: BlobStore
    celery: Celery
