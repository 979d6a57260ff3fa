"""The ``dagmm`` command line (entry point :func:`dagmm.cli.main.main`)."""
