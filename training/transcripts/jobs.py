"""The speech step of a recording's pipeline: Whisper → transcript (indexed) → captions."""

from __future__ import annotations

import re
from typing import Any

import rjieba

from training.base import utcnow
from training.lectures.models import Lecture
from training.media.jobs import blobs_of, current, fetch_source, next_step
from training.media.services import pipeline_failed
from training.pipeline.context import JobContext
from training.pipeline.registry import registry
from training.ports import Transcriber, Transcription
from training.search.tokenize import STOPWORDS
from training.transcripts.formats import to_webvtt
from training.transcripts.services import TranscriptService


def prompt_vocabulary(lecture: Lecture) -> str:
    """The lecture's words for Whisper to expect: the words of its title and its keywords, as a
    comma-separated list. Not the title as a sentence: measured on the English fixture, the
    prompt "Hypertension in elderly patients" made Whisper write the title in place of the
    spoken "High blood pressure is common in elderly patients"; the same words as a list fixed
    降压药 in the Mandarin fixtures without that."""
    words: list[str] = []
    for raw in [*rjieba.cut(lecture.title), *re.split(r"[\s,，、;；]+", lecture.keywords)]:
        word = raw.strip().lower() if raw.isascii() else raw.strip()
        if (
            len(word) > 1
            and word not in STOPWORDS
            and not re.fullmatch(r"\W+", word)
            and word not in words
        ):
            words.append(word)
    return ", ".join(words)


@registry.kind(
    "speech.transcribe",
    queue="speech",
    max_attempts=3,
    soft_time_limit=6 * 3600,
    on_failed=pipeline_failed,
)
def transcribe_recording(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Transcribe the source with the lecture's title and keywords as a prompt (medical words),
    store the transcript (the search index follows) and the WebVTT captions."""
    with ctx.session() as session:
        asset = current(session, payload)
        lecture = session.get(Lecture, int(payload["lecture_id"]))
    if asset is None or lecture is None:
        return
    transcriber: Transcriber = ctx.resource("transcriber")
    with ctx.workdir() as folder:
        source = fetch_source(ctx, asset, folder, 0.05)
        if asset.has_video or asset.duration:
            transcription = transcriber.transcribe(
                source,
                language=lecture.language.value,
                initial_prompt=prompt_vocabulary(lecture) or None,
                progress=lambda share: ctx.progress(0.05 + 0.9 * share, "transcribing"),
                cancelled=ctx.cancelled,
            )
        else:
            transcription = Transcription(language=lecture.language.value, duration=0.0)
    with ctx.session() as session:
        fresh, lecture = current(session, payload), session.get(Lecture, int(payload["lecture_id"]))
        if fresh is None or lecture is None:
            return
        transcripts = TranscriptService(session)
        transcripts.store(lecture, transcription, model=str(ctx.resources.get("speech_model", "")))
        # Captions from what was stored: a specialist's earlier corrections survive a re-run.
        stored = transcripts.transcription(fresh.lecture_id) or transcription
        captions_key = f"lectures/{fresh.lecture_id}/captions/g{fresh.generation}.vtt"
        blobs_of(ctx).put_bytes(captions_key, to_webvtt(stored).encode(), content_type="text/vtt")
        fresh.captions_key, fresh.updated_at = captions_key, utcnow()
        session.add(fresh)
        session.commit()
    next_step(ctx, "lectures.publish", payload)
