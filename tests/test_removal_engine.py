"""The removal engine: plan, retain draws, revert filter, retrain baseline, and one pinned run."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

import unlearnbench.unlearning.lcodec  # noqa: F401  (registers the methods)
import unlearnbench.unlearning.newton_full  # noqa: F401
import unlearnbench.unlearning.reference  # noqa: F401  (retrain)
from unlearnbench.experiments import removal_engine as engine
from unlearnbench.experiments import sequential_removal as seq
from unlearnbench.experiments.removal_engine import (
    Checkpoint,
    Progress,
    Removal,
    RemovalPlan,
    RemovalTask,
    checkpoint_schedule,
    diagnostic_means,
    retrain_at_checkpoints,
    run_removals,
)
from unlearnbench.metrics.removal import MetricInputs, metric_names
from unlearnbench.models.classifiers import LogisticRegression, cross_entropy_loss
from unlearnbench.training import seed_everything
from unlearnbench.unlearning import UnlearningOutcome, UnlearningRequest, get_method

N = 12
#: The standard checkpoint set of the toy task, whose score counts samples.
STANDARD = set(metric_names("count"))


def toy_inputs(train: Dataset, removed: Sequence[int], retain: Sequence[int]) -> MetricInputs:
    """Standard-metric inputs that need no forward pass (``Tagged`` has none): the score counts samples."""
    return MetricInputs(
        forget=Subset(train, list(removed)),
        retain=Subset(train, list(retain)),
        test=Subset(train, [0, 1]),
        heldout=Subset(train, [0, 1]),
        loss_fn=lambda model, batch: model.weight.sum() * 0,
        l2_lambda=0.0,
        predict=lambda model, dataset, **_: torch.zeros(len(dataset), 2),
        score=lambda logits, labels: float(len(labels)),
        score_name="count",
        sample_losses=lambda model, dataset, **_: np.zeros(len(dataset)),
        confidence=None,
    )


class Tagged(nn.Module):
    """A stand-in model that remembers which samples were removed from it."""

    def __init__(self, removed: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.removed = removed
        self.weight = nn.Parameter(torch.zeros(1))


class ToyTask(RemovalTask):
    """Records what the engine asks of a task; the validation accuracy drops when ``bad`` is removed."""

    def __init__(self, bad: int | None = None, retrain: bool = False, value: float = 1.0) -> None:
        self.train: Dataset = TensorDataset(torch.arange(N, dtype=torch.float32), torch.zeros(N))
        self.loss_fn = lambda model, batch: torch.zeros(())
        self.bad, self.value = bad, value
        self.evaluated: list[tuple[list[int], list[int], bool]] = []
        self.retrained: list[list[int]] = []
        self.predicted: list[nn.Module] = []
        self.handed: list[tuple[str, Any]] = []
        if retrain:
            self.retrain = self._retrain

    def _retrain(self, dataset: Any) -> nn.Module:
        self.retrained.append(list(dataset.indices))
        return Tagged(("retrained",))  # type: ignore[arg-type]

    def predict(self, model: nn.Module) -> tuple[int, ...]:
        self.predicted.append(model)
        return tuple(getattr(model, "removed", ()))

    def metric_inputs(self, checkpoint: Checkpoint) -> MetricInputs:
        self.handed.append(("metric_inputs", checkpoint.predictions))
        return toy_inputs(self.train, checkpoint.removed, checkpoint.retain)

    def evaluate(self, checkpoint: Checkpoint) -> dict[str, Any]:
        self.handed.append(("evaluate", checkpoint.predictions))
        self.evaluated.append(
            (list(checkpoint.removed), list(checkpoint.retain), checkpoint.reference is not None)
        )
        return {"value": self.value, "model_removed": list(getattr(checkpoint.model, "removed", ()))}

    def validation_accuracy(self, model: nn.Module) -> float:
        return 0.5 if self.bad in model.removed else 1.0

    def measure_before(self, model: nn.Module, forget: Dataset) -> dict[str, float]:
        return {"before": float(len(model.removed))}

    def measure_after(self, model: nn.Module, forget: Dataset) -> dict[str, float]:
        return {"after": float(len(model.removed))}

    def summarise_window(self, window: Sequence[Removal], progress: Progress) -> dict[str, Any]:
        return {
            "window": [list(r.indices) for r in window],
            "measured": [dict(r.measurements) for r in window],
            "reverted_so_far": progress.reverted,
        }


class Recorder:
    """An unlearning method that records each request and removes its forget set from a ``Tagged``."""

    def __init__(self, unchanged: Sequence[int] = (), draws: bool = False) -> None:
        self.requests: list[UnlearningRequest] = []
        self.unchanged, self.draws = set(unchanged), draws
        self.random: list[float] = []

    def __call__(self, model: nn.Module, request: UnlearningRequest) -> UnlearningOutcome:
        self.requests.append(request)
        forget = tuple(request.forget.indices)  # type: ignore[attr-defined]
        if self.draws:
            self.random.append(float(torch.rand(1, generator=request.generator)))
        diagnostics = {"unchanged": True} if set(forget) & self.unchanged else {"noise_sigma": 0.5}
        return UnlearningOutcome(Tagged(model.removed + forget), 0.25, diagnostics)


def plan(**changes: Any) -> RemovalPlan:
    fields = {
        "order": (5, 3, 8, 1, 0, 7, 2),
        "members": tuple(range(N)),
        "schedule": (0, 2, 4),
        "seed": 3,
        "retain_stream": 9,
    }
    return RemovalPlan(**{**fields, **changes})


def test_checkpoint_schedule_always_ends_on_the_total():
    assert checkpoint_schedule(7, 3) == [0, 3, 6, 7]
    assert checkpoint_schedule(6, 3) == [0, 3, 6]
    with pytest.raises(ValueError, match="positive"):
        checkpoint_schedule(0, 3)
    with pytest.raises(ValueError, match="checkpoint_every"):
        checkpoint_schedule(5, 0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"schedule": (1, 2)}, "start at 0"),
        ({"schedule": (0, 3, 3)}, "increase strictly"),
        ({"schedule": (0, 8)}, "must lie in"),
        ({"order": (5, 5, 3), "schedule": (0, 2)}, "distinct members"),
        ({"order": (5, 30, 3), "schedule": (0, 2)}, "distinct members"),
        ({"batch_size": 0}, "removal_batch"),
        ({"retain_sample": 0}, "retain_sample"),
    ],
)
def test_a_plan_that_cannot_be_run_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        plan(**changes)


def test_a_plan_is_frozen_and_aims_at_its_last_checkpoint():
    p = plan(order=[5, 3, 8], schedule=[0, 2, 3])
    assert p.order == (5, 3, 8) and p.total == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.batch_size = 2  # type: ignore[misc]


def test_a_one_by_one_plan_has_every_row_as_a_member():
    p = RemovalPlan.one_by_one(np.array([4, 2]), 5, [0, 1, 2], seed=1, retain_stream=2, retain_sample=3)
    assert p.members == (0, 1, 2, 3, 4) and p.order == (4, 2) and p.batch_size == 1
    assert p.retain_sample == 3 and p.revert_drop is None and not p.retrain_reference


def test_requests_follow_the_order_batch_by_batch():
    task, method = ToyTask(), Recorder()
    run = run_removals(
        Tagged(), task, plan(batch_size=3, schedule=(0, 2, 5)), method, hyperparameters={"k": 1}, device="cpu"
    )
    forgets = [list(r.forget.indices) for r in method.requests]
    assert forgets == [[5, 3, 8], [1, 0]]  # the last batch is cut to reach the total
    assert [r.n_train for r in method.requests] == [12, 9]  # the training-set size before each removal
    assert [sorted(r.retain.indices) for r in method.requests][1] == [2, 4, 6, 7, 9, 10, 11]
    assert all(r.hyperparameters == {"k": 1} and r.device == torch.device("cpu") for r in method.requests)
    # a batch that jumps past a checkpoint triggers it once; every row starts with the removals
    assert [c["removals"] for c in run.checkpoints] == [0, 3, 5]
    assert run.checkpoints[1]["window"] == [[5, 3, 8]] and run.checkpoints[2]["window"] == [[1, 0]]
    assert run.checkpoints[1]["measured"] == [{"before": 0.0, "after": 3.0}]
    assert task.evaluated[0] == ([], list(range(N)), False)
    assert task.evaluated[2][1] == [2, 4, 6, 7, 9, 10, 11]
    assert run.seconds == 0.5 and run.model.removed == (5, 3, 8, 1, 0)


def test_the_generator_and_the_retain_draws_come_from_the_seed():
    method = Recorder(draws=True)
    p = plan(retain_sample=8, schedule=(0, 1, 4))
    run_removals(Tagged(), ToyTask(), p, method, hyperparameters={}, device="cpu")
    generator = seed_everything(p.seed)
    assert method.random == [float(torch.rand(1, generator=generator)) for _ in range(4)]
    rng = np.random.default_rng([p.seed, p.retain_stream])
    active = np.ones(N, dtype=bool)
    for request, index in zip(method.requests, p.order, strict=False):
        active[index] = False
        remaining = np.flatnonzero(active)
        # a draw only while more than retain_sample samples remain (11, 10, 9: drawn; 8: all of them)
        expected = np.sort(rng.choice(remaining, size=8, replace=False)) if remaining.size > 8 else remaining
        assert list(request.retain.indices) == expected.tolist()


def test_the_revert_filter_keeps_the_sample_and_moves_on():
    task, method = ToyTask(bad=8), Recorder()
    run = run_removals(Tagged(), task, plan(revert_drop=0.1), method, hyperparameters={}, device="cpu")
    assert [list(r.forget.indices) for r in method.requests] == [[5], [3], [8], [1], [0]]
    assert run.reverted == [
        {
            "attempt": 3,
            "removals_so_far": 2,
            "indices": [8],
            "accuracy_before": 1.0,
            "accuracy_after": 0.5,
            "seconds": 0.25,
        }
    ]
    assert run.model.removed == (5, 3, 1, 0)
    assert 8 in task.evaluated[-1][1]  # still in the training set at the last checkpoint
    assert 8 in method.requests[3].retain.indices and method.requests[3].n_train == 10
    assert [c["reverted_so_far"] for c in run.checkpoints[1:]] == [0, 1]
    assert run.seconds == 5 * 0.25  # a reverted removal's time still counts


def test_without_a_revert_drop_the_validation_accuracy_is_never_asked():
    class NoAccuracy(ToyTask):
        def validation_accuracy(self, model: nn.Module) -> float:
            raise AssertionError("asked")

    run = run_removals(Tagged(), NoAccuracy(), plan(), Recorder(), hyperparameters={}, device="cpu")
    assert run.reverted == [] and run.model.removed == (5, 3, 8, 1)


def test_the_protocol_default_has_no_validation_accuracy():
    class Bare(RemovalTask):
        train, loss_fn = TensorDataset(torch.zeros(N), torch.zeros(N)), staticmethod(cross_entropy_loss)

        def metric_inputs(self, checkpoint):
            return toy_inputs(self.train, checkpoint.removed, checkpoint.retain)

    with pytest.raises(ValueError, match="no validation accuracy"):
        run_removals(Tagged(), Bare(), plan(revert_drop=0.1), Recorder(), hyperparameters={}, device="cpu")
    run = run_removals(Tagged(), Bare(), plan(), Recorder(), hyperparameters={}, device="cpu")
    # no own metrics, no measurements, no window summary by default: the standard set only
    assert set(run.checkpoints[1]) == {"removals"} | STANDARD and run.checkpoints[1]["removals"] == 2


def test_every_row_carries_the_standard_set_beside_the_tasks_own_metrics():
    task = ToyTask(retrain=True)
    unlearned = run_removals(
        Tagged(), task, plan(retrain_reference=True), Recorder(), hyperparameters={}, device="cpu"
    )
    retrained = retrain_at_checkpoints(Tagged(), ToyTask(retrain=True), plan(), device="cpu")
    own = {"value", "model_removed"}
    with_reference = set(metric_names("count", retrain=True))
    assert set(unlearned.checkpoints[0]) == {"removals"} | STANDARD | own
    for row in unlearned.checkpoints[1:]:
        assert with_reference | own <= set(row) and row["value"] == 1.0
        assert row["distance_to_retrain"] == 0.0 and row["test_count_gap_to_retrain"] == 0.0
    for row in retrained.checkpoints:
        assert set(row) == {"removals", "retrain_seconds"} | STANDARD | own
    assert [row["forget_count"] for row in unlearned.checkpoints] == [None, 2.0, 4.0]
    assert [row["residual_count"] for row in unlearned.checkpoints] == [12.0, 10.0, 8.0]


def test_a_task_metric_that_shadows_the_standard_set_is_refused():
    class Shadowing(ToyTask):
        def evaluate(self, checkpoint):
            return {"mia_auc": 0.5}

    with pytest.raises(ValueError, match=r"Shadowing's own checkpoint metrics \['mia_auc'\]"):
        run_removals(Tagged(), Shadowing(), plan(), Recorder(), hyperparameters={}, device="cpu")


def test_one_reading_of_each_checkpoints_model_is_handed_to_both_metric_sides():
    task = ToyTask()
    run_removals(Tagged(), task, plan(), Recorder(), hyperparameters={}, device="cpu")
    assert len(task.predicted) == 3  # once per checkpoint
    readings = [(), (5, 3), (5, 3, 8, 1)]
    assert task.handed == [(side, r) for r in readings for side in ("metric_inputs", "evaluate")]


def test_a_task_must_say_what_the_standard_set_uses():
    class Silent(RemovalTask):
        train, loss_fn = TensorDataset(torch.zeros(N), torch.zeros(N)), staticmethod(cross_entropy_loss)

    with pytest.raises(NotImplementedError, match="Silent does not say"):
        run_removals(Tagged(), Silent(), plan(), Recorder(), hyperparameters={}, device="cpu")


def test_the_svc_attack_is_seeded_by_the_run_seed_and_the_checkpoint(monkeypatch):
    seeds = []
    real = engine.removal_metrics

    def recording(model, inputs, *, seed, **kwargs):
        seeds.append(seed)
        return real(model, inputs, seed=seed, **kwargs)

    monkeypatch.setattr(engine, "removal_metrics", recording)
    run_removals(Tagged(), ToyTask(), plan(), Recorder(), hyperparameters={}, device="cpu")
    assert seeds == [[3, engine.SVC_STREAM, 0], [3, engine.SVC_STREAM, 2], [3, engine.SVC_STREAM, 4]]


def test_unchanged_removals_are_recorded_and_nan_is_null():
    run = run_removals(
        Tagged(),
        ToyTask(value=float("nan")),
        plan(),
        Recorder(unchanged=[3]),
        hyperparameters={},
        device="cpu",
    )
    assert run.unchanged == [{"removals_so_far": 1, "indices": [3], "reason": "zero step and no noise"}]
    assert all(c["value"] is None for c in run.checkpoints)


def test_a_reference_is_retrained_at_every_checkpoint_when_planned():
    task = ToyTask(retrain=True)
    run = run_removals(
        Tagged(), task, plan(retrain_reference=True), Recorder(), hyperparameters={}, device="cpu"
    )
    keep = [i for i in range(N) if i not in (5, 3)]
    assert task.retrained == [keep, [i for i in keep if i not in (8, 1)]]
    assert [e[2] for e in task.evaluated] == [False, True, True]
    assert "retrain_seconds" not in run.checkpoints[0] and run.checkpoints[1]["retrain_seconds"] >= 0
    with pytest.raises(ValueError, match="retrain_reference"):
        run_removals(
            Tagged(), ToyTask(), plan(retrain_reference=True), Recorder(), hyperparameters={}, device="cpu"
        )


def test_the_retrain_baseline_retrains_at_every_checkpoint_but_zero():
    task = ToyTask(retrain=True)
    original = Tagged()
    run = retrain_at_checkpoints(original, task, plan(schedule=(0, 2, 4)), device="cpu")
    assert task.retrained == [
        [i for i in range(N) if i not in (5, 3)],
        [i for i in range(N) if i not in (5, 3, 8, 1)],
    ]
    assert [c["removals"] for c in run.checkpoints] == [0, 2, 4]
    assert run.checkpoints[0]["retrain_seconds"] == 0.0 and run.checkpoints[0]["model_removed"] == []
    assert run.checkpoints[1]["model_removed"] == ["retrained"]
    assert task.evaluated[1][0] == [5, 3]
    assert run.reverted == [] and run.unchanged == []
    with pytest.raises(ValueError, match="retrain recipe"):
        retrain_at_checkpoints(original, ToyTask(), plan(), device="cpu")


def test_the_skip_hook_leaves_a_retrain_out():
    task = ToyTask(retrain=True)
    seen = []

    def skip(count: int, retain: Sequence[int]) -> str | None:
        seen.append((count, len(retain)))
        return "odd retain set" if count > 0 and len(retain) % 2 else None

    run = retrain_at_checkpoints(Tagged(), task, plan(schedule=(0, 1, 2)), device="cpu", skip=skip)
    assert seen == [(0, 12), (1, 11), (2, 10)]
    assert run.checkpoints[1] == {"removals": 1, "skipped": "odd retain set"}
    assert task.retrained == [[i for i in range(N) if i not in (5, 3)]]


def test_a_perturbation_reaches_the_request_only_when_set(monkeypatch):
    made = []
    monkeypatch.setattr(
        engine,
        "UnlearningRequest",
        lambda **fields: (
            made.append(fields)
            or UnlearningRequest(**{k: v for k, v in fields.items() if k != "perturbation"})
        ),
    )
    task = ToyTask()
    run_removals(Tagged(), task, plan(schedule=(0, 1)), Recorder(), hyperparameters={}, device="cpu")
    task.perturbation = "replace tokens"
    run_removals(Tagged(), task, plan(schedule=(0, 1)), Recorder(), hyperparameters={}, device="cpu")
    assert "perturbation" not in made[0] and made[1]["perturbation"] == "replace tokens"


def test_a_residual_pool_is_a_fixed_sample_whose_kept_rows_are_evaluated():
    rows = np.array([2, 4, 6, 8, 10])
    assert engine.residual_pool(rows, None, np.random.default_rng(0)).tolist() == rows.tolist()
    assert engine.residual_pool(rows, 5, np.random.default_rng(0)).tolist() == rows.tolist()
    pool = engine.residual_pool(rows, 3, np.random.default_rng(0))
    assert pool.tolist() == np.sort(np.random.default_rng(0).choice(rows, 3, replace=False)).tolist()
    assert engine.kept(pool, [int(pool[0]), 99, int(pool[2])]) == [int(pool[0]), int(pool[2])]


def test_diagnostic_means_skip_what_a_removal_does_not_report():
    window = [
        Removal((1,), 1.0, {"noise_sigma": 2.0, "n_slices_selected": None}, {}),
        Removal((2,), 3.0, {"n_params_updated": 5}, {}),
    ]
    assert diagnostic_means(window) == {
        "mean_seconds": 2.0,
        "mean_n_slices_selected": None,
        "mean_n_params_updated": 5.0,
        "mean_noise_sigma": 2.0,
    }


# ---------------------------------------------------------------------------- pinned against the pre-engine loop


def _synthetic() -> tuple[TensorDataset, TensorDataset, LogisticRegression]:
    """40 training and 30 test points of 3 Gaussian classes in 6 dimensions; the LDA classifier."""
    g = torch.Generator().manual_seed(0)
    means = 1.5 * torch.randn(3, 6, generator=g)

    def split(n: int) -> TensorDataset:
        y = torch.randint(0, 3, (n,), generator=g)
        return TensorDataset(means[y] + torch.randn(n, 6, generator=g), y)

    train, test = split(40), split(30)
    model = LogisticRegression(6, 3)
    with torch.no_grad():
        model.linear.weight.copy_(means)
        model.linear.bias.copy_(-0.5 * means.pow(2).sum(1))
    return train, test, model.eval()


class _Losses:
    """The pinned loop's evaluator (retain and forget losses) as a classifier evaluation."""

    def __init__(self, train: TensorDataset, test: TensorDataset) -> None:
        self.train, self.test = train, test

    def metric_inputs(self, checkpoint):
        return MetricInputs(
            forget=Subset(self.train, list(checkpoint.removed)),
            retain=Subset(self.train, list(checkpoint.retain)),
            test=self.test,
            heldout=self.test,
            loss_fn=cross_entropy_loss,
            l2_lambda=0.05,
        )

    @torch.no_grad()
    def evaluate(self, checkpoint):
        model, removed, retain = checkpoint.model, list(checkpoint.removed), list(checkpoint.retain)
        x, y = self.train.tensors
        row = {"retain_loss": float(cross_entropy_loss(model, (x[retain], y[retain])))}
        row["forget_loss"] = float(cross_entropy_loss(model, (x[removed], y[removed]))) if removed else None
        return row


BASE = {"training": {"optimizer": {"weight_decay": 0.05}}, "unlearning": {"noise": "paper", "epsilon": 200.0}}
LCODEC = {
    **BASE,
    "unlearning": {**BASE["unlearning"], "perturbations": 20},
    "methods": {"lcodec": None},
    "removal_batch": 2,
    "retain_sample": 15,
}
#: epsilon 20: noise enough that some removals lower the test accuracy and are reverted, not all
REVERTING = {
    **BASE,
    "unlearning": {"noise": "paper", "epsilon": 20.0},
    "methods": {"newton-full": {"hessian": "dense"}},
    "revert_drop": 0.0,
}


def _through_the_engine(settings, method, schedule):
    train, test, model = _synthetic()
    task = seq.ClassifierTask(SimpleNamespace(train=train, test=test), "cpu", _Losses(train, test))
    order = np.random.default_rng(7).permutation(40)
    plan = seq.classifier_plan(settings, order, np.arange(40), schedule, 0)
    hp = seq.method_hyperparameters(settings, method)
    run = run_removals(model, task, plan, get_method(method), hyperparameters=hp, device="cpu")
    standard = set(metric_names())
    for row in run.checkpoints:
        assert standard <= set(row)  # computed at every checkpoint: it must not move a draw
        for key in standard:
            row.pop(key)
        row.pop("seconds_per_removal", None)
        row.pop("cg_residual", None)  # a round-off-sized residual: not portable across BLAS builds
    for entry in run.reverted:
        entry.pop("seconds")
    return {"checkpoints": run.checkpoints, "reverted": run.reverted, "unchanged": run.unchanged}


#: Made with the loop this engine replaced (``sequential_removal._run_sequential`` at commit
#: db85939) on the same task: ``_synthetic()``, ``_Losses.evaluate`` as its evaluator (plus
#: ``removals``), ``order`` as above, ``ctx.settings`` the settings above, and
#: ``_run_sequential(ctx, data, model, {}, np.arange(40), order, schedule, method, 0, evaluate)``;
#: ``seconds`` and ``cg_residual`` dropped. Any change to a random draw or to the order of the calls moves them.
PINNED: dict[str, Any] = {
    "lcodec": {
        "checkpoints": [
            {"removals": 0, "retain_loss": 0.012141240760684013, "forget_loss": None},
            {
                "removals": 2,
                "retain_loss": 0.011487268842756748,
                "forget_loss": 0.0009963237680494785,
                "sample_gradient_norm_before": 0.011161593216236726,
                "sample_gradient_norm_after": 0.007801295250190028,
                "sample_loss_before": 0.0014299859758466482,
                "sample_loss_after": 0.0009963237680494785,
                "noise_sigma": 0.15537557300461194,
                "params_updated": 7.0,
                "slices_selected": 1.0,
                "cg_iterations": 5.0,
                "reverted_so_far": 0,
                "unchanged_so_far": 0,
            },
            {
                "removals": 4,
                "retain_loss": 0.010003532283008099,
                "forget_loss": 0.0006699303048662841,
                "sample_gradient_norm_before": 2.4680565628227294e-05,
                "sample_gradient_norm_after": 1.7551580304013273e-05,
                "sample_loss_before": 6.198846676852554e-06,
                "sample_loss_after": 4.2915166886814404e-06,
                "noise_sigma": 0.17216129972810187,
                "params_updated": 14.0,
                "slices_selected": 2.0,
                "cg_iterations": 6.0,
                "reverted_so_far": 0,
                "unchanged_so_far": 0,
            },
            {
                "removals": 6,
                "retain_loss": 0.013967865146696568,
                "forget_loss": 0.015770725905895233,
                "sample_gradient_norm_before": 0.09300317763896253,
                "sample_gradient_norm_after": 0.25426992980616414,
                "sample_loss_before": 0.016398850828409195,
                "sample_loss_after": 0.046159788966178894,
                "noise_sigma": 0.19182169506742217,
                "params_updated": 7.0,
                "slices_selected": 1.0,
                "cg_iterations": 5.0,
                "reverted_so_far": 0,
                "unchanged_so_far": 0,
            },
        ],
        "reverted": [],
        "unchanged": [],
    },
    "reverting": {
        "checkpoints": [
            {"removals": 0, "retain_loss": 0.012141240760684013, "forget_loss": None},
            {
                "removals": 2,
                "retain_loss": 0.01304913591593504,
                "forget_loss": 0.002541568363085389,
                "sample_gradient_norm_before": 0.01412141362784804,
                "sample_gradient_norm_after": 0.02010266459603601,
                "sample_loss_before": 0.0017833253332355525,
                "sample_loss_after": 0.002542879663565145,
                "noise_sigma": 0.39852659709680627,
                "params_updated": 21.0,
                "slices_selected": 3.0,
                "cg_iterations": None,
                "reverted_so_far": 0,
                "unchanged_so_far": 0,
            },
            {
                "removals": 4,
                "retain_loss": 0.0067887878976762295,
                "forget_loss": 1.6689250514900777e-06,
                "sample_gradient_norm_before": 5.516991470230597e-06,
                "sample_gradient_norm_after": 8.58811200615587e-07,
                "sample_loss_before": 1.072882469088654e-06,
                "sample_loss_after": 1.1920927533992653e-07,
                "noise_sigma": 0.4421929657917737,
                "params_updated": 21.0,
                "slices_selected": 3.0,
                "cg_iterations": None,
                "reverted_so_far": 2,
                "unchanged_so_far": 0,
            },
        ],
        "reverted": [
            {
                "attempt": 3,
                "removals_so_far": 2,
                "indices": [28],
                "accuracy_before": 0.9666666666666667,
                "accuracy_after": 0.8666666666666667,
            },
            {
                "attempt": 5,
                "removals_so_far": 3,
                "indices": [30],
                "accuracy_before": 0.9666666666666667,
                "accuracy_after": 0.9333333333333333,
            },
        ],
        "unchanged": [],
    },
}


@pytest.mark.parametrize(
    ("name", "settings", "method", "schedule"),
    [("lcodec", LCODEC, "lcodec", [0, 2, 4, 6]), ("reverting", REVERTING, "newton-full", [0, 2, 4])],
)
def test_a_logistic_regression_gives_the_checkpoints_of_the_loop_it_replaced(
    name, settings, method, schedule
):
    got = _through_the_engine(settings, method, schedule)
    assert _close(got, PINNED[name])


def _close(got: Any, want: Any) -> bool:
    if isinstance(want, dict):
        assert set(got) == set(want)
        return all(_close(got[k], want[k]) for k in want)
    if isinstance(want, list):
        assert len(got) == len(want)
        return all(_close(a, b) for a, b in zip(got, want, strict=True))
    if isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-12)
        return True
    assert got == want
    return True
