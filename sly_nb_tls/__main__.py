"""Command line: ``python -m sly_nb_tls test | fetch | status | add | install | uninstall | demo | demo-server``.

In [1]: !python -m sly_nb_tls test https://sly.corp --ca corp-chain.crt
✓ TLSv1.3 · verified by Corp Root CA · users.me → login "alice" · 41 ms
In [2]: !python -m sly_nb_tls fetch https://sly.corp --save corp-chain.crt --json

Exit status: 0 ok, 1 a problem was found, 2 usage error or unusable input.
``--json`` prints the result as one JSON object on stdout.  The parser and
the help live in `sly_nb_tls.ui.cli`.
"""

from sly_nb_tls.ui.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
