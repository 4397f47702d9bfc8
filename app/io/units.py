"""Voltage units: the one table every reader uses to turn a file's unit into µV.

Every reader returns µV (the trace view, the µV readout, the scale bar and the sorter's gain
depend on it). Files name their unit in many spellings: 'V', 'volts', 'mV', 'uV', 'µV' with the
micro sign (U+00B5) or the Greek mu (U+03BC), 'microvolt', 'nV', ... ``microvolts_per`` reads
them all; anything else (a current, 'n/a', an empty string) is None, and the caller decides.
"""

from __future__ import annotations

MICRO_SIGN = "\u00b5"
GREEK_MU = "\u03bc"

# SI prefix (as written after normalising mu to 'u') -> µV per unit of that prefix + volt
_PREFIX_MICROVOLTS = {"": 1e6, "k": 1e9, "m": 1e3, "u": 1.0, "n": 1e-3, "p": 1e-6}
_PREFIX_WORDS = {"": "", "kilo": "k", "milli": "m", "micro": "u", "nano": "n", "pico": "p"}


def _normalise(unit: str) -> str:
    """Lower case, no spaces, both mu characters as 'u' ('MV' is read as mV: no recording is in
    megavolts, and exporters that write in capitals mean millivolts)."""
    return unit.strip().replace(MICRO_SIGN, "u").replace(GREEK_MU, "u").replace(" ", "").lower()


def microvolts_per(unit: str | bytes | None) -> float | None:
    """µV in one `unit` ('V' -> 1e6, 'mV' -> 1e3, 'µV'/'μV'/'uV' -> 1, 'nV' -> 1e-3, 'volts',
    'millivolt', 'microvolts', ...); None when `unit` is no voltage unit."""
    if unit is None:
        return None
    if isinstance(unit, bytes):
        unit = unit.decode("latin-1")
    text = _normalise(str(unit))
    if text == "muv":                                # 'muV': micro written as 'mu'
        return 1.0
    for word in ("volts", "volt", "v"):
        if text.endswith(word):
            prefix = text[: -len(word)]
            if word == "v":
                return _PREFIX_MICROVOLTS.get(prefix)
            short = _PREFIX_WORDS.get(prefix)
            return None if short is None else _PREFIX_MICROVOLTS[short]
    return None


def is_voltage(unit: str | bytes | None) -> bool:
    """Whether `unit` is a voltage unit ``microvolts_per`` knows."""
    return microvolts_per(unit) is not None


def display_unit(unit: str | bytes | None) -> str:
    """The unit values are shown in after scaling: 'µV' for a voltage, else the file's own unit."""
    if is_voltage(unit):
        return "µV"
    if isinstance(unit, bytes):
        return unit.decode("latin-1").strip()
    return (unit or "").strip()


__all__ = ["GREEK_MU", "MICRO_SIGN", "display_unit", "is_voltage", "microvolts_per"]
