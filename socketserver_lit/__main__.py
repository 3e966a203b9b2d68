"""``python -m socketserver_lit``: the same as the ``socketserver-lit`` command (see ``cli.py``)."""

from socketserver_lit.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
