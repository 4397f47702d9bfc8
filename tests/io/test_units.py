"""units: one table from a file's unit name to µV, every spelling the readers meet."""

from __future__ import annotations

import pytest

from app.io.units import GREEK_MU, MICRO_SIGN, display_unit, is_voltage, microvolts_per


@pytest.mark.parametrize("unit, expected", [
    ("V", 1e6), ("v", 1e6), ("volt", 1e6), ("Volts", 1e6), (" V ", 1e6),
    ("mV", 1e3), ("MV", 1e3), ("millivolts", 1e3), ("milli volt", 1e3),
    ("uV", 1.0), ("UV", 1.0), (MICRO_SIGN + "V", 1.0), (GREEK_MU + "V", 1.0), (GREEK_MU + "v", 1.0),
    ("microvolt", 1.0), ("Microvolts", 1.0), ("muV", 1.0), (b"uV", 1.0), (("\u00b5V").encode("latin-1"), 1.0),
    ("nV", 1e-3), ("nanovolts", 1e-3), ("pV", 1e-6), ("kV", 1e9),
])
def test_voltage_spellings(unit, expected):
    assert microvolts_per(unit) == pytest.approx(expected)
    assert is_voltage(unit) and display_unit(unit) == "µV"


@pytest.mark.parametrize("unit", ["", None, "n/a", "pA", "mA", "s", "ms", "Hz", "mV/bit", "degC", "vv", "xV"])
def test_non_voltages_are_none(unit):
    assert microvolts_per(unit) is None and not is_voltage(unit)


def test_display_keeps_foreign_units():
    assert display_unit("pA") == "pA" and display_unit(b" mmHg ") == "mmHg" and display_unit(None) == ""
