"""The README's formats table is generated from the registry: it must match what the code supports."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_formats_table_is_current():
    table = subprocess.run([sys.executable, str(ROOT / "packaging" / "formats_table.py")], capture_output=True,
                           text=True, check=True, cwd=ROOT).stdout.strip()
    readme = (ROOT / "README.md").read_text()
    start, end = "<!-- formats-table:start -->\n", "\n<!-- formats-table:end -->"
    current = readme[readme.index(start) + len(start):readme.index(end)]
    assert current.strip() == table, "README formats table is stale: run python packaging/formats_table.py"


def test_readme_has_the_two_setup_commands_and_ci_calls_the_test_one():
    readme = (ROOT / "README.md").read_text()
    assert "    make run\n" in readme and "    make test\n" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
