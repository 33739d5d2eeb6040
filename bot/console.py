"""What every command shares: stopping on a problem with one line, never a traceback, and loading the
assistant as the server does."""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import typer

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.assistant import Assistant


def fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def serving_assistant(settings: Settings) -> Assistant:
    """The assistant a command asks, loaded as the server loads it; any refusal is one line."""
    from bot.assistant import load_assistant
    from bot.index import IndexRefused, read_manifest
    from bot.onnx_embedding import load_serving_embedder

    try:
        manifest = read_manifest(settings.index_dir)
        # Say so before spending seconds loading a model the index cannot serve.
        if manifest.model != settings.model:
            raise IndexRefused(
                f"index was built with model {manifest.model!r}, but FAQBOT_MODEL is {settings.model!r}: rebuild"
            )
        return load_assistant(settings, load_serving_embedder(settings))
    except (IndexRefused, ValueError) as error:  # ValueError: the safety files have problems
        fail(str(error))
