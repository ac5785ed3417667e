"""Ray Train: the shared training loop, checkpoints, evaluation, W&B."""
