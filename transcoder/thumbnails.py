"""The WebVTT thumbnail track for scrubbing: one cue per sprite tile (``sprite-001.jpg#xywh=``).

The poster and the sprite sheets themselves are made by the ladder command (same decode).
"""

from __future__ import annotations

from pathlib import Path

from transcoder.ladder import ThumbnailPlan
from transcoder.webvtt import timestamp

__all__ = ["render_thumbnail_track", "sprite_tile_count", "write_thumbnail_track"]

THUMBNAIL_TRACK = "thumbnails.vtt"


def sprite_tile_count(plan: ThumbnailPlan, duration: float) -> int:
    """How many tiles FFmpeg's ``fps=1/interval`` makes: one per interval, rounded to nearest."""
    return max(1, round(duration / plan.interval))


def render_thumbnail_track(plan: ThumbnailPlan, duration: float) -> str:
    """The WebVTT text: cue i spans [i*interval, (i+1)*interval) and shows tile i."""
    per_sheet = plan.columns * plan.rows
    count = sprite_tile_count(plan, duration)
    lines = ["WEBVTT", ""]
    for tile in range(count):
        start = tile * plan.interval
        end = duration if tile == count - 1 else (tile + 1) * plan.interval
        sheet, position = divmod(tile, per_sheet)
        row, column = divmod(position, plan.columns)
        x, y = column * plan.tile_width, row * plan.tile_height
        lines += [
            f"{timestamp(start)} --> {timestamp(max(end, start + 0.001))}",
            f"sprite-{sheet + 1:03d}.jpg#xywh={x},{y},{plan.tile_width},{plan.tile_height}",
            "",
        ]
    return "\n".join(lines)


def write_thumbnail_track(plan: ThumbnailPlan, duration: float, outdir: Path) -> Path:
    path = outdir / THUMBNAIL_TRACK
    path.write_text(render_thumbnail_track(plan, duration), encoding="utf-8")
    return path
