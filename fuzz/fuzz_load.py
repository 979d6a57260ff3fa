"""Coverage-guided fuzzing of the untrusted-file readers with atheris (a separate command).

    pip install atheris
    python fuzz/fuzz_load.py -max_total_time=600        # model files (dagmm.load)
    python fuzz/fuzz_load.py --tables -max_total_time=600  # CSV / Parquet readers

Any exception other than a ``dagmm.DAGMMError`` is a bug: atheris stops and
writes the crashing input to ``crash-*``. The hypothesis variant runs in the
test suite (tests/test_fuzz.py).
"""

from __future__ import annotations

import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import numpy as np

    from dagmm import DAGMM, DAGMMError
    from dagmm.persistence import load_bytes, model_bytes
    from dagmm.tableio import read_table

_TMP = tempfile.mkdtemp(prefix="dagmm-fuzz-")


def _seed_corpus(folder: str) -> None:
    """One valid model file as the starting point for mutations."""
    os.makedirs(folder, exist_ok=True)
    X = np.random.default_rng(0).normal(size=(40, 3))
    model = DAGMM(epochs=1, n_components=2, hidden_sizes=(4,), random_state=0).fit(X)
    with open(os.path.join(folder, "seed.dagmm"), "wb") as handle:
        handle.write(model_bytes(model))


def fuzz_model(data: bytes) -> None:
    try:
        load_bytes(data, "fuzz")
    except DAGMMError:
        pass


def fuzz_tables(data: bytes) -> None:
    if not data:
        return
    suffix = (".csv", ".tsv", ".parquet")[data[0] % 3]
    path = os.path.join(_TMP, "t" + suffix)
    with open(path, "wb") as handle:
        handle.write(data[1:])
    try:
        read_table(path)
    except DAGMMError:
        pass


def main() -> None:
    tables = "--tables" in sys.argv
    argv = [a for a in sys.argv if a != "--tables"]
    if not tables:
        corpus = os.path.join(_TMP, "corpus")
        _seed_corpus(corpus)
        argv.append(corpus)
    atheris.Setup(argv, fuzz_tables if tables else fuzz_model)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
