"""Sizes and numbers as people read them, by `humanize` from PyPI (see `requirements.txt`):
a task that bundles a pure-Python library (see `wit/py-humanize.wit`)."""

import humanize

import wit_world


class WitWorld(wit_world.WitWorld):
    def natural_size(self, bytes: int) -> str:
        return humanize.naturalsize(bytes)

    def intcomma(self, n: int) -> str:
        return humanize.intcomma(n)
