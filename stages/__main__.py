"""``python -m stages``: the same as the ``godi`` command."""

from .cli import main

main()
