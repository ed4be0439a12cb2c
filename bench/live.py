"""Benchmark: the live ladder on this machine.

    .venv/bin/python bench/live.py [--seconds 300] [--top 1080] [--preset veryfast]

For a high-motion 1080p30 publisher and a slide publisher (both from ``samples.media``) it
prints, side by side:

- encoder speed: the default live ladder (top rung, 540p, 360p, audio) encoded from the file as
  fast as it goes, in × real time — live needs ≥ 1 with headroom (goal ≥ 1.3 on high motion);
- glass-to-playlist latency, p50 and p95 over the run: a real SRT publisher (ffmpeg, the source
  copied and paced in real time) sends to the ingest supervisor, and for every segment the
  time from its last frame entering ingest to the segment being listed in the joined playlist
  (goal p95 ≤ 6 s with 2-s segments);
- "end of lecture" to on-demand playback: the time ``LiveIngest.stop`` takes to list the last
  segments and close the playlists (goal ≤ 10 s).

Viewers polling live playlists through the portal are not measured yet: the portal does not
serve live lectures yet (issue 14 is in progress).
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from infra.live.ingest import IngestConfig, LiveIngest
from samples.media import high_motion_clip, lecture_clip
from transcoder import ffmpeg_executable, probe
from transcoder.live import (
    LiveSource,
    build_live_encoder_command,
    plan_live_ladder,
    srt_publish_url,
)

PASSPHRASE = "bench-live-passphrase"  # noqa: S105 - a loopback benchmark


@dataclass(frozen=True)
class Result:
    source: str
    speed: float
    cpu_per_second: float
    latency_p50: float
    latency_p95: float
    segments: int
    end_to_vod: float


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def encoder_speed(clip: Path, top: int, preset: str, workdir: Path) -> tuple[float, float]:
    """× real time and CPU-seconds per second of media, encoding the file flat out."""
    info = probe(clip)
    assert info.video is not None
    video = info.video
    source = LiveSource(video.display_width, video.display_height, video.frame_rate)
    ladder = plan_live_ladder(source, top_height=top)
    for rung in [*ladder.video, *([ladder.audio] if ladder.audio else [])]:
        (workdir / rung.name).mkdir(parents=True)
    command = build_live_encoder_command(
        ladder, str(clip), preset=preset, ffmpeg_exe=ffmpeg_executable()
    )
    cpu, wall = children_cpu(), time.monotonic()
    subprocess.run(command, cwd=workdir, check=True)
    cpu, wall = children_cpu() - cpu, time.monotonic() - wall
    return info.duration / wall, cpu / info.duration


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


def live_latency(
    clip: Path, seconds: float, top: int, preset: str, workdir: Path
) -> tuple[list[float], float]:
    """Publish ``clip`` (looped, copied, paced) for ``seconds``; each segment's latency, and
    the time ``stop`` took."""
    port = free_port()
    ingest = LiveIngest(
        IngestConfig(
            workdir=workdir,
            port=port,
            passphrase=PASSPHRASE,
            ffmpeg=ffmpeg_executable(),
            host="127.0.0.1",
            top_height=top,
            preset=preset,
        )
    )
    ingest.start()
    time.sleep(0.5)
    publisher = [
        ffmpeg_executable(), "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
        "-stream_loop", "-1", "-i", str(clip), "-t", str(seconds), "-c", "copy",
        "-f", "mpegts", srt_publish_url("127.0.0.1", port, PASSPHRASE),
    ]  # fmt: skip
    started = time.monotonic()
    process = subprocess.Popen(publisher)
    listed_at: dict[str, float] = {}
    durations: dict[str, float] = {}
    playlist = workdir / "live" / "360p" / "index.m3u8"
    watcher_done = threading.Event()

    def watch() -> None:
        while not watcher_done.is_set():
            if playlist.exists():
                duration = 0.0
                for line in playlist.read_text().splitlines():
                    if line.startswith("#EXTINF:"):
                        duration = float(line[8:].rstrip(","))
                    elif line.endswith(".m4s") and line not in listed_at:
                        listed_at[line] = time.monotonic()
                        durations[line] = duration
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    process.wait()
    time.sleep(3.0)  # the last segment
    stopping = time.monotonic()
    ingest.stop()
    end_to_vod = time.monotonic() - stopping
    watcher_done.set()
    watcher.join()
    latencies = []
    media_end = 0.0
    for uri, when in listed_at.items():  # insertion order is playlist order
        media_end += durations[uri]
        latencies.append(when - (started + media_end))
    return latencies[:-1], end_to_vod  # the last one waits for the publisher to end


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="live run per source")
    parser.add_argument("--top", type=int, default=1080, help="the live top rung")
    parser.add_argument("--preset", default="veryfast")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="clinicast-bench-live-") as tmp:
        root = Path(tmp)
        sources = {
            "high motion 1080p30": high_motion_clip(root / "motion.mp4", seconds=20),
            "slides 1080p30": lecture_clip(
                root / "slides.mp4", seconds=20, width=1920, height=1080
            ),
        }
        for label, clip in sources.items():
            key = label.split()[0]
            speed, cpu = encoder_speed(clip, args.top, args.preset, root / f"speed-{key}")
            latencies, end_to_vod = live_latency(
                clip, args.seconds, args.top, args.preset, root / f"live-{key}"
            )
            ordered = sorted(latencies)
            results.append(
                Result(
                    label,
                    speed,
                    cpu,
                    statistics.median(ordered),
                    ordered[max(0, round(0.95 * len(ordered)) - 1)],
                    len(ordered),
                    end_to_vod,
                )
            )
    print(f"live ladder: top {args.top}p, 540p, 360p, audio; preset {args.preset}; "
          f"{args.seconds:.0f} s live per source")  # fmt: skip
    header = (
        f"{'source':<22}{'speed ×RT':>10}{'CPU-s/s':>9}{'latency p50':>13}"
        f"{'p95':>7}{'segments':>10}{'end→VOD':>9}"
    )
    print(header)
    for r in results:
        print(
            f"{r.source:<22}{r.speed:>10.2f}{r.cpu_per_second:>9.2f}{r.latency_p50:>12.2f}s"
            f"{r.latency_p95:>6.2f}s{r.segments:>10}{r.end_to_vod:>8.2f}s"
        )
    motion = results[0]
    print(
        f"goals: speed ≥ 1.3 on high motion: {'met' if motion.speed >= 1.3 else 'NOT met'}; "
        f"latency p95 ≤ 6 s: {'met' if all(r.latency_p95 <= 6 for r in results) else 'NOT met'}; "
        f"end → on demand ≤ 10 s: {'met' if all(r.end_to_vod <= 10 for r in results) else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
