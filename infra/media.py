"""The ``MediaProcessor`` port on the ``transcoder`` library (FFmpeg from imageio-ffmpeg)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import transcoder
from training.errors import InvalidMedia
from training.jobs.runner import JobCancelled
from training.ports import LadderOutput, MediaSummary


class FFmpegMediaProcessor:
    def __init__(
        self,
        *,
        ffmpeg: str | None = None,
        preset: str = "veryfast",
        max_height: int | None = None,
        pixels_per_second: float = transcoder.vod.ENCODE_PIXELS_PER_SECOND,
    ) -> None:
        self.ffmpeg = ffmpeg or transcoder.ffmpeg_executable()
        self.preset = preset
        self.max_height = max_height
        self.pixels_per_second = pixels_per_second

    def probe(self, source: Path) -> MediaSummary:
        try:
            info = transcoder.probe(source)
        except transcoder.TranscoderError as exc:
            raise InvalidMedia(str(exc)) from None
        video, audio = info.video, info.audio
        parts = []
        if video is not None:
            parts.append(
                f"{video.display_width}×{video.display_height} {video.codec}, {float(video.frame_rate):.0f} fps"
            )
        if audio is not None:
            parts.append(f"{audio.codec} {audio.layout}")
        try:
            ladder = transcoder.plan_ladder(info, max_height=self.max_height)
        except transcoder.PlanError as exc:
            raise InvalidMedia(str(exc)) from None
        return MediaSummary(
            duration=info.duration,
            has_video=video is not None,
            has_audio=audio is not None,
            width=video.display_width if video else None,
            height=video.display_height if video else None,
            description=", ".join(parts),
            transcode_seconds=transcoder.time_limit_for(
                ladder, pixels_per_second=self.pixels_per_second
            ),
        )

    def transcode(
        self,
        source: Path,
        outdir: Path,
        *,
        progress: Callable[[float], None] | None = None,
        cancelled: threading.Event | None = None,
        time_limit: float | None = None,
    ) -> LadderOutput:
        """The ladder and the offline download, both within ``time_limit`` (None: the limit
        derived from the planned ladder at this processor's speed)."""
        started = time.monotonic()

        def report(update: transcoder.Progress) -> None:
            if progress is not None and update.percent is not None:
                progress(update.percent / 100)

        try:
            result = transcoder.transcode(
                source, outdir, max_height=self.max_height, preset=self.preset, on_progress=report,
                cancel=cancelled, time_limit=time_limit, pixels_per_second=self.pixels_per_second,
                ffmpeg_exe=self.ffmpeg,
            )  # fmt: skip
        except transcoder.TranscodeCancelledError:
            raise JobCancelled() from None
        except (transcoder.InvalidMediaError, transcoder.ProbeError, transcoder.PlanError) as exc:
            raise InvalidMedia(str(exc)) from None
        if time_limit is None:
            time_limit = transcoder.time_limit_for(
                result.ladder, pixels_per_second=self.pixels_per_second
            )
        download = self._download_file(result, time_limit - (time.monotonic() - started))
        return LadderOutput(
            outdir=result.outdir,
            master=result.master_playlist.name,
            renditions=[_rendition(variant) for variant in result.variants],
            poster=_relative(result.poster, result.outdir),
            thumbnails=_relative(result.thumbnail_track, result.outdir),
            download=download,
            audio=f"{result.ladder.audio.name}/index.m3u8" if result.ladder.audio else None,
        )

    def _download_file(self, result: transcoder.TranscodeResult, seconds_left: float) -> str | None:
        """The smallest rendition remuxed (no re-encode) into one MP4 for offline viewing."""
        rung = (
            result.ladder.video[0].name
            if result.ladder.video
            else (result.ladder.audio.name if result.ladder.audio else None)
        )
        if rung is None:
            return None
        name = f"download-{rung}.mp4"
        # Every video rung carries its sound (the ladder muxes it in): a plain copy.
        command = transcoder.build_remux_command(f"{rung}/index.m3u8", name, ffmpeg_exe=self.ffmpeg)
        # A copy reads and writes at disk speed: what is left of the transcode's one limit
        # (at least two minutes: the ladder may have used nearly all of it).
        transcoder.run_ffmpeg(
            command, cwd=result.outdir, duration=result.media.duration,
            time_limit=max(120.0, seconds_left),
        )  # fmt: skip
        return name


def _relative(path: Path | None, root: Path) -> str | None:
    return path.relative_to(root).as_posix() if path is not None else None


def _rendition(variant: transcoder.Variant) -> dict[str, object]:
    return {
        "uri": variant.uri,
        "bandwidth": variant.bandwidth,
        "average_bandwidth": variant.average_bandwidth,
        "codecs": list(variant.codecs),
        "width": variant.resolution[0] if variant.resolution else None,
        "height": variant.resolution[1] if variant.resolution else None,
        "audio_only": variant.resolution is None,
        # Sound in a separate rendition group (ladders made before 2026-12): the player then
        # needs hls.js's full build; a ladder with the sound muxed in plays with the light one.
        "audio_group": variant.audio_group,
    }
