"""ConvertSpec: the one record of what a conversion is asked to do.

Each option is declared once, as a field of `ConvertSpec` whose metadata carries its
command-line flag, help text and the parse/format pair between the flag's text and the
field's value. From that declaration come the `wavescope convert` options
(`add_convert_options`), the spec of parsed arguments (`spec_from_args`), the exact words
a job passes to the command line (`spec_arguments`) and the spec's JSON form in the job
history (`spec_to_dict` / `spec_from_dict`). The dialog builds a ConvertSpec; a new option
is one new field here.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from app.io.errors import DataFileError


class ConvertError(DataFileError):
    """The conversion cannot start: bad output path, options or format."""


# -- text <-> value of the options that are not plain numbers or words ----------------------------
def parse_channels(text: str) -> list[int]:
    """'0,3,5-8' -> [0, 3, 5, 6, 7, 8] (ranges inclusive, order kept)."""
    channels: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            channels.extend(range(int(first), int(last) + 1) if dash else [int(first)])
        except ValueError:
            raise ConvertError(f"--channels: {part!r} is not a channel number or a range like 4-7.") from None
    return channels


def format_channels(channels: Sequence[int]) -> str:
    """[0, 1, 2, 3, 8, 6] -> '0-3,8,6': the inverse of `parse_channels` (order kept)."""
    runs: list[list[int]] = []
    for channel in (int(c) for c in channels):
        if runs and channel == runs[-1][1] + 1:
            runs[-1][1] = channel
        else:
            runs.append([channel, channel])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in runs)


def parse_filter(text: str) -> float:
    """'highpass:300' -> 300.0 (cut-off in Hz); the only filter the engine applies."""
    kind, _, value = text.partition(":")
    try:
        cutoff = float(value)
    except ValueError:
        cutoff = -1.0
    if kind.strip().lower() != "highpass" or cutoff <= 0:
        raise ConvertError(f"--filter {text!r}: use highpass:CUTOFF_HZ, e.g. highpass:300.")
    return cutoff


def format_filter(cutoff: float) -> str:
    return f"highpass:{float(cutoff):g}"


def parse_pairs(pairs: Sequence[str], flag: str = "--out-set") -> dict[str, str]:
    """['h5_key=data'] -> {'h5_key': 'data'}; a piece without '=' is a ConvertError naming it."""
    values = {}
    for pair in pairs or []:
        key, equal, value = pair.partition("=")
        if not equal or not key.strip():
            raise ConvertError(f"{flag} takes KEY=VALUE, got {pair!r}; e.g. {flag} h5_key=data.")
        values[key.strip()] = value.strip()
    return values


def _option(flag: str | tuple[str, ...] | None, help: str, *, parse: Callable | None = None,
            format: Callable | None = None, **argparse_extra: Any) -> dict:
    """The metadata of one ConvertSpec field: its flag(s), help, and text <-> value (None: as is)."""
    flags = (flag,) if isinstance(flag, str) else tuple(flag or ())
    return {"flags": flags, "help": help, "parse": parse, "format": format, "argparse": argparse_extra}


@dataclass
class ConvertSpec:
    """What to convert to; times are seconds on the source's timeline (0 = its first sample)."""

    output: str = field(metadata=_option(("-o", "--output"), "the file to write", required=True))
    to_format: str = field(default="raw_binary", metadata=_option(
        "--to", "the output format (default raw_binary, or nwb for an output named .nwb; see "
                "`wavescope formats`)"))
    channels: Sequence[int] | None = field(default=None, metadata=_option(
        "--channels", "channels to keep, e.g. 0-31 or 0,4,8-11 (default all)",
        parse=parse_channels, format=format_channels))
    start: float | None = field(default=None, metadata=_option(
        "--start", "first second to convert (default 0)", type=float))
    stop: float | None = field(default=None, metadata=_option(
        "--stop", "second to stop at (default the end)", type=float))
    dtype: str | None = field(default=None, metadata=_option("--dtype", "output sample type (default the input's)"))
    highpass: float | None = field(default=None, metadata=_option(
        "--filter", "highpass:CUTOFF_HZ, zero-phase Butterworth (order 3)", parse=parse_filter,
        format=format_filter, metavar="highpass:HZ"))
    chunk_seconds: float | None = field(default=None, metadata=_option(
        "--chunk-seconds", "seconds per chunk (default: about 16 MB)", type=float))
    force: bool = field(default=False, metadata=_option("--force", "replace an existing output",
                                                        action="store_true"))
    verify: bool = field(default=False, metadata=_option(
        "--verify", "re-read the output and compare it with the source", action="store_true"))
    write_params: bool = field(default=True, metadata=_option(
        None, "write the output's .params beside it (always on the command line)"))
    base_params: str | None = field(default=None, metadata=_option(
        None, "the input's .params: its probe and sorter sections go to the output's (the open "
              "option --params on the command line)"))
    out_settings: dict = field(default_factory=dict, metadata=_option(
        "--out-set", "a field of the output format, e.g. --out-set h5_key=data (repeatable)",
        parse=parse_pairs, format=lambda values: [f"{k}={v}" for k, v in values.items()],
        action="append", metavar="KEY=VALUE"))


def options() -> list:
    """The ConvertSpec fields that are command-line options, in declaration order."""
    return [f for f in fields(ConvertSpec) if f.metadata.get("flags")]


def add_convert_options(parser: argparse.ArgumentParser) -> None:
    """The `wavescope convert` options, generated from the ConvertSpec fields."""
    for spec_field in options():
        meta = spec_field.metadata
        extra = dict(meta["argparse"])
        if meta["parse"] is not None:
            extra["type"] = _checked(meta["parse"], extra.get("action") == "append")
        if extra.get("action") == "append":
            extra["default"] = []
        elif spec_field.default is not MISSING and not extra.get("required"):
            extra["default"] = spec_field.default
        parser.add_argument(*meta["flags"], dest=spec_field.name, help=meta["help"], **extra)


def _checked(parse: Callable, one_of_many: bool) -> Callable[[str], str]:
    """An argparse `type` that checks the text parses (a bad one is a usage error, exit 2)
    and keeps the text: `spec_from_args` converts it."""
    def check(text: str) -> str:
        try:
            parse([text] if one_of_many else text)
        except ConvertError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
        return text
    return check


def spec_from_args(args: argparse.Namespace, **extra: Any) -> ConvertSpec:
    """The ConvertSpec of parsed `add_convert_options` arguments (+ fields without a flag)."""
    values = {}
    for spec_field in options():
        value = getattr(args, spec_field.name)
        parse = spec_field.metadata["parse"]
        values[spec_field.name] = parse(value) if parse is not None and value not in (None, "") else value
    return ConvertSpec(**values, **extra)


def spec_arguments(spec: ConvertSpec) -> list[str]:
    """The command-line words that ask for `spec` (its non-default options; the inverse of
    `spec_from_args`). `write_params` and `base_params` have no flag of their own."""
    words: list[str] = []
    for spec_field in options():
        value = getattr(spec, spec_field.name)
        default = spec_field.default if spec_field.default is not MISSING else None
        if spec_field.default_factory is not MISSING:
            default = spec_field.default_factory()
        # `output` and `to_format` always: the CLI infers the format from an output named .nwb,
        # so a spec that says raw_binary must say so.
        if value is None or (value == default and spec_field.name not in ("output", "to_format")):
            continue
        meta = spec_field.metadata
        flag = meta["flags"][-1]
        if meta["argparse"].get("action") == "store_true":
            words.append(flag)
            continue
        text = meta["format"](value) if meta["format"] else value
        for item in text if isinstance(text, list) else [text]:
            words += [flag, str(item)]
    return words


def spec_to_dict(spec: ConvertSpec) -> dict:
    """JSON-ready form of a spec (the job history)."""
    data = asdict(spec)
    if data["channels"] is not None:
        data["channels"] = [int(c) for c in data["channels"]]
    return data


def spec_from_dict(data: dict) -> ConvertSpec:
    """A spec from `spec_to_dict`'s form; unknown keys (a newer Wavescope's) are ignored, and
    `channels` may be the command-line text of older job histories ('0-31')."""
    known = {f.name for f in fields(ConvertSpec)}
    values = {k: v for k, v in data.items() if k in known}
    if isinstance(values.get("channels"), str):
        values["channels"] = parse_channels(values["channels"]) if values["channels"].strip() else None
    return ConvertSpec(**values)


SPEC_FIELDS = frozenset(f.name for f in fields(ConvertSpec))
