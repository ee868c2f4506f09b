"""``python -m tessera`` runs the ``tessera`` command."""

from tessera.cli import main

main()
