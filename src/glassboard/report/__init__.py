"""One self-contained HTML report over glassboard's outputs, its manifest, `reproduce`, and the miniature demo.

This package sits above bench, judge, audit and arena (it reads their outputs and calls their functions) and below
cli. `build.build_report` turns inputs (run logs, `--json` outputs, battle files, arena database URLs) into one HTML
file with a manifest of the commands behind every number; `reproduce.reproduce` re-runs those commands and compares;
`demo.run_demo` plays the Llama 4 episode in miniature and reports it.
"""
