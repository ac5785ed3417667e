"""raymvae."""
