"""Live ingest commands and joined playlists: planned and rendered (pure), then run for real —
a publisher (ffmpeg as the encoder an OBS would be) sends SRT to the receiver, the encoder
makes the live ladder from the relay, and an independent reader decodes what was listed."""

from __future__ import annotations

import subprocess
import time
from fractions import Fraction
from pathlib import Path

import pytest

from tests.support.hls import decode_segment
from tests.support.services import free_port, free_udp_port
from transcoder.errors import PlanError
from transcoder.live import LiveSegment as Seg
from transcoder.live import (
    LiveSource,
    PartPlaylist,
    build_live_encoder_command,
    build_receiver_command,
    loopback_relay_url,
    parse_part_playlist,
    plan_live_ladder,
    render_live_playlist,
    srt_listener_url,
    srt_publish_url,
)
from transcoder.vod import ffmpeg_executable

PASSPHRASE = "correct-horse-battery"


def test_the_live_ladder_is_the_top_rung_then_540p_360p_and_audio() -> None:
    ladder = plan_live_ladder(LiveSource(1920, 1080, Fraction(30)))
    assert [(r.name, r.width, r.height) for r in ladder.video] == [
        ("360p", 640, 360),
        ("540p", 960, 540),
        ("1080p", 1920, 1080),
    ]
    assert ladder.audio is not None
    assert ladder.segment_seconds == 2 == ladder.gop_seconds


def test_the_top_rung_is_configurable_and_never_above_the_source() -> None:
    assert [r.name for r in plan_live_ladder(LiveSource(1920, 1080), top_height=720).video] == [
        "360p",
        "540p",
        "720p",
    ]
    assert [r.name for r in plan_live_ladder(LiveSource(1280, 720)).video] == [
        "360p",
        "540p",
        "720p",
    ]
    small = plan_live_ladder(LiveSource(854, 480))
    assert [(r.name, r.width) for r in small.video] == [("360p", 640), ("480p", 854)]


def test_a_4k60_publisher_is_downscaled_and_halved_to_30_fps() -> None:
    ladder = plan_live_ladder(LiveSource(3840, 2160, Fraction(60)))
    assert ladder.video[-1].height == 1080
    assert {r.frame_rate for r in ladder.video} == {Fraction(30)}


def test_portrait_audio_only_and_video_only_publishers() -> None:
    portrait = plan_live_ladder(LiveSource(1080, 1920))
    assert (portrait.video[0].width, portrait.video[0].height) == (360, 640)
    audio_only = plan_live_ladder(LiveSource(has_audio=True))
    assert audio_only.video == ()
    assert audio_only.audio is not None
    video_only = plan_live_ladder(LiveSource(1280, 720, has_audio=False))
    assert video_only.audio is None
    assert video_only.video
    with pytest.raises(PlanError):
        plan_live_ladder(LiveSource(has_audio=False))
    with pytest.raises(PlanError):
        plan_live_ladder(LiveSource(1280, 720), top_height=240)


def test_passphrases_follow_srt_rules() -> None:
    with pytest.raises(PlanError):
        srt_listener_url(9000, "short")
    url = srt_listener_url(9000, PASSPHRASE)
    assert url.startswith("srt://0.0.0.0:9000?mode=listener&passphrase=correct-horse-battery")
    assert "enforced_encryption=1" in url
    assert srt_publish_url("live.example", 9000, PASSPHRASE).startswith(
        "srt://live.example:9000?passphrase=correct-horse-battery&pbkeylen=16"
    )


def test_the_encoder_command_is_golden() -> None:
    ladder = plan_live_ladder(LiveSource(1280, 720), top_height=540)
    command = build_live_encoder_command(ladder, "udp://127.0.0.1:5000", ffmpeg_exe="ff")
    graph = command[command.index("-filter_complex") + 1]
    assert graph == (
        "[0:v:0]split=2[v0][v1];"
        "[v0]fps=30,scale=640:360:flags=bicubic,setsar=1,format=yuv420p[o0];"
        "[v1]fps=30,scale=960:540:flags=bicubic,setsar=1,format=yuv420p[o1]"
    )
    assert command[command.index("-g") + 1] == "60"
    assert [a for a in command if a.endswith("index.m3u8")] == [
        "360p/index.m3u8",
        "540p/index.m3u8",
        "audio/index.m3u8",
    ]
    assert "independent_segments+program_date_time+temp_file" in command


def part(prefix: str, count: int, *, ended: bool = True) -> PartPlaylist:
    segments = tuple(Seg(f"{prefix}seg-{i:05d}.m4s", 2.0) for i in range(count))
    return PartPlaylist(f"{prefix}init.mp4", segments, ended)


def test_connections_are_joined_with_discontinuities_and_their_own_init() -> None:
    text = render_live_playlist([part("c1/", 2), part("c2/", 1, ended=False)])
    lines = text.splitlines()
    assert lines[:7] == [
        "#EXTM3U",
        "#EXT-X-VERSION:7",
        "#EXT-X-TARGETDURATION:2",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-DISCONTINUITY-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:EVENT",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    assert lines[7:] == [
        '#EXT-X-MAP:URI="c1/init.mp4"',
        "#EXTINF:2.000000,",
        "c1/seg-00000.m4s",
        "#EXTINF:2.000000,",
        "c1/seg-00001.m4s",
        "#EXT-X-DISCONTINUITY",
        '#EXT-X-MAP:URI="c2/init.mp4"',
        "#EXTINF:2.000000,",
        "c2/seg-00000.m4s",
    ]
    assert render_live_playlist([part("c1/", 1)], ended=True).endswith("#EXT-X-ENDLIST\n")


def test_a_sliding_window_counts_the_segments_and_joins_it_dropped() -> None:
    text = render_live_playlist([part("a/", 3), part("b/", 2), part("c/", 2)], window_segments=3)
    assert "#EXT-X-MEDIA-SEQUENCE:4" in text
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in text
    assert "#EXT-X-PLAYLIST-TYPE" not in text
    assert [line for line in text.splitlines() if line.endswith(".m4s")] == [
        "b/seg-00001.m4s",
        "c/seg-00000.m4s",
        "c/seg-00001.m4s",
    ]
    # The first listed segment carries its connection's init segment.
    assert text.index('URI="b/init.mp4"') < text.index("b/seg-00001.m4s")


def test_an_encoder_playlist_is_read_with_its_dates() -> None:
    text = (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:EVENT\n"
        '#EXT-X-MAP:URI="init.mp4"\n#EXTINF:2.000000,\n'
        "#EXT-X-PROGRAM-DATE-TIME:2026-12-01T12:02:37.763+0000\nseg-00000.m4s\n"
        "#EXTINF:0.800000,\nseg-00001.m4s\n#EXT-X-ENDLIST\n"
    )
    parsed = parse_part_playlist(text, "conn-0001/360p/")
    assert parsed.init_uri == "conn-0001/360p/init.mp4"
    assert parsed.ended
    assert parsed.segments == (
        Seg("conn-0001/360p/seg-00000.m4s", 2.0, "2026-12-01T12:02:37.763+0000"),
        Seg("conn-0001/360p/seg-00001.m4s", 0.8, None),
    )


# --- For real: SRT in, the live ladder out ---------------------------------------------------


def publish(port: int, passphrase: str, seconds: float) -> subprocess.CompletedProcess[bytes]:
    """A publisher as OBS would be: a live H.264 + AAC MPEG-TS over SRT, paced in real time."""
    return subprocess.run(
        [
            ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
            "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
            "-f", "lavfi", "-i", "sine=frequency=440",
            "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
            "-c:a", "aac", "-f", "mpegts", srt_publish_url("127.0.0.1", port, passphrase),
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip


def connection(
    srt_port: int, workdir: Path, number: int, seconds: float, passphrase: str = PASSPHRASE
) -> tuple[Path, subprocess.CompletedProcess[bytes]]:
    """One publisher connection: receiver + encoder started, the publisher sends, both end."""
    relay = free_port()
    conn = workdir / f"conn-{number:04d}"
    ladder = plan_live_ladder(LiveSource(640, 360, Fraction(25)))
    for name in [*(r.name for r in ladder.video), "audio"]:
        (conn / name).mkdir(parents=True)
    recording = workdir / f"part-{number:04d}.ts"
    ffmpeg = ffmpeg_executable()
    listen = srt_listener_url(srt_port, PASSPHRASE, host="127.0.0.1")
    receiver_log, encoder_log = (
        workdir / f"receiver-{number}.log",
        workdir / f"encoder-{number}.log",
    )
    with receiver_log.open("wb") as receiver_err, encoder_log.open("wb") as encoder_err:
        receiver = subprocess.Popen(
            build_receiver_command(
                listen, str(recording), loopback_relay_url(relay, sending=True), ffmpeg_exe=ffmpeg
            ),
            stderr=receiver_err,
        )
        encoder = subprocess.Popen(
            build_live_encoder_command(
                ladder,
                loopback_relay_url(relay, sending=False),
                preset="ultrafast",
                ffmpeg_exe=ffmpeg,
            ),
            cwd=conn,
            stderr=encoder_err,
        )
        time.sleep(0.5)  # the listener is up
        published = publish(srt_port, passphrase, seconds)
        try:
            if published.returncode == 0:
                assert receiver.wait(timeout=30) == 0, receiver_log.read_text()
                assert encoder.wait(timeout=30) == 0, encoder_log.read_text()
        finally:
            for process in (receiver, encoder):
                if process.poll() is None:
                    process.kill()
                    process.wait()
    return recording, published


def decode_joined(playlist: Path) -> list[tuple[str, float, int]]:
    """Decode every listed segment with the init segment listed before it:
    (uri, listed duration, frames)."""
    init = b""
    decoded = []
    duration = 0.0
    for line in playlist.read_text().splitlines():
        if line.startswith("#EXT-X-MAP:"):
            init = (playlist.parent / line.split('"')[1]).read_bytes()
        elif line.startswith("#EXTINF:"):
            duration = float(line[8:].rstrip(","))
        elif line and not line.startswith("#"):
            data = init + (playlist.parent / line).read_bytes()
            segment = decode_segment(data, line, duration)
            assert segment.starts_with_keyframe, line
            decoded.append((line, duration, segment.frames))
    return decoded


def test_a_publisher_reconnects_and_the_joined_playlist_plays_through(tmp_path: Path) -> None:
    srt_port = free_udp_port()
    for number in (1, 2):
        recording, published = connection(srt_port, tmp_path, number, 4.0)
        assert published.returncode == 0, published.stderr
        assert recording.stat().st_size > 50_000  # the source, untouched
    for rendition in ("360p", "audio"):
        parts = [
            parse_part_playlist(
                (tmp_path / f"conn-{n:04d}" / rendition / "index.m3u8").read_text(),
                f"conn-{n:04d}/{rendition}/",
            )
            for n in (1, 2)
        ]
        assert all(p.ended for p in parts)
        joined = tmp_path / f"{rendition}.m3u8"
        joined.write_text(render_live_playlist(parts, ended=True))
        assert joined.read_text().count("#EXT-X-DISCONTINUITY\n") == 1
        decoded = decode_joined(joined)
        # Two connections of 4 s each, in 2-s segments: about 8 s listed and decodable (UDP
        # may lose the first moments of a connection while the encoder locks on).
        assert 6.0 <= sum(d for _, d, _ in decoded) <= 8.5, decoded
        assert all(frames > 0 for _, _, frames in decoded)


def test_a_wrong_passphrase_never_gets_a_byte_in(tmp_path: Path) -> None:
    srt_port = free_udp_port()
    recording, published = connection(srt_port, tmp_path, 1, 2.0, passphrase="wrong-passphrase-1")
    assert published.returncode != 0
    assert b"Input/output error" in published.stderr or published.stderr
    assert not recording.exists() or recording.stat().st_size == 0
    assert not list((tmp_path / "conn-0001").rglob("*.m4s"))
