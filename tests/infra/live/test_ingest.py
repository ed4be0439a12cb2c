"""The ingest supervisor for real: ffmpeg publishes SRT as OBS would, the supervisor's
receiver and encoder make the live ladder, the test reads the joined playlists while the
stream runs, disconnects and reconnects the publisher, SIGKILLs the encoder, restarts the
supervisor, and decodes everything listed once the lecture's ingest has ended."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

from infra.live.ingest import IngestConfig, LiveIngest
from tests.support.services import free_udp_port
from tests.transcoder.test_live import PASSPHRASE, decode_joined, publish
from transcoder.vod import ffmpeg_executable


def ingest_at(workdir: Path, port: int) -> LiveIngest:
    config = IngestConfig(
        workdir=workdir,
        port=port,
        passphrase=PASSPHRASE,
        ffmpeg=ffmpeg_executable(),
        host="127.0.0.1",
        preset="ultrafast",
    )
    ingest = LiveIngest(config)
    ingest.start()
    time.sleep(0.5)  # the receiver listens
    return ingest


def publishing(port: int, seconds: float, passphrase: str = PASSPHRASE) -> threading.Thread:
    results: list[subprocess.CompletedProcess[bytes]] = []
    thread = threading.Thread(target=lambda: results.append(publish(port, passphrase, seconds)))
    thread.results = results  # type: ignore[attr-defined]
    thread.start()
    return thread


def wait_for(condition, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def listed_seconds(playlist: Path) -> float:
    if not playlist.exists():
        return 0.0
    return sum(
        float(line[8:].rstrip(","))
        for line in playlist.read_text().splitlines()
        if line.startswith("#EXTINF:")
    )


def test_reconnects_encoder_crash_and_restart_end_in_one_playable_lecture(
    tmp_path: Path,
) -> None:
    port = free_udp_port()
    ingest = ingest_at(tmp_path, port)
    playlist = tmp_path / "live" / "360p" / "index.m3u8"

    # 1. A first connection: segments are listed while the publisher still sends.
    first = publishing(port, 6.0)
    wait_for(lambda: listed_seconds(playlist) >= 2.0)
    assert first.is_alive(), "a segment should be listed before the publisher ends"
    assert ingest.status.publishing
    assert "#EXT-X-ENDLIST" not in playlist.read_text()
    master = (tmp_path / "live" / "master.m3u8").read_text()
    assert "360p/index.m3u8" in master
    assert "audio/index.m3u8" in master
    first.join()
    wait_for(lambda: not ingest.status.publishing)

    # 2. The publisher reconnects; the encoder is SIGKILLed mid-connection and comes back.
    second = publishing(port, 10.0)
    wait_for(lambda: listed_seconds(tmp_path / "enc-0002" / "360p" / "index.m3u8") >= 2.0)
    assert ingest.status.encoder_pid is not None
    os.kill(ingest.status.encoder_pid, signal.SIGKILL)
    wait_for(lambda: ingest.status.encoder_restarts == 1)
    second.join()
    assert all(r.returncode == 0 for r in second.results)  # type: ignore[attr-defined]
    wait_for(lambda: not ingest.status.publishing)

    # 3. The supervisor's process restarts: a new one carries on in the same directory.
    ingest.stop()
    ingest = ingest_at(tmp_path, port)
    third = publishing(port, 4.0)
    third.join()
    wait_for(lambda: not ingest.status.publishing)

    # 4. A wrong passphrase gets nothing in.
    intruder = publishing(port, 2.0, passphrase="not-the-passphrase")
    intruder.join()
    assert all(r.returncode != 0 for r in intruder.results)  # type: ignore[attr-defined]

    ingest.stop()
    assert [p.name for p in ingest.recordings] == ["part-0001.ts", "part-0002.ts", "part-0003.ts"]
    text = playlist.read_text()
    assert text.endswith("#EXT-X-ENDLIST\n")
    # Three connections plus one encoder restart: three joins at least.
    assert text.count("#EXT-X-DISCONTINUITY\n") >= 3
    decoded = decode_joined(playlist)
    total = sum(duration for _, duration, _ in decoded)
    # 6 + 10 + 4 s published; the live ladder may miss the first moments of each connection
    # and what was sent while the encoder was down (the recordings keep everything).
    assert 12.0 <= total <= 20.5, decoded
    for recording in ingest.recordings:
        assert recording.stat().st_size > 50_000
