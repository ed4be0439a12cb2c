"""The whole transcode: atomic output, progress, cancel and time limit."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from transcoder import (
    InvalidMediaError,
    Progress,
    TranscodeCancelledError,
    TranscodeTimeoutError,
    transcode,
)

pytestmark = pytest.mark.slow


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "subtitles_only"])
def test_bad_input_leaves_no_output_directory(
    bad_inputs: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    with pytest.raises(InvalidMediaError):
        transcode(bad_inputs[kind], tmp_path / "out" / "ladder")
    assert not (tmp_path / "out").exists()


def test_progress_is_reported_up_to_100_percent(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    reports: list[Progress] = []
    result = transcode(
        clip("no_audio.mp4"), tmp_path / "ladder", preset="ultrafast", on_progress=reports.append
    )
    assert result.master_playlist.exists()
    assert reports[-1].done
    assert reports[-1].percent == 100.0
    percents = [r.percent for r in reports if r.percent is not None]
    assert percents == sorted(percents)


def test_cancel_leaves_nothing_behind(clip: Callable[[str], Path], tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TranscodeCancelledError):
        transcode(clip("lecture_1080p.mp4"), tmp_path / "ladder", cancel=cancel)
    assert leftovers(tmp_path) == []


def test_time_limit_leaves_nothing_behind(clip: Callable[[str], Path], tmp_path: Path) -> None:
    with pytest.raises(TranscodeTimeoutError):
        transcode(clip("lecture_1080p.mp4"), tmp_path / "ladder", preset="slow", time_limit=0.3)
    assert leftovers(tmp_path) == []


def test_existing_ladder_is_replaced_only_when_the_new_one_is_complete(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    outdir = tmp_path / "ladder"
    outdir.mkdir()
    (outdir / "stale.txt").write_text("old ladder", encoding="utf-8")
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TranscodeCancelledError):
        transcode(clip("no_audio.mp4"), outdir, cancel=cancel)
    assert (outdir / "stale.txt").exists(), "a failed run keeps the old ladder"
    transcode(clip("no_audio.mp4"), outdir, preset="ultrafast", max_height=360)
    assert not (outdir / "stale.txt").exists()
    assert (outdir / "master.m3u8").exists()
    assert leftovers(tmp_path) == ["ladder"]
    assert sorted(p.name for p in outdir.iterdir() if p.is_dir()) == ["240p", "360p"]
