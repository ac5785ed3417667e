"""Request and response bodies of the HTTP API (pydantic: FastAPI validates them and documents them at /docs).

Static checks (types, signs) live here; limits a deployment configures
(largest n, steps, temperature) are checked by the service with a 422.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MIDI_B64 = "a MIDI file, base64-encoded"
Finite = Annotated[float, Field(allow_inf_nan=False)]
Seed = Annotated[int | None, Field(ge=0, le=2**63 - 1, description="random seed (default: drawn; echoed back)")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


Chords = Annotated[str | list[str] | None, Field(
    description="chord-conditioned models (cat-mel_2bar_med_chords, *_chords): the progression to decode "
                "under, chords_per_bar chords to a bar, e.g. \"C G Am F\"; one longer than the model's window "
                "makes each result several windows of the same z, joined")]
ChordsPerBar = Annotated[int, Field(ge=1, le=16, description="chords to a bar, spread evenly over it")]
Key = Annotated[str | int | None, Field(description="models conditioned on key: the key, 0-11 or a name (C, F#, Bb)")]
Format = Annotated[Literal["midi", "wav"], Field(description="wav: each result also as a WAV file (base64), "
                                                              "played by FluidSynth with a General MIDI soundfont")]


class Decoding(Request):
    """What every request that decodes music takes besides its own fields: controls, format, seed."""

    chords: Chords = None
    chords_per_bar: ChordsPerBar = 1
    key: Key = None
    format: Format = "midi"
    seed: Seed = None


class SampleRequest(Decoding):
    n: int = Field(1, description="number of samples (1 .. the server's max_n)")
    temperature: Finite = Field(0.5, description="sampling temperature; 0 = argmax")


class InterpolateRequest(Decoding):
    a: str = Field(description=f"start: {MIDI_B64}")
    b: str = Field(description=f"end: {MIDI_B64}")
    steps: int = Field(8, description="sequences, endpoints included (2 .. the server's max_steps)")
    method: Literal["slerp", "linear"] = "slerp"
    temperature: Finite = Field(0.0, description="0 = argmax (default)")
    window: int = Field(0, ge=0, description="which window of a multi-window file")


class EncodeRequest(Request):
    midi: str = Field(description=MIDI_B64)
    window: int = Field(0, ge=0, description="which window of a multi-window file")


class DecodeRequest(Decoding):
    z: list[Finite] | list[list[Finite]] = Field(description="one latent vector, or a list of them")
    temperature: Finite = Field(0.0, description="0 = argmax (default)")


class SimilarRequest(Decoding):
    midi: str = Field(description=MIDI_B64)
    n: int = Field(4, description="number of variations (1 .. the server's max_n)")
    similarity: float = Field(0.8, ge=0.0, le=1.0,
                              description="1 = the input's z, 0 = a prior draw; slerp between them")
    temperature: Finite = Field(0.5, description="sampling temperature; 0 = argmax")
    window: int = Field(0, ge=0, description="which window of a multi-window file")


class GridRequest(Decoding):
    corners: list[str] = Field(min_length=4, max_length=4,
                               description=f"4 corners, top-left, top-right, bottom-left, bottom-right: {MIDI_B64}")
    steps: int = Field(3, description="per side: steps x steps results (2 .. the server's max_steps, steps^2 <= max_n)")
    temperature: Finite = Field(0.0, description="0 = argmax (default)")
    window: int = Field(0, ge=0, description="which window of each file")


class AttributeRequest(Decoding):
    midi: str = Field(description=MIDI_B64)
    attribute: str = Field(description="an attribute whose vector or actor the run dir holds (see GET /model)")
    method: Literal["vector", "actor"] = Field("vector", description="vector: z + amount * vector; actor: the "
                                               "latent-constraint actor moves z toward the target quartile")
    amount: Finite = Field(1.0, description="vector: z + amount * vector")
    target: Literal["high", "low"] = Field("high", description="actor: the top (high) or bottom (low) quartile")
    temperature: Finite = Field(0.0, description="0 = argmax (default)")
    window: int = Field(0, ge=0)


class PerformanceRequest(Request):
    midi: str = Field(description=f"{MIDI_B64}: /humanize a drum beat, /tap2drum any rhythm (every note is a tap)")
    temperature: Finite = Field(0.0, description="hit sampling temperature; 0 = hits where likelier than not")
    format: Format = "midi"
    seed: Seed = None


class TransferRequest(Request):
    groove: str = Field(description=f"whose velocities and timing are taken: {MIDI_B64}")
    pattern: str = Field(description=f"whose hits are played: {MIDI_B64}")
    temperature: Finite = Field(0.0, description="0 = hits where likelier than not (default)")
    format: Format = "midi"
    seed: Seed = None


class Performance(BaseModel):
    seed: int
    temperature: float
    z: list[list[float]] = Field(description="the latent vector of each window")
    qpm: float = Field(description="tempo of the result: the input's (the pattern's for groove transfer)")
    windows: int = Field(description="windows of the result, played one after another")
    midi: str = Field(description="the result as base64 MIDI")
    wav: str | None = Field(None, description="format=wav: the result played, as a base64 WAV file")
    note_sequence: dict[str, Any] = Field(description="the result as a NoteSequence (protobuf JSON)")


class Sequence(BaseModel):
    z: list[float]
    midi: str = Field(description="the result as base64 MIDI")
    wav: str | None = Field(None, description="format=wav: the result played, as a base64 WAV file")
    note_sequence: dict[str, Any] = Field(description="the result as a NoteSequence (protobuf JSON)")
    t: float | None = Field(None, description="interpolation position in [0, 1] (/similar: the similarity)")


class Sequences(BaseModel):
    seed: int
    temperature: float
    results: list[Sequence]


class Encoded(BaseModel):
    z: list[float] = Field(description="mu of the window")
    sigma: list[float]
    window: int
    num_windows: int
