"""Tests against external programs (SpyKING CIRCUS, ...), installed on purpose in their own venvs."""
