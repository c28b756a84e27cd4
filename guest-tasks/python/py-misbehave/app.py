"""A Python task that misbehaves on purpose: an exception raised two calls deep, `sys.exit`,
and a result of the wrong type (see `wit/py-misbehave.wit`)."""

import sys

import wit_world


def check(msg: str) -> int:
    raise ValueError(msg)


class WitWorld(wit_world.WitWorld):
    def boom(self, msg: str) -> int:
        return check(msg)

    def quit(self, code: int) -> int:
        sys.exit(code)

    def wrong_type(self, x: int) -> int:
        return "not a number"  # type: ignore[return-value]

    def id(self, x: int) -> int:
        return x
