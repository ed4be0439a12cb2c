"""The faster-whisper transcriber on real speech, with the PyPI-packaged Whisper base model.

The model is assembled into a session data dir, or once per machine into
``$CLINICAST_TEST_MODEL_CACHE/models/whisper-base`` when that variable names a directory.
"""

from __future__ import annotations

import threading
import wave
from pathlib import Path

import numpy as np
import pytest
from opencc import OpenCC

from infra.speech import (
    TranscriptionCancelledError,
    TranscriptionTimeLimitError,
    WhisperTranscriber,
    load_model,
)
from infra.speech.accuracy import character_error_rate, word_error_rate
from training.errors import SpeechError
from training.ports import Transcription

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "speech"
ENGLISH = sorted(FIXTURES.glob("en_*.wav"))
MANDARIN = sorted(FIXTURES.glob("zh_*.wav"))
SAMPLE_RATE = 16_000

pytestmark = pytest.mark.slow


def known_text(audio: Path) -> str:
    return audio.with_suffix(".txt").read_text(encoding="utf-8").strip()


def spoken(transcription: Transcription) -> str:
    return " ".join(segment.text for segment in transcription.segments)


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype(np.int16).tobytes())
    return path


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as source:
        return np.frombuffer(source.readframes(source.getnframes()), dtype=np.int16) / 32768.0


def test_english_speech_is_transcribed_within_word_error_bound(
    transcriber: WhisperTranscriber,
) -> None:
    results = [transcriber.transcribe(audio, language="en") for audio in ENGLISH]
    references = " ".join(known_text(audio) for audio in ENGLISH)
    assert word_error_rate(references, " ".join(spoken(r) for r in results)) <= 0.25
    assert all(r.language == "en" for r in results)


def test_mandarin_speech_is_transcribed_within_character_error_bound(
    transcriber: WhisperTranscriber,
) -> None:
    results = [transcriber.transcribe(audio, language="zh") for audio in MANDARIN]
    references = "".join(known_text(audio) for audio in MANDARIN)
    assert character_error_rate(references, "".join(spoken(r) for r in results)) <= 0.25


def test_language_is_detected_when_not_given(transcriber: WhisperTranscriber) -> None:
    assert transcriber.transcribe(MANDARIN[0]).language == "zh"
    assert transcriber.transcribe(ENGLISH[0], language="auto").language == "en"


def test_mandarin_output_is_simplified_chinese(transcriber: WhisperTranscriber) -> None:
    to_simplified = OpenCC("t2s")
    texts = [spoken(transcriber.transcribe(audio)) for audio in MANDARIN]
    assert all(text and to_simplified.convert(text) == text for text in texts)


def test_prompt_with_lecture_keywords_fixes_domain_word(transcriber: WhisperTranscriber) -> None:
    audio = FIXTURES / "zh_antihypertensive.wav"
    prompted = transcriber.transcribe(audio, language="zh", initial_prompt="高血压的治疗：降压药")
    assert "降压药" in spoken(prompted)


def test_segments_have_ordered_times_within_the_audio(transcriber: WhisperTranscriber) -> None:
    result = transcriber.transcribe(ENGLISH[0], language="en")
    assert result.duration == pytest.approx(len(read_wav(ENGLISH[0])) / SAMPLE_RATE, abs=0.05)
    previous_end = 0.0
    for segment in result.segments:
        assert previous_end <= segment.start <= segment.end <= result.duration + 0.01
        previous_end = segment.end


def test_audio_without_speech_gives_empty_transcript(
    transcriber: WhisperTranscriber, tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    silence_then_noise = np.concatenate(
        [np.zeros(3 * SAMPLE_RATE), rng.normal(0, 0.01, 3 * SAMPLE_RATE)]
    )
    audio = write_wav(tmp_path / "quiet.wav", silence_then_noise)
    result = transcriber.transcribe(audio)
    assert result.segments == []
    assert result.duration == pytest.approx(6.0, abs=0.01)
    assert result.language == "und"
    assert transcriber.transcribe(audio, language="zh").language == "zh"


def test_non_media_file_raises_speech_error(
    transcriber: WhisperTranscriber, tmp_path: Path
) -> None:
    document = tmp_path / "slides.mp4"
    document.write_text("these are not the slides you are looking for")
    with pytest.raises(SpeechError, match="not a readable audio or video file"):
        transcriber.transcribe(document)


def test_missing_file_raises_speech_error(transcriber: WhisperTranscriber, tmp_path: Path) -> None:
    with pytest.raises(SpeechError, match="no such file"):
        transcriber.transcribe(tmp_path / "absent.wav")


def test_unknown_language_raises_speech_error(transcriber: WhisperTranscriber) -> None:
    with pytest.raises(SpeechError, match="xx"):
        transcriber.transcribe(ENGLISH[0], language="xx")


def test_progress_rises_to_one(transcriber: WhisperTranscriber) -> None:
    shares: list[float] = []
    transcriber.transcribe(FIXTURES / "en_hypertension.wav", language="en", progress=shares.append)
    assert shares[-1] == 1.0
    assert len(shares) >= 2
    assert shares == sorted(shares)
    assert all(0.0 <= share <= 1.0 for share in shares)


def test_long_audio_is_transcribed_in_windows_with_file_timestamps(
    speech_data_dir: Path, tmp_path: Path
) -> None:
    pause = np.zeros(SAMPLE_RATE)
    joined = np.concatenate([part for audio in ENGLISH for part in (read_wav(audio), pause)])
    audio = write_wav(tmp_path / "lecture.wav", joined)
    windowed = WhisperTranscriber(
        "base", data_dir=speech_data_dir, device="cpu", cpu_threads=2, window_seconds=6.0
    )
    result = windowed.transcribe(audio, language="en")
    references = " ".join(known_text(audio) for audio in ENGLISH)
    assert word_error_rate(references, spoken(result)) <= 0.3
    assert result.segments[-1].start > 6.0  # timestamps are of the file, not of the window
    assert result.segments[-1].end <= result.duration + 0.01


def test_cancelled_transcription_raises_with_partial_result(
    transcriber: WhisperTranscriber,
) -> None:
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(TranscriptionCancelledError) as raised:
        transcriber.transcribe(ENGLISH[0], cancelled=cancelled)
    assert isinstance(raised.value.partial, Transcription)


def test_wall_time_cap_stops_and_keeps_partial_result(speech_data_dir: Path) -> None:
    impatient = WhisperTranscriber(
        "base",
        data_dir=speech_data_dir,
        device="cpu",
        cpu_threads=2,
        time_limit_factor=0.0,
        time_limit_floor=0.0,
    )
    with pytest.raises(TranscriptionTimeLimitError, match="stopped after") as raised:
        impatient.transcribe(FIXTURES / "en_hypertension.wav", language="en")
    assert 1 <= len(raised.value.partial.segments) < 2


def test_model_is_loaded_once_per_process(
    transcriber: WhisperTranscriber, speech_data_dir: Path
) -> None:
    another = WhisperTranscriber("base", data_dir=speech_data_dir, device="cpu", cpu_threads=2)
    assert another.load() is transcriber.load()
    assert another.load().compute_type == "int8"
    model_dir = transcriber.load().model_dir
    assert load_model(model_dir, device="cpu", cpu_threads=2) is transcriber.load()
