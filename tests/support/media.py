"""Small lecture clips for the pipeline and browser tests."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

SPEECH = Path(__file__).resolve().parent.parent / "fixtures" / "speech"


def clip_with_speech(
    target: Path, speech: str = "en_hypertension", *, size: str = "480x270"
) -> Path:
    """A few seconds of a test pattern with a committed spoken fixture as its sound (H.264/AAC)."""
    subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=15:duration=6",
         "-i", str(SPEECH / f"{speech}.wav"),
         "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
         "-t", "6", str(target)],
        check=True,
    )  # fmt: skip
    return target
