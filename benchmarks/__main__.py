"""Run every benchmark module in this package (``python -m benchmarks``)."""

from __future__ import annotations

import importlib
import pkgutil

import benchmarks


def main() -> None:
    names = sorted(
        m.name for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    if not names:
        print("no benchmarks yet")
    for name in names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"== {name}")
        module.main()


if __name__ == "__main__":
    main()
