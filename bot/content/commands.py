"""The content team's commands: ``check`` and ``build`` the knowledge, ``eval`` and ``calibrate`` on
labelled questions, ``diff`` (what a reload would change), ``reload`` (serve the built index) and
``report`` (what visitors missed). ``bot.cli`` registers them."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.console import fail, serving_assistant
from bot.content.checks import Content, ContentError, build_from, read_content
from bot.content.diff import diff_passages
from bot.content.evaluation import EvalFileError, Scores, eval_files, evaluate, read_eval_file, table
from bot.content.report import make_report
from bot.index import (
    IndexRefused,
    Manifest,
    content_hash,
    index_version,
    passage_from_dict,
    read_manifest,
    read_passages,
)
from bot.knowledge import WARNING_KINDS, Passage, Problem
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import Storage

DEFAULT_SERVER = "http://127.0.0.1:8000"
DEFAULT_EVAL_DIR = PROJECT_ROOT / "tests" / "data" / "eval"


def model_problems(settings: Settings, content: Content) -> list[Problem]:
    """Warnings that need the embedding model; skipped with a note when it cannot be loaded."""
    from bot.content.phrasings import phrasing_problems
    from bot.embedding import SentenceTransformerEmbedder

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
        fail(f"{server} answered {error.code}: check FAQBOT_ADMIN_TOKEN")
    except (urllib.error.URLError, OSError, ValueError) as error:
        fail(f"cannot reach {server} ({error}); give an index folder to compare with instead")
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
        content = read_content(settings.knowledge_dir)
        if content.errors:
            fail(f"{len(content.errors)} error(s) in the knowledge files: run 'check'")
        new, new_label = content.knowledge.passages, str(settings.knowledge_dir)
    else:
        try:
            manifest, built = read_passages(settings.index_dir)
        except IndexRefused as error:
            fail(str(error))
        new, new_label = list(built), f"{settings.index_dir} ({manifest.index_version})"
    if against is not None:
        try:
            old_manifest, old_passages = read_passages(against)
        except IndexRefused as error:
            fail(str(error))
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
        fail("FAQBOT_ADMIN_TOKEN is not set: it must be the token the server was started with")
    request = urllib.request.Request(
        server.rstrip("/") + "/admin/reload",
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            data: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as error:
        fail(_refusal(server, error))
    except (urllib.error.URLError, OSError, ValueError) as error:
        fail(f"cannot reach {server} ({getattr(error, 'reason', error)}): is the server running?")
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


def check(
    model_checks: Annotated[
        bool, typer.Option("--model/--no-model", help="Also run the checks that need the model (alternate phrasings).")
    ] = True,
    brief: Annotated[bool, typer.Option("--brief", help="Count the warnings by kind without listing them.")] = False,
) -> None:
    """Check the knowledge files; exit 1 on any error (warnings don't fail).

    Errors come first; then the warnings, counted and listed by kind, the fewest first."""
    settings = Settings()
    content = read_content(settings.knowledge_dir, stale_after_days=settings.stale_after_days)
    problems = list(content.problems)
    if model_checks and not content.errors:
        problems += model_problems(settings, content)
    errors = [p for p in problems if p.severity == "error"]
    for problem in errors:
        typer.echo(str(problem), err=True)
    for line in warning_lines([p for p in problems if p.severity != "error"], brief):
        typer.echo(line)
    passages = len(content.knowledge.passages)
    if content.errors:
        fail(f"{len(content.errors)} error(s); nothing can be built until they are fixed")
    typer.echo(f"ok: {len(content.knowledge.files)} file(s), {passages} approved passage(s)")


def warning_lines(warnings: list[Problem], brief: bool = False) -> list[str]:
    """A count by kind, then each kind's warnings, the fewest first: a new kind of warning is not buried
    under a long list the editor has seen before."""
    if not warnings:
        return []
    groups: dict[str, list[Problem]] = {}
    for warning in warnings:
        groups.setdefault(warning.kind if warning.kind in WARNING_KINDS else "", []).append(warning)
    ordered = sorted(groups.items(), key=lambda group: len(group[1]))

    def named(kind: str, count: int) -> str:
        one, several = WARNING_KINDS.get(kind, ("other warning", "other warnings"))
        return f"{count} {one if count == 1 else several}"

    counts = ", ".join(named(kind, len(group)) for kind, group in ordered)
    lines = [f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''} (they do not fail the check): {counts}"]
    if brief:
        return lines
    for kind, group in ordered:
        lines += ["", f"{named(kind, len(group))}:", *map(str, group)]
    return [*lines, ""]


def build(
    if_stale: Annotated[
        bool, typer.Option("--if-stale", help="Build only when the content or model differs from the index.")
    ] = False,
) -> None:
    """Check the knowledge files, then build the index into FAQBOT_INDEX_DIR atomically."""
    from bot.embedding import SentenceTransformerEmbedder

    settings = Settings()
    if if_stale and is_current(settings):
        typer.echo(f"index {read_manifest(settings.index_dir).index_version} is up to date")
        return
    started = time.perf_counter()
    try:
        # Check before loading the model: a content error should not cost seconds.
        content = read_content(settings.knowledge_dir)
        if content.errors:
            raise ContentError(content.errors)
        manifest = build_from(content, settings.index_dir, SentenceTransformerEmbedder(settings.model), progress=True)
    except ContentError as error:
        for problem in error.problems:
            typer.echo(str(problem), err=True)
        fail(f"{len(error.problems)} error(s) in the knowledge files; nothing was built")
    typer.echo(
        f"built index {manifest.index_version}: {manifest.passage_count} passages, "
        f"{manifest.vector_count} vectors, {manifest.model} in {time.perf_counter() - started:.1f}s "
        f"-> {settings.index_dir}"
    )


def is_current(settings: Settings) -> bool:
    """Whether the index on disk was built from the knowledge as it is now, with the same model."""
    try:
        manifest = read_manifest(settings.index_dir)
    except IndexRefused:
        return False
    content = read_content(settings.knowledge_dir)
    if content.errors:
        return False
    digest = content_hash(content.knowledge.passages, content.synonyms, content.out_of_scope, content.release_files)
    return manifest.index_version == index_version(digest, settings.model)


def eval_command(
    paths: Annotated[list[Path], typer.Argument(help="Evaluation files or folders of them (DESIGN.md format).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
    misses: Annotated[bool, typer.Option("--misses", help="With several files, list the misses too.")] = False,
) -> None:
    """Recall@1, recall@3, MRR@10 (as /api/search ranks), fallback and crisis rates, and the misses.

    With several files (or a folder), one row a file and a total over all their questions."""
    try:
        files = eval_files(paths)
        data = {name: read_eval_file(path) for name, path in zip(short_names(files), files, strict=True)}
    except EvalFileError as error:
        fail(str(error), 2)
    assistant = serving_assistant(Settings())
    reports = {name: evaluate(assistant, items) for name, items in data.items()}
    total = Scores()
    for report in reports.values():
        total.merge(report)
    if as_json:
        every = total.as_dict() if len(files) == 1 else {n: r.as_dict() for n, r in {**reports, "total": total}.items()}
        typer.echo(json.dumps(every, indent=2))
    elif len(files) == 1:
        typer.echo("\n".join(total.lines()))
    else:
        typer.echo("\n".join(table({**reports, "total": total})))
        if misses:
            typer.echo("\n".join(total.lines()[len(total.figures) + 1 :]))


def short_names(paths: list[Path]) -> list[str]:
    """Each file's name with as many of its folders as it takes to tell it from the others."""
    for depth in range(1, max(len(p.parts) for p in paths) + 1):
        names = ["/".join(p.parts[-depth:]) for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def calibrate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Labelled evaluation files or folders (default: tests/data/eval).")
    ] = None,
    keep: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="The share of in_scope questions that must stay answered.")
    ] = 0.98,
) -> None:
    """Fit the scope model on labelled questions and write knowledge/scope-calibration.yaml for review."""
    from bot.content.calibration import calibrate as fit_scope
    from bot.embedding import SentenceTransformerEmbedder
    from bot.scope import CALIBRATION_FILE, write_calibration

    settings = Settings()
    content = read_content(settings.knowledge_dir)
    content = replace(content, problems=tuple(p for p in content.problems if not p.path.endswith(CALIBRATION_FILE)))
    try:
        result = fit_scope(content, SentenceTransformerEmbedder(settings.model), paths or [DEFAULT_EVAL_DIR], keep)
    except ContentError as error:
        fail(f"{len(error.problems)} error(s) in the knowledge files; run 'faqbot check'")
    except (EvalFileError, ValueError) as error:
        fail(str(error), 2)
    target = settings.knowledge_dir / CALIBRATION_FILE
    write_calibration(target, result.model, result.summary)
    typer.echo("\n".join(result.summary))
    typer.echo(f"wrote {target}: review it, then 'faqbot build'")
