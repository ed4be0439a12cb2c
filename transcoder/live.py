"""Live ingest: the commands that take a publisher's SRT stream, and the playlists that join
its connections into one live lecture. Pure: nothing here spawns a process or touches the disk.

One live lecture runs two ffmpeg processes per publisher connection, so that the recording
never waits for the encoder::

    publisher ──SRT (passphrase)──▶ receiver ──▶ recording/part-0001.ts   (the source, untouched)
                                        └─TCP (loopback, queued)─▶ encoder ──▶ enc-0001/{1080p,
                                                                      540p,360p,audio}/index.m3u8

- The **receiver** listens on the lecture's SRT port. A wrong passphrase is refused in the SRT
  handshake, before a byte of media arrives. It copies the stream (no decoding) into one
  MPEG-TS file per connection and relays it to the encoder through FFmpeg's ``fifo`` muxer:
  a queue that drops packets when the encoder falls behind and reconnects when the encoder
  is restarted, so neither a slow nor a dead encoder ever holds up the recording. (Loopback
  UDP, tried first, lost packets whenever the encoder's reading thread was starved of CPU.)
- The **encoder** listens for the relay and makes the live ladder: 2-s fMP4 segments,
  keyframes aligned across rungs, an event playlist per rung and encoder run. It joins a
  stream already running at its next keyframe (encoders repeat SPS/PPS on keyframes).
- A publisher that reconnects, or an encoder that is restarted, gives a new encoder run;
  ``render_live_playlist`` joins the runs' playlists into the one playlist a player follows,
  with ``#EXT-X-DISCONTINUITY`` and the run's own ``#EXT-X-MAP`` at each join. (FFmpeg's
  ``append_list`` cannot do this for fMP4: it keeps one ``EXT-X-MAP`` for every run.)
"""

from __future__ import annotations

import itertools
import math
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from transcoder.commands import variant_playlist
from transcoder.errors import PlanError
from transcoder.ladder import _RUNGS, AudioRung, Ladder, VideoRung, _capped_rate
from transcoder.playlists import Variant, extinf_duration, init_codecs, render_master_playlist

__all__ = [
    "LIVE_HEIGHTS",
    "LiveSource",
    "PartPlaylist",
    "build_live_encoder_command",
    "build_receiver_command",
    "loopback_relay_url",
    "parse_part_playlist",
    "plan_live_ladder",
    "probe_live_source",
    "render_live_master",
    "render_live_playlist",
    "srt_listener_url",
    "srt_publish_url",
]

LIVE_SEGMENT_SECONDS = 2
LIVE_HEIGHTS = (540, 360)  # below the configurable top rung
MAX_LIVE_RATE = 30  # a 2-core box encodes three rungs of 60 fps slower than real time

_GLOBAL_ARGS = ["-hide_banner", "-nostdin", "-y", "-loglevel", "warning", "-nostats"]


@dataclass(frozen=True)
class LiveSource:
    """What the publisher sends, as probed from the first seconds of its connection."""

    width: int | None = None
    height: int | None = None
    frame_rate: Fraction = Fraction(30)
    has_audio: bool = True

    @property
    def has_video(self) -> bool:
        return bool(self.width and self.height)


def plan_live_ladder(source: LiveSource, *, top_height: int = 1080) -> Ladder:
    """The live ladder for a publisher: ``top_height`` (the short side, never above the
    source), then 540p and 360p below it, and the audio-only rendition. Frame rates above 30
    are halved (60 → 30): live must keep up with real time on a small box."""
    if top_height < 360:
        raise PlanError(f"live top rung {top_height} is below the smallest rung (360)")
    if not source.has_video and not source.has_audio:
        raise PlanError("the publisher sends neither video nor audio")
    audio = AudioRung() if source.has_audio else None
    video: tuple[VideoRung, ...] = ()
    if source.width and source.height:
        short, long = sorted((source.width, source.height))
        top = min(top_height, short)
        heights = sorted({top, *(h for h in LIVE_HEIGHTS if h < top)})
        rate = _capped_rate(source.frame_rate, MAX_LIVE_RATE)
        video = tuple(
            _live_rung(h, long * h / short, rate, portrait=source.height > source.width)
            for h in heights
        )
    return Ladder(
        duration=0.0,
        video=video,
        audio=audio,
        thumbnails=None,
        video_stream=0 if video else None,
        audio_stream=0 if audio else None,
        segment_seconds=LIVE_SEGMENT_SECONDS,
        gop_seconds=LIVE_SEGMENT_SECONDS,
    )


def _live_rung(short: int, long: float, rate: Fraction, *, portrait: bool) -> VideoRung:
    short = max(2, short // 2 * 2)
    long_even = max(2, round(long / 2) * 2)
    # The VOD table's figures for the nearest rung at or above this size (a 480p source's
    # top rung is encoded like 540p, a 720p one like 720p).
    crf, maxrate = _RUNGS[min((p for p in _RUNGS if p >= short), default=max(_RUNGS))]
    width, height = (short, long_even) if portrait else (long_even, short)
    return VideoRung(f"{short}p", width, height, rate, crf, maxrate, 2 * maxrate)


def srt_listener_url(
    port: int,
    passphrase: str,
    *,
    host: str = "0.0.0.0",  # noqa: S104 - publishers connect from other machines
    latency_ms: int = 200,
) -> str:
    """The receiver's SRT address: listen on ``port``; only a publisher with ``passphrase``
    (10 to 79 characters, AES-128) completes the handshake."""
    _check_passphrase(passphrase)
    query = {
        "mode": "listener",
        "passphrase": passphrase,
        "pbkeylen": 16,
        "enforced_encryption": 1,
        "latency": latency_ms * 1000,  # FFmpeg takes microseconds
    }
    return f"srt://{host}:{port}?{urllib.parse.urlencode(query)}"


def srt_publish_url(host: str, port: int, passphrase: str, *, latency_ms: int = 200) -> str:
    """What a publisher (OBS, vMix, ffmpeg) is given. OBS and vMix take the passphrase in
    the URL the same way; ``latency`` here is in microseconds as libsrt's URL syntax wants."""
    _check_passphrase(passphrase)
    query = {"passphrase": passphrase, "pbkeylen": 16, "latency": latency_ms * 1000}
    return f"srt://{host}:{port}?{urllib.parse.urlencode(query)}"


def _check_passphrase(passphrase: str) -> None:
    if not 10 <= len(passphrase) <= 79:
        raise PlanError("an SRT passphrase has 10 to 79 characters")


def build_receiver_command(
    listen_url: str, recording: str, relay_url: str, *, ffmpeg_exe: str = "ffmpeg"
) -> list[str]:
    """Wait for one publisher on ``listen_url``; copy what it sends, untouched, to
    ``recording`` (MPEG-TS) and relay it to the encoder at ``relay_url``
    (``loopback_relay_url(port, sending=True)``). Ends when the publisher disconnects.
    ``onfail=ignore``: the relay failing never stops the recording."""
    relay = (
        "f=fifo:fifo_format=mpegts:queue_size=3000:drop_pkts_on_overflow=1"
        ":attempt_recovery=1:recover_any_error=1:recovery_wait_time=0.5:onfail=ignore"
    )
    tee = f"[f=mpegts]{recording}|[{relay}]{relay_url}"
    return [
        ffmpeg_exe,
        *_GLOBAL_ARGS,
        # Look at 1 s of the stream before copying it, not FFmpeg's default 5 s: the live
        # ladder starts that much sooner (what was looked at is copied too, nothing is lost).
        "-analyzeduration",
        "1000000",
        "-i",
        listen_url,
        "-map",
        "0",
        "-c",
        "copy",
        "-f",
        "tee",
        tee,
    ]


def loopback_relay_url(port: int, *, sending: bool, listen_timeout_s: int = 60) -> str:
    """The loopback TCP address between receiver and encoder: the encoder listens (giving up
    after ``listen_timeout_s``), the receiver's queue connects and reconnects to it."""
    if sending:
        return f"tcp://127.0.0.1:{port}"
    return f"tcp://127.0.0.1:{port}?listen=1&listen_timeout={listen_timeout_s * 1000}"


def build_live_encoder_command(
    ladder: Ladder,
    source_url: str,
    *,
    preset: str = "veryfast",
    threads: int = 0,
    ffmpeg_exe: str = "ffmpeg",
) -> list[str]:
    """The live ladder from ``source_url``, one event playlist per rung under the working
    directory (``1080p/index.m3u8``, ``audio/index.m3u8``…). Keyframes every 2 s by frame
    count after a constant-rate ``fps`` filter, so every rung's segments start together;
    ``temp_file``: a segment is listed only once it is whole."""
    args = [
        ffmpeg_exe,
        *_GLOBAL_ARGS,
        "-fflags",
        "+discardcorrupt",
        "-i",
        source_url,
    ]
    if ladder.video:
        chains = [
            f"[v{i}]fps={_rate(r.frame_rate)},scale={r.width}:{r.height}:flags=bicubic,"
            f"setsar=1,format=yuv420p[o{i}]"
            for i, r in enumerate(ladder.video)
        ]
        splits = "".join(f"[v{i}]" for i in range(len(ladder.video)))
        graph = f"[0:v:0]split={len(ladder.video)}{splits};" + ";".join(chains)
        args += ["-filter_complex", graph]
        for i, rung in enumerate(ladder.video):
            gop = math.ceil(ladder.gop_seconds * rung.frame_rate)
            args += [
                "-map",
                f"[o{i}]",
                "-c:v",
                "libx264",
                "-preset",
                preset,
                "-profile:v",
                "high",
                "-crf",
                str(rung.crf),
                "-maxrate",
                f"{rung.maxrate_kbps}k",
                "-bufsize",
                f"{rung.bufsize_kbps}k",
                "-g",
                str(gop),
                "-keyint_min",
                str(gop),
                "-sc_threshold",
                "0",
                "-threads",
                str(threads),
                *(_audio_args(ladder.audio, "0:a:0") if ladder.audio else []),
                *_live_hls_args(rung.name, ladder),
            ]
    if ladder.audio is not None:
        args += [*_audio_args(ladder.audio, "0:a:0"), *_live_hls_args(ladder.audio.name, ladder)]
    return args


def _audio_args(audio: AudioRung, stream: str) -> list[str]:
    """The sound, mapped into the output being built: muxed into every video rung (one
    request per segment, and hls.js's light build plays it) and alone as audio only."""
    return [
        "-map",
        stream,
        "-c:a",
        audio.codec,
        "-b:a",
        f"{audio.bitrate_kbps}k",
        "-ac",
        str(audio.channels),
        "-ar",
        str(audio.sample_rate),
    ]


def _live_hls_args(name: str, ladder: Ladder) -> list[str]:
    return [
        "-f",
        "hls",
        "-hls_time",
        str(ladder.segment_seconds),
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "event",
        "-hls_segment_type",
        "fmp4",
        "-hls_fmp4_init_filename",
        "init.mp4",
        "-hls_segment_filename",
        f"{name}/seg-%05d.m4s",
        "-hls_flags",
        "independent_segments+program_date_time+temp_file",
        variant_playlist(name),
    ]


def _rate(rate: Fraction) -> str:
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


@dataclass(frozen=True)
class LiveSegment:
    uri: str
    duration: float
    program_date_time: str | None = None


@dataclass(frozen=True)
class PartPlaylist:
    """One connection's playlist of one rendition, its URIs made relative to the joined
    playlist (``conn-0002/360p/seg-00003.m4s``)."""

    init_uri: str | None
    segments: tuple[LiveSegment, ...]
    ended: bool

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)


def parse_part_playlist(text: str, prefix: str) -> PartPlaylist:
    """Read an encoder's event playlist; ``prefix`` is prepended to every URI."""
    init_uri: str | None = None
    segments: list[LiveSegment] = []
    duration: float | None = None
    date_time: str | None = None
    ended = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MAP:"):
            uri = line.split('URI="', 1)[1].split('"', 1)[0]
            init_uri = prefix + uri
        elif line.startswith("#EXTINF:"):
            duration = extinf_duration(line)
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date_time = line.split(":", 1)[1]
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#") and duration is not None:
            segments.append(LiveSegment(prefix + line, duration, date_time))
            duration, date_time = None, None
    return PartPlaylist(init_uri, tuple(segments), ended)


def render_live_playlist(
    parts: Sequence[PartPlaylist],
    *,
    window_segments: int | None = None,
    ended: bool = False,
    segment_seconds: int = LIVE_SEGMENT_SECONDS,
) -> str:
    """The media playlist a player follows: the connections in order, joined with
    ``#EXT-X-DISCONTINUITY``. ``window_segments`` keeps a sliding window (``None``: the whole
    lecture, an ``EVENT`` playlist a player can rewind — the DVR window); ``ended`` closes it
    (``#EXT-X-ENDLIST``), after which it plays as on demand."""
    flat = [(index, segment) for index, part in enumerate(parts) for segment in part.segments]
    dropped = 0 if window_segments is None else max(0, len(flat) - window_segments)
    listed = flat[dropped:]
    # Discontinuities that slid out of the window: joins between the dropped segments and up to
    # the first listed one.
    kept = flat[: dropped + 1]
    passed = sum(1 for a, b in itertools.pairwise(kept) if a[0] != b[0])
    longest = max((s.duration for _, s in flat), default=float(segment_seconds))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        f"#EXT-X-TARGETDURATION:{max(segment_seconds, math.ceil(longest))}",
        f"#EXT-X-MEDIA-SEQUENCE:{dropped}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{passed}",
    ]
    if window_segments is None:
        lines.append("#EXT-X-PLAYLIST-TYPE:EVENT")
    lines.append("#EXT-X-INDEPENDENT-SEGMENTS")
    current: int | None = None
    for index, segment in listed:
        if index != current:
            if current is not None:
                lines.append("#EXT-X-DISCONTINUITY")
            init_uri = parts[index].init_uri
            if init_uri is not None:
                lines.append(f'#EXT-X-MAP:URI="{init_uri}"')
            current = index
        if segment.program_date_time:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{segment.program_date_time}")
        lines.append(f"#EXTINF:{segment.duration:.6f},")
        lines.append(segment.uri)
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def probe_live_source(recording: Path) -> LiveSource:
    """What a connection carries, read from the first seconds of its recording (MPEG-TS
    announces its streams in the first packets)."""
    with av.open(str(recording), format="mpegts", options={"analyzeduration": "2000000"}) as ts:
        video = ts.streams.video[0] if ts.streams.video else None
        has_audio = bool(ts.streams.audio)
        if video is None or not video.codec_context.width:
            return LiveSource(has_audio=has_audio)
        rate = video.average_rate or video.guessed_rate or Fraction(30)
        return LiveSource(
            video.codec_context.width, video.codec_context.height, Fraction(rate), has_audio
        )


def render_live_master(ladder: Ladder, init_segments: dict[str, Path]) -> str:
    """The live master playlist: the rungs of ``ladder`` whose init segment exists (the codec
    strings are read from it), BANDWIDTH the rung's cap (capped CRF never exceeds it for long)
    plus the audio and 5 % of container overhead; the audio-only rendition last."""
    audio_bits = ladder.audio.bitrate_kbps * 1000 if ladder.audio else 0
    variants: list[Variant] = []
    for rung in ladder.video:
        if rung.name in init_segments:
            codecs, size = init_codecs(init_segments[rung.name])
            peak = math.ceil((rung.maxrate_kbps * 1000 + audio_bits) * 1.05)
            variants.append(Variant(f"{rung.name}/index.m3u8", peak, peak // 2, codecs, size,
                                    rung.frame_rate))  # fmt: skip
    if ladder.audio is not None and ladder.audio.name in init_segments:
        codecs, _ = init_codecs(init_segments[ladder.audio.name])
        bits = math.ceil(audio_bits * 1.05)
        variants.append(Variant(f"{ladder.audio.name}/index.m3u8", bits, bits, codecs))
    return render_master_playlist(variants, None, ladder.audio.channels if ladder.audio else 0)
