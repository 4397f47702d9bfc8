"""mcs_raw_binary: Multi Channel Systems MC_DataTool binary export (.raw, .dat).

MC_DataTool writes a Windows-1252 text header of ``key = value`` lines (CRLF),
closed by a line ``EOH``; interleaved samples follow right after it. The header
gives the sampling rate, the ADC zero (dtype_offset), the electrode gain and the
stream names; the sample type is chosen at export time and is not written, so
``data_dtype`` stays a required field.
"""

from __future__ import annotations

import re

from app.io.errors import HeaderError, MissingFieldsError
from app.io.formats.raw_binary import RawBinaryFile
from app.io.units import microvolts_per

HEADER_LIMIT = 5000
MAGIC = b"MC_DataTool binary conversion"
END_OF_HEADER = re.compile(rb"(?:^|\n)EOH\r?\n")
ELECTRODE_PREFIXES = ("El_", "Fi_")


def header_length(prefix: bytes) -> int | None:
    """Bytes up to and including the ``EOH`` line, or None when `prefix` has no such line."""
    found = END_OF_HEADER.search(prefix)
    return found.end() if found else None


def parse_header_text(text: str) -> dict[str, str]:
    """``key = value`` pairs of the header; a line may carry several, separated by ``;``.

    ``;`` also separates the names in ``Streams = El_01;El_02``, so a piece without
    ``=`` continues the previous value.
    """
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key = None
        for piece in line.split(";"):
            if "=" in piece:
                key, value = (part.strip() for part in piece.split("=", 1))
                fields[key] = value
            elif key is not None:
                fields[key] += ";" + piece.strip()
    return fields


def parse_gain(value: str) -> float | None:
    """µV per bit from a gain like ``0.1000µV/AD``; None when it carries no number."""
    found = re.match(r"\s*([-+]?\d*\.?\d+(?:[eE][-+]?\d+)?)\s*([^/\s]*)", value)
    if not found:
        return None
    return float(found.group(1)) * (microvolts_per(found.group(2)) or 1.0)


def electrode_names(streams: str) -> list[str]:
    return [name.strip() for name in streams.split(";") if name.strip().startswith(ELECTRODE_PREFIXES)]


class McsRawBinaryFile(RawBinaryFile):
    """An MC_DataTool export: raw_binary whose header says everything but the sample type.

    Read-only: Wavescope writes conversions to the other formats.
    """

    description = "mcs_raw_binary"
    title = "Multi Channel Systems MC_DataTool binary export"
    extension = [".raw", ".dat"]
    parallel_write = False
    is_writable = False
    _required_fields = {"data_dtype": "string"}
    _default_values = {"dtype_offset": "auto", "gain": 1.0}
    _field_types = {"data_offset": "int"}

    @classmethod
    def sniff(cls, path: str) -> tuple[float, str]:
        with open(path, "rb") as handle:
            prefix = handle.read(HEADER_LIMIT)
        if header_length(prefix) is None:
            return 0.0, "no MC_DataTool header (no EOH line in the first 5000 bytes)"
        if prefix.startswith(MAGIC):
            return 0.9, "MC_DataTool binary conversion header"
        if b"Sample rate =" in prefix:
            return 0.7, "MC_DataTool-like text header ending with EOH"
        return 0.0, "an EOH line but no MC_DataTool fields"

    def _read_header_fields(self) -> tuple[dict[str, str], int]:
        with open(self.file_name, "rb") as handle:
            prefix = handle.read(HEADER_LIMIT)
        length = header_length(prefix)
        if length is None:
            raise HeaderError(
                f"{self.file_name}: no MC_DataTool header (no line 'EOH' in the first {HEADER_LIMIT} "
                "bytes); the file is not an MC_DataTool export with header, or it is truncated. "
                "Open it as raw_binary if it has no header.", self.file_name)
        return parse_header_text(prefix[:length].decode("cp1252", errors="replace")), length

    def _read_from_header(self) -> dict:
        fields, length = self._read_header_fields()
        header: dict = {"data_offset": length}
        if "Sample rate" in fields:
            header["sampling_rate"] = self._number(fields, "Sample rate")
        if "ADC zero" in fields:
            header["dtype_offset"] = self._number(fields, "ADC zero")
        if fields.get("El"):
            gain = parse_gain(fields["El"])
            if gain is None:
                raise HeaderError(f"{self.file_name}: electrode gain 'El = {fields['El']}' has no "
                                  "number; give gain with --set gain=...", self.file_name)
            header["gain"] = gain
        if "Streams" in fields:
            names = electrode_names(fields["Streams"])
            if not names:
                raise HeaderError(f"{self.file_name}: 'Streams = {fields['Streams']}' names no "
                                  "electrode (El_/Fi_) channel.", self.file_name)
            header["nb_channels"] = len(names)
        missing = {k: t for k, t in (("sampling_rate", "float"), ("nb_channels", "int"))
                   if k not in header and k not in self._params}
        if missing:
            raise MissingFieldsError(self.file_name, missing, self.description)
        self._params.update(header)
        self._params["nb_channels"] = int(self._params["nb_channels"])
        super()._read_from_header()
        return header

    def _header_geometry(self):
        """An 8 x 8 MEA placed from the `Streams` electrode names (El_12 = column 1, row 2), else None."""
        from app.io.probe_geometry import mea_label_geometry
        fields = self._read_header_fields()[0]
        names = electrode_names(fields.get("Streams", ""))
        return mea_label_geometry(names, description=f"MC_DataTool {self.file_name}") \
            if len(names) == int(self.nb_channels) else None

    def _number(self, fields: dict[str, str], key: str) -> float:
        try:
            return float(fields[key])
        except ValueError:
            raise HeaderError(f"{self.file_name}: header line '{key} = {fields[key]}' is not a "
                              "number.", self.file_name) from None
