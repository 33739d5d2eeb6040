"""The command line: ``python -m bot`` or ``faqbot``. The visitor's and staff's verbs are here; the content
team's (``bot.content.commands``) and the operators' (``bot.ops.commands``) are registered from their own
modules. Errors are one line (``bot.console``)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from bot.console import fail, serving_assistant
from bot.content import commands as content
from bot.content.importing.command import import_command
from bot.ops import commands as ops
from bot.ops import deploy
from bot.settings import Settings

app = typer.Typer(
    help="A retrieval FAQ bot that only ever answers with vetted passages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _check_settings() -> None:
    # A bad FAQBOT_ variable is a one-line error for every command, never a traceback.
    try:
        Settings()
    except ValidationError as error:
        fail("; ".join(f"FAQBOT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()))


def ask(
    question: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as POST /api/chat.")] = False,
) -> None:
    """Ask as a visitor would: crisis gate, then up to three vetted passages."""
    from bot.schemas import ChatResponse, clean_message

    try:
        message = clean_message(question)
    except ValueError as error:
        fail(f"question {error}", 2)
    reply = serving_assistant(Settings()).chat(message)
    response = ChatResponse.of(reply)
    if as_json:
        typer.echo(response.model_dump_json(indent=2))
        return
    if response.notice:
        typer.echo(response.notice + "\n")
    for answer in response.answers:
        typer.echo(f"[{answer.section}] ({answer.score:.2f})\n{answer.text}\n")
    typer.echo(response.disclaimer)


def search(
    query: str, k: Annotated[int, typer.Option("-k", "--k", min=1, max=50, help="How many passages.")] = 10
) -> None:
    """Ranked passages with scores, as staff see them (no threshold, no crisis gate)."""
    from bot.schemas import clean_message

    try:
        text = clean_message(query)
    except ValueError as error:
        fail(f"query {error}", 2)
    results, version = serving_assistant(Settings()).search(text, k)
    for rank, result in enumerate(results, start=1):
        p = result.passage
        typer.echo(f"{rank:>2}. {result.score:.3f}  {p.id}  [{p.section}]\n    {p.text[:160]}")
    typer.echo(f"index {version}")


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Worker processes.")] = 1,
) -> None:
    """Serve the web pages and the JSON API."""
    from bot.index import IndexRefused
    from bot.serving import check_servable, run_server

    settings = Settings()
    # The database first: a schema older than this code is one line here (an SQLite file is migrated).
    ops.check_database(settings)
    if settings.releases == "database":
        ops.fetch_release(settings)  # into FAQBOT_INDEX_DIR, checked below like any index
    try:
        check_servable(settings)
    except IndexRefused as error:
        fail(str(error))
    run_server(settings, host, port, workers)


# In the order `faqbot --help` lists them: the content team's loop, asking, serving, then the rest.
app.command()(content.check)
app.command()(content.build)
app.command()(ask)
app.command()(search)
app.command()(serve)
app.command(name="eval")(content.eval_command)
app.command()(content.calibrate)
app.command()(ops.bench)
app.command()(content.diff)
app.command(name="import")(import_command)
app.command()(content.reload)
app.command()(content.report)
app.command()(ops.migrate)
app.command()(ops.publish)
app.command()(ops.rollback)
app.command()(ops.prune)
app.command(name="haproxy-config")(deploy.haproxy_config)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
