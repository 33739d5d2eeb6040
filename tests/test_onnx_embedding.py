"""The ONNX Runtime encoder gives the model's own vectors and vocabulary, so it can serve the same index."""

from __future__ import annotations

import numpy as np

from bot.embedding import SentenceTransformerEmbedder
from bot.onnx_embedding import load_onnx_embedder
from bot.settings import Settings

TEXTS = [
    "What is ketamine therapy?",
    "How many sessions will I need, and what does each one cost?",
    "¿Es seguro el tratamiento con ketamina?",
    "I feel hopeless and want to end it all",
    "side effects " * 200,
]


def test_onnx_vectors_match_the_original_model(embedder: SentenceTransformerEmbedder) -> None:
    onnx = load_onnx_embedder(embedder.model_id, Settings().encoder_cache, threads=2)
    assert (onnx.model_id, onnx.dimension) == (embedder.model_id, embedder.dimension)
    expected = embedder.embed(TEXTS)
    batched = onnx.embed(TEXTS)
    alone = np.vstack([onnx.embed([text]) for text in TEXTS])
    assert np.min(np.sum(expected * batched, axis=1)) > 1 - 1e-3
    assert np.min(np.sum(expected * alone, axis=1)) > 1 - 1e-3
    assert onnx.known_words() == embedder.known_words()
