"""Build hook: ``conf/`` and ``jobs/`` stay at the repository top (the design's layout) and go
into the wheel as package data, ``cslake/_data/conf`` and ``cslake/_data/jobs``, where
:mod:`cslake.resources` finds them through ``importlib.resources``.

Everything else about the package is in pyproject.toml. An editable install (``pip install
-e .``) copies nothing: it reads conf/ and jobs/ from the checkout itself.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SHIPPED = ("conf", "jobs")  # top-level folders that become cslake/_data/<name>


def _shipped_files(folder: Path):
    for f in sorted(folder.rglob("*")):
        if f.is_file() and "__pycache__" not in f.parts and f.suffix not in {".pyc", ".pyo"}:
            yield f


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "cslake" / "_data"
        shutil.rmtree(target, ignore_errors=True)  # no stale file from an earlier build
        for name in SHIPPED:
            src = ROOT / name
            for f in _shipped_files(src):
                dest = target / name / f.relative_to(src)
                self.mkpath(str(dest.parent))
                self.copy_file(str(f), str(dest), preserve_mode=False)


setup(cmdclass={"build_py": build_py_with_data})
