"""Batch generation (Ray Data): samples, interpolations and attribute edits as MIDI files."""
