"""``clinicast transcode``: make the HLS ladder of one source, from the command line.

Imports only ``transcoder``, click and rich so that the command starts fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import cast

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

import transcoder

# Exit status for bad input (click uses 2 for usage errors: a bad SOURCE is one).
EXIT_BAD_INPUT = 2
EXIT_FAILED = 1


def _plain_progress(report: transcoder.Progress) -> None:
    if report.percent is None:
        return
    speed = f" {report.speed:.2f}x" if report.speed else ""
    click.echo(f"{report.percent:5.1f}%{speed}")


@click.command("transcode")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("outdir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--max-height", type=click.IntRange(min=360), default=None, help="Top rung ('p').")
@click.option("--preset", default="veryfast", show_default=True, help="x264 preset.")
@click.option(
    "--scaling",
    type=click.Choice(["source", "cascade", "auto"]),
    default="auto",
    show_default=True,
    help="Scale every rung from the source, or each from the next larger (auto: 4K only).",
)
def transcode(
    source: Path, outdir: Path, max_height: int | None, preset: str, scaling: str
) -> None:
    """Transcode SOURCE into an HLS ladder: OUTDIR/master.m3u8 and its variants."""
    errors = Console(stderr=True, highlight=False, soft_wrap=True)
    try:
        if sys.stdout.isatty():
            result = _with_progress_bar(source, outdir, max_height, preset, scaling)
        else:
            result = _transcode(
                source,
                outdir,
                max_height=max_height,
                preset=preset,
                scaling=scaling,
                on_progress=_plain_progress,
            )
    except transcoder.ProbeError as error:
        errors.print(f"error: {error}", markup=False)
        sys.exit(EXIT_BAD_INPUT)
    except transcoder.TranscoderError as error:
        errors.print(f"error: {error}", markup=False)
        sys.exit(EXIT_FAILED)
    rungs = ", ".join(rung.name for rung in result.ladder.video) or "audio only"
    click.echo(f"{result.master_playlist} ({rungs})")


def _transcode(
    source: Path,
    outdir: Path,
    *,
    max_height: int | None,
    preset: str,
    scaling: str,
    on_progress: Callable[[transcoder.Progress], None],
) -> transcoder.TranscodeResult:
    return transcoder.transcode(
        source,
        outdir,
        max_height=max_height,
        preset=preset,
        scaling=cast("transcoder.Scaling", scaling),  # click.Choice has checked it
        on_progress=on_progress,
    )


def _with_progress_bar(
    source: Path, outdir: Path, max_height: int | None, preset: str, scaling: str
) -> transcoder.TranscodeResult:
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[speed]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as bar:
        task = bar.add_task(source.name, total=100.0, speed="")

        def update(report: transcoder.Progress) -> None:
            speed = f"{report.speed:.2f}x" if report.speed else ""
            bar.update(task, completed=report.percent or 0.0, speed=speed)

        return _transcode(
            source,
            outdir,
            max_height=max_height,
            preset=preset,
            scaling=scaling,
            on_progress=update,
        )


COMMANDS = (transcode,)
