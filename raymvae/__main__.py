"""``python -m raymvae``: the same CLI as the ``raymvae`` script, for images where only the source is on PYTHONPATH."""
from raymvae.cli import main

main()
