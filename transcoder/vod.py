"""Transcode one recorded (VOD) source into an HLS ladder directory: probe, plan, one ffmpeg,
playlists.

The output appears atomically: everything is written into a hidden temporary directory beside
``outdir`` and renamed into place at the end, so a bad input, a failure, a cancel or a killed
worker never leaves a half-written ladder where the portal would serve it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from transcoder.commands import build_ladder_command
from transcoder.ladder import Ladder, Scaling, plan_ladder
from transcoder.playlists import Variant, write_master_playlist
from transcoder.probe import MediaInfo, probe
from transcoder.runner import ProgressCallback, run_ffmpeg
from transcoder.thumbnails import write_thumbnail_track

__all__ = ["TranscodeResult", "ffmpeg_executable", "planned_pixels", "time_limit_for", "transcode"]

MASTER_PLAYLIST = "master.m3u8"

ENCODE_PIXELS_PER_SECOND = 30e6
"""A conservative speed (planned pixels a second) of one ladder ffmpeg on a 2-core box at
veryfast: measured 54 Mpx/s for a 1080p ladder and 69 for a 4K one with the load at 8-10; 30
leaves room for slower boxes and sources that are harder to decode."""
TIME_LIMIT_MARGIN = 2.0
TIME_LIMIT_FLOOR = 3600.0
"""No ladder gets less than an hour: a short clip's time is start-up, not pixels."""


@dataclass(frozen=True)
class TranscodeResult:
    outdir: Path
    master_playlist: Path
    media: MediaInfo
    ladder: Ladder
    variants: tuple[Variant, ...]
    poster: Path | None
    thumbnail_track: Path | None


def ffmpeg_executable() -> str:
    """The pinned FFmpeg of the imageio-ffmpeg wheel (libx264, libvmaf, SRT)."""
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def transcode(
    source: Path | str,
    outdir: Path | str,
    *,
    max_height: int | None = None,
    preset: str = "veryfast",
    scaling: Scaling = "auto",
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    time_limit: float | None = None,
    pixels_per_second: float = ENCODE_PIXELS_PER_SECOND,
    ffmpeg_exe: str | None = None,
) -> TranscodeResult:
    """Make ``outdir/master.m3u8`` and its variants, poster and thumbnails from ``source``
    (with ``ffmpeg_exe``, default the pinned imageio-ffmpeg build).

    Raises ``InvalidMediaError`` before writing anything for a bad source, ``TranscodeError``
    (or its ``TranscodeCancelledError`` / ``TranscodeTimeoutError``) if ffmpeg fails. An existing
    ``outdir`` is replaced only once the new ladder is complete (safe to retry).

    ffmpeg gets ``time_limit`` seconds; without one, the limit ``time_limit_for`` derives from
    the planned ladder's pixels at ``pixels_per_second`` (the source is probed once, here).
    """
    source, outdir = Path(source).resolve(), Path(outdir).resolve()
    media = probe(source)
    ladder = plan_ladder(media, max_height=max_height, scaling=scaling)
    if time_limit is None:
        time_limit = time_limit_for(ladder, pixels_per_second=pixels_per_second)
    outdir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.partial-", dir=outdir.parent))
    try:
        for name in [rung.name for rung in ladder.video] + (
            [ladder.audio.name] if ladder.audio else []
        ):
            (work / name).mkdir()
        command = build_ladder_command(
            ladder, f"file:{source}", preset=preset, ffmpeg_exe=ffmpeg_exe or ffmpeg_executable()
        )
        run_ffmpeg(
            command,
            cwd=work,
            duration=media.duration,
            on_progress=on_progress,
            cancel=cancel,
            time_limit=time_limit,
        )
        variants = write_master_playlist(ladder, work)
        track = None
        if ladder.thumbnails is not None and not ladder.thumbnails.waveform:
            track = write_thumbnail_track(ladder.thumbnails, media.duration, work).name
        _move_into_place(work, outdir)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    poster = outdir / "poster.jpg"
    return TranscodeResult(
        outdir=outdir,
        master_playlist=outdir / MASTER_PLAYLIST,
        media=media,
        ladder=ladder,
        variants=tuple(variants),
        poster=poster if poster.exists() else None,
        thumbnail_track=outdir / track if track else None,
    )


def planned_pixels(ladder: Ladder) -> float:
    """The work of a ladder in pixels: every frame of every rung encoded, and the source
    decoded once (counted as the largest rung: the source is never much larger, except where
    ``max_height`` caps the ladder)."""
    per_second = sum(rung.width * rung.height * float(rung.frame_rate) for rung in ladder.video)
    if ladder.video:
        top = ladder.video[-1]
        per_second += top.width * top.height * float(top.frame_rate)
    return ladder.duration * per_second


def time_limit_for(
    ladder: Ladder,
    *,
    pixels_per_second: float = ENCODE_PIXELS_PER_SECOND,
    margin: float = TIME_LIMIT_MARGIN,
    floor: float = TIME_LIMIT_FLOOR,
) -> float:
    """Seconds a ladder's ffmpeg may run: its planned pixels at ``pixels_per_second``, times
    ``margin``, and never less than ``floor``. The one limit of a transcode: the job that runs
    it gets this plus the time to move the files."""
    return max(floor, margin * planned_pixels(ladder) / pixels_per_second)


def _move_into_place(work: Path, outdir: Path) -> None:
    """Rename ``work`` to ``outdir``; an old ``outdir`` is moved aside first, then deleted."""
    work.chmod(0o755)  # mkdtemp makes it private; the portal serves it
    old: Path | None = None
    if outdir.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.old-", dir=outdir.parent))
        os.replace(outdir, old / "ladder")
    os.replace(work, outdir)
    if old is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)
