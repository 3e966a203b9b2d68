"""Benchmarks: socketserver_lit against the standard library and against no framework at all.

The project claims to be as fast as the stdlib's `socketserver` where it does the same
thing, and better where it does more (a thread pool, an instant shutdown). This package
turns that claim into numbers anyone can reproduce on their own machine:

    python -m bench            # full run, writes bench/results/ (listed below)
    python -m bench --quick    # a smoke run in about a minute (what CI does), into bench/out/

Three implementations take part in every case, each in its own server process:

* **stdlib**: `socketserver`, the reference;
* **lit**: `socketserver_lit`, the same classes, ours;
* **bare**: a hand-written loop on `socket` with no framework: the floor, what Python itself
  costs for the same protocol work.

A fourth part, the flood, asks another question: when far more clients come than a server
can serve, what does the server process hold? It sends thousands of connection attempts to
servers with a slow handler: our ThreadPoolTCPServer with and without its bound on waiting
requests, our ThreadingTCPServer and the stdlib's.

The harness alternates between them (A/B/B/A rounds) so that the machine's drift falls on
all three alike, and it reports medians, the noise it measured, and the ratios lit/stdlib and
lit/bare. Nothing here is a timed test: CI runs the quick mode only to prove the harness
works, never to judge a number.

Read in this order: `cases.py` (what is measured), `servers.py` (the three contenders),
`clients.py` (the load), `run.py` (the method), `stats.py` (from samples to verdicts),
`report.py` (the tables and the figures). The results and their discussion are on the docs
site's Performance page (docs/performance.md).

What `python -m bench` writes into bench/results/ (the committed run the docs quote):

* results.json (every sample) and table.md (its tables, included by the docs page);
* flood.json and flood.md, the same for the flood (`--only flood` rewrites just these);
* four figures, each copied for the docs site to the name after the arrow (a test checks
  the copies are identical): results.png → docs/assets/performance.png (throughput),
  results-shutdown.png → performance-shutdown.png, results-memory.png →
  performance-memory.png, results-flood.png → performance-flood.png.
"""
