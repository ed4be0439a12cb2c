"""The ``MediaProcessor`` port on the ``transcoder`` library (FFmpeg from imageio-ffmpeg)."""

from __future__ import annotations

import threading
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
        time_limit_factor: float = 4.0,
    ) -> None:
        self.ffmpeg = ffmpeg or transcoder.ffmpeg_executable()
        self.preset = preset
        self.max_height = max_height
        self.time_limit_factor = time_limit_factor

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
        return MediaSummary(
            duration=info.duration,
            has_video=video is not None,
            has_audio=audio is not None,
            width=video.display_width if video else None,
            height=video.display_height if video else None,
            description=", ".join(parts),
        )

    def transcode(
        self,
        source: Path,
        outdir: Path,
        *,
        progress: Callable[[float], None] | None = None,
        cancelled: threading.Event | None = None,
    ) -> LadderOutput:
        def report(update: transcoder.Progress) -> None:
            if progress is not None and update.percent is not None:
                progress(update.percent / 100)

        try:
            result = transcoder.transcode(
                source, outdir, max_height=self.max_height, preset=self.preset, on_progress=report,
                cancel=cancelled, time_limit=600.0, time_limit_factor=self.time_limit_factor,
                ffmpeg_exe=self.ffmpeg,
            )  # fmt: skip
        except transcoder.TranscodeCancelledError:
            raise JobCancelled() from None
        except (transcoder.InvalidMediaError, transcoder.ProbeError, transcoder.PlanError) as exc:
            raise InvalidMedia(str(exc)) from None
        download = self._download_file(result)
        return LadderOutput(
            outdir=result.outdir,
            master=result.master_playlist.name,
            renditions=[_rendition(variant) for variant in result.variants],
            poster=_relative(result.poster, result.outdir),
            thumbnails=_relative(result.thumbnail_track, result.outdir),
            download=download,
            audio=f"{result.ladder.audio.name}/index.m3u8" if result.ladder.audio else None,
        )

    def _download_file(self, result: transcoder.TranscodeResult) -> str | None:
        """The smallest rendition remuxed (no re-encode) into one MP4 for offline viewing."""
        rung = (
            result.ladder.video[0].name
            if result.ladder.video
            else (result.ladder.audio.name if result.ladder.audio else None)
        )
        if rung is None:
            return None
        name = f"download-{rung}.mp4"
        audio = result.ladder.audio
        with_audio = f"{audio.name}/index.m3u8" if audio and rung != audio.name else None
        command = transcoder.build_remux_command(
            f"{rung}/index.m3u8", name, audio_playlist=with_audio, ffmpeg_exe=self.ffmpeg
        )
        # A copy reads and writes at disk speed: a fraction of the transcode's time limit.
        limit = max(120.0, result.media.duration * self.time_limit_factor / 4)
        transcoder.run_ffmpeg(
            command, cwd=result.outdir, duration=result.media.duration, time_limit=limit
        )
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
    }
