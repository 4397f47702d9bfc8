"""A corpus of damaged and hostile recordings, and a crash-proof runner that opens them.

Seeds are small valid recordings of every built-in format, written by the test writers.
Each mutant is a copy of a seed with one file damaged: emptied, cut inside its header, cut
in the middle of a sample, random bytes flipped, or a numeric header field smashed by an
extreme value (0, -1, 2**63, 1e400, nan, a 5,000-digit number). Params mutants give the
mandatory fields out-of-range values. Every case is opened with its format and by sniffing,
then read; the outcome must be a read or a `DataFileError`.

Cases run in child processes (`python -m tests.io.fuzz_corpus --worker`), one case at a time
each with a timeout, so a hang or a dead interpreter is caught, counted and the worker
replaced. Used by tests/io/test_fuzz.py (a small corpus) and tests/bench/bench_fuzz.py.
"""

from __future__ import annotations

import json
import os
import random
import re
import select
import shutil
import struct
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
GUARD_WORDS = "the file is damaged (cut short or corrupted) or is not a"   # DataFile._damaged
OUTCOMES = ("read", "typed", "builtin", "invalid", "accepted", "hang", "death")

SMASH_TEXT = ["0", "-1", "9223372036854775808", "1e400", "-1e400", "nan", "inf", "9" * 5000, "0.0", "1e-320"]
SMASH_INTS = [0, -1, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63), 2**32 - 1]
SMASH_FLOATS = [0.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e308, 5e-324]


@dataclass
class Target:
    """A file of a seed to damage; [start, end) is its header (where flips and smashes land)."""
    name: str            # path relative to the seed folder
    start: int
    end: int
    kind: str            # "binary", "text", "hdf5"


@dataclass
class Seed:
    fmt: str
    entry: str           # path opened, relative to the seed folder ("" = the folder itself)
    params: dict = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)


@dataclass
class Case:
    fmt: str
    entry: str           # absolute path
    params: dict
    label: str
    must_fail: bool = False   # the params are out of range: a read is a failure


# -- seeds: one small valid recording per format ------------------------------------------------


def _int16(samples: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-2000, 2000, (samples, channels)).astype(np.int16)


def _uint16(samples: int, channels: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 65535, (samples, channels)).astype(np.uint16)


def _size(folder: Path, name: str) -> int:
    return (folder / name).stat().st_size


def _seed_raw_binary(folder: Path) -> Seed:
    (folder / "rec.dat").write_bytes(_int16(1000, 4).tobytes())
    return Seed("raw_binary", "rec.dat", {"nb_channels": 4, "data_dtype": "int16", "sampling_rate": 20000},
                [Target("rec.dat", 0, 64, "binary")])


def _seed_mcs_raw_binary(folder: Path) -> Seed:
    from tests.io.writers import write_mcs_raw
    write_mcs_raw(folder / "slice.raw", _uint16(600, 3))
    header = (folder / "slice.raw").read_bytes().index(b"EOH") + 5
    return Seed("mcs_raw_binary", "slice.raw", {"data_dtype": "uint16"}, [Target("slice.raw", 0, header, "text")])


def _seed_numpy(folder: Path) -> Seed:
    np.save(folder / "rec.npy", _int16(800, 4))
    return Seed("numpy", "rec.npy", {"sampling_rate": 20000}, [Target("rec.npy", 0, 128, "text")])


def _seed_hdf5(folder: Path) -> Seed:
    import h5py
    with h5py.File(folder / "rec.h5", "w") as handle:
        handle.create_dataset("acquisition/raw", data=_int16(800, 4))
        handle["acquisition/raw"].attrs["sampling_rate"] = 20000.0
    return Seed("hdf5", "rec.h5", {"h5_key": "acquisition/raw", "sampling_rate": 20000},
                [Target("rec.h5", 0, 4096, "hdf5")])


def _seed_kwd(folder: Path) -> Seed:
    from tests.io.writers import write_kwd
    write_kwd(folder / "rec.raw.kwd", [_int16(800, 3)], bit_volts=[0.195] * 3)
    return Seed("kwd", "rec.raw.kwd", {}, [Target("rec.raw.kwd", 0, 4096, "hdf5")])


def _seed_arf(folder: Path) -> Seed:
    from tests.io.test_arf import write_arf
    write_arf(folder / "bird.arf", {"e1": (0.0, _int16(800, 2))})
    return Seed("arf", "bird.arf", {}, [Target("bird.arf", 0, 4096, "hdf5")])


def _seed_axona(folder: Path) -> Seed:
    from tests.io.test_axona import GAINS
    from tests.io.writers_more2 import write_axona_bin, write_axona_set
    write_axona_set(folder / "trial.set", [1, 2], GAINS, eeg_sources={1: 6, 2: 11})
    write_axona_bin(folder / "trial.bin", np.random.default_rng(0).integers(-30000, 30000, (300, 64)).astype(np.int16))
    return Seed("axona", "trial.set", {}, [Target("trial.set", 0, _size(folder, "trial.set"), "text"),
                                           Target("trial.bin", 0, 432 * 2, "binary")])


def _seed_blackrock(folder: Path) -> Seed:
    from tests.io.test_blackrock import RANGES
    from tests.io.writers_binary import write_nsx
    write_nsx(folder / "rec.ns5", [(300, _int16(400, 4))], (2, 3), 1, RANGES)
    return Seed("blackrock", "rec.ns5", {}, [Target("rec.ns5", 0, 314 + 66 * 4 + 9, "binary")])


def _seed_brw(folder: Path) -> Seed:
    from tests.io.test_brw import _frames, write_brw
    write_brw(folder / "rec.brw", _frames(200))
    return Seed("brw", "rec.brw", {}, [Target("rec.brw", 0, 4096, "hdf5")])


def _seed_edf(folder: Path) -> Seed:
    from tests.io.writers_more2 import write_edf
    rng = np.random.default_rng(1)
    signals = [{"label": f"EEG {k}", "unit": "uV", "pmin": -3276.8, "pmax": 3276.7, "dmin": -32768, "dmax": 32767,
                "digital": rng.integers(-32768, 32767, 100 * 6)} for k in range(3)]
    write_edf(folder / "rec.edf", signals, 0.5, 6, variant="EDF+C")
    return Seed("edf", "rec.edf", {}, [Target("rec.edf", 0, 256 * 5, "text")])


def _seed_intan_dat(folder: Path) -> Seed:
    from tests.io.writers_more import write_intan_dat
    write_intan_dat(folder / "session", "signal", _int16(256, 4))
    return Seed("intan_dat", "session/info.rhd", {},
                [Target("session/info.rhd", 0, _size(folder, "session/info.rhd"), "binary"),
                 Target("session/time.dat", 0, 64, "binary"), Target("session/amplifier.dat", 0, 64, "binary")])


def _seed_intan_rhs(folder: Path) -> Seed:
    from tests.io.writers_more import write_rhs
    write_rhs(folder / "rec.rhs", _uint16(256, 2))
    return Seed("intan_rhs", "rec.rhs", {}, [Target("rec.rhs", 0, 1200, "binary")])


def _seed_maxwell(folder: Path) -> Seed:
    from tests.io.test_maxwell import _counts, write_newer
    write_newer(folder / "rec.raw.h5", {"rec0000": _counts(4, 500)})
    return Seed("maxwell", "rec.raw.h5", {}, [Target("rec.raw.h5", 0, 4096, "hdf5")])


def _seed_mcs_h5(folder: Path) -> Seed:
    from tests.io.test_mcs_h5 import electrode_stream
    from tests.io.writers_more2 import write_mcs_h5
    write_mcs_h5(folder / "rec.h5", [electrode_stream(samples=500)])
    return Seed("mcs_h5", "rec.h5", {}, [Target("rec.h5", 0, 4096, "hdf5")])


def _seed_mda(folder: Path) -> Seed:
    from tests.io.writers_binary import write_mda
    write_mda(folder / "raw.mda", _int16(500, 3))
    return Seed("mda", "raw.mda", {"sampling_rate": 20000}, [Target("raw.mda", 0, 20, "binary")])


def _seed_neuralynx(folder: Path) -> Seed:
    from tests.io.writers_binary import ncs_records, write_ncs
    (folder / "session").mkdir()
    for channel in range(2):
        samples = np.random.default_rng(channel).integers(-3000, 3000, 1200).astype(np.int16)
        write_ncs(folder / "session" / f"CSC{channel + 1}.ncs", f"CSC{channel + 1}", channel,
                  ncs_records([(1_000_000, samples)], 32000.0), 32000.0)
    return Seed("neuralynx", "session/CSC1.ncs", {},
                [Target("session/CSC1.ncs", 0, 16384, "text"),
                 Target("session/CSC1.ncs", 16384, 16384 + 2 * 1044, "binary")])


def _seed_nix(folder: Path) -> Seed:
    from tests.io.test_nix import write_with_nixio
    write_with_nixio(folder / "lfp.nix", _int16(500, 2).T.copy())
    return Seed("nix", "lfp.nix", {}, [Target("lfp.nix", 0, 4096, "hdf5")])


def _seed_nwb(folder: Path) -> Seed:
    from tests.io.test_nwb import N_CHANNELS, _write
    _write(folder / "rec.nwb", [{"name": "raw", "data": _int16(600, N_CHANNELS), "rate": 30000.0,
                                 "conversion": 2e-7}])
    return Seed("nwb", "rec.nwb", {}, [Target("rec.nwb", 0, 4096, "hdf5")])


def _seed_openephys(folder: Path) -> Seed:
    from tests.io.writers_ephys import write_legacy_recording
    write_legacy_recording(folder / "oe", _int16(1024 * 2, 3), bit_volts=[0.195] * 3, kinds=["CH1", "CH2", "AUX1"])
    channel = sorted(p.name for p in (folder / "oe").glob("*CH1.continuous"))[0]
    return Seed("openephys", "oe", {}, [Target(f"oe/{channel}", 0, 1024, "text"),
                                        Target(f"oe/{channel}", 1024, 1024 + 2 * 2070, "binary")])


def _seed_openephys_binary(folder: Path) -> Seed:
    from tests.io.writers_ephys import write_binary_recording
    stream = {"folder": "Neuropix-PXI-100.ProbeA-AP", "data": _int16(600, 4), "bit_volts": [0.195] * 4,
              "sample_rate": 30000.0, "first_sample": 4500}
    write_binary_recording(folder / "recording1", [stream])
    cont = "recording1/continuous/Neuropix-PXI-100.ProbeA-AP"
    return Seed("openephys_binary", "recording1/structure.oebin", {},
                [Target("recording1/structure.oebin", 0, _size(folder, "recording1/structure.oebin"), "text"),
                 Target(f"{cont}/sample_numbers.npy", 0, 128, "text"),
                 Target(f"{cont}/continuous.dat", 0, 64, "binary")])


def _seed_plexon(folder: Path) -> Seed:
    from tests.io.test_plexon import int16, make_plx
    make_plx(folder / "rec.plx", int16(1000, 3), int16(25, 2))
    return Seed("plexon", "rec.plx", {}, [Target("rec.plx", 0, 7504, "binary"),
                                          Target("rec.plx", 7504, 7504 + 1020 * 2 + 296 * 10, "binary")])


def _seed_rhd(folder: Path) -> Seed:
    from tests.io.writers_binary import write_rhd
    write_rhd(folder / "rec.rhd", _uint16(256, 2), (2, 0))
    return Seed("rhd", "rec.rhd", {}, [Target("rec.rhd", 0, 1200, "binary")])


def _seed_si_binary(folder: Path) -> Seed:
    # the layout SpikeInterface's recording.save(format="binary") writes, without needing it installed
    rec = folder / "si"
    rec.mkdir()
    _int16(500, 3).tofile(rec / "traces_cached_seg0.raw")
    kwargs = {"file_paths": ["traces_cached_seg0.raw"], "sampling_frequency": 30000.0, "t_starts": None,
              "num_channels": 3, "dtype": "<i2", "channel_ids": ["0", "1", "2"], "time_axis": 0,
              "file_offset": 0, "gain_to_uV": [0.195] * 3, "offset_to_uV": [0.0] * 3}
    (rec / "binary.json").write_text(json.dumps(
        {"class": "spikeinterface.core.binaryrecordingextractor.BinaryRecordingExtractor", "kwargs": kwargs},
        indent=4))
    return Seed("si_binary", "si", {}, [Target("si/binary.json", 0, _size(folder, "si/binary.json"), "text"),
                                        Target("si/traces_cached_seg0.raw", 0, 64, "binary")])


def _seed_si_zarr(folder: Path) -> Seed:
    # the layout SpikeInterface's recording.save(format="zarr") writes (zarr format 2), without SpikeInterface
    import zarr
    root = zarr.open_group(str(folder / "rec.zarr"), mode="w", zarr_format=2) \
        if int(zarr.__version__.split(".")[0]) >= 3 else zarr.open_group(str(folder / "rec.zarr"), mode="w")
    extractor = "spikeinterface.core.zarrextractors.ZarrRecordingExtractor"
    root.attrs.update({"sampling_frequency": 30000.0, "num_segments": 1,
                       "zarr_class_info": {"class": extractor}})
    root.create_dataset("traces_seg0", data=_int16(500, 3), chunks=(250, 3))
    root.create_dataset("channel_ids", data=np.array(["a", "b", "c"]))
    root.create_dataset("properties/gain_to_uV", data=np.array([0.195, 0.2, 0.195]))
    root.create_dataset("properties/offset_to_uV", data=np.zeros(3))
    return Seed("si_zarr", "rec.zarr", {}, [
        Target("rec.zarr/.zattrs", 0, _size(folder, "rec.zarr/.zattrs"), "text"),
        Target("rec.zarr/traces_seg0/.zarray", 0, _size(folder, "rec.zarr/traces_seg0/.zarray"), "text"),
        Target("rec.zarr/traces_seg0/0.0", 0, 64, "binary")])


def _seed_spike2(folder: Path) -> Seed:
    from tests.io.test_spike2 import recording
    from tests.io.writers_more2 import write_smr
    write_smr(folder / "rec.smr", recording(samples=800)[0], slots=6)
    return Seed("spike2", "rec.smr", {}, [Target("rec.smr", 0, 512 + 140 * 6, "binary")])


def _seed_spikegadgets(folder: Path) -> Seed:
    from tests.io.test_spikegadgets import by_hw_chan, shuffled_trodes
    from tests.io.writers_more import intan_word_order, rec_header, write_rec
    header = rec_header(32, shuffled_trodes(list(range(32))))
    write_rec(folder / "rec.rec", by_hw_chan(600, 32)[:, intan_word_order(32)], header)
    return Seed("spikegadgets", "rec.rec", {}, [Target("rec.rec", 0, len(header), "text"),
                                                Target("rec.rec", len(header), len(header) + 512, "binary")])


def _seed_spikeglx(folder: Path) -> Seed:
    from tests.io.test_spikeglx import AP_GAINS, LF_GAINS, N_ELECTRODES
    from tests.io.writers_ephys import np1_meta, write_spikeglx
    write_spikeglx(folder / "run_g0_t0.imec0.ap.bin", _int16(600, N_ELECTRODES + 1),
                   np1_meta(N_ELECTRODES, AP_GAINS, LF_GAINS, first_sample=1200))
    meta = "run_g0_t0.imec0.ap.meta"
    return Seed("spikeglx", "run_g0_t0.imec0.ap.bin", {},
                [Target(meta, 0, _size(folder, meta), "text"), Target("run_g0_t0.imec0.ap.bin", 0, 64, "binary")])


def _seed_tdt(folder: Path) -> Seed:
    from tests.io.test_tdt import stores
    from tests.io.writers_more import write_tdt_block
    block = Path(write_tdt_block(folder / "Tank", "Block-1", stores()))
    rel = block.relative_to(folder)
    names = {p.suffix: p.relative_to(folder).as_posix() for p in block.iterdir()}
    targets = [Target(names[".tsq"], 0, 40 * 12, "binary")]
    if ".tbk" in names:
        targets.append(Target(names[".tbk"], 0, _size(folder, names[".tbk"]), "text"))
    if ".sev" in names:
        targets.append(Target(names[".sev"], 0, 40, "binary"))
    return Seed("tdt", rel.as_posix(), {}, targets)


SEEDS: dict[str, Callable[[Path], Seed]] = {
    name[len("_seed_"):]: function for name, function in globals().items() if name.startswith("_seed_")}

# Formats read through a vendor's native library (neuroshare): damaged input is the library's.
NOT_FUZZED = {"neuroshare": "reads through a vendor's native library",
              "mcd": "reads through a vendor's native library",
              "plexon_neuroshare": "reads through a vendor's native library"}


# -- mutations ----------------------------------------------------------------------------------

_NUMBER = re.compile(rb"(?<![A-Za-z_])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def _cut(path: Path, size: int) -> None:
    with open(path, "r+b") as handle:
        handle.truncate(max(size, 0))


def _flip(path: Path, target: Target, rng: random.Random, count: int) -> None:
    data = bytearray(path.read_bytes())
    end = min(target.end, len(data))
    if end <= target.start:
        return
    for _ in range(count):
        data[rng.randrange(target.start, end)] ^= rng.randrange(1, 256)
    path.write_bytes(bytes(data))


def _smash_text(path: Path, target: Target, rng: random.Random) -> bool:
    data = path.read_bytes()
    end = min(target.end, len(data))
    numbers = list(_NUMBER.finditer(data, target.start, end))
    if not numbers:
        return False
    match = rng.choice(numbers)
    value = rng.choice(SMASH_TEXT).encode()
    if rng.random() < 0.5:     # same width: fixed-width headers (EDF) keep their layout
        width = match.end() - match.start()
        value = value[:width].ljust(width, b" ")
    path.write_bytes(data[:match.start()] + value + data[match.end():])
    return True


def _smash_binary(path: Path, target: Target, rng: random.Random) -> bool:
    data = bytearray(path.read_bytes())
    end = min(target.end, len(data))
    width = rng.choice([2, 4, 4, 8])
    if end - target.start < width:
        return False
    offset = target.start + rng.randrange(0, (end - target.start - width) // width + 1) * width
    if width == 2:
        value = struct.pack("<H", rng.choice([0, 0xFFFF, 0x7FFF, 0x8000]))
    elif width == 4 and rng.random() < 0.6:
        value = struct.pack("<I", rng.choice(SMASH_INTS) & 0xFFFFFFFF)
    elif width == 4:
        value = struct.pack("<f", rng.choice(SMASH_FLOATS[:5] + [3e38]))
    elif rng.random() < 0.6:
        value = struct.pack("<Q", rng.choice(SMASH_INTS) & 0xFFFFFFFFFFFFFFFF)
    else:
        value = struct.pack("<d", rng.choice(SMASH_FLOATS))
    data[offset:offset + width] = value
    path.write_bytes(bytes(data))
    return True


def _hdf5_numbers(path: Path) -> list[tuple[str, str | None]]:
    """(object, attribute or None for a small dataset) holding numbers in an HDF5 file."""
    import h5py
    found: list[tuple[str, str | None]] = []

    def visit(name, obj):
        for key, value in obj.attrs.items():
            if np.asarray(value).dtype.kind in "iuf" and np.asarray(value).size <= 64:
                found.append((name, key))
        if isinstance(obj, h5py.Dataset) and obj.dtype.kind in "iuf" and obj.size <= 64:
            found.append((name, None))
    with h5py.File(path, "r") as handle:
        for key, value in handle.attrs.items():
            if np.asarray(value).dtype.kind in "iuf":
                found.append(("/", key))
        handle.visititems(visit)
    return found


def _extreme(dtype: np.dtype, rng: random.Random):
    if dtype.kind == "f":
        return rng.choice(SMASH_FLOATS)
    info = np.iinfo(dtype)
    return rng.choice([0, info.max, info.min, -1 if info.min < 0 else info.max - 1])


def _smash_hdf5(path: Path, rng: random.Random) -> bool:
    import h5py
    numbers = _hdf5_numbers(path)
    if not numbers:
        return False
    name, attribute = rng.choice(numbers)
    with h5py.File(path, "r+") as handle:
        obj = handle[name]
        if attribute is None:
            obj[...] = _extreme(obj.dtype, rng)
        else:
            old = np.asarray(obj.attrs[attribute])
            obj.attrs[attribute] = np.full(old.shape, _extreme(old.dtype, rng), dtype=old.dtype)
    return True


def _mutate(path: Path, target: Target, how: str, rng: random.Random) -> bool:
    size = path.stat().st_size
    if how == "empty":
        _cut(path, 0)
    elif how == "cut_header":
        _cut(path, rng.randrange(target.start, max(target.start + 1, min(target.end, size))))
    elif how == "cut_sample":
        if size <= target.end + 2:
            return False
        _cut(path, rng.randrange(target.end + 1, size) | 1)
    elif how == "flip":
        _flip(path, target, rng, rng.choice([1, 2, 4, 16]))
    elif how == "smash":
        if target.kind == "hdf5":
            return _smash_hdf5(path, rng)
        if target.kind == "text" and (rng.random() < 0.8 or target.end - target.start < 8):
            return _smash_text(path, target, rng)
        return _smash_binary(path, target, rng)
    return True


MUTATIONS = {"empty": 1, "cut_header": 2, "cut_sample": 2, "flip": 6, "smash": 8}


def build_corpus(folder: Path, scale: int = 1, seed: int = 0, formats: list[str] | None = None) -> list[Case]:
    """Seeds of every format in `formats` (default all) under `folder`, and their mutants: per
    target `scale` times the counts of MUTATIONS; plus the params cases. Returns the cases."""
    folder = Path(folder)
    cases: list[Case] = []
    for fmt in formats or list(SEEDS):
        rng = random.Random(f"{seed}:{fmt}")        # a format's mutants do not depend on the others
        seed_dir = folder / fmt / "seed"
        seed_dir.mkdir(parents=True)
        made = SEEDS[fmt](seed_dir)
        cases.append(Case(fmt, str(seed_dir / made.entry), made.params, f"{fmt}: valid seed"))
        number = 0
        for target in made.targets:
            for how, count in MUTATIONS.items():
                for _ in range(count * (scale if how not in ("empty",) else 1)):
                    mutant = folder / fmt / f"m{number}"
                    number += 1
                    shutil.copytree(seed_dir, mutant)
                    if not _mutate(mutant / target.name, target, how, rng):
                        shutil.rmtree(mutant)
                        continue
                    cases.append(Case(fmt, str(mutant / made.entry), made.params,
                                      f"{fmt}: {how} {target.name} ({mutant.name})"))
    if formats is None or "raw_binary" in formats:
        cases += params_cases(folder / "params")
    return cases


BAD_PARAMS = {
    "nb_channels": ["0", "-1", "1e400", "9" * 5000, "2.5", "nan", "99999999999"],
    "sampling_rate": ["0", "-30000", "inf", "nan", "1e400", "-inf"],
    "gain": ["0", "inf", "nan", "-inf", "1e400"],
    "data_dtype": ["object", "bool", "complex64", "S4", "int128", "float16x", "V8"],
    "dtype_offset": ["inf", "nan", "1e400", "9" * 5000],
    "data_offset": ["-1", "1e400", "99999999999999", "nan"],
}


def params_cases(folder: Path) -> list[Case]:
    """Out-of-range mandatory fields given as params (as from --set or a .params file), and a
    params file naming a folder as its data file."""
    folder.mkdir(parents=True)
    data = folder / "rec.dat"
    data.write_bytes(_int16(1000, 4).tobytes())
    good = {"nb_channels": "4", "data_dtype": "int16", "sampling_rate": "20000"}
    cases = []
    for key, values in BAD_PARAMS.items():
        for value in values:
            cases.append(Case("raw_binary", str(data), {**good, key: value}, f"params: {key}={value[:20]}", True))
    params = folder / "root.params"
    params.write_text("[data]\nfile_format = raw_binary\nfile_name = /\nnb_channels = 4\n"
                      "data_dtype = int16\nsampling_rate = 20000\n")
    cases.append(Case("raw_binary", str(params), {}, "params: file_name = /", True))
    cases.append(Case("raw_binary", str(folder), good, "params: a folder as a raw file", True))
    return cases


# -- the worker: open and read one case, report the outcome -------------------------------------


def _invariants(datafile) -> str:
    """What is wrong with an opened recording's mandatory params, '' when nothing."""
    import math
    rate, gain, offset = datafile.sampling_rate, datafile.gain, datafile.dtype_offset
    if not (isinstance(datafile.nb_channels, int) and datafile.nb_channels > 0):
        return f"nb_channels {datafile.nb_channels!r}"
    if not (math.isfinite(rate) and rate > 0):
        return f"sampling_rate {rate!r}"
    if not (math.isfinite(gain) and gain != 0):
        return f"gain {gain!r}"
    if not math.isfinite(offset):
        return f"dtype_offset {offset!r}"
    if np.dtype(datafile.data_dtype).kind not in "iuf":
        return f"data_dtype {datafile.data_dtype!r}"
    if datafile.duration < 0:
        return f"duration {datafile.duration}"
    return ""


def _read_some(datafile) -> str:
    problem = _invariants(datafile)
    duration = int(datafile.duration)
    for start in (0, max(duration - 300, 0)):
        block = datafile.read_range(start, min(start + 300, duration))
        if block.shape != (min(start + 300, duration) - start, datafile.nb_channels) or block.dtype != np.float32:
            problem = problem or f"read_range gave {block.shape} {block.dtype}"
    datafile.close()
    return problem


def _attempt(entry: str, params: dict, fmt: str | None) -> tuple[str, str]:
    from app.io import open_datafile
    from app.io.errors import DataFileError
    try:
        problem = _read_some(open_datafile(entry, dict(params), fmt))
    except DataFileError as error:
        if GUARD_WORDS in str(error):       # typed by DataFile's generic guard: say from what
            return "typed", f"{GUARD_WORDS} {getattr(error, 'cause', '')[:200]}"
        return "typed", f"{type(error).__name__}: {str(error)[:300]}"
    except Exception as error:  # noqa: BLE001 - this is what the corpus looks for
        return "builtin", f"{type(error).__name__}: {str(error)[:300]}"
    return ("invalid", problem) if problem else ("read", "")


def _worker() -> None:
    """Read cases as JSON lines on stdin, answer each on the original stdout; everything the
    readers print goes to /dev/null."""
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    answers = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    import app.io  # noqa: F401 - import before the first case so timeouts measure the case
    from app.io.registry import supported_formats
    supported_formats()
    answers.write("ready\n")
    answers.flush()
    for line in sys.stdin:
        case = json.loads(line)
        results = [_attempt(case["entry"], case["params"], case["fmt"]), _attempt(case["entry"], case["params"], None)]
        answers.write(json.dumps(results) + "\n")
        answers.flush()


# -- the parent: a pool of workers, each case with a timeout ------------------------------------


@dataclass
class Report:
    counts: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    files: int = 0
    guarded: Counter = field(default_factory=Counter)   # (format, cause) the generic guard typed


    @property
    def bad(self) -> int:
        return sum(self.counts[k] for k in ("builtin", "invalid", "accepted", "hang", "death"))


class _Worker:
    def __init__(self):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
               "QT_QPA_PLATFORM": "offscreen"}
        self.process = subprocess.Popen([sys.executable, "-m", "tests.io.fuzz_corpus", "--worker"], cwd=str(ROOT),
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, env=env)
        if self._line(120) != "ready":
            raise RuntimeError("a fuzz worker did not start")

    def _line(self, timeout: float) -> str | None:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.process.stdout.readline()
        return line.strip() if line else ""

    def run(self, case: Case, timeout: float) -> list[tuple[str, str]] | str:
        """The two outcomes, or 'hang' / 'death'."""
        try:
            self.process.stdin.write(json.dumps({"entry": case.entry, "params": case.params, "fmt": case.fmt}) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return "death"
        line = self._line(timeout)
        if line is None:
            return "hang"
        if not line:
            return "death"
        return [tuple(item) for item in json.loads(line)]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


def run_corpus(cases: list[Case], workers: int = 2, timeout: float = 60.0) -> Report:
    """Open and read every case in child processes; count outcomes (two attempts per case)."""
    report = Report(files=len(cases))
    queue = list(reversed(cases))
    lock = threading.Lock()

    def record(case: Case, outcome) -> None:
        with lock:
            if isinstance(outcome, str):
                report.counts[outcome] += 1
                report.failures.append(f"{outcome}: {case.label}: {case.entry}")
                return
            for (kind, detail), how in zip(outcome, ("format", "sniffed")):
                if kind == "read" and case.must_fail:
                    kind = "accepted"
                report.counts[kind] += 1
                if kind == "typed" and GUARD_WORDS in detail:
                    report.guarded[(case.fmt, detail[len(GUARD_WORDS) + 1:].split(":")[0])] += 1
                if kind in ("builtin", "invalid", "accepted"):
                    report.failures.append(f"{kind} ({how}): {case.label}: {detail}")

    def loop() -> None:
        worker = _Worker()
        while True:
            with lock:
                if not queue:
                    break
                case = queue.pop()
            outcome = worker.run(case, timeout)
            record(case, outcome)
            if isinstance(outcome, str):
                worker.stop()
                worker = _Worker()
        worker.stop()

    threads = [threading.Thread(target=loop) for _ in range(max(1, workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return report


if __name__ == "__main__" and sys.argv[1:] == ["--worker"]:
    _worker()
