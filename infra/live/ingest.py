"""The ingest supervisor of one live lecture: it keeps a receiver listening on the lecture's
SRT port, an encoder making the live ladder of the current connection, and the joined
playlists a player follows (the commands and playlists come from ``transcoder.live``).

Everything lives under the lecture's working directory, so a supervisor started again (the
process restarted mid-lecture) carries on where the last one stopped::

    ladder.json                 the ladder, planned from the first connection and kept
    recording/part-0001.ts …    the source of each connection, untouched (live-to-VOD joins them)
    enc-0001/{360p,…,audio}/    one directory per encoder run: its init segment and segments
    live/master.m3u8, live/360p/index.m3u8 …   the joined playlists, rewritten as segments come

A publisher that disconnects ends its connection: the receiver exits, the encoder is told to
finish, and a new receiver waits on the same port for the reconnect. An encoder that dies
while the publisher is still sending is started again (a new ``enc-`` run: the player sees a
discontinuity and a gap, the recording has none). ``stop`` ends the lecture's ingest and
closes the playlists (``#EXT-X-ENDLIST``): what was live is then playable on demand.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import subprocess
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

from transcoder.errors import TranscoderError
from transcoder.ladder import AudioRung, Ladder, VideoRung
from transcoder.live import (
    build_live_encoder_command,
    build_receiver_command,
    loopback_relay_url,
    parse_part_playlist,
    plan_live_ladder,
    probe_live_source,
    render_live_master,
    render_live_playlist,
    srt_listener_url,
)
from transcoder.runner import spawn_ffmpeg, stop_ffmpeg

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
PROBE_BYTES = 64 * 1024  # a connection's recording this large holds its stream tables
BEHIND_SECONDS = 6.0  # the newest listed segment this far behind the wall clock: "encoder behind"


@dataclass(frozen=True)
class IngestConfig:
    workdir: Path
    port: int
    passphrase: str
    ffmpeg: str
    host: str = "0.0.0.0"  # noqa: S104 - publishers connect from other machines
    top_height: int = 1080
    preset: str = "veryfast"
    window_segments: int | None = None  # None: the whole lecture stays listed (DVR)


@dataclass
class IngestStatus:
    """What the lecture page and the operator see."""

    publishing: bool = False  # a publisher is connected and sending
    connections: int = 0  # publisher connections so far (reconnects included)
    encoder_runs: int = 0
    encoder_restarts: int = 0
    encoder_behind: bool = False
    encoder_pid: int | None = None
    last_segment_at: datetime | None = None
    errors: list[str] = field(default_factory=list)


class LiveIngest:
    """Supervise one lecture's ingest in a background thread (``start`` / ``stop``)."""

    def __init__(self, config: IngestConfig) -> None:
        self.config = config
        self.status = IngestStatus()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._ladder: Ladder | None = _load_ladder(config.workdir / "ladder.json")
        for name in ("recording", "live"):
            (config.workdir / name).mkdir(parents=True, exist_ok=True)

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="live-ingest", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """End the ingest: the publisher is cut off, the last segments are listed and the
        playlists are closed."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self.write_playlists(ended=True)

    @property
    def recordings(self) -> list[Path]:
        """The recording of every connection, in order (live-to-VOD joins them)."""
        return sorted((self.config.workdir / "recording").glob("part-*.ts"))

    # -- the supervising loop ----------------------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._one_connection()
            except (OSError, TranscoderError) as error:  # keep listening: log, wait, retry
                log.exception("live ingest of %s", self.config.workdir)
                self.status.errors = [*self.status.errors[-9:], str(error)]
                self._stopping.wait(2.0)

    def _one_connection(self) -> None:
        config = self.config
        number = len(self.recordings) + 1
        recording = config.workdir / "recording" / f"part-{number:04d}.ts"
        relay = _free_tcp_port()
        receiver = spawn_ffmpeg(
            build_receiver_command(
                srt_listener_url(config.port, config.passphrase, host=config.host),
                str(recording),
                loopback_relay_url(relay, sending=True),
                ffmpeg_exe=config.ffmpeg,
            ),
            log=config.workdir / "receiver.log",
        )
        encoder: subprocess.Popen[bytes] | None = None
        try:
            while receiver.poll() is None and not self._stopping.is_set():
                if encoder is None and _size(recording) >= PROBE_BYTES:
                    self.status.publishing = True
                    self.status.connections += 1
                    encoder = self._start_encoder(recording, relay)
                elif encoder is not None and encoder.poll() not in (None, 0):
                    # 0: the relay ended because the publisher did; anything else is a crash.
                    log.warning(
                        "live encoder of %s exited (%s)", config.workdir, encoder.returncode
                    )
                    self.status.encoder_restarts += 1
                    encoder = self._start_encoder(recording, relay)
                self.write_playlists()
                self._stopping.wait(POLL_SECONDS)
        finally:
            stop_ffmpeg(receiver, grace=2.0)
            if encoder is not None:
                # The relay has gone quiet: let the encoder list what it has, then stop it.
                stop_ffmpeg(encoder, grace=10.0)
            self.status.publishing = False
            if recording.exists() and _size(recording) == 0:
                recording.unlink()  # a handshake that never became a stream
            self.write_playlists()

    def _start_encoder(self, recording: Path, relay: int) -> subprocess.Popen[bytes]:
        if self._ladder is None:
            self._ladder = plan_live_ladder(
                probe_live_source(recording), top_height=self.config.top_height
            )
            _save_ladder(self.config.workdir / "ladder.json", self._ladder)
        run = len(self._encoder_runs()) + 1
        workdir = self.config.workdir / f"enc-{run:04d}"
        names = [r.name for r in self._ladder.video]
        names += [self._ladder.audio.name] if self._ladder.audio else []
        for name in names:
            (workdir / name).mkdir(parents=True, exist_ok=True)
        self.status.encoder_runs = run
        process = spawn_ffmpeg(
            build_live_encoder_command(
                self._ladder,
                loopback_relay_url(relay, sending=False),
                preset=self.config.preset,
                ffmpeg_exe=self.config.ffmpeg,
            ),
            cwd=workdir,
            log=self.config.workdir / "encoder.log",
        )
        self.status.encoder_pid = process.pid
        return process

    def _encoder_runs(self) -> list[Path]:
        return sorted(p for p in self.config.workdir.glob("enc-*") if p.is_dir())

    # -- playlists -------------------------------------------------------------------------

    def write_playlists(self, *, ended: bool = False) -> None:
        """Join every encoder run's playlists into ``live/`` (atomically: a player never reads
        half a playlist)."""
        ladder = self._ladder
        if ladder is None:
            return
        live = self.config.workdir / "live"
        names = [r.name for r in ladder.video] + ([ladder.audio.name] if ladder.audio else [])
        runs = self._encoder_runs()
        inits: dict[str, Path] = {}
        newest: datetime | None = None
        for name in names:
            parts = []
            for run in runs:
                playlist = run / name / "index.m3u8"
                if playlist.exists():
                    prefix = f"../../{run.name}/{name}/"  # from live/<name>/index.m3u8
                    parts.append(parse_part_playlist(playlist.read_text("utf-8"), prefix))
                    inits.setdefault(name, run / name / "init.mp4")
            if not parts:
                continue
            for segment in (s for p in parts for s in p.segments):
                if segment.program_date_time:
                    when = _parse_date_time(segment.program_date_time)
                    when += timedelta(seconds=segment.duration)
                    newest = when if newest is None or when > newest else newest
            text = render_live_playlist(
                parts, window_segments=self.config.window_segments, ended=ended
            )
            _write_atomically(live / name / "index.m3u8", text)
        if inits:
            _write_atomically(live / "master.m3u8", render_live_master(ladder, inits))
        self.status.last_segment_at = newest
        lag = (datetime.now(UTC) - newest).total_seconds() if newest else 0.0
        self.status.encoder_behind = self.status.publishing and lag > BEHIND_SECONDS


def _free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(path)


def _parse_date_time(value: str) -> datetime:
    # FFmpeg writes 2026-12-01T12:02:37.763+0000
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z")


def _save_ladder(path: Path, ladder: Ladder) -> None:
    data = dataclasses.asdict(ladder)
    for rung in data["video"]:
        rung["frame_rate"] = str(rung["frame_rate"])
    _write_atomically(path, json.dumps(data))


def _load_ladder(path: Path) -> Ladder | None:
    if not path.exists():
        return None
    data = json.loads(path.read_text("utf-8"))
    video = tuple(
        VideoRung(**{**r, "frame_rate": Fraction(r["frame_rate"])}) for r in data.pop("video")
    )
    audio = AudioRung(**data.pop("audio")) if data.get("audio") else None
    data.pop("audio", None)
    data.pop("thumbnails", None)
    return Ladder(video=video, audio=audio, thumbnails=None, **data)
