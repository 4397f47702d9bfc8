"""Headerless layout inference (`wavescope params FILE --suggest`): time per file.

Run: python -m tests.bench.bench_sniff [--channels 512] [--seconds 1] [--header 8192] [--repeat 3]
Writes an extracellular-like int16 recording behind a text header of --header bytes, then prints the
best wall time of `suggest_raw_layout` (it reads two 1 MiB probes, so the cost does not follow the
file size) and whether the top guess is right.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--channels", type=int, default=512)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--header", type=int, default=8192)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    from app.io.sniff import suggest_raw_layout
    from tests.io.test_sniff import encode, recording, text_header

    rng = np.random.default_rng(1)
    signal = recording(args.channels, int(30000 * args.seconds), rng)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "rec.dat")
        with open(path, "wb") as handle:
            handle.write(text_header(args.header, rng) + encode(signal, "int16"))
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            ranked = suggest_raw_layout(path)
            times.append(time.perf_counter() - start)
    best = ranked[0]
    layout = (best["nb_channels"], best["data_dtype"], best["data_offset"])
    right = layout == (args.channels, "int16", args.header)
    print(f"suggest_raw_layout: {args.channels} channels, {len(signal)} samples, "
          f"{args.header}-byte header: best of {args.repeat} = {min(times):.3f} s; "
          f"top guess {'right' if right else 'WRONG'} ({best['nb_channels']} x {best['data_dtype']} "
          f"@ {best['data_offset']})")
    return {"seconds": min(times), "right": right}


if __name__ == "__main__":
    main()
