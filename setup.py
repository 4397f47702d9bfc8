"""Packages for setuptools; everything else is in pyproject.toml.

The repository keeps `resources/` at its top level; installed, it becomes `app/resources`.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["app", "app.*"]), "app.resources"],
      package_dir={"app.resources": "resources"},
      package_data={"app.resources": ["**/*"]})
