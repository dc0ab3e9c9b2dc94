"""``python -m datagym`` works like the ``datagym`` command."""

from datagym.cli import main

main()
