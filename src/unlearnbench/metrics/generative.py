"""Metrics of paper 1: feature ratio (fratio), Inception Score and FID from a *domain* classifier.

The gradient-surgery paper reports IS around 2.05 on MNIST138 and FID around 0.03: IS is
bounded by the number of classes, so both numbers can only come from the 3-class domain
classifier (AllCNN), not from Inception. We therefore compute IS from that classifier's
softmax and FID on its penultimate features. The Frechet distance is our own code written to
behave as pytorch-fid's ``calculate_frechet_distance`` does (the same ``eps`` retry for a
singular product, the same refusal of a matrix square root with a large imaginary part) and is
tested against it; it differs only in not printing, and in scipy's current ``sqrtm`` call.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg
from torch import nn

#: Largest imaginary part tolerated on the diagonal of sqrt(S_a S_b) (pytorch-fid's ``atol``).
MAX_IMAGINARY = 1e-3


def fratio(probabilities: torch.Tensor | np.ndarray, target_class: int) -> float:
    """Fraction of samples whose predicted class (argmax) is the forgotten ``target_class``."""
    p = torch.as_tensor(probabilities)
    return float((p.argmax(dim=1) == target_class).double().mean())


def inception_score(probabilities: torch.Tensor | np.ndarray, eps: float = 1e-12) -> float:
    """IS = exp(E_x KL(p(y|x) || p(y))), computed on one split of the samples.

    One-hot predictions spread evenly over k classes give k; a constant prediction gives 1.
    """
    p = torch.as_tensor(probabilities, dtype=torch.float64)
    if p.ndim != 2 or p.shape[0] == 0:
        raise ValueError("inception_score needs a non-empty [n_samples, n_classes] probability matrix")
    marginal = p.mean(dim=0, keepdim=True)
    kl = (p * (torch.log(p + eps) - torch.log(marginal + eps))).sum(dim=1)
    return float(torch.exp(kl.mean()))


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets (rows are samples), via pytorch-fid's Frechet distance."""
    a = np.asarray(features_a, dtype=np.float64)
    b = np.asarray(features_b, dtype=np.float64)
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError("FID needs at least two samples in each set")
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    sigma_a, sigma_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    return frechet_distance_from_moments(mu_a, sigma_a, mu_b, sigma_b)


def frechet_distance_from_moments(mu_a: np.ndarray, sigma_a: np.ndarray, mu_b: np.ndarray, sigma_b: np.ndarray,
                                  eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)).

    Small feature sets give singular covariances (dead ReLU units); as pytorch-fid does, the
    square root is then retried with ``eps`` added to both diagonals. Rounding may leave a tiny
    imaginary part, which is dropped; an imaginary part above :data:`MAX_IMAGINARY` on the
    diagonal means the square root is not that of two covariances (an indefinite input, or a
    numerical failure) and raises ``ValueError``, as pytorch-fid does, instead of silently
    returning a distance computed from the real part.
    """
    diff = mu_a - mu_b
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma_a @ sigma_b)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma_a.shape[0]) * eps
            covmean = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=MAX_IMAGINARY):
            raise ValueError(
                "FID: the matrix square root of the covariance product has an imaginary component of "
                f"{np.max(np.abs(covmean.imag)):.3g} (pytorch-fid raises above {MAX_IMAGINARY:g} on the "
                "diagonal); the covariances are not positive semi-definite or the square root failed"
            )
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(covmean))


#: The classifier spaces FID can be computed in (``evaluation.fid_features``), as the name of
#: the :func:`classifier_outputs` entry each reads. The paper says "Frechet Inception Distance"
#: and nothing more; its MNIST numbers (FID ~0.03) are plausible only in a low-dimensional
#: space, so the readings of ``config/readings.yaml`` compare all three.
CLASSIFIER_FID_SPACES = {
    "classifier": "penultimate",
    "classifier-logits": "logits",
    "classifier-probabilities": "probabilities",
}


@torch.no_grad()
def classifier_outputs(
    classifier: nn.Module, images: torch.Tensor, batch_size: int = 500, device: str = "cpu"
) -> dict[str, np.ndarray]:
    """Penultimate features, logits and softmax probabilities of ``images`` in one pass.

    One pass serves every FID space, so the metric-space readings cost no extra runs.
    """
    classifier.eval().to(device)
    out: dict[str, list[torch.Tensor]] = {"penultimate": [], "logits": [], "probabilities": []}
    for start in range(0, images.shape[0], batch_size):
        h = classifier.embed(images[start : start + batch_size].to(device))
        logits = classifier.head(h)
        out["penultimate"].append(h.cpu())
        out["logits"].append(logits.cpu())
        out["probabilities"].append(torch.softmax(logits, dim=1).cpu())
    return {name: torch.cat(parts).numpy() for name, parts in out.items()}


@torch.no_grad()
def classify(classifier: nn.Module, images: torch.Tensor, batch_size: int = 500, device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """Softmax probabilities and penultimate features (``classifier.embed``) of ``images``."""
    classifier.eval().to(device)
    probs, feats = [], []
    for start in range(0, images.shape[0], batch_size):
        x = images[start : start + batch_size].to(device)
        h = classifier.embed(x)
        probs.append(torch.softmax(classifier.head(h), dim=1).cpu())
        feats.append(h.cpu())
    return torch.cat(probs).numpy(), torch.cat(feats).numpy()
