"""The app icon in every size and container the installers want, made from one SVG.

`render_pngs` draws ``resources/icons/wavescope.svg`` with Qt's QSvgRenderer
into ``wavescope-<size>.png``; `write_ico` and `write_icns` pack those PNGs into
a Windows ``.ico`` and a macOS ``.icns`` (both containers accept PNG payloads,
so no image library is needed). Run ``python packaging/icons.py`` after editing
the SVG; the spec calls the packers at build time.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ICON_DIR = Path(__file__).resolve().parent.parent / "resources" / "icons"
SVG = ICON_DIR / "wavescope.svg"
SIZES = (16, 32, 48, 64, 128, 256)

# icns element types that hold a PNG of the given pixel size.
ICNS_TYPES = {16: b"icp4", 32: b"icp5", 64: b"icp6", 128: b"ic07", 256: b"ic08"}


def png_path(size: int, folder: Path = ICON_DIR) -> Path:
    return folder / f"wavescope-{size}.png"


def render_pngs(svg: Path = SVG, folder: Path = ICON_DIR, sizes: tuple[int, ...] = SIZES) -> list[Path]:
    """Render `svg` at each size (transparent background) and return the PNG paths."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6 import QtCore, QtGui, QtSvg

    _app = QtGui.QGuiApplication.instance() or QtGui.QGuiApplication(sys.argv[:1])
    renderer = QtSvg.QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise ValueError(f"{svg}: not a valid SVG; fix the file and render again.")
    written = []
    for size in sizes:
        image = QtGui.QImage(size, size, QtGui.QImage.Format.Format_ARGB32)
        image.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(image)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        renderer.render(painter, QtCore.QRectF(0, 0, size, size))
        painter.end()
        path = png_path(size, folder)
        if not image.save(str(path), "PNG"):
            raise OSError(f"{path}: could not write the icon")
        written.append(path)
    return written


def write_ico(target: Path, folder: Path = ICON_DIR, sizes: tuple[int, ...] = SIZES) -> Path:
    """A Windows .ico holding the PNG renders (ICONDIR + one ICONDIRENTRY per image)."""
    images = [png_path(size, folder).read_bytes() for size in sizes]
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = len(header) + 16 * len(images)
    entries = b""
    for size, data in zip(sizes, images):
        side = 0 if size >= 256 else size      # 0 means 256 in the one-byte width/height fields
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(data), offset)
        offset += len(data)
    target.write_bytes(header + entries + b"".join(images))
    return target


def write_icns(target: Path, folder: Path = ICON_DIR) -> Path:
    """A macOS .icns: 'icns' + total length, then (type, length, PNG) elements, big-endian."""
    body = b""
    for size, kind in ICNS_TYPES.items():
        data = png_path(size, folder).read_bytes()
        body += kind + struct.pack(">I", 8 + len(data)) + data
    target.write_bytes(b"icns" + struct.pack(">I", 8 + len(body)) + body)
    return target


if __name__ == "__main__":
    for path in render_pngs():
        print(f"wrote {path} ({path.stat().st_size} bytes)")
