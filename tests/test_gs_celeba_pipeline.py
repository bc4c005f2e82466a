"""The CelebA column end to end on a tiny stand-in, and Table 1 / Figure 1 with both columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unlearnbench.artifacts.gs_fig1 import ARTIFACT as FIG1
from unlearnbench.artifacts.gs_table1 import ARTIFACT as TABLE1
from unlearnbench.artifacts.gs_table1 import ROW_LABELS
from unlearnbench.config import validate_config
from unlearnbench.data import prepare_dataset
from unlearnbench.experiments import generative_unlearning as gu
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.storage import read_json, write_json

CELEBA_BLOCK = {
    "kind": "generative-unlearning",
    "paper_column": "CelebA",
    "dataset": "celeba-standin",
    "forget_class": "male",
    "vae": {
        "model": "conv-vae",
        "hidden": [2, 2, 2, 2, 2],
        "latent_dim": 4,
        "epochs": 1,
        "batch_size": 16,
        "optimizer": {"name": "adam", "lr": 1e-3},
    },
    "classifier": {
        "model": "resnet18",
        "width": 2,
        "epochs": 1,
        "batch_size": 16,
        "seed": 0,
        "optimizer": {"name": "adam", "lr": 1e-3},
    },
    "evaluation": {
        "n_samples": 20,
        "fid_features": "classifier",
        "fid_reference": "all",
        "fid_reference_samples": 10,
        "grid_samples": 4,
        "grid_seed": 0,
    },
    "methods": {
        "gradient-surgery": {"optimizer": "adam", "lr": 1e-3, "epochs": 1, "forget_batch_size": 8},
        "feature-unlearning": {"lr": 1e-3, "epochs": 1, "n_feedback": 20, "batch_size": 10},
    },
}


def test_celeba_standin_column_runs_every_method_kind(tmp_path):
    datasets = {"celeba-standin": {"n_train": 24, "n_valid": 0, "n_test": 8, "seed": 1}}
    config = {"profile": "t", "seeds": [0], "datasets": datasets, "experiments": {"gs-celeba": CELEBA_BLOCK}}
    prepare_dataset("celeba-standin", datasets, tmp_path / "data")
    ctx = RunContext("gs-celeba", CELEBA_BLOCK, config, tmp_path / "results", tmp_path / "data", "cpu")
    for ref in (ModelRef("classifier", 0), ModelRef("original", 0)):
        gu.pretrain(ctx, ref, ctx.model_path(ref))
    for method in ("before", "gradient-surgery", "feature-unlearning"):
        output = tmp_path / "runs" / method / "seed0.json"
        gu.run(ctx, method, 0, output)
        payload = read_json(output)
        assert payload["stand_in"] is True and payload["fid_features"] == "classifier"
        assert payload["forget_class"] == "male" and payload["paper_column"] == "CelebA"
        assert 0.0 <= payload["metrics"]["fratio"] <= 1.0 and 1.0 <= payload["metrics"]["IS"] <= 2.0 + 1e-9
        with np.load(output.with_suffix(".samples.npz")) as archive:
            assert archive["images"].shape == (4, 3, 64, 64)
    assert (
        "feedback_positive"
        in read_json(tmp_path / "runs" / "feature-unlearning" / "seed0.json")["diagnostics"]
    )


def test_reference_subset_is_fixed_and_inside_the_pool():
    import torch
    from torch.utils.data import TensorDataset

    from unlearnbench.data import DatasetSplits

    train = TensorDataset(torch.arange(10.0).view(10, 1, 1, 1), torch.tensor([0, 1] * 5))
    test = TensorDataset(torch.arange(10.0, 14.0).view(4, 1, 1, 1), torch.tensor([0, 1, 0, 1]))
    data = DatasetSplits("x", train, test, [0, 1], (1, 1, 1), False, "x")
    retain = gu._reference_images(data, 1, "retain").flatten().tolist()
    assert retain == [0, 2, 4, 6, 8, 10, 12]
    capped = gu._reference_images(data, 1, "retain", 4).flatten().tolist()
    assert len(capped) == 4 and set(capped) <= set(retain) and capped == sorted(capped)
    assert capped == gu._reference_images(data, 1, "retain", 4).flatten().tolist()


def test_schema_accepts_the_celeba_block_and_rejects_inception_without_weights():
    from unlearnbench.config import ConfigError

    config = {"profile": "t", "seeds": [0], "experiments": {"gs-celeba": CELEBA_BLOCK}}
    validate_config(config)
    broken = {**CELEBA_BLOCK, "evaluation": {"n_samples": 10, "fid_features": "inception"}}
    with pytest.raises(ConfigError, match="inception_weights"):
        validate_config({**config, "experiments": {"gs-celeba": broken}})


def _fake_run(
    folder: Path,
    column: str,
    experiment: str,
    method: str,
    seed: int,
    stand_in: bool,
    fid: str,
    forget,
    channels: int,
) -> Path:
    rng = np.random.default_rng(seed)
    path = folder / experiment / method / f"seed{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path.with_suffix(".samples.npz"), images=rng.random((4, channels, 8, 8)).astype(np.float32))
    write_json(
        path,
        {
            "experiment": experiment,
            "method": method,
            "seed": seed,
            "paper_column": column,
            "dataset": f"{column} data",
            "stand_in": stand_in,
            "forget_class": forget,
            "fid_features": fid,
            "metrics": {"fratio": 0.1 * seed, "IS": 1.5, "FID": 3.0, "time": 1.0},
            "samples_file": path.with_suffix(".samples.npz").name,
        },
    )
    return path


def test_table1_has_both_columns_all_rows_and_says_how_fid_was_computed(tmp_path):
    files = []
    for method in ("retrain", "gradient-surgery", "feature-unlearning", "gradient-ascent", "before"):
        for seed in (0, 1):
            files.append(_fake_run(tmp_path, "MNIST138", "gs-digits", method, seed, True, "classifier", 1, 1))
            files.append(
                _fake_run(tmp_path, "CelebA", "gs-celeba", method, seed, True, "classifier", "male", 3)
            )
    table = TABLE1.aggregate(files, {})
    for column in ("MNIST138", "CelebA"):
        assert table[table["column"] == column]["row"].tolist() == list(ROW_LABELS.values())
    assert set(table["forget"]) == {"class: 1", "feature: male"}
    text = TABLE1.markdown(table)
    assert "### CelebA (feature: male)" in text and "### MNIST138 (class: 1)" in text
    assert "MOON ET AL. (2023)" in text and "not comparable to the paper's" in text
    assert "no Inception weights offline" in text and text.count("STAND-IN") == 2

    fig_files = [
        f for f in files if f.parent.name in ("before", "gradient-surgery") and f.name == "seed0.json"
    ]
    fig_table = FIG1.aggregate(fig_files, {})
    outputs = [tmp_path / "fig.png"]
    FIG1.draw(pd.DataFrame(fig_table), outputs, {"profile": "t"})
    assert outputs[0].stat().st_size > 0


def test_a_run_with_inception_fid_fails_fast_without_the_weights(tmp_path):
    from unlearnbench.metrics.inception_fid import InceptionWeightsError

    missing = tmp_path / "pt_inception-2015-12-05-6726825d.pth"
    block = {
        **CELEBA_BLOCK,
        "evaluation": {"n_samples": 10, "fid_features": "inception", "inception_weights": str(missing)},
    }
    config = {"profile": "t", "seeds": [0], "experiments": {"gs-celeba": block}}
    ctx = RunContext("gs-celeba", block, config, tmp_path / "results", tmp_path / "data", "cpu")
    with pytest.raises(InceptionWeightsError, match=str(missing)):
        gu.run(ctx, "before", 0, tmp_path / "run.json")  # no data or model needed: it stops first
