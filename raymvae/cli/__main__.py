"""``python -m raymvae.cli``: the ``raymvae`` command."""
import sys

from raymvae.cli import main

sys.exit(main())
