"""The phones of spoken digits: FSDD's words in pocketsphinx's CMU pronouncing dictionary.

pocketsphinx (pinned in pyproject.toml) ships the en-US acoustic model and CMUdict; the phoneme
experiments read their phone set and the digits' pronunciations from that one file, so the forced
alignment (data/speech_alignment) and the sequence targets (data/speech_sequences) agree.
Phones are ARPAbet without stress marks (CMUdict 0.7a as pocketsphinx ships it); SIL is silence.
"""

from __future__ import annotations

import functools
from pathlib import Path

from dlrepro.data.sources import DataError

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SILENCE = "SIL"


def model_dir() -> Path:
    """pocketsphinx's en-US model folder (acoustic model `en-us/`, `cmudict-en-us.dict`)."""
    from pocketsphinx import get_model_path

    return Path(get_model_path()) / "en-us"


@functools.cache
def pronunciations(dictionary: str | Path | None = None) -> dict[str, tuple[tuple[str, ...], ...]]:
    """Each digit word's pronunciations, in the dictionary's order (the first is the usual one):
    {"zero": (("Z", "IH", "R", "OW"), ("Z", "IY", "R", "OW")), ...}."""
    path = Path(dictionary) if dictionary else model_dir() / "cmudict-en-us.dict"
    try:
        lines = path.read_text().splitlines()
    except OSError as e:
        raise DataError(f"{path}: cannot read the pronouncing dictionary ({e.strerror})") from None
    wanted = {w: [] for w in DIGIT_WORDS}
    for line in lines:
        head, _, phones = line.partition(" ")
        word = head.split("(")[0]
        if word in wanted and phones.split():
            wanted[word].append(tuple(phones.split()))
    missing = [w for w, p in wanted.items() if not p]
    if missing:
        raise DataError(f"{path}: no pronunciation of {', '.join(missing)}")
    return {w: tuple(p) for w, p in wanted.items()}


def digit_phones(digit: int) -> tuple[str, ...]:
    """The usual pronunciation of a digit (0-9): digit_phones(7) == ("S", "EH", "V", "AH", "N")."""
    return pronunciations()[DIGIT_WORDS[digit]][0]


def phone_set() -> tuple[str, ...]:
    """SIL first, then every phone of every digit pronunciation, sorted: the phoneme experiments'
    classes on FSDD (19 phones and silence)."""
    phones = {p for variants in pronunciations().values() for v in variants for p in v}
    return (SILENCE, *sorted(phones))
