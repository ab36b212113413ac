"""A small L2-regularised logistic regression fitted with SciPy's L-BFGS (training only).

Dense hand features are standardised; an optional sparse block (hashed n-grams) gets its
own, usually stronger, penalty. Deterministic: L-BFGS from a zero start on the same data
always ends at the same weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize, sparse


@dataclass
class Fitted:
    mean: np.ndarray
    scale: np.ndarray
    dense: np.ndarray  # weights of the standardised dense features
    bias: float
    sparse: np.ndarray | None  # weights of the sparse block (None: no n-grams)

    def decision(self, X: np.ndarray, S: sparse.csr_matrix | None = None) -> np.ndarray:
        z = ((X - self.mean) / self.scale) @ self.dense + self.bias
        if self.sparse is not None and S is not None:
            z = z + S @ self.sparse
        return z

    def predict(self, X: np.ndarray, S: sparse.csr_matrix | None = None) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.decision(X, S)))


def fit(
    X: np.ndarray,
    y: np.ndarray,
    *,
    l2: float = 1.0,
    S: sparse.csr_matrix | None = None,
    l2_sparse: float = 10.0,
    weight: np.ndarray | None = None,
) -> Fitted:
    """Minimise mean log-loss + (l2 · |w|² + l2_sparse · |v|²) / (2n)."""
    n, d = X.shape
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale < 1e-9] = 1.0
    Z = (X - mean) / scale
    y = y.astype(np.float64)
    w_obs = np.ones(n) if weight is None else weight.astype(np.float64)
    w_obs = w_obs * (n / w_obs.sum())
    full_m = 0 if S is None else S.shape[1]
    active = None
    if S is not None:
        # only the columns some row uses: the others have zero gradient apart from the
        # penalty, so they stay at zero; dropping them gives the same weights, faster
        # (L-BFGS's vector work scales with the number of columns)
        S = sparse.csr_matrix(S)
        active = np.unique(S.indices)
        S = S[:, active].tocsr()
    m = 0 if S is None else S.shape[1]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:d], theta[d]
        z = Z @ w + b
        if m:
            v = theta[d + 1:]
            z = z + S @ v
        # log(1 + e^z) - y z, stable
        lse = np.logaddexp(0.0, z)
        value = float(np.sum(w_obs * (lse - y * z))) / n
        p = 1.0 / (1.0 + np.exp(-z))
        r = w_obs * (p - y) / n
        grad = np.empty_like(theta)
        grad[:d] = Z.T @ r + l2 * w / n
        grad[d] = r.sum()
        value += 0.5 * l2 * float(w @ w) / n
        if m:
            grad[d + 1:] = S.T @ r + l2_sparse * v / n
            value += 0.5 * l2_sparse * float(v @ v) / n
        return value, grad

    theta0 = np.zeros(d + 1 + m)
    result = optimize.minimize(loss, theta0, jac=True, method="L-BFGS-B",
                               options={"maxiter": 2000, "gtol": 1e-7})
    theta = result.x
    weights = None
    if active is not None:
        weights = np.zeros(full_m)
        weights[active] = theta[d + 1:]
    return Fitted(mean=mean, scale=scale, dense=theta[:d], bias=float(theta[d]),
                  sparse=weights)
