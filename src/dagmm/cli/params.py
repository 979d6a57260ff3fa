"""Options shared by several commands: the estimator's parameters (every command that
trains: fit, reproduce, benchmark) and the chunk size (every command that scores a file).

One declaration per option, so that the commands accept the same spelling,
range and help, and one conversion of the given values into ``DAGMM`` keyword
arguments.
"""

from __future__ import annotations

from typing import Any

import click

from ..exceptions import InvalidInputError

#: Rows read and scored at once by score, report and explain.
CHUNK_ROWS_OPTION = click.option(
    "--chunk-rows",
    default=65536,
    show_default=True,
    type=click.IntRange(min=1),
    help="Rows read and scored at once; bounds the memory used.",
)

#: ``DAGMM`` parameters settable from every command that trains, in ``--help`` order.
ESTIMATOR_OPTIONS = (
    click.option(
        "--epochs",
        type=click.IntRange(min=0),
        help="Passes over the data (default: the preset's, else auto).",
    ),
    click.option("--batch-size", type=click.IntRange(min=1)),
    click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True)),
    click.option("--n-components", type=click.IntRange(min=1), help="Mixture components K."),
    click.option("--latent-dim", type=click.IntRange(min=1)),
    click.option("--hidden-sizes", help="Encoder hidden layers, e.g. 60,30,10."),
    click.option(
        "--reg-covar",
        type=click.FloatRange(min=0, min_open=True),
        help="Added to the covariances' diagonal.",
    ),
    click.option(
        "--lambda-energy", type=click.FloatRange(min=0), help="Weight of the mean energy (lambda1)."
    ),
    click.option(
        "--lambda-cov",
        type=click.FloatRange(min=0),
        help="Weight of the covariance penalty (lambda2).",
    ),
    click.option("--scaler", type=click.Choice(["auto", "standard", "minmax", "none"])),
    click.option(
        "--log-inputs/--no-log-inputs",
        default=None,
        help="sign(x) log(1 + |x|) of numeric columns before scaling, for heavy tails "
        "(default: the preset's, else off).",
    ),
    click.option("--device", help="auto, cpu, cuda, cuda:1, mps."),
)


#: Restarts of one model (``DAGMM``'s ``n_restarts`` and ``restart_combine``), for the
#: commands that train one model per run (fit) or per split (benchmark).
RESTART_OPTIONS = (
    click.option(
        "--restarts",
        "n_restarts",
        type=click.IntRange(min=1),
        help="Train this many networks from different seeds, together, and combine them "
        "(default 1; 3-5 steady the results, see docs/results.md).",
    ),
    click.option(
        "--restart-combine",
        type=click.Choice(["mean", "median", "best"]),
        help="mean (default) or median of the restarts' standardised energies, or keep the "
        "restart with the lowest training loss.",
    ),
)


def restart_options(func):
    """Decorate a click command with :data:`RESTART_OPTIONS`."""
    for option in reversed(RESTART_OPTIONS):
        func = option(func)
    return func


def estimator_options(func):
    """Decorate a click command with :data:`ESTIMATOR_OPTIONS`."""
    for option in reversed(ESTIMATOR_OPTIONS):
        func = option(func)
    return func


def estimator_params(options: dict[str, Any]) -> dict[str, Any]:
    """``DAGMM`` keyword arguments from the options given on the command line.

    Options left out (None) are dropped, so that a preset's or the default value
    stands; ``--scaler none`` becomes None and ``--hidden-sizes 60,30,10`` a tuple.
    """
    params = {k: v for k, v in options.items() if v is not None}
    if params.get("scaler") == "none":
        params["scaler"] = None
    if "hidden_sizes" in params:
        text = str(params["hidden_sizes"])
        try:
            params["hidden_sizes"] = tuple(int(h) for h in text.split(","))
        except ValueError:
            raise InvalidInputError(
                f"--hidden-sizes must be integers like 60,30,10, got {text!r}"
            ) from None
    return params
