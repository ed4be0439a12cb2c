"""Administration commands: settings, database, sample data, users, jobs."""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from infra.db import check_database, upgrade
from infra.runtime import open_database
from infra.seed import seed
from infra.settings import load_settings
from training.accounts.models import Role
from training.accounts.services import AccountService, generate_password
from training.clinics.services import ClinicService, read_roster
from training.errors import ClinicNotFound, UserNotFound
from training.jobs.services import JobService

console = Console()


@click.command("config")
def config_command() -> None:
    """Print the effective settings (secrets masked) as JSON."""
    click.echo(json.dumps(load_settings().masked(), indent=2, ensure_ascii=False, default=str))


@click.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Alembic revision to reach.")
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (idempotent)."""
    settings = load_settings()
    database = open_database(settings)
    upgrade(database.engine, revision)
    click.echo(
        f"database at {revision}: {database.engine.url.render_as_string(hide_password=True)}"
    )


@click.command("seed")
@click.option(
    "--roster",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Clinic roster CSV (default: the sample county).",
)
def seed_command(roster: Path | None) -> None:
    """Load a clinic roster, demo users and demo lectures (idempotent).

    Passwords of the users created now are printed once; store them.
    """
    settings = load_settings()
    database = open_database(settings)
    check_database(database.engine)
    upgrade(database.engine)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("loading sample data", total=1)
        with database.sessions() as session:
            created, users = seed(session, roster)
        progress.advance(task)
    console.print(f"clinics created: {created}")
    if users:
        table = Table("username", "password (shown once)")
        for username, password in users:
            table.add_row(username, password)
        console.print(table)


@click.group("users")
def users_group() -> None:
    """User accounts."""


@users_group.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option(
    "--clinic", "region_code", help="Region code of the user's clinic (doctors, coordinators)."
)
@click.option("--name", "display_name", help="Name shown in the portal.")
@click.option("--password", help="Password (default: generated and printed once).")
def users_create(
    username: str,
    role: str,
    region_code: str | None,
    display_name: str | None,
    password: str | None,
) -> None:
    """Create a user."""
    database = open_database(load_settings())
    check_database(database.engine)
    with database.sessions() as session:
        clinic = None
        if region_code:
            clinic = ClinicService(session).by_region_code(region_code)
            if clinic is None:
                raise ClinicNotFound(f"no clinic with region code {region_code}")
        secret = password or generate_password()
        AccountService(session).create(
            username, secret, Role(role), display_name=display_name, clinic=clinic
        )
        session.commit()
    click.echo(f"created {role} {username}" + ("" if password else f" with password {secret}"))


@users_group.command("deactivate")
@click.argument("username")
@click.option("--reactivate", is_flag=True, help="Let the user sign in again instead.")
def users_deactivate(username: str, reactivate: bool) -> None:
    """Deactivate a user: their sessions and API tokens stop working at once."""
    database = open_database(load_settings())
    check_database(database.engine)
    with database.sessions() as session:
        accounts = AccountService(session)
        user = accounts.by_username(username)
        if user is None or user.id is None:
            raise UserNotFound(f"no user named {username}")
        accounts.set_active(user.id, reactivate)
        session.commit()
    click.echo(f"{'reactivated' if reactivate else 'deactivated'} {username}")


@click.group("clinics")
def clinics_group() -> None:
    """The clinic tree."""


@clinics_group.command("import")
@click.argument("roster", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def clinics_import(roster: Path) -> None:
    """Import a roster CSV (region_code, parent_region_code, name, level, kind, bandwidth_kbps).

    A known region code is updated; one whose parent changed moves there with its subtree."""
    database = open_database(load_settings())
    check_database(database.engine)
    with database.sessions() as session:
        summary = ClinicService(session).import_roster(read_roster(roster))
        session.commit()
    click.echo(
        f"clinics created: {summary.created}, updated: {summary.updated}, moved: {summary.moved}"
    )


@click.group("jobs")
def jobs_group() -> None:
    """Background jobs of record."""


@jobs_group.command("list")
@click.option("--limit", default=30, show_default=True)
def jobs_list(limit: int) -> None:
    """The most recent jobs with their state and progress."""
    database = open_database(load_settings())
    with database.sessions() as session:
        table = Table("id", "kind", "queue", "status", "attempts", "progress", "message / error")
        for job in JobService(session).recent(limit):
            detail = (job.error or job.message or "").splitlines()[-1:] or [""]
            table.add_row(
                str(job.id), job.kind, job.queue, job.status.value,
                f"{job.attempts}/{job.max_attempts}", f"{job.progress:.0%}", detail[0][:80],
            )  # fmt: skip
    console.print(table)


@jobs_group.command("restart")
@click.argument("job_id", type=int)
def jobs_restart(job_id: int) -> None:
    """Queue a failed or cancelled job again."""
    from infra.jobs.engine import CeleryDispatcher, make_celery

    settings = load_settings()
    dispatcher = CeleryDispatcher(make_celery(settings))
    database = open_database(settings, after_commit=dispatcher.after_commit)
    dispatcher.session_factory = database.sessions
    with database.sessions() as session:
        JobService(session).restart(job_id)
        session.commit()
    click.echo(f"job {job_id} queued again")


@jobs_group.command("cancel")
@click.argument("job_id", type=int)
def jobs_cancel(job_id: int) -> None:
    """Cancel a job; a running attempt stops at its next heartbeat."""
    database = open_database(load_settings())
    with database.sessions() as session:
        JobService(session).cancel(job_id)
        session.commit()
    click.echo(f"job {job_id} cancelled")


COMMANDS = (config_command, db_group, seed_command, users_group, clinics_group, jobs_group)
