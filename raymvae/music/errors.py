"""The one exception type that escapes the music layer."""


class MidiError(ValueError):
    """Raised when input bytes cannot be read as MIDI; the message says why."""
