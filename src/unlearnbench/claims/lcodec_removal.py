"""Predicates of the L-CODEC paper's claims about removals: Figs. 5-8, 10, 11, Table 7b, Sec. 7.4, D.4.

They read curves against the number of removals (one row per checkpoint, mean over seeds)
of the paper's method (``lcodec``) unless the claim compares methods. Parts (experiments,
labels, epsilons) are judged one by one; a claim holds when every measured part holds.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from unlearnbench.claims.base import NotMeasured, Tables, Thresholds, Verdict, register, threshold
from unlearnbench.claims.quantities import (
    LCODEC,
    as_bool,
    curve,
    drop_at_last,
    fmt,
    grouped,
    judge_each,
    rows_of,
    supported_removals,
    window_mean,
)

CURVE = ["experiment", "method", "removals"]


def lcodec_parts(table: pd.DataFrame, keys: list[str]) -> list[tuple[str, pd.DataFrame]]:
    """The paper method's rows, one part per combination of ``keys``."""
    return grouped(rows_of(table, "method", LCODEC, LCODEC), keys)


# ---------------------------------------------------------------------------- Fig. 5 (left), MNIST


MNIST = "lc-fig5-mnist-logreg"


@register(
    "lc-fig5-close-to-full",
    reads={MNIST: [*CURVE, "residual_accuracy_mean", "test_accuracy_mean"]},
)
def close_to_full(tables: Tables, thresholds: Thresholds) -> Verdict:
    most = threshold(thresholds, "max_gap")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        gaps = []
        for metric in ("residual_accuracy", "test_accuracy"):
            ours = curve(rows_of(part, "method", LCODEC, LCODEC), f"{metric}_mean", LCODEC)
            full = curve(
                rows_of(part, "method", "newton-full", "newton-full"), f"{metric}_mean", "newton-full"
            )
            both = ours.merge(full, on="removals", suffixes=("_ours", "_full"))
            if both.empty:
                raise NotMeasured("no checkpoint shared by lcodec and newton-full")
            gaps.append((metric, float((both["value_ours"] - both["value_full"]).abs().max()), len(both)))
        text = ", ".join(f"max |gap| {metric} {fmt(gap)}" for metric, gap, _ in gaps)
        return all(gap <= most for _, gap, _ in gaps), f"{text} over {gaps[0][2]} checkpoints vs max {most:g}"

    return judge_each(grouped(tables[MNIST], ["experiment"]), judge)


@register("lc-fig5-gradnorm-vs-random", reads={MNIST: [*CURVE, "sample_gradient_norm_after_mean"]})
def gradnorm_vs_random(tables: Tables, thresholds: Thresholds) -> Verdict:
    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        metric = "sample_gradient_norm_after_mean"
        ours = curve(rows_of(part, "method", LCODEC, LCODEC), metric, LCODEC)
        rand = curve(rows_of(part, "method", "newton-random", "newton-random"), metric, "newton-random")
        shared = sorted(set(ours["removals"]) & set(rand["removals"]) - {0})
        if not shared:
            raise NotMeasured("no checkpoint shared by lcodec and newton-random")
        mean_ours = window_mean(ours[ours["removals"].isin(shared)])
        mean_rand = window_mean(rand[rand["removals"].isin(shared)])
        text = f"mean removed-sample gradient norm after removal: lcodec {fmt(mean_ours)} vs newton-random {fmt(mean_rand)} over {int(max(shared))} removals"
        return mean_ours > mean_rand, text

    return judge_each(grouped(tables[MNIST], ["experiment"]), judge)


# ---------------------------------------------------------------------------- Fig. 5 (right), zoo


ZOO = "lc-fig5-cifar-zoo"


@register("lc-fig5-zoo-accuracy-order", reads={ZOO: [*CURVE, "column", "test_accuracy_mean"]})
def zoo_accuracy_order(tables: Tables, thresholds: Thresholds) -> Verdict:
    max_drop, least = threshold(thresholds, "max_drop"), threshold(thresholds, "min_spearman")
    models, skipped = [], []
    for label, part in lcodec_parts(tables[ZOO], ["experiment"]):
        name = f"{part['column'].iloc[0]} ({label})"
        try:
            support = supported_removals(curve(part, "test_accuracy_mean", name), max_drop, name)
        except NotMeasured as exc:
            skipped.append(f"{name}: {exc}")
            continue
        models.append((name, support))
    listing = "; ".join(f"{n}: base {fmt(s.start)}, supports {s.supported}/{s.performed}" for n, s in models)
    listing += "".join(f"; {s} (not measured)" for s in skipped)
    if len(models) < 2:
        raise NotMeasured(f"fewer than two models with a test-accuracy curve ({listing or 'none'})")
    if all(s.all_supported for _, s in models):
        raise NotMeasured(f"no model's test accuracy fell more than {max_drop:g} ({listing})")
    frame = pd.DataFrame(
        {"base": [s.start for _, s in models], "supported": [s.supported for _, s in models]}
    )
    rho = frame["base"].corr(frame["supported"], method="spearman")
    if rho is None or math.isnan(rho):
        raise NotMeasured(f"Spearman correlation undefined (constant ranks): {listing}")
    return Verdict.decide(
        rho >= least, f"Spearman {fmt(rho)} vs min {least:g} over {len(models)} models: {listing}"
    )


# ---------------------------------------------------------------------------- Figs. 6 and 10, MNIST retraining


RETRAIN_MNIST = "lc-fig6-retrain"
WEIGHT_DECAY = "lc-fig10-weight-decay"


@register("lc-fig6-supported-share", reads={RETRAIN_MNIST: [*CURVE, "test_accuracy_mean"]})
def supported_share(tables: Tables, thresholds: Thresholds) -> Verdict:
    max_drop, least = threshold(thresholds, "max_drop"), threshold(thresholds, "min_share")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        s = supported_removals(curve(part, "test_accuracy_mean", LCODEC), max_drop, LCODEC)
        share = s.supported / s.performed
        text = f"supports {s.supported}/{s.performed} removals = {fmt(share)} (test accuracy from {fmt(s.start)}, drop {max_drop:g}) vs min {least:g}"
        return share >= least, text

    return judge_each(lcodec_parts(tables[RETRAIN_MNIST], ["experiment"]), judge)


@register("lc-fig10-weight-decay", reads={WEIGHT_DECAY: [*CURVE, "weight_decay", "test_accuracy_mean"]})
def weight_decay(tables: Tables, thresholds: Thresholds) -> Verdict:
    max_drop = threshold(thresholds, "max_drop")
    table = rows_of(tables[WEIGHT_DECAY], "method", LCODEC, LCODEC)
    settings = []
    for (experiment, wd), part in table.groupby(["experiment", "weight_decay"], sort=False):
        what = f"{experiment}, weight decay {wd:g}"
        settings.append(
            (float(wd), supported_removals(curve(part, "test_accuracy_mean", what), max_drop, what))
        )
    settings.sort(key=lambda item: item[0])
    listing = ", ".join(f"wd {wd:g}: {s.supported}/{s.performed}" for wd, s in settings)
    if len({wd for wd, _ in settings}) < 2:
        raise NotMeasured(f"fewer than two weight decays ({listing})")
    if all(s.all_supported for _, s in settings):
        raise NotMeasured(f"every weight decay supports all removals ({listing})")
    counts = [s.supported for _, s in settings]
    ok = all(a <= b for a, b in zip(counts, counts[1:])) and counts[-1] > counts[0]
    return Verdict.decide(
        ok, f"supported removals (test accuracy, drop {max_drop:g}) by weight decay: {listing}"
    )


# ---------------------------------------------------------------------------- Fig. 11, CIFAR-10 retraining


CIFAR_RETRAIN = "lc-fig11-cifar-retrain"


@register(
    "lc-fig11-batch-of-one-dips",
    reads={CIFAR_RETRAIN: [*CURVE, "test_accuracy_mean", "final_batch_of_one"]},
)
def batch_of_one_dips(tables: Tables, thresholds: Thresholds) -> Verdict:
    min_dip = threshold(thresholds, "min_dip")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        part = part.assign(one=as_bool(part["final_batch_of_one"]))
        part = part.sort_values("removals", kind="stable")
        ones_all = [int(r) for r in part.loc[part["one"], "removals"]]
        if not ones_all:
            raise NotMeasured("no checkpoint with a final batch of one")
        measured = part.dropna(subset=["test_accuracy_mean"]).reset_index(drop=True)
        acc = measured["test_accuracy_mean"].to_numpy(dtype=float)
        removals = measured["removals"].astype(int).tolist()
        interior = range(1, len(measured) - 1)
        dips = {removals[i] for i in interior if acc[i] < (acc[i - 1] + acc[i + 1]) / 2 - min_dip}
        ones = {removals[i] for i in interior if measured["one"].iloc[i]}
        unjudged = sorted(set(ones_all) - ones)
        if not ones:
            raise NotMeasured(
                f"batch-of-one checkpoints {ones_all} have no accuracy between two neighbours (skipped or at an end)"
            )
        text = f"dips > {min_dip:g} at {sorted(dips)}; final batch of one at {sorted(ones)}"
        if unjudged:
            text += f" (not judged: {unjudged}, skipped or at an end)"
        return dips == ones, text

    return judge_each(
        grouped(rows_of(tables[CIFAR_RETRAIN], "method", "retrain", "retrain"), ["experiment"]), judge
    )


# ---------------------------------------------------------------------------- scrubbed class vs the rest


def falls_faster(part: pd.DataFrame, scrubbed: str, residual: str, margin: float) -> tuple[bool, str]:
    _, drop_scrubbed, last = drop_at_last(curve(part, f"{scrubbed}_mean", scrubbed), scrubbed)
    _, drop_residual, _ = drop_at_last(curve(part, f"{residual}_mean", residual), residual)
    text = f"at {last} removals: drop {scrubbed} {fmt(drop_scrubbed)} vs drop {residual} {fmt(drop_residual)} + {margin:g}"
    return drop_scrubbed >= drop_residual + margin, text


VGGFACE = "lc-fig7-vggface"
LEDGAR = "lc-table7b-ledgar"
REID = "lc-sec7-4-reid-map"


@register(
    "lc-fig7-vggface-class-falls-faster",
    reads={VGGFACE: [*CURVE, "identity_accuracy_mean", "residual_accuracy_mean"]},
)
def vggface_falls_faster(tables: Tables, thresholds: Thresholds) -> Verdict:
    margin = threshold(thresholds, "min_margin")
    return judge_each(
        lcodec_parts(tables[VGGFACE], ["experiment"]),
        lambda part: falls_faster(part, "identity_accuracy", "residual_accuracy", margin),
    )


@register(
    "lc-table7b-ledgar-class-falls-faster",
    reads={LEDGAR: [*CURVE, "removed_label", "epsilon", "class_f1_mean", "micro_f1_mean"]},
)
def ledgar_falls_faster(tables: Tables, thresholds: Thresholds) -> Verdict:
    margin = threshold(thresholds, "min_margin")
    return judge_each(
        lcodec_parts(tables[LEDGAR], ["experiment", "removed_label", "epsilon"]),
        lambda part: falls_faster(part, "class_f1", "micro_f1", margin),
    )


@register(
    "lc-fig8-reid-person-falls-faster",
    reads={REID: [*CURVE, "epsilon", "identity_mAP_mean", "mAP_mean"]},
)
def reid_person_falls_faster(tables: Tables, thresholds: Thresholds) -> Verdict:
    margin = threshold(thresholds, "min_margin")
    return judge_each(
        lcodec_parts(tables[REID], ["experiment", "epsilon"]),
        lambda part: falls_faster(part, "identity_mAP", "mAP", margin),
    )


#: The two epsilons of the Sec. 7.4 sentence ("very small values of eps i.e. 0.0005", "e.g., 0.1").
SMALL_EPS, LARGE_EPS = 5e-4, 0.1


@register("lc-reid-epsilon-supported", reads={REID: [*CURVE, "epsilon", "mAP_mean"]})
def reid_epsilon_supported(tables: Tables, thresholds: Thresholds) -> Verdict:
    max_drop, most_small = threshold(thresholds, "max_drop"), threshold(thresholds, "max_supported_small_eps")

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        eps = pd.to_numeric(part["epsilon"], errors="coerce")
        support = {}
        for name, value in (("small", SMALL_EPS), ("large", LARGE_EPS)):
            rows = part[np.isclose(eps, value, rtol=1e-6, atol=0)]
            if rows.empty:
                raise NotMeasured(f"no run at epsilon {value:g}")
            support[name] = supported_removals(
                curve(rows, "mAP_mean", f"epsilon {value:g}"), max_drop, f"epsilon {value:g}"
            )
        small, large = support["small"], support["large"]
        text = (
            f"supported removals (mAP, drop {max_drop:g}): eps {SMALL_EPS:g} {small.supported}/{small.performed} "
            f"(max {most_small:g}), eps {LARGE_EPS:g} {large.supported}/{large.performed} (all needed)"
        )
        return small.supported <= most_small and large.all_supported, text

    return judge_each(lcodec_parts(tables[REID], ["experiment"]), judge)


# ---------------------------------------------------------------------------- D.4, K-FAC

#: The D.4 artifact: a sequential-removal table with the removed samples' loss before and
#: after each removal (window means, like the gradient norms). Where a profile does not build
#: it the claim is "not measured here: artifact not built".
KFAC = "lc-d4-kfac"


@register(
    "lc-d4-kfac-no-update",
    reads={KFAC: [*CURVE, "test_accuracy_mean", "sample_loss_before_mean", "sample_loss_after_mean"]},
)
def kfac_no_update(tables: Tables, thresholds: Thresholds) -> Verdict:
    most = threshold(thresholds, "max_change")

    def loss_change(part: pd.DataFrame, method: str) -> float:
        rows = rows_of(part, "method", method, method)
        before = curve(rows, "sample_loss_before_mean", method)
        after = curve(rows, "sample_loss_after_mean", method)
        both = after.merge(before, on="removals", suffixes=("", "_before"))
        if both.empty:
            raise NotMeasured(f"no removed-sample loss of {method}")
        return window_mean(both.assign(value=both["value"] - both["value_before"]))

    def judge(part: pd.DataFrame) -> tuple[bool, str]:
        kfac = curve(
            rows_of(part, "method", "newton-kfac", "newton-kfac"), "test_accuracy_mean", "newton-kfac"
        )
        start = (
            float(kfac.loc[kfac["removals"] == 0, "value"].iloc[0]) if (kfac["removals"] == 0).any() else None
        )
        if start is None:
            raise NotMeasured("no newton-kfac checkpoint at removal 0")
        change = float((kfac["value"] - start).abs().max())
        lc, kf = loss_change(part, LCODEC), loss_change(part, "newton-kfac")
        text = (
            f"newton-kfac max |test accuracy change| {fmt(change)} (max {most:g}); removed samples' loss "
            f"change lcodec {fmt(lc)} vs newton-kfac {fmt(kf)}"
        )
        return change <= most and abs(lc) > abs(kf), text

    return judge_each(grouped(tables[KFAC], ["experiment"]), judge)
