"""The command line: ``python -m bot`` or ``faqbot``. Verbs mirror the core; errors are one line."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError

from bot import deploy
from bot import fleet_commands as fleet_cli
from bot import release_commands as release_cli
from bot.content import ContentError, build_from, read_content
from bot.evaluation import EvalFileError, Report, eval_files, evaluate, read_eval_file, table
from bot.importing.command import import_command
from bot.index import IndexRefused, content_hash, index_version, load_index, read_manifest
from bot.knowledge import WARNING_KINDS, Problem
from bot.settings import PROJECT_ROOT, Settings

DEFAULT_EVAL_DIR = PROJECT_ROOT / "tests" / "data" / "eval"

app = typer.Typer(
    help="A retrieval FAQ bot that only ever answers with vetted passages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.callback()
def _check_settings() -> None:
    # A bad FAQBOT_ variable is a one-line error for every command, never a traceback.
    try:
        Settings()
    except ValidationError as error:
        fail("; ".join(f"FAQBOT_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in error.errors()))


def load_assistant(settings: Settings):  # type: ignore[no-untyped-def]
    from bot.web.app import load_assistant as load
    from bot.web.app import load_embedder

    try:
        manifest = read_manifest(settings.index_dir)
        # Say so before spending seconds loading a model the index cannot serve.
        if manifest.model != settings.model:
            raise IndexRefused(
                f"index was built with model {manifest.model!r}, but FAQBOT_MODEL is {settings.model!r}: rebuild"
            )
        return load(settings, load_embedder(settings))
    except (IndexRefused, ValueError) as error:  # ValueError: the safety files have problems
        fail(str(error))


@app.command()
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
        problems += release_cli.model_problems(settings, content)
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


@app.command()
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


@app.command()
def ask(
    question: str,
    as_json: Annotated[bool, typer.Option("--json", help="Print the same JSON as POST /api/chat.")] = False,
) -> None:
    """Ask as a visitor would: crisis gate, then up to three vetted passages."""
    from bot.web.schemas import ChatResponse, clean_message

    try:
        message = clean_message(question)
    except ValueError as error:
        fail(f"question {error}", 2)
    reply = load_assistant(Settings()).chat(message)
    response = ChatResponse.of(reply)
    if as_json:
        typer.echo(response.model_dump_json(indent=2))
        return
    if response.notice:
        typer.echo(response.notice + "\n")
    for answer in response.answers:
        typer.echo(f"[{answer.section}] ({answer.score:.2f})\n{answer.text}\n")
    typer.echo(response.disclaimer)


@app.command()
def search(
    query: str, k: Annotated[int, typer.Option("-k", "--k", min=1, max=50, help="How many passages.")] = 10
) -> None:
    """Ranked passages with scores, as staff see them (no threshold, no crisis gate)."""
    from bot.web.schemas import clean_message

    try:
        text = clean_message(query)
    except ValueError as error:
        fail(f"query {error}", 2)
    results, version = load_assistant(Settings()).search(text, k)
    for rank, result in enumerate(results, start=1):
        p = result.passage
        typer.echo(f"{rank:>2}. {result.score:.3f}  {p.id}  [{p.section}]\n    {p.text[:160]}")
    typer.echo(f"index {version}")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Worker processes.")] = 1,
) -> None:
    """Serve the web pages and the JSON API."""
    import uvicorn

    from bot.content import SAFETY_FOLDER
    from bot.release import refuse_empty
    from bot.safety import check_safety_files
    from bot.web.app import create_app
    from bot.web.server import uvicorn_options

    settings = Settings()
    # The database first: a schema older than this code is one line here (an SQLite file is migrated).
    fleet_cli.check_database(settings)
    if settings.releases == "database":
        fleet_cli.fetch_release(settings)  # into FAQBOT_INDEX_DIR, checked below like any index
    # Check the index and the crisis lists before any model is loaded, so that a bad index is one
    # line here, not a traceback per worker; the app then loads everything once, in its lifespan.
    try:
        manifest = read_manifest(settings.index_dir)
        refuse_empty(manifest, settings.index_dir)
        load_index(settings.index_dir, settings.model, manifest.dimension)
    except IndexRefused as error:
        fail(str(error))
    problems = check_safety_files(settings.index_dir / SAFETY_FOLDER)
    if problems:
        fail("the crisis lists have problems:\n" + "\n".join(map(str, problems)))
    # The limits on reading requests, chosen in bot/web/server.py; on SIGTERM, requests in flight finish.
    options: dict[str, Any] = {"host": host, "port": port, "log_level": "info", **uvicorn_options(settings, workers)}
    if workers == 1:
        uvicorn.run(create_app(settings), **options)
    else:
        # Each worker process builds its own app from the same environment, and writes its metrics
        # where /metrics adds up every worker's (a fresh folder each start: no figures from a past run).
        folder = tempfile.mkdtemp(prefix="faqbot-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        try:
            uvicorn.run("bot.web.app:create_app", factory=True, workers=workers, **options)
        finally:
            shutil.rmtree(folder, ignore_errors=True)


@app.command(name="eval")
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
    assistant = load_assistant(Settings())
    reports = {name: evaluate(assistant, items) for name, items in data.items()}
    total = Report()
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


@app.command()
def calibrate(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Labelled evaluation files or folders (default: tests/data/eval).")
    ] = None,
    keep: Annotated[
        float, typer.Option(min=0.5, max=1.0, help="The share of in_scope questions that must stay answered.")
    ] = 0.98,
) -> None:
    """Fit the scope model on labelled questions and write knowledge/scope-calibration.yaml for review."""
    from bot.calibration import calibrate as fit_scope
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


@app.command()
def bench(
    compare_naive: Annotated[
        bool, typer.Option("--compare-naive", help="Also serve through the plain per-request path; print ratios.")
    ] = False,
    scale: Annotated[
        int | None, typer.Option("--scale", min=1, max=1_000_000, help="Build and serve N synthetic passages.")
    ] = None,
    requests: Annotated[int, typer.Option(min=1, max=100_000, help="Requests per phase, at most.")] = 400,
    seconds: Annotated[float, typer.Option(min=1, max=3600, help="Seconds per phase, at most.")] = 60.0,
    concurrency: Annotated[int, typer.Option(min=2, max=256, help="Clients in the concurrent phases.")] = 16,
    fleet: Annotated[
        int | None,
        typer.Option("--fleet", min=1, max=16, help="Fleets of 1 to N replicas behind HAProxy, and a release."),
    ] = None,
) -> None:
    """Start the real server on loopback and measure latency, throughput, errors and peak memory."""
    from bot.bench import Load, run_bench
    from bot.fleet_bench import run_fleet_bench
    from bot.scale import run_scale

    settings = Settings()
    load = Load(requests=requests, seconds=seconds, concurrency=concurrency)
    try:
        if fleet is not None:
            run_fleet_bench(settings, fleet, load, typer.echo)
        elif scale is None:
            run_bench(settings, load, compare_naive, typer.echo)
        else:
            run_scale(settings, scale, load, typer.echo)
    except (RuntimeError, ValueError, OSError) as error:
        fail(str(error))


app.command()(release_cli.diff)
app.command(name="import")(import_command)
app.command()(release_cli.reload)
app.command()(release_cli.report)
app.command()(fleet_cli.migrate)
app.command()(fleet_cli.publish)
app.command()(fleet_cli.rollback)
app.command(name="haproxy-config")(deploy.haproxy_config)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
