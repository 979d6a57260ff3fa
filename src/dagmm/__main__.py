"""``python -m dagmm``: the ``dagmm`` command, where pip left its script off PATH."""

from dagmm.cli.main import main

if __name__ == "__main__":  # pragma: no cover - run as a subprocess by the tests
    main()
