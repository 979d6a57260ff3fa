"""A synthetic tabular data set with planted anomalies, generated on the fly (for the demo)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["STRUCTURED_COLOURS", "STRUCTURED_NUMERIC", "make_structured", "make_tabular_anomalies"]

_PROTOCOLS = ("tcp", "udp", "icmp")
_SERVICES = ("http", "smtp", "dns", "ftp", "ssh", "ntp")


def make_tabular_anomalies(
    n_rows: int = 20000,
    anomaly_ratio: float = 0.05,
    random_state: int | None = 0,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Flow-like records: 8 numeric and 2 categorical columns, with planted anomalies.

    Normal rows come from three traffic profiles; each draws a 2-D latent state
    and derives the numeric columns from it through smooth nonlinear maps plus
    noise, and its protocol and service from the profile. Anomalies are, in
    equal parts: numeric columns drawn independently (breaking the joint
    structure while staying in range), a profile whose categories do not match
    its numbers, and rows scaled far out of range.

    Returns
    -------
    frame : DataFrame of shape (n_rows, 10)
    y : ndarray of shape (n_rows,), 1 = planted anomaly
    """
    rng = np.random.default_rng(random_state)
    n_anom = round(anomaly_ratio * n_rows)
    profile = rng.integers(0, 3, n_rows)
    latent = rng.normal(size=(n_rows, 2)) * 0.5 + profile[:, None] * np.array([1.5, -1.0])
    a, b = latent[:, 0], latent[:, 1]
    numeric = np.column_stack(
        [
            np.exp(0.5 * a),
            a + b,
            np.sin(a) * 2.0,
            np.cos(b),
            a * b,
            np.tanh(a - b) * 3.0,
            b**2,
            0.5 * a - b,
        ]
    )
    numeric += rng.normal(scale=0.05, size=numeric.shape)
    protocol = np.array(_PROTOCOLS)[profile]
    service = np.array(_SERVICES)[profile * 2 + rng.integers(0, 2, n_rows)]
    y = np.zeros(n_rows, dtype=int)
    anomalies = rng.choice(n_rows, n_anom, replace=False)
    y[anomalies] = 1
    kinds = np.arange(n_anom) % 3
    shuffled = anomalies[kinds == 0]
    for j in range(numeric.shape[1]):
        numeric[shuffled, j] = rng.choice(numeric[:, j], len(shuffled))
    mismatched = anomalies[kinds == 1]
    other = (profile[mismatched] + rng.integers(1, 3, len(mismatched))) % 3
    protocol[mismatched] = np.array(_PROTOCOLS)[other]
    service[mismatched] = np.array(_SERVICES)[other * 2 + rng.integers(0, 2, len(mismatched))]
    scaled = anomalies[kinds == 2]
    numeric[scaled] *= rng.uniform(3.0, 6.0, size=(len(scaled), 1))
    frame = pd.DataFrame(numeric, columns=[f"x{j}" for j in range(numeric.shape[1])])
    frame["protocol"] = protocol
    frame["service"] = service
    return frame, y


STRUCTURED_COLOURS = np.array(["red", "green", "blue"])
STRUCTURED_NUMERIC = ["a", "b", "c", "d", "e", "f"]


def make_structured(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Six numeric columns driven by two latent factors, and a colour set by the cluster.

    Clean rows only: callers plant anomalies in known columns to test explanations.

    Returns
    -------
    frame : DataFrame of shape (n, 7)
    cluster : ndarray of shape (n,), the cluster (0, 1, 2) that set each row's colour
    """
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 3, n)
    t = rng.normal(size=n) * 0.5 + cluster * 2.0
    u = rng.normal(size=n) * 0.5

    def noise() -> np.ndarray:
        return 0.05 * rng.normal(size=n)

    frame = pd.DataFrame(
        {
            "a": t + noise(),
            "b": 2 * t - u + noise(),
            "c": np.sin(t) + noise(),
            "d": u + noise(),
            "e": t * u * 0.5 + noise(),
            "f": -t + 0.5 * u + noise(),
        }
    )
    frame["colour"] = STRUCTURED_COLOURS[cluster]
    return frame, cluster
