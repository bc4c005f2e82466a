"""spurious-features (L-CODEC Fig. 4): gradient reversal, Markov blanket selection, subgroup accuracy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from unlearnbench.artifacts.lc_fig4_spurious import ARTIFACT
from unlearnbench.config import validate_config
from unlearnbench.experiments import get_kind
from unlearnbench.experiments.base import RunContext
from unlearnbench.experiments.spurious_features import (
    AttributeData,
    regularised_attributes,
    reverse_gradient,
    shown_attributes,
)
from unlearnbench.metrics.markov_blanket import markov_blanket, subgroup_accuracy


def test_gradient_reversal_layer():
    x = torch.randn(4, 3, requires_grad=True)
    y = reverse_gradient(x, 0.5)
    assert torch.equal(y, x)
    (y * torch.arange(3.0)).sum().backward()
    assert torch.allclose(x.grad, -0.5 * torch.arange(3.0).expand(4, 3))


def _attributes(n: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, size=(n, 4))
    a[:, 3] = 1  # a constant attribute
    y = (a[:, 0] & a[:, 1]).astype(float)  # depends on attributes 0 and 1 only
    return y, a * 2 - 1


def test_markov_blanket_finds_the_parents_and_drops_constants():
    y, a = _attributes()
    found = markov_blanket(y, a, ["p0", "p1", "noise", "const"], method="foci", seed=0)
    assert set(found.names) == {"p0", "p1"}
    assert found.dropped_constant == ["const"] and found.candidates == ["p0", "p1", "noise"]
    assert found.statistics == sorted(found.statistics)
    with pytest.raises(ValueError, match="constant"):
        markov_blanket(np.ones(10), a[:10], ["p0", "p1", "noise", "const"])


def test_subgroup_accuracy():
    groups = subgroup_accuracy(
        np.array([1, 0, 1, 1]), np.array([1, 1, 1, 0]), np.array([[1], [1], [-1], [-1]]), ["A"]
    )
    assert groups["A"] == {"with": 0.5, "without": 0.5, "n_with": 2, "n_without": 2}


def test_regularisation_sets():
    y, a = _attributes()
    names = ["Target", "p0", "p1", "noise", "const"]
    table = np.concatenate([(y * 2 - 1)[:, None], a], axis=1).astype(np.int8)
    data = AttributeData(
        torch.zeros(1),
        y.astype(np.int64),
        table,
        torch.zeros(1),
        y.astype(np.int64),
        table,
        names,
        True,
        "toy",
    )
    selection = {"method": "foci"}
    everything, _ = regularised_attributes("all", data, "Target", selection, seed=0)
    blanket, info = regularised_attributes("foci", data, "Target", selection, seed=0)
    random, _ = regularised_attributes("random", data, "Target", selection, seed=0)
    assert everything == ["p0", "p1", "noise"] and set(blanket) == {"p0", "p1"}
    assert len(random) == len(blanket) and set(random) <= set(everything)
    assert regularised_attributes("none", data, "Target", selection, seed=0)[0] == []
    assert info["constant_dropped"] == ["const"]
    assert set(shown_attributes(data, "Target", {"top_k": 2})) == {"p0", "p1"}  # the two correlated ones
    with pytest.raises(ValueError, match="unknown regularisation"):
        regularised_attributes("half", data, "Target", selection, seed=0)


def test_runs_on_the_celeba_standin_and_draws(tmp_path):
    settings = {
        "kind": "spurious-features",
        "seeds": [0],
        "target": "No_Beard",
        "data": {
            "source": "standin",
            "standin": {"n_train": 60, "n_valid": 0, "n_test": 30},
            "image_size": 16,
        },
        "model": {"width": 4},
        "training": {"epochs": 1, "batch_size": 32, "optimizer": {"name": "adam", "lr": 1e-3}},
        "regularisations": ["all", "foci"],
    }
    config = {"profile": "t4", "seeds": [0, 1], "experiments": {"spur": settings}}
    validate_config(config)
    kind = get_kind("spurious-features")
    ctx = RunContext("spur", settings, config, tmp_path / "results", tmp_path / "data", "cpu")
    outputs = []
    for method in ("all", "foci"):
        output = tmp_path / method / "seed0.json"
        payload = kind.run(ctx, method, 0, output)
        outputs.append(output)
        assert payload["stand_in"] and payload["n_train"] == 60 and payload["n_test"] == 30
        assert "No_Beard" not in payload["regularised"] and 0 <= payload["accuracy"] <= 1
        assert "Young" in payload["constant_dropped"]  # constant in the stand-in
        for group in payload["subgroups"].values():
            assert group["n_with"] + group["n_without"] == 30
    assert kind.pretrained(settings, "foci", 0) == []
    assert len(ARTIFACT.runs(config)) == 2
    table = ARTIFACT.aggregate(outputs, config)
    assert {"column", "row", "accuracy_mean", "stand_in"} <= set(table.columns)
    assert "overall" in set(table["row"])
    ARTIFACT.draw(table, [tmp_path / "fig4.png"], config)
    assert (tmp_path / "fig4.png").stat().st_size > 0
    with pytest.raises(ValueError, match="not configured"):
        kind.run(ctx, "random", 0, tmp_path / "x.json")
