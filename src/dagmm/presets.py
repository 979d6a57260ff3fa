"""The paper's architectures and training settings (PAPER.md, Sec. 4.3)."""

from __future__ import annotations

from typing import Any

__all__ = ["PRESETS", "preset_params"]

_PAPER_COMMON: dict[str, Any] = {
    "activation": "tanh",
    "dropout": 0.5,
    "estimation_hidden_sizes": (10,),
    "lambda_energy": 0.1,
    "lambda_cov": 0.005,
    "reconstruction_loss": "sum",
    "learning_rate": 1e-4,
    # The scaling every result in docs/results.md was measured with (the paper
    # does not say); the estimator's own default is "auto".
    "scaler": "minmax",
}

# FC(120,60,tanh)-FC(60,30,tanh)-FC(30,10,tanh)-FC(10,1,none); est FC(3,10)-Drop-FC(10,4)
_KDDCUP: dict[str, Any] = {
    **_PAPER_COMMON,
    "hidden_sizes": (60, 30, 10),
    "latent_dim": 1,
    "n_components": 4,
    "epochs": 200,
    "batch_size": 1024,
    "contamination": 0.2,
}

#: name -> DAGMM keyword arguments. The decoder always mirrors the encoder.
PRESETS: dict[str, dict[str, Any]] = {
    "kddcup": dict(_KDDCUP),
    # As KDDCUP (the paper's camera-ready keeps the KDDCUP network).
    "kddcup_rev": dict(_KDDCUP),
    # FC(6,12,tanh)-FC(12,4,tanh)-FC(4,1,none); est FC(3,10)-Drop-FC(10,2)
    "thyroid": {
        **_PAPER_COMMON,
        "hidden_sizes": (12, 4),
        "latent_dim": 1,
        "n_components": 2,
        "epochs": 20000,
        "batch_size": 1024,
        "contamination": 0.025,
    },
    # FC(274,10,tanh)-FC(10,2,none); est FC(4,10)-Drop-FC(10,2)
    "arrhythmia": {
        **_PAPER_COMMON,
        "hidden_sizes": (10,),
        "latent_dim": 2,
        "n_components": 2,
        "epochs": 10000,
        "batch_size": 128,
        "contamination": 0.15,
    },
}


def preset_params(name: str, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of preset ``name`` with ``overrides`` applied."""
    from .exceptions import InvalidInputError

    key = name.lower().replace("-", "_") if isinstance(name, str) else None
    if key not in PRESETS:
        raise InvalidInputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return {**PRESETS[key], **overrides}
