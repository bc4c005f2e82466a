"""Low-rank inverses, conjugate gradients and the finite-difference curvature against dense algebra."""

from __future__ import annotations

import pytest
import torch

from unlearnbench.newton.hessian import (
    RankOneTerm,
    conjugate_gradient,
    dense_solve,
    finite_difference_term,
    low_rank_dense,
    low_rank_solve,
    sherman_morrison_solve,
    woodbury_solve,
)


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(0)


def test_sherman_morrison_equals_the_dense_inverse():
    g = _gen()
    u, b = (
        torch.randn(40, generator=g, dtype=torch.float64),
        torch.randn(40, generator=g, dtype=torch.float64),
    )
    for coefficient in (3.0, -0.001):  # a positive and a (small) negative rank-one update
        matrix = low_rank_dense(0.1, [RankOneTerm(u, coefficient)], 40)
        torch.testing.assert_close(
            sherman_morrison_solve(0.1, u, coefficient, b), torch.linalg.solve(matrix, b)
        )


def test_woodbury_equals_the_dense_inverse_with_mixed_signs():
    g = _gen()
    U = torch.randn(50, 4, generator=g, dtype=torch.float64)
    coefficients = [2.0, -0.01, 0.5, 0.0]  # the zero term must simply drop out
    b = torch.randn(50, generator=g, dtype=torch.float64)
    matrix = (
        0.3 * torch.eye(50, dtype=torch.float64)
        + U @ torch.diag(torch.tensor(coefficients, dtype=torch.float64)) @ U.T
    )
    expected = torch.linalg.solve(matrix, b)
    torch.testing.assert_close(woodbury_solve(0.3, U, coefficients, b), expected)
    terms = [RankOneTerm(U[:, i], c) for i, c in enumerate(coefficients)]
    torch.testing.assert_close(low_rank_solve(0.3, terms, b), expected)


def test_low_rank_solve_needs_positive_damping():
    u = torch.ones(3)
    with pytest.raises(ValueError, match="damping"):
        sherman_morrison_solve(0.0, u, 1.0, u)
    with pytest.raises(ValueError, match="damping"):
        woodbury_solve(-1.0, u[:, None], [1.0], u)


def test_finite_difference_term_is_the_authors_rank_one_curvature():
    g_a, g_b = torch.tensor([1.0, 2.0, 0.0]), torch.tensor([0.0, 1.0, 1.0])
    w_a, w_b = torch.tensor([0.5, 0.0, 0.0]), torch.tensor([0.0, 0.25, 0.0])
    term = finite_difference_term(g_a, g_b, w_a, w_b, scale=2.0)
    dense = low_rank_dense(0.0, [term], 3, dtype=torch.float32)
    torch.testing.assert_close(dense, 2.0 * torch.outer(g_a - g_b, g_a - g_b) / 0.75)
    assert finite_difference_term(g_a, g_b, w_a, w_a) is None  # no movement: no curvature information
    assert finite_difference_term(g_a, g_a, w_a, w_b) is None  # no gradient change


def test_conjugate_gradient_solves_a_spd_system():
    g = _gen()
    a = torch.randn(30, 30, generator=g, dtype=torch.float64)
    spd = a @ a.T
    b = torch.randn(30, generator=g, dtype=torch.float64)
    result = conjugate_gradient(lambda v: spd @ v + 0.5 * v, b, tol=1e-12, max_iter=500)
    assert result.converged and not result.negative_curvature
    torch.testing.assert_close(result.x, dense_solve(spd, b, 0.5))


def test_conjugate_gradient_stops_on_negative_curvature():
    matrix = torch.diag(torch.tensor([1.0, -1.0], dtype=torch.float64))
    result = conjugate_gradient(lambda v: matrix @ v, torch.tensor([1.0, 1.0], dtype=torch.float64))
    assert result.negative_curvature and not result.converged
