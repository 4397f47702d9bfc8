"""Run every benchmark: python -m tests.bench"""

import importlib
import pkgutil
from pathlib import Path

for module in sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)])):
    if module.startswith("bench_"):
        print(f"== {module}")
        importlib.import_module(f"tests.bench.{module}").main([])
