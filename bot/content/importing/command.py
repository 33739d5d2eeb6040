"""``faqbot import FILE [--out FOLDER]``: the command line's side of the import. ``bot.cli`` registers it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.console import fail
from bot.settings import Settings


def import_command(
    file: Annotated[Path, typer.Argument(help="A web page (.html), Word file (.docx), PDF, text or FAQ sheet.")],
    out: Annotated[
        Path | None, typer.Option("--out", help="The folder to write the draft in (default: FAQBOT_KNOWLEDGE_DIR).")
    ] = None,
) -> None:
    """Import a file as a draft knowledge file, word for word, and print its path.

    Importing the same file again updates its draft and lists what changed."""
    # The readers pull in trafilatura, pdfminer and python-docx: only this command pays for them.
    from bot.content.importing.errors import ImportRefused
    from bot.content.importing.importer import import_file
    from bot.knowledge import display_path

    folder = out if out is not None else Settings().knowledge_dir
    try:
        result = import_file(file, folder)
    except ImportRefused as error:
        fail(str(error))
    except OSError as error:
        fail(f"{file}: {error.strerror or error}")
    typer.echo(display_path(result.path))
    flagged = f"; {result.flagged} flagged as not medical information" if result.flagged else ""
    tables = f"; {result.left_out} table(s) left out, each marked by a note" if result.left_out else ""
    summary = f"a draft of {len(result.passages)} passages in {result.sections} sections from {file.name}"
    typer.echo(summary + flagged + tables)
    if result.changes is not None:
        if result.changes.empty:
            typer.echo(f"no change against {result.compared_with}")
        else:
            typer.echo(f"changes against {result.compared_with}:")
            for line in result.changes.lines():
                typer.echo(line)
    for problem in result.problems:
        typer.echo(str(problem))
    typer.echo("next: review it, add reviewed_on and set status: approved, then make check")
