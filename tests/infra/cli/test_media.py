"""``clinicast transcode``: one clear line and status 2 for bad input, no traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.cli.media import transcode

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("kind", ["empty", "text", "truncated", "subtitles_only"])
def test_cli_bad_input_exits_2_with_one_line_and_no_outdir(
    bad_inputs: dict[str, Path], tmp_path: Path, kind: str
) -> None:
    outdir = tmp_path / "ladder"
    result = CliRunner().invoke(transcode, [str(bad_inputs[kind]), str(outdir)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"error: {bad_inputs[kind].name}: ")
    assert "Traceback" not in result.output
    assert not outdir.exists()


def test_cli_writes_master_playlist_with_plain_progress_when_not_a_terminal(
    clip: Callable[[str], Path], tmp_path: Path
) -> None:
    outdir = tmp_path / "ladder"
    result = CliRunner().invoke(
        transcode,
        [str(clip("small_240p.mp4")), str(outdir), "--preset", "ultrafast", "--scaling", "source"],
    )
    assert result.exit_code == 0, result.output
    assert (outdir / "master.m3u8").exists()
    assert "100.0%" in result.stdout
    assert result.stdout.strip().endswith(f"{outdir / 'master.m3u8'} (240p)")


def test_cli_rejects_max_height_below_360(clip: Callable[[str], Path], tmp_path: Path) -> None:
    result = CliRunner().invoke(
        transcode, [str(clip("small_240p.mp4")), str(tmp_path / "x"), "--max-height", "240"]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "x").exists()


def test_cli_in_a_real_process_prints_only_one_line_for_a_text_file(
    bad_inputs: dict[str, Path], tmp_path: Path
) -> None:
    code = "from infra.cli.media import transcode; transcode(prog_name='clinicast transcode')"
    completed = subprocess.run(
        [sys.executable, "-c", code, str(bad_inputs["text"]), str(tmp_path / "ladder")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert completed.stderr == "error: notes.mp4: not a media file, or truncated\n"
    assert not (tmp_path / "ladder").exists()
