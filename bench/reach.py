"""Benchmark: reach over poor links — a village doctor's first visit to the watch page, on a
shaped link, for every link profile × lecture.

    sudo .venv/bin/python bench/reach.py [--runs 3] [--seconds 60] [--profiles 0.5,0.25]

It starts a real portal (``clinicast serve`` with its embedded S3 server and worker), publishes a
slide lecture and a camera lecture (from ``samples.media``) through the API, and for each link
profile (2, 1, 0.5 and 0.25 Mbit/s, 150 ms round trip; and 0.5 Mbit/s with a 60-s outage in the
middle) runs Chromium inside a network namespace (``tests/support/shaped_link.py``,
``tests/support/reach_probe.py``) from a fresh profile. It prints one row per profile ×
lecture: medians over the runs of page load, click to first frame, stalls, stalled seconds,
the height mostly played, switches, page and media bytes, static files fetched again on a
repeat visit, and for the outage run the seconds from the link's return to playback.

Needs root (network namespaces, tc). Live lectures join the table once they exist.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the harness is in tests/support

from infra.speech import resolve_model
from samples.media import high_motion_clip, lecture_clip
from tests.network.conftest import DOCTOR, PASSWORD, SPECIALIST, VILLAGE, probe_command, publish
from tests.support.portal import LivePortal
from tests.support.shaped_link import LinkProfile, ShapedLink

PROFILES = {
    "2": LinkProfile("2 Mbit/s", 2000),
    "1": LinkProfile("1 Mbit/s", 1000),
    "0.5": LinkProfile("0.5 Mbit/s", 500),
    "0.25": LinkProfile("0.25 Mbit/s", 250),
}
OUTAGE = ("0.5 Mbit/s + 60 s outage", "0.5", 60.0)


def run_probe(
    link: ShapedLink, lecture: int, seconds: float, outage: float | None
) -> dict[str, Any]:
    probe = link.popen(
        probe_command(link.url(), lecture, seconds + (outage or 0), "--repeat-visit"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    restored_at: list[float] = []
    if outage:

        def cut() -> None:
            time.sleep(seconds / 2)
            link.outage(True)
            time.sleep(outage)
            link.outage(False)
            restored_at.append(time.time())

        threading.Thread(target=cut, daemon=True).start()
    out, err = probe.communicate(timeout=seconds + (outage or 0) + 600)
    if probe.returncode != 0:
        raise RuntimeError(err.decode(errors="replace")[-2000:])
    result: dict[str, Any] = json.loads(out)
    if restored_at:
        # Stalled when the link came back: the seconds until it played again; playing
        # through the outage on its buffer: 0.
        before = [name for name, t, _ in result["timeline"] if t <= restored_at[0]]
        back = [t for name, t, _ in result["timeline"] if name == "playing" and t > restored_at[0]]
        if before and before[-1] == "waiting":
            result["resumed_s"] = round(back[0] - restored_at[0], 1) if back else None
        else:
            result["resumed_s"] = 0.0
    return result


def mostly(heights: list[list[float]]) -> int | None:
    seconds: dict[int, float] = {}
    for height, duration in heights:
        seconds[int(height)] = seconds.get(int(height), 0.0) + duration
    return max(seconds, key=seconds.__getitem__) if seconds else None


def median(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=60.0, help="playback per run")
    parser.add_argument("--profiles", default="2,1,0.5,0.25", help="of 2,1,0.5,0.25")
    parser.add_argument("--no-outage", action="store_true")
    parser.add_argument("--model", default="base", help="Whisper model for the pipeline")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="clinicast-bench-reach-") as tmp:
        root = Path(tmp)
        model = resolve_model(args.model, root / "speech")
        extra = {"CLINICAST_SPEECH__MODEL": str(model)}
        with LivePortal(root / "data", extra) as portal:
            portal.clinicast("seed")
            for name, role, clinic in (
                (SPECIALIST, "specialist", "139901000001"),
                (DOCTOR, "doctor", VILLAGE),
            ):
                portal.clinicast(
                    "users", "create", name, "--role", role, "--clinic", clinic,
                    "--password", PASSWORD,
                )  # fmt: skip
            lectures = {
                "slides": publish(
                    portal, lecture_clip(root / "slides.mp4", seconds=180), "Slide lecture"
                ),
                "camera": publish(
                    portal,
                    high_motion_clip(root / "camera.mp4", seconds=180, width=1280, height=720),
                    "Camera lecture",
                ),
            }
            cells: list[tuple[str, str, float | None]] = [
                (PROFILES[key].name, key, None) for key in args.profiles.split(",")
            ]
            if not args.no_outage:
                cells.append(OUTAGE)
            rows = []
            print_header()
            for label, key, outage in cells:
                for lecture_name, lecture in lectures.items():
                    runs = []
                    for _ in range(args.runs):
                        with ShapedLink(PROFILES[key], target_port=portal.web_port) as link:
                            runs.append(run_probe(link, lecture, args.seconds, outage))
                    rows.append((label, lecture_name, runs))
                    print_row(label, lecture_name, runs)
    print()
    print_header()
    for label, lecture_name, runs in rows:
        print_row(label, lecture_name, runs)


def print_header() -> None:
    print(
        f"{'link':<26}{'lecture':<8}{'load s':>7}{'1st frame':>10}{'stalls':>7}{'stalled':>8}"
        f"{'height':>7}{'switch':>7}{'page kB':>8}{'media kB':>9}{'repeat':>7}{'resumed':>8}"
    )


def print_row(label: str, lecture: str, runs: list[dict[str, Any]]) -> None:
    def med(key: str) -> Any:
        return median([r.get(key) for r in runs])

    height = median([mostly(r["heights"]) for r in runs])
    resumed = med("resumed_s")
    print(
        f"{label:<26}{lecture:<8}{med('page_load_s'):>7.1f}"
        f"{(med('first_frame_s') or float('nan')):>10.1f}{med('stalls'):>7}{med('stalled_s'):>8.1f}"
        f"{height if height is not None else '-':>7}{med('switches'):>7}"
        f"{med('page_bytes') / 1000:>8.0f}{med('media_bytes') / 1000:>9.0f}"
        f"{med('static_fetches_on_repeat'):>7}{resumed if resumed is not None else '-':>8}",
        flush=True,
    )


if __name__ == "__main__":
    main()
