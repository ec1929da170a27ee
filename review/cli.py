"""`occ serve`, `occ users ...`, `occ review export | export-links | verify-audit | load`: thin wrappers over the workspace."""

from __future__ import annotations

import getpass
import logging
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from common.cli import ParamsOption, fail, user_errors
from common.settings import load_settings

app = typer.Typer(no_args_is_help=True)
users_app = typer.Typer(no_args_is_help=True, help="Workspace accounts: add, list, disable, set a password.")
review_app = typer.Typer(no_args_is_help=True, help="The workspace's decisions: export them as labels, verify the audit trail.")
logger = logging.getLogger(__name__)

DbOption = Annotated[Optional[str], typer.Option("--db", help="Workspace database: sqlite:///path/review.db or postgresql://user@host/db.")]
ScoredOption = Annotated[Optional[Path], typer.Option("--scored", help="A scored run; the default database is review.db beside it.")]


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "cli"


def _open(db: Optional[str], scored: Optional[Path]):  # noqa: ANN202 - review.db.Database, imported lazily
    from review.db import Database, resolve_url

    return Database(resolve_url(db, scored))


@app.command("serve")
def serve_command(
    scored: Annotated[Path, typer.Option("--scored", help="A complete `occ score` run to review (loaded once; later runs add to the same database).")],
    report: Annotated[Optional[Path], typer.Option("--report", help="Its `occ report` folder (the gap board needs it).")] = None,
    db: DbOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by default; put a TLS reverse proxy in front for a team).")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
    frozen_test: Annotated[Optional[Path], typer.Option("--frozen-test", help="Frozen test ids (never served to annotators); default dataset.frozen_test_file.")] = None,
    link_decisions: Annotated[Optional[Path], typer.Option("--link-decisions", help="CSV the Accounts page writes each confirm / split decision to, for the next run; default authors.link_decisions (none: decisions stay in the database, see `occ review export-links`).")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Serve the review workspace: gap board, evidence backlog, account links, adverse-event queue, annotation queue, audit log."""
    import uvicorn

    from review.loader import load_run
    from review.web.app import create_app

    with user_errors():
        settings = load_settings(params_file)
        if link_decisions is not None:
            settings = settings.replace("authors", link_decisions=str(link_decisions))
        database = _open(db, scored)
        result = load_run(database, scored, report, settings, _actor(), frozen_test)
    typer.echo(f"{'already loaded' if result.already_loaded else 'loaded'}: run {result.run_id} ({result.posts} posts"
               f"{f', {result.gaps} gap rows' if result.gaps else ''}{f', {result.links} account links' if result.links else ''})"
               f" into {database.engine.url.render_as_string(hide_password=True)}")
    target = settings.authors.link_decisions
    typer.echo(f"account-link decisions go to {target}" if target else
               "account-link decisions stay in the database (`occ review export-links --out FILE` writes them)")
    typer.echo(f"review workspace on http://{host}:{port}/ (stop with Ctrl+C)")
    uvicorn.run(create_app(database, settings), host=host, port=port, log_level="warning", proxy_headers=True)


@users_app.command("add")
def users_add_command(
    name: Annotated[str, typer.Argument(help="User name (no spaces).")],
    role: Annotated[str, typer.Option("--role", help="reviewer | safety | annotator | admin")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input instead of a prompt.")] = False,
    db: DbOption = None,
    scored: ScoredOption = None,
) -> None:
    """Add an account (the password is asked for twice, or read from stdin; never a command-line argument)."""
    from review.accounts import add_user

    password = _password(password_stdin)
    with user_errors():
        database = _open(db, scored)
        with database.transaction() as session:
            add_user(session, name, role, password, _actor())
    typer.echo(f"added {name} ({role})")


@users_app.command("set-password")
def users_password_command(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Read the password from standard input.")] = False,
    db: DbOption = None,
    scored: ScoredOption = None,
) -> None:
    """Set a new password (ends the user's sessions and any lockout)."""
    from review.accounts import set_password

    password = _password(password_stdin)
    with user_errors():
        database = _open(db, scored)
        with database.transaction() as session:
            set_password(session, name, password, _actor())
    typer.echo(f"password of {name} changed; their sessions ended")


@users_app.command("list")
def users_list_command(db: DbOption = None, scored: ScoredOption = None) -> None:
    """List accounts with their role and state."""
    from review.accounts import list_users

    with user_errors():
        database = _open(db, scored)
        with database.transaction() as session:
            users = list_users(session)
    for user in users:
        typer.echo(f"{user.name:<24}{user.role:<11}{'active' if user.active else 'disabled'}")
    if not users:
        typer.echo("no users yet: `occ users add NAME --role admin`")


@users_app.command("disable")
def users_disable_command(name: Annotated[str, typer.Argument(help="User name.")], db: DbOption = None,
                          scored: ScoredOption = None) -> None:
    """Disable an account (it can no longer log in; its sessions end; its decisions stay)."""
    from review.accounts import disable_user

    with user_errors():
        database = _open(db, scored)
        with database.transaction() as session:
            disable_user(session, name, _actor())
    typer.echo(f"disabled {name}")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise fail("no password given")
    return password


@review_app.command("export")
def review_export_command(
    out: Annotated[Path, typer.Option("--out", help="The labels table (CSV) for `occ train --labels` / `occ dataset --labels`.")],
    db: DbOption = None,
    scored: ScoredOption = None,
) -> None:
    """Write annotators' labels, with reviewers' corrections outranking the votes, as an own-labels table."""
    from review.export import export_labels

    with user_errors():
        result = export_labels(_open(db, scored), out)
    typer.echo(f"export {result.export_id}: {result.posts} posts ({result.annotations} annotation(s), "
               f"{result.corrections} correction(s)) -> {out}; train on it with `occ train --labels {out} --taxonomy ...`")
    for task, counts in result.sources.items():
        typer.echo(f"  {task}: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items()))


@review_app.command("export-links")
def review_export_links_command(
    out: Annotated[Path, typer.Option("--out", help="The link decisions CSV the next run reads (authors.link_decisions); created, or appended to.")],
    db: DbOption = None,
    scored: ScoredOption = None,
) -> None:
    """Write reviewers' confirm / split decisions on account links as the CSV `occ score` / `occ authors resolve` read; decisions the file already holds are not added twice."""
    from review.account_links import export_link_decisions

    with user_errors():
        result = export_link_decisions(_open(db, scored), out)
    typer.echo(f"{result.written} link decision(s) written to {out} ({result.already_there} already there); the next "
               f"run applies them with authors.link_decisions: {out} (or `occ authors resolve RUN --decisions {out}`)")


@review_app.command("verify-audit")
def review_verify_command(db: DbOption = None, scored: ScoredOption = None) -> None:
    """Recompute the audit trail's hash chain; exit 1 and name the first broken row if anyone changed it."""
    from review.audit import verify

    with user_errors():
        result = verify(_open(db, scored).engine)
    typer.echo(result.sentence())
    if not result.ok:
        raise typer.Exit(1)


@review_app.command("load")
def review_load_command(
    scored: Annotated[Path, typer.Option("--scored", help="A complete `occ score` run.")],
    report: Annotated[Optional[Path], typer.Option("--report", help="Its `occ report` folder.")] = None,
    db: DbOption = None,
    frozen_test: Annotated[Optional[Path], typer.Option("--frozen-test", help="Frozen test ids (never served to annotators).")] = None,
    params_file: ParamsOption = None,
) -> None:
    """Load a scored run (next month's dump) into the workspace database without serving it."""
    from review.loader import load_run

    with user_errors():
        settings = load_settings(params_file)
        database = _open(db, scored)
        result = load_run(database, scored, report, settings, _actor(), frozen_test)
    typer.echo(f"{'already loaded' if result.already_loaded else 'loaded'}: run {result.run_id} ({result.posts} posts)")
