"""`python -m glassboard.cli ...` runs the command line (tests and benchmarks start servers this way)."""

from glassboard.cli import app

app()
