"""Packaging beside pyproject.toml: the folder each import name is built from.

The repository keeps its folders (``harness/``, ``targets/``); the wheel installs them as
``paychaos`` and ``paychaos_targets``, names no other project on PyPI uses.
"""

from setuptools import find_namespace_packages, setup

FOLDERS = {"paychaos": "harness", "paychaos_targets": "targets"}

setup(
    package_dir=FOLDERS,
    # Every folder, also one holding only data (a target's experiments/): pyproject.toml's
    # package-data reaches only the files of listed packages.
    packages=[
        name if not sub else f"{name}.{sub}"
        for name, folder in FOLDERS.items()
        for sub in ["", *find_namespace_packages(folder, exclude=["*__pycache__"])]
    ],
)
