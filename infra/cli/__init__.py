"""The ``clinicast`` command: one group, a subcommand per area.

Errors the operator can fix (bad settings, unreachable services, bad input) are printed as one
line naming what to change, with exit status 2; never a traceback.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click
import pydantic

from training.errors import ClinicastError


class ClinicastGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClinicastError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            setting = "CLINICAST_" + "__".join(str(part) for part in first["loc"]).upper()
            click.echo(f"error: invalid setting {setting}: {first['msg']}", err=True)
            sys.exit(2)


@click.group(cls=ClinicastGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="clinicast")
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """Clinicast: lectures for county medical communities, live and on demand.

    Settings come from CLINICAST_* environment variables or the TOML file named by
    CLINICAST_SETTINGS_FILE; `clinicast config` shows the effective ones.
    """
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if ctx.invoked_subcommand == "transcribe":
        # Its options default to the speech settings (environment or settings file).
        from infra.settings import load_settings

        settings = load_settings()
        speech = settings.speech
        ctx.default_map = {
            "transcribe": {
                "model": speech.model, "device": speech.device, "compute_type": speech.compute_type,
                "beam_size": speech.beam_size, "cpu_threads": speech.cpu_threads,
                "data_dir": settings.data_path,
            }
        }  # fmt: skip


def _register() -> None:
    from infra.cli import admin, media, run, speech, storage

    commands = (*admin.COMMANDS, *run.COMMANDS, *storage.COMMANDS, *media.COMMANDS)
    for command in (*commands, speech.transcribe):
        main.add_command(command)


_register()
