"""Packages. Everything else is in pyproject.toml.

The sandbox definition (``sandbox/``: the in-container runner and the
Dockerfile) ships inside the wheel as ``coderefl/_sandbox``, so a
non-editable install (pre-commit's hook venv) finds the runner and computes
the same image tag as a checkout does.
"""

from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["coderefl", "coderefl.*"]), "coderefl._sandbox"],
    package_dir={"coderefl._sandbox": "sandbox"},
)
