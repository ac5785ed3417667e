"""Ray Tune sweeps over MusicVAE hparams, one W&B run per trial."""
