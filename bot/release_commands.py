"""The content team's commands: ``diff`` (what a reload would change), ``reload`` (serve the built
index), ``report`` (what visitors missed), plus the model-backed part of ``check``. ``bot.cli``
registers them."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.content import Content
from bot.index import IndexRefused, Manifest
from bot.knowledge import Passage, Problem
from bot.release import diff_passages, passage_from_dict, read_passages
from bot.report import make_report
from bot.settings import Settings
from bot.storage import Storage

DEFAULT_SERVER = "http://127.0.0.1:8000"


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def model_problems(settings: Settings, content: Content) -> list[Problem]:
    """Warnings that need the embedding model; skipped with a note when it cannot be loaded."""
    from bot.embedding import SentenceTransformerEmbedder
    from bot.phrasings import phrasing_problems

    try:
        embedder = SentenceTransformerEmbedder(settings.model)
    except (OSError, ValueError, ImportError) as error:
        typer.echo(f"note: alternate phrasings not checked, the model cannot be loaded ({error})", err=True)
        return []
    passages = [p for f in content.knowledge.files for p in f.passages]
    return [replace(p, kind="phrasing") for p in phrasing_problems(passages, embedder)]


def served_index(server: str, token: str | None) -> tuple[str, list[Passage]]:
    """The version and passages a running server serves, from ``GET /admin/index``."""
    request = urllib.request.Request(server.rstrip("/") + "/admin/index", headers={"Accept": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            data: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise _fail(f"{server} answered {error.code}: check FAQBOT_ADMIN_TOKEN") from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise _fail(f"cannot reach {server} ({error}); give an index folder to compare with instead") from error
    return str(data["index_version"]), [passage_from_dict(p) for p in data["passages"]]


def diff(
    against: Annotated[
        Path | None, typer.Argument(help="An index folder to compare with, instead of the index a server serves.")
    ] = None,
    server: Annotated[str, typer.Option(help="The server whose served index to compare with.")] = DEFAULT_SERVER,
    knowledge: Annotated[
        bool, typer.Option("--knowledge", help="Compare the knowledge files as they are now, not the built index.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the ids as JSON.")] = False,
) -> None:
    """Passages added (+), removed (-) or changed (~) in the built index, against the served one."""
    settings = Settings()
    if knowledge:
        from bot.content import read_content

        content = read_content(settings.knowledge_dir)
        if content.errors:
            raise _fail(f"{len(content.errors)} error(s) in the knowledge files: run 'check'")
        new, new_label = content.knowledge.passages, str(settings.knowledge_dir)
    else:
        try:
            manifest, built = read_passages(settings.index_dir)
        except IndexRefused as error:
            raise _fail(str(error)) from error
        new, new_label = list(built), f"{settings.index_dir} ({manifest.index_version})"
    if against is not None:
        try:
            old_manifest, old_passages = read_passages(against)
        except IndexRefused as error:
            raise _fail(str(error)) from error
        old, old_label = list(old_passages), f"{against} ({old_manifest.index_version})"
    else:
        version, old = served_index(server, settings.admin_token)
        old_label = f"{server} ({version})"
    changes = diff_passages(old, new)
    if as_json:
        typer.echo(json.dumps({"from": old_label, "to": new_label, **changes.as_dict()}, indent=2))
        return
    typer.echo(f"from {old_label}\n  to {new_label}")
    for line in changes.lines():
        typer.echo(line)
    counts = changes.as_dict()
    typer.echo(
        "no changes"
        if changes.empty
        else f"{len(counts['added'])} added, {len(counts['removed'])} removed, {len(counts['changed'])} changed"
    )


def reload(
    server: Annotated[str, typer.Option(help="The running server to reload.")] = DEFAULT_SERVER,
) -> None:
    """Make the running server serve the index just built (POST /admin/reload with FAQBOT_ADMIN_TOKEN)."""
    token = Settings().admin_token
    if not token:
        raise _fail("FAQBOT_ADMIN_TOKEN is not set: it must be the token the server was started with")
    request = urllib.request.Request(
        server.rstrip("/") + "/admin/reload",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            data: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise _fail(_refusal(server, error)) from error
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise _fail(f"cannot reach {server} ({getattr(error, 'reason', error)}): is the server running?") from error
    version, previous = data.get("index_version"), data.get("previous_version")
    if version == previous:
        typer.echo(f"{server} already serves index {version} ({data.get('passage_count')} passages)")
    else:
        typer.echo(f"{server} now serves index {version} ({data.get('passage_count')} passages; was {previous})")


def _refusal(server: str, error: urllib.error.HTTPError) -> str:
    """A refused reload in one line: the server's reason, or what to fix on this side."""
    if error.code == 401:
        return f"{server} refused the admin token: FAQBOT_ADMIN_TOKEN must be the one the server was started with"
    try:
        body = json.loads(error.read())
        detail, served = str(body["detail"]), body.get("index_version")
    except (ValueError, KeyError, TypeError, OSError):
        detail, served = f"it answered {error.code}", None
    if error.code == 409 and served:
        return f"{detail}; {server} still serves index {served}"
    return f"{server} did not reload: {detail}"


def report(as_json: Annotated[bool, typer.Option("--json", help="Print GET /admin/report's JSON.")] = False) -> None:
    """Unanswered questions (redacted), answers rated unhelpful, crisis counts and file reviews."""
    settings = Settings()
    storage = Storage(settings.database, settings.log_questions, settings.question_retention_days)
    manifest: Manifest | None
    try:
        manifest, passages = read_passages(settings.index_dir)
    except IndexRefused:
        manifest, passages = None, ()
    result = make_report(settings, storage, storage.questions, manifest, passages)
    storage.close()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return
    if result.index:
        i = result.index
        typer.echo(f"index {i.version}: {i.passage_count} passages, built {i.built_at} with {i.model}")
    typer.echo(f"\nknowledge files (stale after {result.stale_after_days} days):")
    for f in result.files:
        flag = "  STALE" if f.stale else ""
        typer.echo(f"  {f.path}  {f.status}  reviewed {f.reviewed_on or '-'}  {f.passages} passages{flag}")
    state = f"kept {result.retention_days} days" if result.logging_questions else "logging is off"
    typer.echo(f"\nunanswered questions, redacted ({state}):")
    for g in result.unanswered:
        typer.echo(f"  {g.count:>4}  last {g.last_seen.date()}  {g.text}")
    typer.echo("\nanswers rated unhelpful:")
    for a in result.unhelpful:
        typer.echo(f"  {a.unhelpful:>4} unhelpful, {a.helpful} helpful  {a.answer_id}  [{a.section}]")
    typer.echo("\ncrisis events per day:")
    for day, count in result.crisis:
        typer.echo(f"  {day}  {count}")
