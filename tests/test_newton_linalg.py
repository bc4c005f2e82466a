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


def test_finite_difference_hessian_shrinks_linearly_with_its_step():
    """Pins the scaling of ``hessian: finite-difference`` (the paper's Alg. 1 step 3, as the authors code it).

    On a quadratic loss (gradient A w - c, Hessian A, independent of any step) the rank-one term
    ``(g_a - g_b)(g_a - g_b)^T / ||w_a - w_b||_1`` with ``w_b = w_a - h g_a`` equals
    ``h (A g)(A g)^T / ||g||_1`` exactly: it is proportional to the step h, not an estimate of A.
    So as h shrinks the damped Newton step ``(lambda I + term)^{-1} b`` becomes ``b / lambda``, a
    gradient step scaled by 1/lambda. The README and every caption that uses this Hessian say so.
    """
    g = _gen()
    p, lam = 6, 0.01
    root = torch.randn(p, p, generator=g, dtype=torch.float64)
    A = root @ root.T + torch.eye(p, dtype=torch.float64)
    c, w, b = (torch.randn(p, generator=g, dtype=torch.float64) for _ in range(3))

    def grad(v: torch.Tensor) -> torch.Tensor:
        return A @ v - c

    g1 = grad(w)
    sizes, gaps = [], []
    steps = (1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
    for h in steps:
        moved = w - h * g1
        term = finite_difference_term(g1, grad(moved), w, moved)
        size = term.coefficient * float(term.u @ term.u)  # trace = Frobenius norm of the rank-one matrix
        assert size == pytest.approx(h * float((A @ g1) @ (A @ g1)) / float(g1.abs().sum()), rel=1e-9)
        sizes.append(size)
        step = low_rank_solve(lam, [term], b)
        gaps.append(float((step - b / lam).norm() / (b / lam).norm()))
    for bigger, smaller in zip(sizes, sizes[1:]):
        assert bigger / smaller == pytest.approx(10.0, rel=1e-6)
    # the update tends to the scaled gradient step b / lambda, linearly once the term is below lambda
    assert all(a > b for a, b in zip(gaps, gaps[1:]))
    assert sizes[-1] < lam and gaps[-1] < 1e-2 and gaps[-2] / gaps[-1] == pytest.approx(10.0, rel=0.05)
    exact = torch.linalg.solve(A + lam * torch.eye(p, dtype=torch.float64), b)
    assert float((step - exact).norm()) > 0.5 * float(exact.norm())  # far from the exact Newton step
    assert gaps[2] > 0.1  # (at the authors' h = 1e-3 the term is not negligible here, yet proportional to h)
