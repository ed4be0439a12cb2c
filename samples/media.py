"""Synthetic lecture clips made with FFmpeg's lavfi sources, for tests, demos and benchmarks.

Every function writes one file and returns its path. The clips are deterministic (no random
seeds) and small: a lecture is a static "slide" that changes every few seconds, with a moving
inset (the speaker's camera) and a speech-like tone, which is what capped-CRF rate control is
tuned for; ``high_motion`` is the opposite, for the worst case.

    from samples.media import lecture_clip
    lecture_clip(tmp / "lecture.mp4", seconds=6)
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

__all__ = [
    "audio_only_clip",
    "hevc_10bit_mkv_clip",
    "high_motion_clip",
    "lecture_clip",
    "portrait_phone_clip",
    "surround_clip",
    "variable_frame_rate_clip",
]

# A voice-like signal: a gliding fundamental with syllable-rate amplitude modulation.
_SPEECH = "0.3*sin(2*PI*(170+40*sin(2*PI*0.7*t))*t)*(0.55+0.45*sin(2*PI*4*t))"


def _ffmpeg(*args: str) -> None:
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=600)


def _speech_input(seconds: float, channels: int = 1) -> list[str]:
    """A lavfi audio input: the speech-like signal on each channel, slightly detuned per channel."""
    if channels == 0:
        return []
    expressions = "|".join(_SPEECH.replace("170", str(170 + 10 * c)) for c in range(channels))
    layout = {1: "mono", 2: "stereo", 6: "5.1"}[channels]
    return ["-f", "lavfi", "-i", f"aevalsrc={expressions}:s=48000:c={layout}:d={seconds}"]


def _lecture_filter(width: int, height: int, fps: int, seconds: float) -> str:
    """Slides (a new test card every 4 s, still in between) with a moving speaker inset."""
    inset_w, inset_h = max(width // 6 // 2 * 2, 32), max(height // 6 // 2 * 2, 18)
    return (
        f"testsrc=s={width}x{height}:r=1/4:d={seconds},fps={fps},format=yuv420p[slide];"
        f"testsrc2=s={inset_w}x{inset_h}:r={fps}:d={seconds}[inset];"
        f"[slide][inset]overlay=x='W-w-{width // 40}-{width // 60}*sin(t)'"
        f":y='H-h-{height // 30}':shortest=1,trim=duration={seconds}"
    )


def _write(
    path: Path,
    video_filter: str | None,
    *,
    seconds: float,
    audio_channels: int,
    video_args: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "28"),
    audio_args: tuple[str, ...] = ("-c:a", "aac", "-b:a", "96k"),
    extra: tuple[str, ...] = (),
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = _speech_input(seconds, audio_channels)
    args: list[str] = []
    if video_filter is not None:
        args += ["-filter_complex", f"{video_filter}[v]", "-map", "[v]", *video_args]
    if audio_channels:
        args += ["-map", "0:a", *audio_args]  # the lavfi audio is the only input
    _ffmpeg(*inputs, *args, *extra, "-t", str(seconds), str(path))
    return path


def lecture_clip(
    path: Path,
    *,
    seconds: float = 6,
    width: int = 1920,
    height: int = 1080,
    fps: int = 30,
    audio: bool = True,
    crf: int = 28,
) -> Path:
    """A slide lecture with a moving inset and speech-like mono audio (H.264/AAC in MP4)."""
    return _write(
        path,
        _lecture_filter(width, height, fps, seconds),
        seconds=seconds,
        audio_channels=1 if audio else 0,
        video_args=("-c:v", "libx264", "-preset", "ultrafast", "-crf", str(crf)),
    )


def high_motion_clip(
    path: Path, *, seconds: float = 6, width: int = 1920, height: int = 1080, fps: int = 30
) -> Path:
    """Full-frame motion with temporal noise: the encoder's worst case (e.g. a surgery video)."""
    video = (
        f"testsrc2=s={width}x{height}:r={fps}:d={seconds},"
        "noise=alls=8:allf=t,hue=H=t*0.5,format=yuv420p"
    )
    return _write(
        path,
        video,
        seconds=seconds,
        audio_channels=1,
        video_args=("-c:v", "libx264", "-preset", "ultrafast", "-crf", "24"),
    )


def portrait_phone_clip(path: Path, *, seconds: float = 4, rotation: int = 90) -> Path:
    """A phone video: coded landscape 1280x720 with a display matrix turning it portrait."""
    coded = path.with_name(path.stem + ".coded" + path.suffix)
    lecture_clip(coded, seconds=seconds, width=1280, height=720)
    _ffmpeg("-display_rotation:v:0", str(rotation), "-i", str(coded), "-c", "copy", str(path))
    coded.unlink()
    return path


def variable_frame_rate_clip(path: Path, *, seconds: float = 4) -> Path:
    """Alternates 30 fps and 15 fps every second, as phones do in low light (true VFR)."""
    video = (
        _lecture_filter(640, 360, 30, seconds)
        + ",select='lt(mod(t\\,2)\\,1)+not(mod(n\\,2))',setpts=PTS"
    )
    return _write(path, video, seconds=seconds, audio_channels=1, extra=("-fps_mode", "vfr"))


def hevc_10bit_mkv_clip(path: Path, *, seconds: float = 3) -> Path:
    """10-bit HEVC in Matroska, as exported by newer cameras and phones."""
    return _write(
        path,
        _lecture_filter(1280, 720, 25, seconds) + ",format=yuv420p10le",
        seconds=seconds,
        audio_channels=2,
        video_args=(
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-crf",
            "30",
            "-x265-params",
            "log-level=error",
        ),
    )


def surround_clip(path: Path, *, seconds: float = 3) -> Path:
    """720p video with 5.1 AAC audio (a lecture hall's mixing desk)."""
    return _write(
        path,
        _lecture_filter(1280, 720, 30, seconds),
        seconds=seconds,
        audio_channels=6,
        audio_args=("-c:a", "aac", "-b:a", "192k"),
    )


def audio_only_clip(path: Path, *, seconds: float = 4) -> Path:
    """Speech-like audio only; the suffix picks the format: ``.mp3`` (MP3) or ``.m4a`` (AAC)."""
    codec = ("-c:a", "libmp3lame", "-b:a", "64k") if path.suffix == ".mp3" else ("-c:a", "aac")
    return _write(path, None, seconds=seconds, audio_channels=1, audio_args=codec)
