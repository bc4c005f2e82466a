"""Experiment kind ``bullseye``: L-CODEC paper, Table 1 (3D-Bullseye Markov-blanket identification).

One run = one method on one freshly drawn 3D-Bullseye sample (the seed draws the data, trains
the feature maps and drives the tests' permutations), on both inputs of the table:

* ``raw``: the six 3-D points, each coordinate standardised (pycit's ``standardize``);
* ``feature-maps``: the six learned one-number codes (:func:`~unlearnbench.dependence.bullseye.learn_feature_maps`).

Methods (rows of Table 1):

* ``cit-baseline``: Markov-blanket search with the kNN-CMI CIT of Yang et al. 2020 ([44]);
* ``lcodec-cit``: the same search with L-CODEC as the test statistic;
* ``lcodec-lfoci``: L-FOCI of Y on the six codes. On raw data every feature is a 3-D block and
  L-FOCI selects single columns, so, as in the paper ("N/A"), it is reported as not applicable.

Metrics per input: ``tpr`` (share of the blanket {r3, r4, r5, r6} found), ``fpr`` (share of
{r1, r2} wrongly selected), ``seconds`` (the selection only: feature-map training is timed
separately as ``feature_map_seconds``, like the paper, which loads a trained mapping), and the
``selected`` features (0-based). Settings where the paper is silent: ``alpha`` (a feature is
independent when ``p >= alpha``; the authors' script sweeps its ``conf``), ``precision``
(``float16`` reproduces the authors' script, which casts the data to float16 before
standardising; ``float64`` keeps them as drawn), ``jitter_y`` (L-CODEC jitters Y too, the
literal eq. 8; Y is continuous here, so it hardly matters).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch

from unlearnbench.dependence.bullseye import (
    BullseyeData,
    learn_feature_maps,
    make_bullseye,
    selection_rates,
    standardize,
    standardize_points,
)
from unlearnbench.dependence.cit import cmi_test, lcodec_test, markov_blanket
from unlearnbench.dependence.foci import lfoci
from unlearnbench.experiments.base import ModelRef, RunContext
from unlearnbench.provenance import provenance
from unlearnbench.storage import write_json
from unlearnbench.timing import Stopwatch

KIND = "bullseye"
METHODS = ("cit-baseline", "lcodec-cit", "lcodec-lfoci")
INPUTS = ("raw", "feature-maps")
DEFAULTS: dict[str, Any] = {
    "n_samples": 5000,
    "dim": 3,
    "eps": 0.075,
    "precision": "float64",
    "inputs": list(INPUTS),
    "alpha": 0.05,
    "n_trials": 100,
    "k_perm": 5,
    "k_cmi": 5,
    "max_conditioning": None,
    "jitter_y": False,
    "feature_map": {
        "epochs": 50,
        "batch_size": 50,
        "lr": 0.001,
        "hidden": 40,
        "decoder_hidden": 400,
        "keep_prob": 0.5,
    },
}


def datasets(settings: Mapping[str, Any]) -> list[str]:
    return []  # generated


def pretrained(settings: Mapping[str, Any], method: str, seed: int) -> list[ModelRef]:
    return []  # the feature maps are trained inside the run (seconds, seeded)


def pretrain(ctx: RunContext, ref: ModelRef, output: Path) -> None:
    raise ValueError(f"experiment kind {KIND!r} has no pretrained models (asked for {ref.filename()})")


def resolved_settings(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The experiment block over :data:`DEFAULTS` (nested ``feature_map`` merged key by key)."""
    out = {**DEFAULTS, **{k: v for k, v in settings.items() if k != "feature_map"}}
    out["feature_map"] = {**DEFAULTS["feature_map"], **dict(settings.get("feature_map") or {})}
    unknown = [i for i in out["inputs"] if i not in INPUTS]
    if unknown:
        raise ValueError(f"unknown bullseye inputs {unknown}; use {list(INPUTS)}")
    if out["precision"] not in ("float64", "float16"):
        raise ValueError(f"precision must be 'float64' or 'float16', got {out['precision']!r}")
    return out


def run(ctx: RunContext, method: str, seed: int, output: Path) -> dict[str, Any]:
    if method not in METHODS:
        raise ValueError(f"unknown bullseye method {method!r}; known: {', '.join(METHODS)}")
    s = resolved_settings(ctx.settings)
    data = _draw(s, seed)
    metrics: dict[str, Any] = {}
    feature_map_seconds = None
    for kind in s["inputs"]:
        if kind == "raw":
            features = [f for f in standardize_points(data.points).transpose(2, 0, 1)]
        else:
            with Stopwatch() as watch:
                codes = learn_feature_maps(data, seed=seed, **s["feature_map"])
            feature_map_seconds = watch.seconds
            features = [codes[:, i : i + 1] for i in range(codes.shape[1])]
        metrics[kind] = select(
            method, kind, features, standardize(data.y[:, None])[:, 0], s, seed, ctx.device
        )
    payload = {
        "experiment": ctx.experiment,
        "method": method,
        "seed": seed,
        "metrics": metrics,
        "feature_map_seconds": feature_map_seconds,
        "stand_in": False,
        "settings": s,
        "provenance": provenance(config=ctx.config, seed=seed, device=ctx.device),
    }
    write_json(output, payload)
    return payload


def _draw(s: Mapping[str, Any], seed: int) -> BullseyeData:
    data = make_bullseye(int(s["n_samples"]), int(s["dim"]), float(s["eps"]), seed=seed)
    if s["precision"] == "float16":  # the authors' script: x.astype(float16) before standardising
        data = BullseyeData(
            radii=data.radii,
            points=data.points.astype(np.float16).astype(np.float64),
            y=data.y.astype(np.float16).astype(np.float64),
        )
    return data


def select(
    method: str,
    kind: str,
    features: list[np.ndarray],
    y: np.ndarray,
    s: Mapping[str, Any],
    seed: int,
    device: str,
) -> dict[str, Any]:
    """Run one method on one input; returns ``{tpr, fpr, seconds, selected, applicable}``."""
    if method == "lcodec-lfoci" and any(f.shape[1] > 1 for f in features):
        return {
            "applicable": False,
            "tpr": None,
            "fpr": None,
            "seconds": None,
            "selected": None,
            "reason": "L-FOCI selects single columns; raw features are multi-dimensional (N/A in the paper)",
        }
    with Stopwatch(device) as watch:
        if method == "lcodec-lfoci":
            X = torch.as_tensor(np.hstack(features), device=device)
            yt = torch.as_tensor(y, device=device)
            selected = sorted(lfoci(yt, X, seed=seed, jitter_y=bool(s["jitter_y"])).selected)
        else:
            selected = markov_blanket(
                features,
                y,
                _test(method, s),
                alpha=float(s["alpha"]),
                max_conditioning=s["max_conditioning"],
                seed=seed,
            )
    tpr, fpr = selection_rates(selected, n_features=len(features))
    return {"applicable": True, "tpr": tpr, "fpr": fpr, "seconds": watch.seconds, "selected": selected}


def _test(method: str, s: Mapping[str, Any]) -> Callable[..., Any]:
    common = {"n_trials": int(s["n_trials"]), "k_perm": int(s["k_perm"])}
    if method == "cit-baseline":
        return partial(cmi_test, k=int(s["k_cmi"]), **common)
    return partial(lcodec_test, jitter_y=bool(s["jitter_y"]), **common)
