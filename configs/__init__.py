"""Magenta's MusicVAE config presets, Tune search spaces and Serve configs, shipped as package data."""
