"""`nictest bench`: the project measuring itself on a real host, side by side in one run.

One module per measurement group (datapath, lifecycle, controller, parallel), each a
`run(ctx) -> dict`; `runner` runs them, writes bench.json, the plot (`plot`) and the
README table (`table`). Figures are repeated and summarised (`stats`); ratios are
taken from medians of the same run. Runs on the controller.
"""
