"""What `wavescope info` shows of an opened recording, as data (`describe`) and as text
(`print_info`); the browser's fallback when Qt is missing prints the same."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.io.datafile import DataFile


def _distinct_gains(datafile: DataFile) -> list[float] | None:
    """Per-channel gains when they differ between channels, else None."""
    gains = datafile.channel_gains
    if len(gains) and not (gains == gains[0]).all():
        return [float(g) for g in gains]
    return None


def describe(datafile: DataFile) -> dict[str, Any]:
    """What `info` shows, as plain data."""
    rate = float(datafile.sampling_rate)
    streams = []
    offsets = datafile.stream_offsets()
    for k, stream in enumerate(datafile.streams):
        streams.append({"file": stream.file_name, "timeline_start": int(offsets[k]),
                        "t_start": int(stream.t_start), "t_stop": int(stream.t_stop),
                        "duration": int(stream.duration),
                        "duration_s": stream.duration / rate,
                        "ignored_bytes": int(getattr(stream, "ignored_bytes", 0))})
    params = datafile.get_description()
    mandatory = {k: params[k] for k in ("nb_channels", "sampling_rate", "data_dtype", "dtype_offset", "gain")}
    return {
        "file": datafile.file_name,
        "format": datafile.description,
        "stream_mode": datafile.stream_mode,
        **mandatory,
        "duration": int(datafile.duration),
        "duration_s": datafile.duration / rate,
        "t_start": int(datafile.t_start),
        "t_stop": int(datafile.t_stop),
        "t_start_s": datafile.t_start / rate,
        "nb_streams": datafile.nb_streams,
        "streams": streams,
        "ignored_bytes": sum(s["ignored_bytes"] for s in streams),   # partial last frames, not read
        "from_header": sorted(datafile.header_fields),
        "from_params": sorted(datafile.given_fields - datafile.header_fields),
        "channel_gains": _distinct_gains(datafile),
        "params": {k: v for k, v in params.items() if k not in mandatory},
    }


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:d}:{minutes:02d}:{secs:06.3f}"


def print_info(datafile: DataFile, as_json: bool = False) -> None:
    """`wavescope info`: every field with where it came from (header, params, default)."""
    info = describe(datafile)
    if as_json:
        print(json.dumps(info, default=str))
        return
    header = set(info["from_header"])

    def source(key: str) -> str:
        if key in header:
            return "header"
        return "params" if key in datafile.given_fields else "default"

    print(f"file          {info['file']}")
    mode = f" (stream mode {info['stream_mode']})" if info["stream_mode"] else ""
    print(f"format        {info['format']}{mode}")
    for key in ("nb_channels", "sampling_rate", "data_dtype", "dtype_offset", "gain"):
        print(f"{key:<13} {info[key]!s:<14} from {source(key)}")
    if info["channel_gains"]:
        low, high = min(info["channel_gains"]), max(info["channel_gains"])
        print(f"{'':<13} per-channel gains from {low:.6g} to {high:.6g} (unit per bit)")
    print(f"duration      {info['duration']} samples = {info['duration_s']:.3f} s "
          f"({format_duration(info['duration_s'])})")
    print(f"t_start       {info['t_start']} samples ({info['t_start_s']:.6f} s), t_stop {info['t_stop']}")
    print(f"streams       {info['nb_streams']}")
    from app.model.probes import header_geometry      # never fails: a bad header geometry is logged
    geometry = header_geometry(datafile)
    if geometry is not None:
        print(f"probe         {geometry.summary()}")
    if info["ignored_bytes"]:
        print(f"ignored       {info['ignored_bytes']} bytes after the last whole frame (a partial frame: "
              "the acquisition stopped mid-write?)")
    if info["nb_streams"] > 1:
        for k, stream in enumerate(info["streams"]):
            print(f"  [{k}] {stream['file']}: {stream['duration']} samples ({stream['duration_s']:.3f} s) "
                  f"t_start {stream['t_start']}")
    for key, value in info["params"].items():
        if key not in ("file_format", "stream_mode"):
            print(f"{key:<13} {value!s:<14} from {source(key)}")
