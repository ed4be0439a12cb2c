"""Benchmark: one-pass ladder (source / cascade scaling) against one ffmpeg per rung.

    .venv/bin/python bench/transcode.py [--seconds N] [--preset veryfast]

On a 1080p slide lecture and a 1080p high-motion clip (both from ``samples.media``) it prints
CPU-seconds (user+sys of the ffmpeg children, from getrusage(RUSAGE_CHILDREN) deltas), wall
time, x-realtime, and VMAF (libvmaf) of the 720p and 360p rungs against the source for
(a) one ffmpeg with ``split``, every rung scaled from the source, (b) the same with a scale
cascade, (c) one ffmpeg per rung (plus one for the audio), the way PeerTube runs VOD jobs.
Thumbnails are left out of all three so that they do the same work.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from samples.media import high_motion_clip, lecture_clip
from transcoder import (
    Ladder,
    build_ladder_command,
    build_single_rung_commands,
    ffmpeg_executable,
    plan_ladder,
    probe,
    read_media_playlist,
    run_ffmpeg,
)

VMAF_SUBSAMPLE = 3  # score every 3rd frame: the same frames for every strategy


@dataclass(frozen=True)
class Measurement:
    source: str
    strategy: str
    cpu_seconds: float
    wall_seconds: float
    realtime: float
    vmaf_720p: float
    vmaf_360p: float


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def prepare(outdir: Path, ladder: Ladder) -> None:
    outdir.mkdir(parents=True)
    for name in [r.name for r in ladder.video] + ["audio"]:
        (outdir / name).mkdir()


def timed(commands: list[list[str]], cwd: Path) -> tuple[float, float]:
    """Run the commands one after another; return (CPU-seconds, wall seconds)."""
    cpu, wall = children_cpu(), time.perf_counter()
    for command in commands:
        run_ffmpeg(command, cwd=cwd)
    return children_cpu() - cpu, time.perf_counter() - wall


def joined_variant(outdir: Path, rung: str) -> Path:
    """init + every segment: a fragmented MP4 that ffmpeg reads as one file."""
    playlist = read_media_playlist(outdir / rung / "index.m3u8")
    joined = outdir / f"{rung}.mp4"
    with joined.open("wb") as out:
        out.write((outdir / rung / (playlist.init_uri or "init.mp4")).read_bytes())
        for segment in playlist.segments:
            out.write((outdir / rung / segment.uri).read_bytes())
    return joined


def vmaf(distorted: Path, reference: Path, size: tuple[int, int], log: Path) -> float:
    """VMAF of ``distorted`` upscaled (bicubic) to the reference size, the usual way."""
    graph = (
        f"[0:v]scale={size[0]}:{size[1]}:flags=bicubic,setpts=PTS-STARTPTS[distorted];"
        "[1:v]setpts=PTS-STARTPTS[reference];"
        f"[distorted][reference]libvmaf=n_threads=2:n_subsample={VMAF_SUBSAMPLE}"
        f":log_fmt=json:log_path={log.name}"
    )
    subprocess.run(
        [ffmpeg_executable(), "-v", "error", "-nostdin", "-i", str(distorted),
         "-i", str(reference), "-lavfi", graph, "-f", "null", "-"],
        check=True, cwd=log.parent, timeout=1800,
    )  # fmt: skip
    return float(json.loads(log.read_text())["pooled_metrics"]["vmaf"]["mean"])


def measure(label: str, source: Path, workdir: Path, preset: str) -> list[Measurement]:
    media = probe(source)
    assert media.video is not None
    size = (media.video.display_width, media.video.display_height)
    base = dataclasses.replace(plan_ladder(media), thumbnails=None)
    strategies: dict[str, Callable[[Ladder], list[list[str]]]] = {
        "one-pass, source scaling": lambda ladder: [
            build_ladder_command(ladder, str(source), preset=preset, ffmpeg_exe=ffmpeg_executable())
        ],
        "one-pass, cascade": lambda ladder: [
            build_ladder_command(ladder, str(source), preset=preset, ffmpeg_exe=ffmpeg_executable())
        ],
        "one ffmpeg per rung": lambda ladder: build_single_rung_commands(
            ladder, str(source), preset=preset, ffmpeg_exe=ffmpeg_executable()
        ),
    }
    results = []
    for strategy, commands_for in strategies.items():
        scaling = "cascade" if "cascade" in strategy else "source"
        ladder = dataclasses.replace(base, scaling=scaling)
        outdir = workdir / f"{label}-{scaling}-{len(results)}".replace(" ", "-")
        prepare(outdir, ladder)
        cpu, wall = timed(commands_for(ladder), outdir)
        scores = [
            vmaf(joined_variant(outdir, rung), source, size, outdir / f"vmaf-{rung}.json")
            for rung in ("720p", "360p")
        ]
        results.append(
            Measurement(label, strategy, cpu, wall, media.duration / wall, scores[0], scores[1])
        )
    return results


def print_table(rows: list[Measurement]) -> None:
    header = (
        f"{'source':<19}{'strategy':<27}{'CPU s':>8}{'wall s':>8}{'x-realtime':>11}"
        f"{'VMAF 720p':>11}{'VMAF 360p':>11}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.source:<19}{row.strategy:<27}{row.cpu_seconds:>8.1f}{row.wall_seconds:>8.1f}"
            f"{row.realtime:>10.2f}x{row.vmaf_720p:>11.2f}{row.vmaf_360p:>11.2f}"
        )


def print_verdict(rows: list[Measurement]) -> None:
    print()
    for source in dict.fromkeys(row.source for row in rows):
        by = {row.strategy: row for row in rows if row.source == source}
        one_pass, cascade = by["one-pass, source scaling"], by["one-pass, cascade"]
        per_rung = by["one ffmpeg per rung"]
        ratio = per_rung.cpu_seconds / one_pass.cpu_seconds
        cascade_ratio = per_rung.cpu_seconds / cascade.cpu_seconds
        vmaf_gap = abs(per_rung.vmaf_720p - one_pass.vmaf_720p)
        ok = "MET" if ratio >= 1.7 and vmaf_gap <= 1 else "NOT MET"
        print(
            f"{source}: CPU per-rung / one-pass = {ratio:.2f}x (source scaling), "
            f"{cascade_ratio:.2f}x (cascade); VMAF 720p gap {vmaf_gap:.2f}; "
            f"cascade - source at 360p {cascade.vmaf_360p - one_pass.vmaf_360p:+.2f} VMAF "
            f"-> goal >= 1.7x at VMAF within 1: {ok}"
        )
    lecture = next(r for r in rows if r.strategy == "one-pass, source scaling")
    ok = "MET" if lecture.realtime >= 2 else "NOT MET"
    print(f"{lecture.source}: full ladder one-pass at {lecture.realtime:.2f}x realtime "
          f"-> goal >= 2x realtime: {ok}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=24.0, help="length of each source clip")
    parser.add_argument("--preset", default="veryfast", help="x264 preset")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clinicast-bench-") as temporary:
        workdir = Path(temporary)
        sources = {
            "lecture 1080p": lecture_clip(workdir / "lecture.mp4", seconds=args.seconds, crf=18),
            "high-motion 1080p": high_motion_clip(workdir / "motion.mp4", seconds=args.seconds),
        }
        print(f"{args.seconds:g} s clips, preset {args.preset}, ffmpeg {ffmpeg_executable()}\n")
        rows = [
            row
            for label, source in sources.items()
            for row in measure(label, source, workdir, args.preset)
        ]
    print_table(rows)
    print_verdict(rows)


if __name__ == "__main__":
    main()
