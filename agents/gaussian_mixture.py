"""A small Gaussian mixture fitted by EM, for the ALP-GMM teacher's few-dimensional points.

It does what ``sklearn.mixture.GaussianMixture(covariance_type="full", init_params="k-means++")``
does on data of a few dimensions and tens of points, in plain numpy: k-means++ seeds the means,
each point starts with its nearest mean, then EM alternates until the mean log-likelihood gains
less than ``tol``; ``reg_covar`` is added to every covariance's diagonal. It is written here
rather than imported because a teacher refits dozens of such mixtures every step, where
scikit-learn's per-call overhead (input checks, BLAS thread pools) costs tens of milliseconds a
fit and this costs well under one, and because every draw comes from the generator passed in,
so a seed fixes the fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class MixtureFit:
    """A fitted mixture: ``weights`` (k,), ``means`` (k, d), ``covariances`` (k, d, d), and the
    total log-likelihood of the data it was fitted on (``n`` points)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    log_likelihood: float
    n: int

    @property
    def n_parameters(self) -> int:
        k, d = self.means.shape
        return (k - 1) + k * d + k * d * (d + 1) // 2

    def aic(self) -> float:
        """Akaike's information criterion (lower is better), as ``GaussianMixture.aic``."""
        return 2.0 * self.n_parameters - 2.0 * self.log_likelihood

    def bic(self) -> float:
        """The Bayesian information criterion (lower is better), as ``GaussianMixture.bic``."""
        return self.n_parameters * np.log(self.n) - 2.0 * self.log_likelihood


def _log_densities(x: np.ndarray, weights: np.ndarray, means: np.ndarray, covariances: np.ndarray) -> np.ndarray:
    """log(weight_j * N(x_i | mean_j, cov_j)), shape (n, k)."""
    d = x.shape[1]
    diff = x[:, None, :] - means[None, :, :]
    precision = np.linalg.inv(covariances)
    _, logdet = np.linalg.slogdet(covariances)
    mahalanobis = np.einsum("nkd,kde,nke->nk", diff, precision, diff)
    return np.log(np.maximum(weights, 1e-300)) - 0.5 * (d * np.log(2 * np.pi) + logdet + mahalanobis)


def _log_sum_exp(a: np.ndarray) -> np.ndarray:
    top = a.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(a - top).sum(axis=1, keepdims=True)))[:, 0]


def _m_step(x: np.ndarray, resp: np.ndarray, reg_covar: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n, d = x.shape
    nk = resp.sum(axis=0) + 10 * np.finfo(float).eps
    means = resp.T @ x / nk[:, None]
    diff = x[:, None, :] - means[None, :, :]
    covariances = np.einsum("nk,nkd,nke->kde", resp, diff, diff) / nk[:, None, None]
    covariances += reg_covar * np.eye(d)
    return nk / n, means, covariances


def fit_mixture(
    x: np.ndarray,
    k: int,
    rng: np.random.Generator,
    reg_covar: float = 1e-6,
    max_iter: int = 100,
    tol: float = 1e-3,
) -> MixtureFit:
    """Fit a ``k``-component full-covariance Gaussian mixture to the rows of ``x`` by EM."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"Expected data of shape (n, d) with n >= 1, got {x.shape}.")
    n = x.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"Expected 1 <= k <= {n} (the number of points), got {k}.")
    # k-means++ seeding: each next seed drawn with probability proportional to its squared
    # distance from the seeds so far.
    seeds = [int(rng.integers(n))]
    closest = ((x - x[seeds[0]]) ** 2).sum(axis=1)
    for _ in range(1, k):
        total = closest.sum()
        nxt = int(rng.choice(n, p=closest / total)) if total > 0 else int(rng.integers(n))
        seeds.append(nxt)
        closest = np.minimum(closest, ((x - x[nxt]) ** 2).sum(axis=1))
    nearest = (((x[:, None, :] - x[seeds][None, :, :]) ** 2).sum(axis=2)).argmin(axis=1)
    resp = np.eye(k)[nearest]
    weights, means, covariances = _m_step(x, resp, reg_covar)

    previous = -np.inf
    for _ in range(max_iter):
        log_dens = _log_densities(x, weights, means, covariances)
        per_point = _log_sum_exp(log_dens)
        mean_ll = float(per_point.mean())
        if abs(mean_ll - previous) < tol:
            break
        previous = mean_ll
        resp = np.exp(log_dens - per_point[:, None])
        weights, means, covariances = _m_step(x, resp, reg_covar)
    log_likelihood = float(_log_sum_exp(_log_densities(x, weights, means, covariances)).sum())
    return MixtureFit(weights, means, covariances, log_likelihood, n)
