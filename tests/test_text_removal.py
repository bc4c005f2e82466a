"""text-removal: L-CODEC on DistilBERT with token-replacement perturbations, end to end on the stand-in."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch.utils.data import Subset, TensorDataset

from unlearnbench.artifacts.lc_table7b_ledgar import ARTIFACT
from unlearnbench.experiments import get_kind, text_removal
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.experiments.method_variants import find_variant, variants
from unlearnbench.experiments.text_removal import removal_candidates
from unlearnbench.metrics.removal import metric_names
from unlearnbench.models import load_model
from unlearnbench.models.text import DistilBertMultilabel, MultilabelBCE, TextEncoder, train_wordpiece
from unlearnbench.newton.activations import perturbed_activations
from unlearnbench.newton.slices import slice_layers
from unlearnbench.perturbations import TokenReplacement
from unlearnbench.request import UnlearningOutcome
from unlearnbench.unlearning import UnlearningRequest, get_method

TEXTS = [
    "the parties shall terminate this agreement upon notice",
    "this agreement is governed by the laws of delaware",
    "notices shall be delivered by certified mail",
    "counterparts may be executed by facsimile signature",
] * 6


@pytest.fixture(scope="module")
def setup():
    encoder = TextEncoder(train_wordpiece(TEXTS, 80), 16)
    torch.manual_seed(0)
    model = DistilBertMultilabel(
        3,
        {
            "n_layers": 1,
            "n_heads": 2,
            "dim": 16,
            "hidden_dim": 32,
            "max_position_embeddings": 16,
            "vocab_size": encoder.vocab_size(),
        },
        encoder.pad_id,
    ).eval()
    targets = torch.eye(3)[[0, 1, 2, 0] * 6]
    train = TensorDataset(encoder(TEXTS), targets)
    replacer = TokenReplacement(encoder.replacement_pool(), encoder.special_ids(), 2)
    return model, train, replacer


def test_features_and_losses_of_token_replaced_copies(setup):
    model, train, replacer = setup
    loss = MultilabelBCE(torch.tensor([1.0, 2.0, 0.5]))
    layers = slice_layers(model)
    forget = (train.tensors[0][:2], train.tensors[1][:2])
    sample = perturbed_activations(
        model,
        loss,
        forget,
        layers,
        perturbation=replacer,
        copies=6,
        generator=torch.Generator().manual_seed(0),
        chunk=4,
    )
    assert sample.features.shape == (6, sum(layer.n_slices for layer in layers))
    assert sample.losses.shape == (6,)
    # the same copies again, evaluated one by one with the loss function itself (the sample
    # reads them off the feature pass through MultilabelBCE.sample_losses)
    copies = replacer(forget[0], 6, torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = torch.stack([loss(model, (c, forget[1])) for c in copies])
    assert torch.allclose(sample.losses, expected, atol=1e-6)
    assert sample.losses.std() > 0  # the replacements move the loss


def _request(train: TensorDataset, replacer: TokenReplacement) -> UnlearningRequest:
    return UnlearningRequest(
        forget=Subset(train, [0]),
        retain=Subset(train, list(range(1, 24))),
        n_train=24,
        loss_fn=MultilabelBCE(torch.ones(3)),
        hyperparameters={
            "l2_lambda": 0.01,
            "perturbations": 20,
            "noise": "paper",
            "epsilon": 1.0,
            "delta": 0.01,
            "cg_max_iter": 10,
        },
        generator=torch.Generator().manual_seed(0),
        perturbation=replacer,
    )


def test_removal_updates_linear_slices_only(setup):
    model, train, replacer = setup
    outcome = get_method("newton-full")(model, _request(train, replacer))
    before, after = dict(model.named_parameters()), dict(outcome.model.named_parameters())
    for name, param in before.items():
        same = torch.equal(param, after[name])
        if "embeddings" in name or "layer_norm" in name or "LayerNorm" in name:
            assert same, f"{name} must never be updated"
    assert not torch.equal(before["classifier.weight"], after["classifier.weight"])
    assert outcome.diagnostics["n_slices_selected"] == outcome.diagnostics["n_slices_total"]
    assert outcome.model is not model  # the caller's model is untouched
    lfoci = get_method("lcodec")(model, _request(train, replacer))
    assert 0 < lfoci.diagnostics["n_slices_selected"] < lfoci.diagnostics["n_slices_total"]


def test_removal_candidates_and_variants():
    targets = np.array([[1, 0], [1, 1], [0, 1], [1, 0], [1, 0]], dtype=np.float32)
    order = removal_candidates(targets, 0, seed=3)
    assert sorted(order.tolist()) == [0, 3, 4]  # single-label provisions of label 0 only
    assert removal_candidates(targets, 0, seed=3).tolist() == order.tolist()
    assert sorted(removal_candidates(targets, 0, 3, single_label_only=False).tolist()) == [0, 1, 3, 4]
    settings = {"epsilons": [0.1, 10], "methods": {"lcodec": None}}
    names = variants(settings, ["Governing Laws", "Terminations"])
    assert "lcodec_eps0.1_governing-laws" in names and len(names) == 4
    with pytest.raises(ValueError, match="not configured"):
        find_variant(settings, "lcodec_eps1_governing-laws", ["Governing Laws"])


def _settings() -> dict:
    return {
        "kind": "text-removal",
        "seeds": [0],
        "data": {"source": "standin", "standin": {"samples": 300}},
        "model": {
            "pretrained": None,
            "vocab_size": 120,
            "config": {"n_layers": 1, "n_heads": 2, "dim": 16, "hidden_dim": 32},
        },
        "training": {
            "epochs": 2,
            "batch_size": 32,
            "max_length": 24,
            "optimizer": {"name": "adamw", "lr": 3e-3, "weight_decay": 0.01},
        },
        "removal": {"labels": ["Governing Laws"], "removals": 3, "checkpoint_every": 2},
        "epsilons": [10.0],
        "unlearning": {
            "hessian": "finite-difference",
            "noise": "paper",
            "delta": 0.01,
            "perturbations": 10,
            "tokens_replaced": 2,
        },
        "methods": {"lcodec": None},
    }


def test_pretrain_run_aggregate_draw(tmp_path, monkeypatch):
    from unlearnbench.config import validate_config

    settings = _settings()
    config = {"profile": "t7", "seeds": [0, 1], "experiments": {"led": settings}}
    validate_config(config)
    kind = get_kind("text-removal")
    ctx = RunContext("led", settings, config, tmp_path / "results", tmp_path / "data", "cpu")
    model_path = ctx.model_path(ModelRef("original", 0))
    kind.pretrain(ctx, ModelRef("original", 0), model_path)
    output = tmp_path / "run.json"
    payload = kind.run(ctx, "lcodec_eps10_governing-laws", 0, output)
    assert payload["stand_in"] and payload["removed_label"] == "Governing Laws"
    assert [c["removals"] for c in payload["checkpoints"]] == [0, 2, 3]
    assert payload["n_unchanged_removals"] == len(payload["unchanged_removals"])  # recorded, if any
    assert all(0.0 <= c["micro_f1"] <= 1.0 and 0.0 <= c["class_f1"] <= 1.0 for c in payload["checkpoints"])
    for row in payload["checkpoints"]:  # the standard set, scored by the micro-F1 the table reports
        assert set(metric_names("micro_f1")) <= set(row) and row["test_micro_f1"] == row["micro_f1"]
    last = payload["checkpoints"][-1]
    assert 0.0 <= last["mia_auc"] <= 1.0 and 0.0 <= last["mia_svc_efficacy"] <= 1.0
    assert 0.0 <= last["forget_micro_f1"] <= 1.0 and last["residual_gradient_norm_data"] > 0
    assert ARTIFACT.runs(config) == [type(ARTIFACT.runs(config)[0])("led", "lcodec_eps10_governing-laws", 0)]
    table = ARTIFACT.aggregate([output], config)
    assert {"column", "row", "micro_f1_mean", "class_f1_mean", "stand_in"} <= set(table.columns)
    assert table["stand_in"].all() and list(table["removals"]) == [0, 2, 3]
    assert "F1 Governing Laws" in ARTIFACT.markdown(table)
    ARTIFACT.draw(pd.read_csv(_csv(tmp_path, table)), [tmp_path / "f.png"], config)
    assert (tmp_path / "f.png").stat().st_size > 0
    with pytest.raises(ValueError, match="not configured"):
        kind.run(ctx, "lcodec_eps1_terminations", 0, tmp_path / "x.json")

    # The method comes from the registry and gets the token replacement on its request;
    # tokens_replaced configures the perturbation and never reaches the method's hyperparameters.
    requests: list[UnlearningRequest] = []

    def recording(model, request):
        requests.append(request)
        return UnlearningOutcome(model=model, seconds=0.0)

    asked: list[str] = []
    monkeypatch.setattr(text_removal, "get_method", lambda name: asked.append(name) or recording)
    kind.run(ctx, "lcodec_eps10_governing-laws", 0, tmp_path / "recorded.json")
    assert asked == ["lcodec"] and len(requests) == 3
    assert all(
        isinstance(r.perturbation, TokenReplacement) and r.perturbation.n_tokens == 2 for r in requests
    )
    assert all("tokens_replaced" not in r.hyperparameters for r in requests)


def test_each_checkpoint_predicts_the_dev_and_test_splits_once(tmp_path, monkeypatch):
    """The standard metric set and the kind's own F1 scores share one prediction of each split."""
    settings = _settings()
    config = {"profile": "t7", "seeds": [0], "experiments": {"led": settings}}
    kind = get_kind("text-removal")
    ctx = RunContext("led", settings, config, tmp_path / "results", tmp_path / "data", "cpu")
    kind.pretrain(ctx, ModelRef("original", 0), ctx.model_path(ModelRef("original", 0)))
    encoded: list[torch.Tensor] = []  # train, dev, test: in the order the run encodes them
    batches: list[int] = []  # the storage each forward pass reads

    class RecordingEncoder(TextEncoder):
        def __call__(self, texts):
            encoded.append(super().__call__(texts))
            return encoded[-1]

    def load_watched(path, device):
        model, meta = load_model(path, device)
        model.register_forward_pre_hook(
            lambda module, args: batches.append(args[0].untyped_storage().data_ptr())
        )
        return model, meta

    monkeypatch.setattr(text_removal, "TextEncoder", RecordingEncoder)
    monkeypatch.setattr(text_removal, "load_model", load_watched)
    payload = kind.run(ctx, "lcodec_eps10_governing-laws", 0, tmp_path / "run.json")
    checkpoints = len(payload["checkpoints"])
    dev, test = (ids.untyped_storage().data_ptr() for ids in encoded[1:3])
    assert len(encoded[1]) <= 256 and len(encoded[2]) <= 256  # one evaluation batch per split
    assert batches.count(dev) == checkpoints and batches.count(test) == checkpoints


def test_text_runs_take_their_method_from_the_registry(tmp_path):
    settings = {**_settings(), "methods": {"no-such-method": None}}
    config = {"profile": "t7", "seeds": [0], "experiments": {"led": settings}}
    ctx = RunContext("led", settings, config, tmp_path / "results", tmp_path / "data", "cpu")
    with pytest.raises(KeyError, match="unknown unlearning method 'no-such-method'; known: .*lcodec"):
        get_kind("text-removal").run(ctx, "no-such-method_eps10_governing-laws", 0, tmp_path / "run.json")


def _csv(folder: Path, table: pd.DataFrame) -> Path:
    path = folder / "t.csv"
    table.to_csv(path, index=False)
    return path
