"""Membership inference: the loss-threshold AUC and SalUn's SVC attack (MIA-efficacy)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import SVC

from unlearnbench.metrics.privacy import (
    attack_features,
    balanced_subsample,
    loss_threshold_auc,
    svc_mia_efficacy,
)


def _uniform(rng: np.random.Generator, low: float, high: float, n: int) -> np.ndarray:
    return rng.uniform(low, high, size=n)


def test_loss_threshold_auc_ranks_lower_losses_as_members():
    assert loss_threshold_auc([0.1, 0.2], [0.5, 0.9]) == 1.0
    assert loss_threshold_auc([0.5, 0.9], [0.1, 0.2]) == 0.0


def test_svc_attack_separates_perfectly_separable_members():
    """Members confident, non-members not: forget samples like members are all caught, like non-members none."""
    rng = np.random.default_rng(0)
    members, nonmembers = _uniform(rng, 0.9, 1.0, 400), _uniform(rng, 0.0, 0.5, 400)
    like_members, like_nonmembers = _uniform(rng, 0.9, 1.0, 200), _uniform(rng, 0.0, 0.5, 200)
    assert svc_mia_efficacy(members, nonmembers, like_members, seed=1) == 0.0
    assert svc_mia_efficacy(members, nonmembers, like_nonmembers, seed=1) == 1.0


def test_svc_attack_is_at_chance_on_identical_distributions():
    """Members and non-members alike: fresh members and fresh non-members are called non-member equally often.

    (The efficacy itself is then whatever share the SVC's noise-fitted boundary leaves on the
    non-member side; what chance means is that the attack has no advantage.)
    """
    rng = np.random.default_rng(3)
    members, nonmembers = rng.beta(2, 2, size=4000), rng.beta(2, 2, size=300)
    fresh_members, fresh_nonmembers = rng.beta(2, 2, size=20000), rng.beta(2, 2, size=20000)
    advantage = svc_mia_efficacy(members, nonmembers, fresh_nonmembers, seed=0) - svc_mia_efficacy(
        members, nonmembers, fresh_members, seed=0
    )
    assert abs(advantage) < 0.02


def test_svc_attack_trains_on_as_many_members_as_non_members():
    """Overlapping distributions, ten members per non-member: the attack still finds the 50/50 boundary.

    Members ~ Beta(3, 2), non-members ~ Beta(2, 3): the best balanced attack thresholds at 0.5
    and has an advantage of 0.375. An SVC trained on the unbalanced sets calls every sample a
    member (efficacy 0 on non-members too).
    """
    rng = np.random.default_rng(0)
    members, nonmembers = rng.beta(3, 2, size=3000), rng.beta(2, 3, size=300)
    fresh_members, fresh_nonmembers = rng.beta(3, 2, size=5000), rng.beta(2, 3, size=5000)
    on_nonmembers = svc_mia_efficacy(members, nonmembers, fresh_nonmembers, seed=0)
    on_members = svc_mia_efficacy(members, nonmembers, fresh_members, seed=0)
    assert on_nonmembers > 0.5 > on_members and on_nonmembers - on_members > 0.25


def test_svc_attack_is_deterministic_and_its_seed_is_the_only_randomness():
    rng = np.random.default_rng(5)
    members, nonmembers, target = (
        rng.beta(5, 1, size=3000),
        rng.beta(2, 2, size=2500),
        rng.beta(3, 1, size=500),
    )
    first = svc_mia_efficacy(members, nonmembers, target, max_shadow=200, seed=[7, 1])
    np.random.seed(123)  # the global state has no say
    assert svc_mia_efficacy(members, nonmembers, target, max_shadow=200, seed=[7, 1]) == first


def test_svc_attack_leaves_the_global_numpy_state_alone():
    """scikit-learn's SVC draws libsvm's seed from the global numpy state unless given its own."""
    rng = np.random.default_rng(6)
    members, nonmembers, target = rng.beta(5, 1, size=100), rng.beta(2, 2, size=100), rng.beta(3, 1, size=50)
    np.random.seed(0)
    before = np.random.get_state()
    svc_mia_efficacy(members, nonmembers, target, seed=0)
    after = np.random.get_state()
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


def test_svc_attack_agrees_with_a_direct_sklearn_computation():
    """SalUn's attack spelled out: SVC(C=3, rbf, gamma='auto') on members (1) vs non-members (0)."""
    rng = np.random.default_rng(11)
    probabilities = rng.dirichlet(np.ones(4) * 0.5, size=900)
    labels = rng.integers(0, 4, size=900)
    conf = attack_features(probabilities, labels)[:, 0]
    members, nonmembers, forget = conf[:300], conf[300:600], conf[600:]

    x = np.concatenate([members, nonmembers])[:, None]
    y = np.concatenate([np.ones(300), np.zeros(300)])
    direct = (SVC(C=3, kernel="rbf", gamma="auto").fit(x, y).predict(forget[:, None]) == 0).mean()
    assert svc_mia_efficacy(members, nonmembers, forget, seed=0) == pytest.approx(direct, abs=0)

    # a subsample: a seeded uniform draw without replacement from the larger side, in index order
    take = np.sort(np.random.default_rng(4).choice(600, size=300, replace=False))
    longer = conf[:600]
    x = np.concatenate([longer[take], conf[600:]])[:, None]
    direct = (SVC(C=3, kernel="rbf", gamma="auto").fit(x, y).predict(forget[:, None]) == 0).mean()
    assert svc_mia_efficacy(longer, conf[600:], forget, seed=4) == pytest.approx(direct, abs=0)


def test_balanced_subsample_takes_equally_many_of_each_side():
    members, nonmembers = balanced_subsample(50, 8, 1000, np.random.default_rng(0))
    assert nonmembers.tolist() == list(range(8))
    assert members.size == 8 and np.all(np.diff(members) > 0) and members.max() < 50
    members, nonmembers = balanced_subsample(50, 80, 20, np.random.default_rng(0))
    assert members.size == nonmembers.size == 20


def test_attack_features_follow_song_and_mittal():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    y = np.array([0, 0])
    assert attack_features(p, y)[:, 0].tolist() == [0.7, 0.1]
    entropy = -(p * np.log(p)).sum(axis=1)
    np.testing.assert_allclose(attack_features(p, y, "entropy")[:, 0], entropy)
    # Mentr(p, y) = -(1 - p_y) log p_y - sum_{i != y} p_i log(1 - p_i)
    expected_first = -(0.3 * np.log(0.7)) - 0.2 * np.log(0.8) - 0.1 * np.log(0.9)
    expected_second = -(0.9 * np.log(0.1)) - 0.1 * np.log(0.9) - 0.8 * np.log(0.2)
    np.testing.assert_allclose(
        attack_features(p, y, "modified_entropy")[:, 0], [expected_first, expected_second]
    )
    # certain and right: 0; certain and wrong: large (the log floor keeps it finite)
    sure = np.array([[1.0, 0.0], [0.0, 1.0]])
    mentr = attack_features(sure, np.array([0, 0]), "modified_entropy")[:, 0]
    assert mentr[0] == 0.0 and 60 < mentr[1] < np.inf


def test_bad_attack_inputs_are_refused_with_their_reason():
    with pytest.raises(ValueError, match="unknown SVC attack feature 'loss'"):
        attack_features(np.eye(2), np.array([0, 1]), "loss")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\]"):
        attack_features(np.eye(2), np.array([0, 2]))
    with pytest.raises(ValueError, match="one forget sample"):
        svc_mia_efficacy([0.9, 0.8], [0.1, 0.2], [])
    with pytest.raises(ValueError, match="max_shadow must be positive"):
        svc_mia_efficacy([0.9, 0.8], [0.1, 0.2], [0.5], max_shadow=0)
