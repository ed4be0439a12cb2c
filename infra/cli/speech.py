"""``clinicast transcribe``: speech-to-text of one media file, as captions or JSON.

The defaults come from the same environment variables as the settings
(``CLINICAST_SPEECH__*``, ``CLINICAST_DATA_DIR``); a ``default_map`` set by the ``clinicast``
group overrides them from the loaded settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from infra.files import replacing
from training.errors import SpeechError
from training.ports import Transcription
from training.transcripts.formats import to_json, to_srt, to_webvtt

WRITERS: dict[str, Callable[[Transcription], str]] = {
    "vtt": to_webvtt,
    "srt": to_srt,
    "json": to_json,
}


@click.command("transcribe")
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--language", type=click.Choice(["zh", "en", "auto"]), default="auto", show_default=True
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(sorted(WRITERS)),
    default="vtt",
    show_default=True,
)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="default: stdout"
)
@click.option(
    "--model",
    envvar="CLINICAST_SPEECH__MODEL",
    default="base",
    show_default=True,
    help="Whisper model name, or a directory holding a converted model",
)
@click.option("--prompt", help="lecture title and keywords: helps Whisper with medical words")
@click.option(
    "--data-dir",
    envvar="CLINICAST_DATA_DIR",
    default="data",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--device",
    envvar="CLINICAST_SPEECH__DEVICE",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", "cpu", "cuda"]),
)
@click.option(
    "--compute-type", envvar="CLINICAST_SPEECH__COMPUTE_TYPE", default="auto", show_default=True
)
@click.option(
    "--beam-size", envvar="CLINICAST_SPEECH__BEAM_SIZE", default=1, show_default=True, type=int
)
@click.option(
    "--cpu-threads",
    envvar="CLINICAST_SPEECH__CPU_THREADS",
    default=0,
    show_default=True,
    type=int,
    help="0: CTranslate2's default",
)
def transcribe(
    *,
    source: Path,
    language: str,
    output_format: str,
    output: Path | None,
    model: str,
    prompt: str | None,
    data_dir: Path,
    device: str,
    compute_type: str,
    beam_size: int,
    cpu_threads: int,
) -> None:
    """Transcribe SOURCE (any audio or video file) to WebVTT, SRT or JSON."""
    # Imported here: faster-whisper pulls in CTranslate2 and ONNX Runtime, which every other
    # ``clinicast`` command would otherwise pay for at start-up.
    from infra.speech import WhisperTranscriber

    transcriber = WhisperTranscriber(
        model,
        data_dir=data_dir.resolve(),
        device=device,
        compute_type=compute_type,
        beam_size=beam_size,
        cpu_threads=cpu_threads,
    )
    try:
        with _progress_bar(source.name) as progress:
            transcription = transcriber.transcribe(
                source,
                language=None if language == "auto" else language,
                initial_prompt=prompt,
                progress=progress,
            )
    except SpeechError as exc:
        click.echo(f"error: {exc}", err=True)
        raise click.exceptions.Exit(2) from None
    text = WRITERS[output_format](transcription)
    if output is None:
        click.echo(text, nl=False)
    else:
        _write_atomically(output, text)


@contextmanager
def _progress_bar(label: str) -> Iterator[Callable[[float], None]]:
    """A rich progress bar on stderr when it is a terminal; otherwise a callback that does nothing
    (so that logs and pipes stay clean)."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda _share: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"transcribing {label}", total=1.0)
        yield lambda share: bar.update(task, completed=share)


def _write_atomically(path: Path, text: str) -> None:
    with replacing(path) as partial:
        partial.write_text(text, encoding="utf-8")
