"""Packaging pieces: icons, desktop entry, MIME definitions, the formats table, and (slow) the bundle.

The slow test builds the PyInstaller bundle with packaging/build.sh (minutes) and runs it
offscreen: `pytest -m slow tests/test_packaging.py`.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from app.io.registry import supported_formats

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def load_script(name: str):
    """A packaging/ script as a module (the folder is not a package)."""
    sys.path.insert(0, str(PACKAGING))
    try:
        spec = importlib.util.spec_from_file_location(f"packaging_{name}", PACKAGING / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(PACKAGING))


@pytest.fixture(scope="module")
def icons():
    return load_script("icons")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_committed_icons_are_small_pngs_of_each_size(icons):
    assert icons.SVG.is_file()
    for size in icons.SIZES:
        data = icons.png_path(size).read_bytes()
        assert png_size(data) == (size, size)
        assert len(data) < 20_000, f"wavescope-{size}.png is {len(data)} bytes; icons stay small"


def test_icons_render_from_the_svg(icons, qapp, tmp_path):
    from PyQt6 import QtGui

    icons.render_pngs(folder=tmp_path, sizes=(32, 128))
    for size in (32, 128):
        fresh = QtGui.QImage(str(tmp_path / f"wavescope-{size}.png"))
        committed = QtGui.QImage(str(icons.png_path(size)))
        assert (fresh.width(), fresh.height()) == (size, size)
        a = np.array([[fresh.pixelColor(x, y).getRgb() for x in range(size)] for y in range(size)])
        b = np.array([[committed.pixelColor(x, y).getRgb() for x in range(size)] for y in range(size)])
        assert np.abs(a.astype(int) - b).mean() < 4, "the committed PNGs are stale: run packaging/icons.py"
        assert a[size // 2, size // 2, 3] == 255 and a[0, 0, 3] == 0    # opaque screen, transparent corner


def test_ico_and_icns_hold_the_pngs(icons, tmp_path):
    ico = icons.write_ico(tmp_path / "w.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", ico[:6])
    assert (reserved, kind, count) == (0, 1, len(icons.SIZES))
    for k, size in enumerate(icons.SIZES):
        width, height, _, _, planes, bits, length, offset = struct.unpack("<BBBBHHII", ico[6 + 16 * k: 22 + 16 * k])
        assert width == height == size % 256 and (planes, bits) == (1, 32)
        assert png_size(ico[offset:offset + length]) == (size, size)

    icns = icons.write_icns(tmp_path / "w.icns").read_bytes()
    assert icns[:4] == b"icns" and struct.unpack(">I", icns[4:8])[0] == len(icns)
    position, found = 8, {}
    while position < len(icns):
        kind, length = icns[position:position + 4], struct.unpack(">I", icns[position + 4:position + 8])[0]
        found[kind] = png_size(icns[position + 8:position + length])
        position += length
    assert found == {kind: (size, size) for size, kind in icons.ICNS_TYPES.items()}


def read_desktop() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=("#",))
    parser.optionxform = str
    parser.read(PACKAGING / "wavescope.desktop", encoding="utf-8")
    return parser


def mime_types_in_xml() -> dict[str, list[str]]:
    root = ET.parse(PACKAGING / "wavescope-mime.xml").getroot()
    return {node.get("type"): [g.get("pattern") for g in node.findall(f"{MIME_NS}glob")]
            for node in root.findall(f"{MIME_NS}mime-type")}


def test_desktop_entry_opens_our_mime_types():
    entry = read_desktop()["Desktop Entry"]
    assert entry["Type"] == "Application" and entry["Exec"] == "wavescope %F" and entry["Icon"] == "wavescope"
    assert "Science;" in entry["Categories"]
    listed = [t for t in entry["MimeType"].split(";") if t]
    defined = mime_types_in_xml()
    assert set(listed) == set(defined) | {"application/x-hdf5"}
    validator = shutil.which("desktop-file-validate")
    if validator:
        done = subprocess.run([validator, str(PACKAGING / "wavescope.desktop")], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0 and not done.stdout.strip(), done.stdout


def test_mime_globs_are_extensions_we_read():
    extensions = {ext.lower() for klass in supported_formats().values() for ext in klass.extension}
    defined = mime_types_in_xml()
    assert len(defined) >= 10
    for mime_type, globs in defined.items():
        assert mime_type.startswith("application/x-wavescope-") and globs
        for pattern in globs:
            assert pattern.startswith("*.") and pattern[1:] in extensions, f"{mime_type} claims {pattern}"
    claimed = [g for globs in defined.values() for g in globs]
    assert len(claimed) == len(set(claimed)), "an extension belongs to one MIME type"
    assert "*.dat" not in claimed and "*.bin" not in claimed and "*.h5" not in claimed


def test_mime_file_compiles_with_update_mime_database(tmp_path):
    tool = shutil.which("update-mime-database")
    if not tool:
        pytest.skip("update-mime-database (shared-mime-info) is not installed")
    (tmp_path / "packages").mkdir()
    shutil.copy(PACKAGING / "wavescope-mime.xml", tmp_path / "packages")
    done = subprocess.run([tool, str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "error" not in done.stderr.lower(), done.stderr
    globs = (tmp_path / "globs2").read_text()
    assert "application/x-wavescope-nwb:*.nwb" in globs


def test_formats_table_has_a_row_per_format():
    formats_table = load_script("formats_table")
    rows = formats_table.builtin_format_rows()
    table = formats_table.markdown_table(rows).splitlines()
    assert table[0].startswith("| Format | Title | Read/write | Parallel write | Extensions")
    assert len(table) == 2 + len(rows)
    assert all(line.count(" | ") == len(formats_table.COLUMNS) - 1 for line in table[2:])
    raw = next(line for line in table if line.startswith("| `raw_binary` |"))
    assert "| read/write | yes | any |" in raw and "`nb_channels` (int)" in raw


def test_spec_collects_the_format_modules():
    text = (PACKAGING / "wavescope.spec").read_text()
    compile(text, "wavescope.spec", "exec")
    assert 'collect_submodules("app.io.formats")' in text
    assert "SPECPATH" in text and "app_icon()" in text


@pytest.mark.slow
def test_bundle_builds_and_renders_the_demo(tmp_path, request):
    if "slow" not in (request.config.getoption("markexpr") or ""):
        pytest.skip("builds the bundle for minutes: run with -m slow")
    done = subprocess.run(["bash", str(PACKAGING / "build.sh")], cwd=ROOT, capture_output=True, text=True,
                          timeout=3600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    exe = ROOT / "dist" / "wavescope" / ("wavescope.exe" if os.name == "nt" else "wavescope")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env=env, timeout=120,
                             check=False)
    assert version.returncode == 0 and version.stdout.startswith("wavescope "), version.stderr
    picture = tmp_path / "x.png"
    demo = subprocess.run([str(exe), "demo", "--screenshot", str(picture)], capture_output=True, text=True,
                          env=env, timeout=600, check=False, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    from PyQt6 import QtGui
    image = QtGui.QImage(str(picture))
    assert image.width() >= 800 and image.height() >= 600
    sample = [image.pixelColor(x, y).lightness() for x in range(0, image.width(), 7)
              for y in range(0, image.height(), 7)]
    assert min(sample) < 60 and max(sample) > 200, "the screenshot has no drawn traces"
    formats = subprocess.run([str(exe), "formats", "--json"], capture_output=True, text=True, env=env,
                             timeout=120, check=False)
    assert formats.returncode == 0 and '"nwb"' in formats.stdout and '"spikeglx"' in formats.stdout


def test_the_wheel_carries_the_top_level_resources_inside_the_package(tmp_path):
    """The repository keeps resources/ at its top; a wheel installs them as app/resources."""
    import zipfile
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path),
                           str(root)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("wavescope-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {path.relative_to(root).as_posix() for path in (root / "resources").rglob("*") if path.is_file()}
    assert expected and {f"app/{name}" for name in expected} <= names
    assert not any(name.startswith("resources/") for name in names)
