"""MusicVAE in PyTorch (no Ray, no file formats)."""
from raymvae.model.latent import grid, lerp, slerp
from raymvae.model.vae import MusicVAE, Output, build, num_parameters

__all__ = ["MusicVAE", "Output", "build", "grid", "lerp", "num_parameters", "slerp"]
