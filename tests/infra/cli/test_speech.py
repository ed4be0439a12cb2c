"""``clinicast transcribe`` end to end, with the packaged Whisper base model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import webvtt
from click.testing import CliRunner

from infra.cli.speech import transcribe
from tests.conftest import SPEECH_FIXTURES as FIXTURES

pytestmark = pytest.mark.slow

ENGLISH = FIXTURES / "en_hypertension.wav"
MANDARIN = FIXTURES / "zh_antihypertensive.wav"


@pytest.fixture
def run(speech_data_dir: Path):
    def invoke(*args: str):
        return CliRunner().invoke(
            transcribe, [*args, "--data-dir", str(speech_data_dir), "--cpu-threads", "2"]
        )

    return invoke


def test_vtt_to_stdout_is_valid_webvtt(run) -> None:
    result = run(str(ENGLISH), "--language", "en")
    assert result.exit_code == 0, result.output
    captions = webvtt.from_string(result.stdout, strict=True)
    assert "blood pressure" in " ".join(caption.text for caption in captions).lower()


def test_srt_output_file_is_numbered_with_comma_millis(run, tmp_path: Path) -> None:
    output = tmp_path / "captions" / "lecture.srt"
    result = run(str(ENGLISH), "--format", "srt", "-o", str(output))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    text = output.read_text(encoding="utf-8")
    assert text.startswith("1\n00:00:00,000 --> ")
    assert len(webvtt.from_srt(str(output))) >= 1


def test_json_output_carries_language_duration_and_simplified_segments(run) -> None:
    result = run(str(MANDARIN), "--format", "json", "--prompt", "高血压的治疗：降压药")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["language"] == "zh"
    assert data["duration"] == pytest.approx(4.46, abs=0.05)
    assert "降压药" in "".join(segment["text"] for segment in data["segments"])


def test_non_media_file_is_one_error_line_with_exit_status_2(run, tmp_path: Path) -> None:
    document = tmp_path / "notes.wav"
    document.write_text("not audio")
    result = run(str(document))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: notes.wav: not a readable audio or video file")
    assert "Traceback" not in result.output


def test_model_setting_comes_from_the_environment(speech_data_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        transcribe,
        [str(ENGLISH), "--data-dir", str(speech_data_dir)],
        env={"CLINICAST_SPEECH__MODEL": str(tmp_path / "missing-model")},
    )
    assert result.exit_code == 2
    assert "CLINICAST_SPEECH__MODEL" in result.stderr
