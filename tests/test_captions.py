"""Captions and status lines say when a finite-difference Hessian made the numbers."""

from __future__ import annotations

from unlearnbench.artifacts import all_artifacts, get_artifact
from unlearnbench.captions import FINITE_DIFFERENCE_CAVEAT, finite_difference_users, with_hessian_note
from unlearnbench.config import load_config


def _retrain_experiment(**methods):
    return {
        "kind": "sequential-removal",
        "artifact": "lc-fig6-retrain",
        "dataset": "digits",
        "removals": 4,
        "unlearning": {"hessian": "exact"},
        "methods": methods,
    }


def test_only_newton_methods_with_the_finite_difference_hessian_are_named():
    experiments = {
        "a": _retrain_experiment(lcodec={"hessian": "finite-difference"}, retrain=None),
        "b": {
            **_retrain_experiment(**{"newton-kfac": None, "newton-full": None}),
            "unlearning": {"hessian": "finite-difference"},
        },
        "c": _retrain_experiment(lcodec=None),
    }
    assert finite_difference_users(experiments) == ["a/lcodec", "b/newton-full"]
    assert with_hessian_note("configured: c", {"c": experiments["c"]}) == "configured: c"
    assert "shrinks linearly with its step" in with_hessian_note("configured", experiments)


def test_figure_status_carries_the_caveat_when_its_runs_use_it():
    art = get_artifact("lc-fig6-retrain")
    exact = {"seeds": [0], "experiments": {"x": _retrain_experiment(lcodec=None, retrain=None)}}
    fd = {"seeds": [0], "experiments": {"x": _retrain_experiment(lcodec={"hessian": "finite-difference"})}}
    assert FINITE_DIFFERENCE_CAVEAT not in art.status(exact)
    assert FINITE_DIFFERENCE_CAVEAT in art.status(fd) and "x/lcodec" in art.status(fd)


def test_every_artifact_of_the_profiles_names_its_finite_difference_runs():
    """Every artifact whose experiments use the finite-difference Hessian says so (quick and paper profiles)."""
    for profile in ("config/config.yaml", "config/paper.yaml"):
        config = load_config(profile)
        for art in all_artifacts():
            experiments = {spec.experiment for spec in art.runs(config)}
            blocks = {name: config["experiments"][name] for name in experiments}
            if finite_difference_users(blocks):
                assert FINITE_DIFFERENCE_CAVEAT in art.status(config), (profile, art.name)
