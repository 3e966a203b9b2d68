"""Benchmarks: socketserver_lit against the standard library and against no framework at all.

The project claims to be as fast as the stdlib's `socketserver` where it does the same
thing, and better where it does more (a thread pool, an instant shutdown). This package
turns that claim into numbers anyone can reproduce on their own machine:

    python -m bench            # full run, writes bench/results/results.json and results.png
    python -m bench --quick    # a smoke run in well under a minute (what CI does)

Three implementations take part in every case, each in its own server process:

* **stdlib**: `socketserver`, the reference;
* **lit**: `socketserver_lit`, the same classes, ours;
* **bare**: a hand-written loop on `socket` with no framework: the floor, what Python itself
  costs for the same protocol work.

The harness alternates between them (A/B/B/A rounds) so that the machine's drift falls on
all three alike, and it reports medians, the noise it measured, and the ratios lit/stdlib and
lit/bare. Nothing here is a timed test: CI runs the quick mode only to prove the harness
works, never to judge a number.

Read in this order: `cases.py` (what is measured), `servers.py` (the three contenders),
`clients.py` (the load), `run.py` (the method), `stats.py` (from samples to verdicts),
`report.py` (the table and the plot). The results and their discussion are on the docs
site's Performance page (docs/performance.md).
"""
