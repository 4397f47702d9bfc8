"""What Intan's RHD2000 and RHS2000 files share: the magic number at the start and the data
blocks (one numpy record each) after the header. Not a format (the registry skips `_` modules)."""

from __future__ import annotations

import os
import struct

import numpy as np

from app.io.messages import print_and_log


def sniff_magic(path: str, magic: int, system: str, header_only_name: str) -> tuple[float, str] | None:
    """(score, reason) when `path` starts with `magic`; a header-only `info.*` file scores lower,
    because Intan's .dat layouts keep its samples elsewhere."""
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as handle:
        head = handle.read(8)
    if len(head) < 8 or struct.unpack("<I", head[:4])[0] != magic:
        return None
    major, minor = struct.unpack("<hh", head[4:])
    if os.path.basename(path).lower() == header_only_name:
        return 0.6, f"Intan {system} header (version {major}.{minor}), named like a header-only file"
    return 1.0, f"Intan {system} magic number, version {major}.{minor}"


def count_blocks(file_name: str, data_offset: int, block_bytes: int) -> int:
    """Whole data blocks after the header; a cut last block is reported and ignored."""
    nb_blocks, rest = divmod(os.path.getsize(file_name) - data_offset, block_bytes)
    if rest:
        print_and_log(f"{file_name}: the last {rest} bytes are not a whole data block of {block_bytes} "
                      "bytes (file truncated?); they are ignored.", "warning")
    return nb_blocks


def map_blocks(file_name: str, block: np.dtype, data_offset: int, nb_blocks: int) -> np.memmap | None:
    """The data blocks as a memmap of records (None for a file without blocks)."""
    if not nb_blocks:
        return None
    return np.memmap(file_name, dtype=block, mode="r", offset=data_offset, shape=(nb_blocks,))


def block_rows(blocks: np.ndarray, field: str, block_samples: int, t_start: int, t_stop: int,
               nodes) -> np.ndarray:
    """Samples [t_start, t_stop) of one signal field as (time, channels): only the blocks covering
    the window are touched; each block stores its channels one after the other."""
    first, last = t_start // block_samples, (t_stop - 1) // block_samples + 1
    values = blocks[first:last][field]                           # (blocks, channels, samples)
    if nodes is not None:
        values = values[:, np.asarray(nodes, dtype=np.intp), :]
    rows = values.transpose(0, 2, 1).reshape(-1, values.shape[1])
    return rows[t_start - first * block_samples: t_stop - first * block_samples]
