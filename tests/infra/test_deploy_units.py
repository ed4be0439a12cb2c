"""The systemd units under ``deploy/`` against the real CLI and the real settings: every
``clinicast`` command line they run parses (nothing is run), and every ``CLINICAST_*`` name
they, the example environment file or docs/deployment.md use is a setting that exists."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from infra.cli import main
from infra.settings import Settings
from tests.conftest import REPO
from training.jobs.registry import QUEUES

DEPLOY = REPO / "deploy"
UNITS = sorted(DEPLOY.glob("*.service"))
ENV_EXAMPLE = DEPLOY / "clinicast.env.example"
GUIDE = REPO / "docs" / "deployment.md"
EXEC_KEYS = ("ExecStartPre", "ExecStart", "ExecStartPost", "ExecStop", "ExecStopPost")
LONG_RUNNING = (
    "clinicast-web.service",
    "clinicast-worker-media.service",
    "clinicast-worker-speech.service",
    "clinicast-worker@.service",
)
# "name=value" with an optional leading "#": commented examples must be real settings too.
ENV_LINE = re.compile(r"^#?\s*(CLINICAST_[A-Z0-9_]+)=(.*)$")

Unit = dict[str, list[tuple[str, str]]]


def read_unit(path: Path) -> Unit:
    """Sections of a unit file as lists of (key, value): systemd allows a key many times
    (Environment=, ExecStartPre=…), which configparser would fold into one."""
    sections: Unit = {}
    current: list[tuple[str, str]] | None = None
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = pending + raw.strip()
        pending = ""
        if not line or line.startswith(("#", ";")):
            continue
        if line.endswith("\\"):  # a continuation line
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not a unit file line: {raw!r}"
        assert current is not None, f"{path.name}: {raw!r} comes before any [section]"
        current.append((key.strip(), value.strip()))
    return sections


def values(unit: Unit, section: str, key: str) -> list[str]:
    return [value for name, value in unit.get(section, []) if name == key]


def instances(path: Path) -> list[str]:
    """The instance names a unit is checked with: every queue for a template."""
    return list(QUEUES) if path.name.endswith("@.service") else [""]


def command_lines(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(description, argv) of every command the unit runs, specifiers resolved, one argv per
    ``;``-separated command (oneshot units may chain several)."""
    unit = read_unit(path)
    for instance in instances(path):
        for key in EXEC_KEYS:
            for value in values(unit, "Service", key):
                text = value.replace("%%", "\0").replace("%i", instance).replace("%I", instance)
                assert "%" not in text, f"{path.name} {key}: unresolved specifier in {value!r}"
                words = [word.replace("\0", "%") for word in shlex.split(text)]
                command: list[str] = []
                for word in [*words, ";"]:
                    if word != ";":
                        command.append(word)
                    elif command:
                        yield f"{path.name} {key}" + (f" [{instance}]" if instance else ""), command
                        command = []


def clinicast_command_lines() -> list[tuple[str, list[str]]]:
    found = []
    for path in UNITS:
        for where, argv in command_lines(path):
            executable = argv[0].lstrip("-@:+!")  # systemd's prefixes: ignore failure, etc.
            if Path(executable).name == "clinicast":
                found.append((where, [executable, *argv[1:]]))
    return found


def resolve(args: list[str]) -> click.Context:
    """Parse ``clinicast ARGS`` the way the CLI would, down to the command that would run,
    without running anything: an unknown command or option, a missing argument, extra
    arguments or a group without its subcommand raise ``click.UsageError``."""
    command: click.Command = main
    name, parent, rest = "clinicast", None, list(args)
    while isinstance(command, click.Group):
        ctx = command.context_class(
            command, info_name=name, parent=parent, **command.context_settings
        )
        # The group's own options, parsed by click (Command.parse_args: the group's override
        # keeps the subcommand's name to itself); what is left starts with the subcommand.
        with ctx.scope(cleanup=False):
            rest = click.Command.parse_args(command, ctx, rest)
        if not rest:
            raise click.UsageError(f"{ctx.command_path}: a subcommand is missing", ctx)
        found_name, found, rest = command.resolve_command(ctx, rest)
        assert found_name is not None
        assert found is not None
        command, name, parent = found, found_name, ctx
    return command.make_context(name, rest, parent=parent, resilient_parsing=False)


def queues_of(ctx: click.Context) -> list[str]:
    return [queue.strip() for queue in str(ctx.params["queues"]).split(",") if queue.strip()]


def setting_exists(name: str) -> bool:
    """``CLINICAST_SECTION__FIELD`` or ``CLINICAST_FIELD``: a field of ``Settings``."""
    path = name.removeprefix("CLINICAST_").lower().split("__")
    model: type[object] = Settings
    for depth, part in enumerate(path):
        fields = getattr(model, "model_fields", {})
        if part not in fields:
            return False
        annotation = fields[part].annotation
        if depth < len(path) - 1:
            if not hasattr(annotation, "model_fields"):
                return False
            model = annotation
    return True


def example_settings() -> dict[str, str]:
    """Every CLINICAST_* assignment of the example environment file, commented or not."""
    found: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if match := ENV_LINE.match(line.strip()):
            found.setdefault(match.group(1), match.group(2))
    return found


def unit_environment() -> dict[str, str]:
    """Every CLINICAST_* variable set with Environment= in a unit."""
    found: dict[str, str] = {}
    for path in UNITS:
        for value in values(read_unit(path), "Service", "Environment"):
            for assignment in shlex.split(value):
                name, _, setting = assignment.partition("=")
                if name.startswith("CLINICAST_"):
                    found[name] = setting
    return found


# --- the tests ------------------------------------------------------------------------------


def test_deploy_holds_the_units_and_the_example_environment_file() -> None:
    names = {path.name for path in UNITS}
    assert {*LONG_RUNNING, "clinicast-migrate.service"} <= names
    assert ENV_EXAMPLE.is_file()


@pytest.mark.parametrize(
    ("where", "argv"),
    [pytest.param(where, argv, id=where) for where, argv in clinicast_command_lines()],
)
def test_every_exec_start_is_a_valid_clinicast_command_line(where: str, argv: list[str]) -> None:
    assert Path(argv[0]).is_absolute(), f"{where}: systemd needs the executable's full path"
    assert not any("$" in word for word in argv), f"{where}: variables cannot be checked"
    try:
        resolve(argv[1:])
    except click.ClickException as exc:
        pytest.fail(
            f"{where}: `clinicast {shlex.join(argv[1:])}` is refused: {exc.format_message()}"
        )


@pytest.mark.parametrize(
    "args",
    [
        ["workr", "-Q", "speech"],  # an unknown command
        ["worker", "--queue-list", "speech"],  # an unknown option
        ["serve", "--no-worker", "extra"],  # an unexpected argument
        ["db"],  # a group without its subcommand
        ["db", "downgrade"],  # an unknown subcommand
        ["worker", "-c", "many"],  # a value of the wrong type
        ["--no-such-flag", "worker"],  # an unknown option of the clinicast group itself
    ],
    ids=shlex.join,
)
def test_the_command_line_check_refuses_what_the_cli_refuses(args: list[str]) -> None:
    with pytest.raises(click.UsageError):
        resolve(args)


def test_the_command_line_check_follows_options_into_subcommand_groups() -> None:
    ctx = resolve(["-v", "db", "upgrade", "--revision", "head"])
    assert ctx.command_path == "clinicast db upgrade"
    assert ctx.params == {"revision": "head"}


def test_every_unit_runs_clinicast() -> None:
    running = {where.split(" ", 1)[0] for where, _ in clinicast_command_lines()}
    assert running == {path.name for path in UNITS}


def test_the_workers_take_known_queues_and_together_every_queue() -> None:
    taken: set[str] = set()
    for where, argv in clinicast_command_lines():
        ctx = resolve(argv[1:])
        if ctx.command.name != "worker":
            continue
        queues = queues_of(ctx)
        assert queues, f"{where}: no queue"
        assert set(queues) <= set(QUEUES), f"{where}: unknown queues {queues}"
        taken.update(queues)
    assert taken == set(QUEUES)


def test_the_dedicated_workers_split_speech_from_the_other_queues() -> None:
    by_unit = {
        where.split(" ", 1)[0]: resolve(argv[1:]) for where, argv in clinicast_command_lines()
    }
    assert queues_of(by_unit["clinicast-worker-speech.service"]) == ["speech"]
    assert queues_of(by_unit["clinicast-worker-media.service"]) == ["media", "io", "default"]


def test_the_portal_unit_runs_neither_a_worker_nor_the_migration() -> None:
    ctx = resolve(
        shlex.split(values(read_unit(DEPLOY / "clinicast-web.service"), "Service", "ExecStart")[0])[
            1:
        ]
    )
    assert ctx.command.name == "serve"
    assert ctx.params["with_worker"] is False
    assert ctx.params["migrate"] is False


def test_the_migration_is_a_oneshot_db_upgrade_that_the_long_running_units_start_after() -> None:
    migrate = read_unit(DEPLOY / "clinicast-migrate.service")
    assert values(migrate, "Service", "Type") == ["oneshot"]
    ctx = resolve(shlex.split(values(migrate, "Service", "ExecStart")[0])[1:])
    assert ctx.command_path == "clinicast db upgrade"
    for name in LONG_RUNNING:
        after = " ".join(values(read_unit(DEPLOY / name), "Unit", "After")).split()
        assert "clinicast-migrate.service" in after, name


@pytest.mark.parametrize("path", UNITS, ids=lambda path: path.name)
def test_every_unit_runs_as_the_clinicast_user_with_the_shared_environment_file(
    path: Path,
) -> None:
    unit = read_unit(path)
    assert values(unit, "Service", "User") == ["clinicast"]
    assert values(unit, "Service", "EnvironmentFile") == ["/etc/clinicast/clinicast.env"]
    if path.name in LONG_RUNNING:
        assert values(unit, "Service", "Restart") == ["on-failure"]
        assert values(unit, "Service", "KillSignal") == ["SIGTERM"]


def test_every_variable_of_the_example_environment_file_is_a_real_setting() -> None:
    names = [*example_settings(), *unit_environment()]
    assert len(names) > 10
    unknown = [name for name in names if not setting_exists(name)]
    assert not unknown, f"not settings (infra/settings.py): {unknown}"


def test_every_setting_the_deployment_guide_names_is_a_real_setting() -> None:
    names = set(re.findall(r"CLINICAST_[A-Z0-9_]*[A-Z0-9]", GUIDE.read_text(encoding="utf-8")))
    assert names
    unknown = sorted(name for name in names if not setting_exists(name))
    assert not unknown, f"docs/deployment.md names settings that do not exist: {unknown}"


def test_the_example_values_load_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLINICAST_SETTINGS_FILE", raising=False)
    chosen = {**unit_environment(), **example_settings()}
    for name, value in chosen.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert not settings.embedded_storage
    assert settings.direct_media_delivery
    assert settings.broker_url.startswith("redis://")


def test_the_setting_check_refuses_a_name_that_is_no_setting() -> None:
    assert setting_exists("CLINICAST_JOBS__LEASE_SECONDS")
    assert setting_exists("CLINICAST_DATA_DIR")
    assert not setting_exists("CLINICAST_JOBS__LEASE_SECOND")
    assert not setting_exists("CLINICAST_DATA_DIR__X")
    assert not setting_exists("CLINICAST_WORKER__QUEUES")
