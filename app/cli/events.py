"""`wavescope events load|list`: event tables from the command line.

`events load FILE` reads an external event file (.csv, .tsv, .npy) the way the browser's
"Load events file…" does and says how its columns were read; `events list RECORDING` prints
the events a recording holds on its timeline (TTL lines paired into pulses, messages...).
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np

from app import exitcodes
from app.cli.options import add_open_options, open_from_args

EXAMPLES = """examples:
  wavescope events load stim.csv --rate 30000           times in seconds become samples at 30 kHz
  wavescope events load onsets.npy --time-unit samples --json
  wavescope events list run_g0_t0.imec0.ap.bin --channel sync     channel names differ by format:
                                                                 `events list FILE` shows them
  wavescope events list rec.dat --set nb_channels=64 --set data_dtype=int16 --set sampling_rate=30000 --json
"""


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `events load` and `events list` (each sets `func`)."""
    parser = subparsers.add_parser("events", help="read event files and list a recording's events",
                                   epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="events_command", required=True)
    load = sub.add_parser("load", help="read a .csv/.tsv/.npy event file and print its events")
    load.add_argument("file", help="the event file")
    load.add_argument("--time-unit", choices=["auto", "s", "samples"], default="auto",
                      help="how to read the time column (default: from its name, then its values)")
    load.add_argument("--rate", type=float, help="sampling rate (Hz) that turns seconds into samples")
    load.add_argument("--column", help="the time column, by name or index (default: the first time-like one)")
    load.add_argument("--json", action="store_true", help="machine-readable output")
    load.set_defaults(func=cmd_events_load)
    listing = sub.add_parser("list", help="the events a recording holds, on its timeline")
    add_open_options(listing)
    listing.add_argument("--channel", action="append", default=[],
                         help="only this event channel (repeatable); names differ by format "
                              "(SpikeGLX 'sync', Open Ephys 'TTL 1'): list without it to see them")
    listing.add_argument("--label", action="append", default=[],
                         help="only events with this label (repeatable)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_events_list)


def event_rows(events: np.ndarray, sampling_rate: float | None) -> list[dict]:
    """The table as plain dicts; `time_s`/`duration_s` only with a sampling rate."""
    rows = []
    for sample, duration, channel, label in zip(events["sample"].tolist(), events["duration"].tolist(),
                                                events["channel"].tolist(), events["label"].tolist()):
        row = {"sample": sample, "duration": duration, "channel": str(channel), "label": str(label)}
        if sampling_rate:
            row["time_s"] = sample / sampling_rate
            row["duration_s"] = duration / sampling_rate
        rows.append(row)
    return rows


def print_table(events: np.ndarray, sampling_rate: float | None, out=None) -> None:
    """Aligned columns: sample, time (s) when known, duration, channel, label."""
    out = out or sys.stdout
    timed = bool(sampling_rate)
    print(f"{'sample':>12} {'time_s':>12} {'duration':>9}  channel\tlabel" if timed
          else f"{'sample':>12} {'duration':>9}  channel\tlabel", file=out)
    for row in event_rows(events, sampling_rate):
        time_s = f" {row['time_s']:>12.6f}" if timed else ""
        print(f"{row['sample']:>12}{time_s} {row['duration']:>9}  {row['channel']}\t{row['label']}", file=out)


def cmd_events_load(args: argparse.Namespace) -> int:
    from app.io.events import load_event_file
    loaded = load_event_file(args.file, args.time_unit, args.rate, args.column)
    if args.json:
        print(json.dumps({"file": args.file, "note": loaded.note, "count": len(loaded.events),
                          "events": event_rows(loaded.events, args.rate)}))
        return 0
    print(loaded.note, file=sys.stderr)
    print_table(loaded.events, args.rate)
    return 0


def channel_counts(events: np.ndarray) -> dict[str, int]:
    names, counts = np.unique(events["channel"].astype(str), return_counts=True) if len(events) else ([], [])
    return {str(n): int(c) for n, c in zip(names, counts)}


def no_match(file_name: str, events: np.ndarray, args: argparse.Namespace) -> int:
    """A filter that matches nothing is an error that lists what there is, not an empty table."""
    asked = " and ".join(part for part in (
        f"channel {', '.join(map(repr, args.channel))}" if args.channel else "",
        f"label {', '.join(map(repr, args.label))}" if args.label else "") if part)
    available = channel_counts(events)
    if available:
        listed = ", ".join(f"{name!r} ({count})" for name, count in available.items())
        message = f"{file_name}: no events on {asked}; the channels with events are: {listed}"
        if args.label:
            labels = sorted(set(events["label"].astype(str).tolist()))
            message += f"; labels: {', '.join(map(repr, labels[:20]))}{' ...' if len(labels) > 20 else ''}"
    else:
        message = f"{file_name}: no events on {asked}; this recording holds no events at all"
    if args.json:
        print(json.dumps({"error": {"type": "NoMatchingEvents", "message": message, "file": file_name,
                                    "field": "channel" if args.channel else "label", "channels": available}}))
    print(f"wavescope: {message}", file=sys.stderr)
    return exitcodes.DATA_ERROR


def cmd_events_list(args: argparse.Namespace) -> int:
    from app.model.events import datafile_events
    datafile = open_from_args(args)
    events = datafile_events(datafile)
    selected = events
    if args.channel:
        selected = selected[np.isin(selected["channel"].astype(str), args.channel)]
    if args.label:
        selected = selected[np.isin(selected["label"].astype(str), args.label)]
    if (args.channel or args.label) and not len(selected):
        return no_match(datafile.file_name, events, args)
    events = selected
    rate = float(datafile.sampling_rate)
    if args.json:
        print(json.dumps({"file": datafile.file_name, "format": datafile.description, "sampling_rate": rate,
                          "count": len(events), "channels": channel_counts(events),
                          "events": event_rows(events, rate)}))
        return 0
    print(f"{datafile.file_name}: {len(events)} events", file=sys.stderr)
    print_table(events, rate)
    return 0
