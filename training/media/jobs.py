"""The jobs of a recording's pipeline (the order is stated in ``training/media/pipeline.py``).

Each loads what it needs, calls a tool (FFmpeg, Whisper, the object store), records the result
through ``RecordingSteps`` (which queues the next step in the same transaction) and reports
progress. Each is safe to run twice: it checks what is already done for its upload and only
then works, and the next step's dedupe key keeps it from being queued twice.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import rjieba

from training.jobs.context import JobContext
from training.jobs.registry import registry
from training.lectures.models import Lecture
from training.media.models import MediaAsset
from training.media.pipeline import MediaKeys
from training.media.processing import RecordingSteps, pipeline_failed, stale_attempts
from training.ports import LadderOutput, Transcription
from training.search.tokenize import STOPWORDS
from training.transcripts.formats import to_webvtt


def _current(ctx: JobContext, payload: dict[str, Any]) -> MediaAsset | None:
    with ctx.session() as session:
        return RecordingSteps(session).current(payload)


def fetch_source(ctx: JobContext, asset: MediaAsset, folder: Path, share: float) -> Path:
    """Download the source recording, reporting progress up to ``share``."""
    assert asset.source_key is not None
    target = folder / Path(asset.source_key).name
    total, done = max(asset.source_size, 1), 0

    def moved(count: int) -> None:
        nonlocal done
        done += count
        ctx.progress(share * done / total, "fetching the recording")

    ctx.blobs.get_file(asset.source_key, target, progress=moved)
    return target


@registry.kind(
    "media.probe", queue="media", max_attempts=3, soft_time_limit=900, on_failed=pipeline_failed
)
def probe_recording(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Fail fast on a bad upload: not media, truncated, empty, no usable stream (InvalidMedia
    fails the job at once; ``pipeline_failed`` tells the uploader, the original stays)."""
    if (asset := _current(ctx, payload)) is None:
        return
    with ctx.workdir() as folder:
        source = fetch_source(ctx, asset, folder, 0.8)
        ctx.progress(0.9, "probing")
        summary = ctx.media.probe(source)
    with ctx.session() as session:
        steps = RecordingSteps(session)
        if (asset := steps.current(payload)) is not None:
            steps.probed(asset, summary)
            session.commit()


@registry.kind(
    "media.transcode", queue="media", max_attempts=3, soft_time_limit=6 * 3600,
    on_failed=pipeline_failed,
)  # fmt: skip
def transcode_recording(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Make the HLS ladder in a scratch directory, store it under this attempt's prefix, then
    switch it in and remove the objects of attempts that can no longer be switched in.

    Only the attempt that holds the job's lease switches in (``_switch_in``): one whose lease
    was taken over (it stalled, the sweep gave its job to another worker) stops between two
    uploads or at the switch-in, and never removes what the live attempt writes."""
    if (asset := _current(ctx, payload)) is None:
        return
    keys = MediaKeys(asset.lecture_id)
    prefix = keys.attempt(asset.generation, ctx.attempt_tag)
    ladder = None
    if not RecordingSteps.has_ladder(asset):
        with ctx.workdir() as folder:
            source = fetch_source(ctx, asset, folder, 0.05)
            ladder = ctx.media.transcode(
                source, folder / "ladder",
                progress=lambda share: ctx.progress(0.05 + 0.85 * share, "transcoding"),
                cancelled=ctx.cancelled, time_limit=payload.get("transcode_seconds"),
            )  # fmt: skip
            _store_ladder(ctx, ladder, prefix)
    if _switch_in(ctx, payload, prefix, ladder):
        _remove_other_attempts(ctx, keys, int(payload["generation"]))


def _store_ladder(ctx: JobContext, ladder: LadderOutput, prefix: str) -> None:
    files = sorted(path for path in ladder.outdir.rglob("*") if path.is_file())
    for index, path in enumerate(files, start=1):
        ctx.stop_if_cancelled()  # the lease is gone: another attempt owns the job now
        ctx.blobs.put_file(prefix + path.relative_to(ladder.outdir).as_posix(), path)
        ctx.progress(0.9 + 0.1 * index / len(files), "storing the renditions")


def _switch_in(
    ctx: JobContext, payload: dict[str, Any], prefix: str, ladder: LadderOutput | None
) -> bool:
    """Switch the ladder in, in one transaction with the proof that this attempt still holds
    the job's lease; False if the upload was superseded meanwhile."""
    with ctx.session() as session:
        ctx.hold_lease(session)
        steps = RecordingSteps(session)
        if (asset := steps.current(payload)) is None:
            return False
        steps.transcoded(asset, prefix, ladder)
        session.commit()
    return True


def _remove_other_attempts(ctx: JobContext, keys: MediaKeys, generation: int) -> None:
    """Remove the attempts of this upload and older ones that were not switched in: once this
    upload's ladder is in, no attempt of it can switch in any more (a later one finds the
    ladder there and writes nothing), and a newer upload's attempts are never touched."""
    with ctx.session() as session:
        asset = session.get(MediaAsset, keys.lecture_id)
        keep = asset.hls_prefix if asset else None
    if keep is not None:
        listed = [stored.key for stored in ctx.blobs.list(keys.attempts)]
        for prefix in stale_attempts(keys, listed, keep, generation):
            ctx.blobs.delete_prefix(prefix)


@registry.kind(
    "speech.transcribe", queue="speech", max_attempts=3, soft_time_limit=6 * 3600,
    on_failed=pipeline_failed,
)  # fmt: skip
def transcribe_recording(ctx: JobContext, payload: dict[str, Any]) -> None:
    """Whisper → transcript (indexed) → WebVTT captions, prompted with the lecture's words."""
    if (asset := _current(ctx, payload)) is None:
        return
    with ctx.session() as session:
        lecture = RecordingSteps(session).lecture(asset)
    language = lecture.language.value
    with ctx.workdir() as folder:
        source = fetch_source(ctx, asset, folder, 0.05)
        transcription = Transcription(language=language, duration=0.0)
        if asset.has_video or asset.duration:
            transcription = ctx.transcriber.transcribe(
                source, language=language, initial_prompt=prompt_vocabulary(lecture) or None,
                progress=lambda share: ctx.progress(0.05 + 0.9 * share, "transcribing"),
                cancelled=ctx.cancelled,
            )  # fmt: skip
    with ctx.session() as session:
        steps = RecordingSteps(session)
        if (asset := steps.current(payload)) is None:
            return
        stored = steps.transcribed(asset, transcription, model=ctx.tools.speech_model)
        captions_key = MediaKeys(asset.lecture_id).captions(asset.generation)
        ctx.blobs.put_bytes(captions_key, to_webvtt(stored).encode(), content_type="text/vtt")
        steps.captioned(asset, captions_key)
        session.commit()


@registry.kind(
    "lectures.publish", queue="default", max_attempts=5, soft_time_limit=300,
    on_failed=pipeline_failed,
)  # fmt: skip
def publish_lecture(ctx: JobContext, payload: dict[str, Any]) -> None:
    with ctx.session() as session:
        steps = RecordingSteps(session)
        if (asset := steps.current(payload)) is not None:
            steps.publish(asset)
            session.commit()


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
