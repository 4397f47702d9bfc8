"""Hostile or broken plugins never take Wavescope down: each case runs the real CLI in a fresh
process (with a timeout, since the failure modes are hangs and exits) next to the documented toy
plugin, which must keep working."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from app.io.registry import class_problem, plugin_errors, supported_formats
from tests.conftest import synthetic_int16
from tests.test_plugin_example import EXAMPLE, write_toy

ROOT = Path(__file__).resolve().parents[2]
HEADER = "from app.io.datafile import DataFile\n"


def plugin(body: str, name: str = "evil", description: str = "evil") -> str:
    """A plugin module: `body` is the class body (indented by this function) of a DataFile subclass."""
    return HEADER + f"class EvilFile(DataFile):\n    description = {description!r}\n" + textwrap.indent(
        textwrap.dedent(body), "    ")


@pytest.fixture
def setup(tmp_path):
    """A plugin folder holding the toy example, a .toy recording, and an environment for the CLI."""
    folder = tmp_path / "plugins"
    folder.mkdir()
    shutil.copy(EXAMPLE, folder / "toy_format.py")
    recording = write_toy(tmp_path / "rec.toy", synthetic_int16(500, 3, seed=1), 20000.0)
    env = dict(os.environ, WAVESCOPE_FORMATS_PATH=str(folder), PYTHONPATH=str(ROOT), WAVESCOPE_PLUGIN_TIMEOUT="3")
    env.pop("WAVESCOPE_REPLACE_FORMATS", None)
    return folder, recording, env


def cli(env: dict, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "app", *args], capture_output=True, text=True, env=env,
                          timeout=timeout, cwd=ROOT)


def assert_toy_still_works(env: dict, recording: Path) -> subprocess.CompletedProcess:
    """`info` without --format picks the toy plugin and prints the file's facts."""
    done = cli(env, "info", str(recording), "--json")
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["format"] == "toy_int16" and info["nb_channels"] == 3 and info["duration"] == 500
    return done


def formats(env: dict) -> tuple[dict, str]:
    """(rows by name from `formats --json`, the text of `formats`)."""
    listed = cli(env, "formats", "--json")
    assert listed.returncode == 0, listed.stderr
    text = cli(env, "formats")
    assert text.returncode == 0, text.stderr
    return {row["name"]: row for row in json.loads(listed.stdout)}, text.stdout


def rejected_lines(text: str) -> list[str]:
    assert "rejected plugins (not loaded):" in text
    return text.split("rejected plugins (not loaded):", 1)[1].strip().splitlines()


@pytest.mark.parametrize("attribute, value, words", [
    ("extension", "None", "attribute extension is None"),
    ("description", "None", "attribute description is None"),
    ("extension", "'.dat'", "attribute extension is '.dat'"),
    ("_required_fields", "['sampling_rate']", "attribute _required_fields"),
    ("_required_fields", "{'sampling_rate': 'number'}", "types among int, float, bool, string"),
    ("is_writable", "'yes'", "attribute is_writable"),
    ("title", "7", "attribute title"),
])
def test_invalid_class_is_named_and_skipped(setup, attribute, value, words):
    folder, recording, env = setup
    body = f"{attribute} = {value}\n"
    if attribute == "description":
        (folder / "evil.py").write_text(HEADER + f"class EvilFile(DataFile):\n    {body}")
    else:
        (folder / "evil.py").write_text(plugin(body))
    rows, text = formats(env)
    assert "toy_int16" in rows and "raw_binary" in rows and "evil" not in rows
    [line] = rejected_lines(text)
    assert str(folder / "evil.py") in line and "wavescope_plugin_evil.EvilFile" in line and words in line
    assert_toy_still_works(env, recording)


def test_hanging_sniff_is_abandoned(setup):
    folder, recording, env = setup
    (folder / "evil.py").write_text(plugin("""
        extension = ['.evil']
        @classmethod
        def sniff(cls, path):
            while True:
                pass
    """))
    done = assert_toy_still_works(env, recording)
    assert "EvilFile.sniff did not return within 3 s" in done.stderr


def test_sniff_calling_sys_exit_does_not_end_info(setup):
    folder, recording, env = setup
    (folder / "evil.py").write_text(plugin("""
        extension = ['.evil']
        @classmethod
        def sniff(cls, path):
            import sys
            sys.exit(0)
    """))
    done = assert_toy_still_works(env, recording)
    assert "EvilFile.sniff raised SystemExit" in done.stderr


def test_sniff_returning_nonsense_is_reported(setup):
    folder, recording, env = setup
    (folder / "evil.py").write_text(plugin("""
        extension = ['.evil']
        @classmethod
        def sniff(cls, path):
            return "definitely"
    """))
    done = assert_toy_still_works(env, recording)
    assert "EvilFile.sniff returned 'definitely'" in done.stderr


@pytest.mark.parametrize("module_code, words", [
    ("import sys\nsys.exit(0)\n", "raises SystemExit(0)"),
    ("raise SystemExit(3)\n", "raises SystemExit(3)"),
    ("import os\nos._exit(0)\n", "ended the Python process"),
    ("while True:\n    pass\n", "did not finish within 3 s"),
    ("import time\ntime.sleep(3600)\n", "did not finish within 3 s"),
    ("raise RuntimeError('plugin exploded')\n", "RuntimeError: plugin exploded"),
])
def test_module_that_exits_or_hangs_at_import(setup, module_code, words):
    folder, recording, env = setup
    (folder / "evil.py").write_text(HEADER + module_code)
    rows, text = formats(env)
    assert "toy_int16" in rows
    [line] = rejected_lines(text)
    assert str(folder / "evil.py") in line and words in line
    assert_toy_still_works(env, recording)


def test_import_verdict_is_cached_by_file_version(setup, tmp_path):
    folder, recording, env = setup
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    evil = folder / "evil.py"
    evil.write_text(HEADER + "while True:\n    pass\n")
    cli(env, "formats")
    verdicts = json.loads((tmp_path / "cache" / "wavescope" / "plugin-import-checks.json").read_text())
    assert "did not finish" in verdicts[f"file:{evil.resolve()}"]["verdict"]
    assert verdicts[f"file:{(folder / 'toy_format.py').resolve()}"]["verdict"] == "ok"
    # the cached verdict is what the next run reports; a changed file is checked again
    assert "did not finish" in rejected_lines(cli(env, "formats").stdout)[0]
    evil.write_text(plugin("extension = ['.evil']\n"))
    assert "evil" in formats(env)[0]


def test_plugin_named_like_a_built_in_is_refused_unless_allowed(setup):
    folder, recording, env = setup
    (folder / "evil.py").write_text(plugin("extension = ['.dat']\n", description="raw_binary"))
    rows, text = formats(env)
    assert rows["raw_binary"]["module"] == "app.io.formats.raw_binary"
    [line] = rejected_lines(text)
    assert "named 'raw_binary' like a built-in" in line and "WAVESCOPE_REPLACE_FORMATS=raw_binary" in line
    env["WAVESCOPE_REPLACE_FORMATS"] = "raw_binary"
    rows, text = formats(env)
    assert rows["raw_binary"]["module"] == "wavescope_plugin_evil"
    assert "note: format plugin" in text and "replaces the built-in format 'raw_binary'" in text
    assert "rejected plugins" not in text


def test_second_plugin_with_a_taken_name_is_refused(setup):
    folder, recording, env = setup
    (folder / "zz_copy.py").write_text((folder / "toy_format.py").read_text())
    rows, text = formats(env)
    assert rows["toy_int16"]["module"] == "wavescope_plugin_toy_format"
    [line] = rejected_lines(text)
    assert "zz_copy.py" in line and "'toy_int16' is taken by wavescope_plugin_toy_format" in line


def test_entry_point_that_exits_at_import(tmp_path, monkeypatch):
    package = tmp_path / "site"
    (package / "exitformat").mkdir(parents=True)
    (package / "exitformat" / "__init__.py").write_text("import sys\nsys.exit(5)\n")
    dist = package / "exitformat-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: exitformat\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[wavescope.formats]\nexiting = exitformat:ExitFile\n")
    monkeypatch.syspath_prepend(str(package))
    try:
        formats = supported_formats(reload=True)
        assert "raw_binary" in formats
        assert any("exiting (exitformat:ExitFile)" in e and "raises SystemExit(5)" in e for e in plugin_errors)
        assert "exitformat" not in sys.modules
    finally:
        monkeypatch.undo()
        supported_formats(reload=True)


def test_class_problem_accepts_every_built_in():
    for name, klass in supported_formats(reload=True).items():
        assert class_problem(klass) is None, name
    assert not plugin_errors
