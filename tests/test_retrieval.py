"""Retrieval: FAISS gives exactly the cosine ranking, and the same question always gets the same answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import KNOWLEDGE, make_settings

import bot.index
from bot.assistant import Assistant, load_retriever, shown_answers
from bot.content.checks import build
from bot.content.evaluation import read_eval_file
from bot.embedding import SentenceTransformerEmbedder, Vectors
from bot.index import LoadedIndex, load_index
from bot.retrieval import Result, best_first
from bot.settings import Settings

QUERIES = [
    "What are the short-term side effects of ketamine?",
    "Can ketamine hurt my bladder?",
    "how is the nasal spray used",
    "What is the weather in Paris tomorrow?",
]


@pytest.fixture(scope="module")
def loaded(index_dir: Path, embedder: SentenceTransformerEmbedder) -> LoadedIndex:
    return load_index(index_dir, embedder.model_id, embedder.dimension)


def stored_vectors(loaded: LoadedIndex) -> Vectors:
    vectors: Vectors = loaded.vectors.reconstruct_n(0, loaded.vectors.ntotal)
    return vectors


@pytest.mark.parametrize("query", QUERIES)
def test_faiss_top_k_equals_exact_cosine_ranking(
    loaded: LoadedIndex, embedder: SentenceTransformerEmbedder, query: str
) -> None:
    vectors = stored_vectors(loaded)
    assert len(vectors) == loaded.manifest.vector_count
    vector = embedder.embed([query])
    assert np.isclose(np.linalg.norm(vector), 1.0, atol=1e-5)
    cosine = (vectors @ vector[0]) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(vector[0]))
    exact = np.argsort(-cosine, kind="stable")[:10]
    scores, rows = loaded.vectors.search(vector, 10)
    assert list(rows[0]) == list(exact)
    assert np.allclose(scores[0], cosine[exact], atol=1e-5)


@pytest.mark.parametrize("query", QUERIES)
def test_a_passage_is_scored_by_its_own_vectors(
    assistant: Assistant, loaded: LoadedIndex, embedder: SentenceTransformerEmbedder, query: str
) -> None:
    """A passage's dense score comes from its own vectors (its text and its alternate questions) only."""
    vector = embedder.embed([query])
    cosine = stored_vectors(loaded) @ vector[0]
    dense = assistant.retriever.dense_scores(vector)
    assert len(dense) == len(loaded.passages)
    for number in range(len(loaded.passages)):
        own = cosine[loaded.owners == number]
        assert own.min() - 1e-5 <= dense[number] <= own.max() + 1e-5, loaded.passages[number].id


def test_results_are_ranked_with_scores_best_first(assistant: Assistant) -> None:
    results, version = assistant.search("Can ketamine make me dizzy?", 10)
    assert len(results) == 10
    assert version == assistant.retriever.version
    scores = [r.score for r in results]
    assert scores == sorted(scores, reverse=True)
    assert len({r.passage.id for r in results}) == 10
    assert "dizziness, nausea, and confusion" in " ".join(r.passage.text for r in results[:3])


def test_retrieval_is_deterministic(
    assistant: Assistant, settings: Settings, embedder: SentenceTransformerEmbedder
) -> None:
    fresh = load_retriever(settings, embedder)
    for query in QUERIES:
        first, _ = assistant.search(query, 10)
        second, _ = assistant.search(query, 10)
        third = fresh.search(fresh.read(query), 10)
        assert [(r.passage.id, r.score) for r in first] == [(r.passage.id, r.score) for r in second]
        assert [(r.passage.id, r.score) for r in first] == [(r.passage.id, r.score) for r in third]


def test_search_returns_k_results_even_when_nothing_is_close(assistant: Assistant) -> None:
    results, _ = assistant.search("What is the weather in Paris tomorrow?", 5)
    assert len(results) == 5
    everything, _ = assistant.search("ketamine", 50)
    assert len(everything) == len(assistant.retriever.index.passages)


def test_chat_answers_at_most_three_matched_or_none(assistant: Assistant) -> None:
    reply = assistant.chat("What are the short-term side effects of ketamine?")
    assert reply.matched
    assert 1 <= len(reply.answers) <= 3
    off_topic = assistant.chat("What is the weather in Paris tomorrow?")
    assert not off_topic.matched
    assert off_topic.answers == ()
    assert off_topic.notice is not None
    assert "(856) 666-2441" in off_topic.notice


def test_a_further_passage_is_shown_only_while_it_stays_close_to_the_one_before(loaded: LoadedIndex) -> None:
    """A second passage that nearly ties the first is shown, and a third that trails the second by more
    than the margin is not, however close it is to the first: a visitor sees what answers, not a list."""
    first, second, third, fourth = loaded.passages[:4]
    ranking = [Result(first, 0.60, 0.6, 0.0), Result(second, 0.59, 0.6, 0.0), Result(third, 0.57, 0.6, 0.0)]
    assert [r.passage for r in shown_answers(ranking, 0.02)] == [first, second, third]
    assert [r.passage for r in shown_answers(ranking, 0.015)] == [first, second]
    assert [r.passage for r in shown_answers(ranking, 0.0)] == [first]
    ranking.append(Result(fourth, 0.57, 0.6, 0.0))
    assert len(shown_answers(ranking, 0.05)) == 3
    assert shown_answers([], 0.05) == []


def test_the_top_passages_come_best_first_and_ties_keep_the_knowledge_order() -> None:
    """Staff see the same order for the same scores every time, however many passages there are."""
    rng = np.random.default_rng(7)
    for _ in range(500):
        count, k = int(rng.integers(1, 80)), int(rng.integers(1, 60))
        scores = rng.integers(0, 6, count) / 5  # few distinct values: many ties
        full_sort = np.lexsort((np.arange(count), -scores))[:k]
        assert best_first(scores, k).tolist() == full_sort.tolist()


EVAL = Path(__file__).parent / "data" / "eval"


def test_a_graph_index_answers_as_the_exact_one_does(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    embedder: SentenceTransformerEmbedder,
    settings: Settings,
    assistant: Assistant,
) -> None:
    """Above EXACT_SEARCH_LIMIT vectors the index is an HNSW graph, whose search is approximate: the
    same questions must be answered or refused, and nearly always with the same best passage."""
    monkeypatch.setattr(bot.index, "EXACT_SEARCH_LIMIT", 0)
    graph_dir = tmp_path / "graph"
    build(KNOWLEDGE, graph_dir, embedder)
    assert json.loads((graph_dir / "manifest.json").read_text())["index_type"] == "hnsw-ip"
    graph = Assistant(settings, load_retriever(make_settings(tmp_path, graph_dir), embedder), assistant.crisis)
    questions = [item["q"] for item in read_eval_file(EVAL / "retrieval.yaml")["in_scope"]]
    assert len(questions) >= 100
    same_best = 0
    for question in questions:
        exact, searched = assistant.chat(question), graph.chat(question)
        assert searched.matched == exact.matched, question
        same_best += [r.passage.id for r in searched.answers[:1]] == [r.passage.id for r in exact.answers[:1]]
    assert same_best / len(questions) >= 0.95  # measured: 121 of 124
