"""Wavescope: browse extracellular recordings, write sorter params, run jobs."""

__version__ = "0.1.0"
