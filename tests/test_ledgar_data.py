"""LEDGAR: the stand-in corpus in LEDGAR's JSON-lines format, the 13-label subset, class weights."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from unlearnbench.data.download import DatasetUnavailableError
from unlearnbench.data.ledgar import (
    STANDIN_LABELS,
    LedgarError,
    class_weights,
    label_index,
    load_ledgar,
    load_lexglue,
    read_corpus,
    restrict,
    standin_corpus,
    top_labels,
    write_standin_corpus,
)


def test_standin_is_ledgar_jsonl_and_deterministic(tmp_path):
    a = write_standin_corpus(tmp_path / "a.jsonl", samples=400, seed=3)
    b = write_standin_corpus(tmp_path / "b.jsonl", samples=400, seed=3)
    c = write_standin_corpus(tmp_path / "c.jsonl", samples=400, seed=4)
    assert a.read_bytes() == b.read_bytes() != c.read_bytes()
    records = [json.loads(line) for line in a.read_text().splitlines()]
    assert len(records) == 400
    assert all(set(r) == {"provision", "label", "source"} and isinstance(r["label"], list) for r in records)
    counts = {label: sum(label in r["label"] for r in records) for label in STANDIN_LABELS}
    assert set().union(*(r["label"] for r in records)) == set(STANDIN_LABELS)
    # frequencies decay: the paper's highest-support label is far more frequent than its lowest
    assert counts["Governing Laws"] > 2 * counts["Terminations"] > 0
    assert any(len(r["label"]) == 2 for r in records)


def test_standin_corpus_is_written_once_per_settings(tmp_path):
    path = standin_corpus(tmp_path, {"samples": 200})
    stamp = path.stat().st_mtime_ns
    assert standin_corpus(tmp_path, {"samples": 200}).stat().st_mtime_ns == stamp
    path.write_text("damaged\n")
    assert standin_corpus(tmp_path, {"samples": 200}).read_text().startswith('{"provision"')


def test_read_corpus_names_the_bad_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"provision": "x", "label": ["A"], "source": "s"}\n{"text": "y"}\n')
    with pytest.raises(LedgarError, match=r"bad.jsonl:2"):
        read_corpus(path)


def test_top_labels_restrict_and_class_weights():
    labels = [["A"], ["A"], ["A", "B"], ["B"], ["C"]]
    assert top_labels(labels, 2) == ["A", "B"]
    split = restrict(["a1", "a2", "ab", "b", "c"], labels, ["A", "B"])
    assert split.texts == ["a1", "a2", "ab", "b"]  # the C-only provision is dropped
    assert split.targets.tolist() == [[1, 0], [1, 0], [1, 1], [0, 1]]
    # n / (k * count): 4 / (2 * 3) and 4 / (2 * 2)
    assert np.allclose(class_weights(split.targets), [4 / 6, 1.0])
    with pytest.raises(LedgarError, match="top_labels asks for 4"):
        top_labels(labels, 4)


def test_load_ledgar_standin_keeps_13_labels(tmp_path):
    data = load_ledgar({"source": "standin", "standin": {"samples": 500}}, tmp_path)
    assert len(data.labels) == 13 and data.stand_in and "STAND-IN" in data.description
    assert data.labels[0] == "Governing Laws"
    for split in (data.train, data.dev, data.test):
        assert split.targets.shape == (len(split.texts), 13)
        assert (split.targets.sum(axis=1) >= 1).all()
    assert len(data.test) == pytest.approx(100, abs=1)  # the authors' 20% test split
    with pytest.raises(LedgarError, match="Terminationz"):
        label_index(data, "Terminationz")


def test_lexglue_offline_error_names_dataset_hub_id_and_cache(monkeypatch, tmp_path):
    fake = types.ModuleType("datasets")

    def load_dataset(*args, **kwargs):
        raise ConnectionError("offline")

    fake.load_dataset = load_dataset
    monkeypatch.setitem(sys.modules, "datasets", fake)
    with pytest.raises(DatasetUnavailableError) as info:
        load_lexglue(str(tmp_path))
    message = str(info.value)
    for needle in ("LEDGAR", "lex_glue", "ledgar", "HF_DATASETS_OFFLINE", str(tmp_path)):
        assert needle in message


def test_unknown_source_is_rejected(tmp_path):
    with pytest.raises(LedgarError, match="data.source"):
        load_ledgar({"source": "ledgar-web"}, tmp_path)
