"""A Python task that misbehaves on purpose: an exception raised two calls deep, `sys.exit`,
a result of the wrong type, an allocation past any limit and a socket (see
`wit/py-misbehave.wit`); and a counter that shows whether an instance is kept between tasks."""

import sys

import wit_world

served = 0


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

    def calls(self) -> int:
        global served
        served += 1
        return served

    def hog(self, mib: int) -> int:
        block = bytearray(mib << 20)
        return len(block)

    def dial(self, host: str) -> str:
        try:
            import socket  # noqa: PLC0415 (the import is what is tried)

            socket.create_connection((host, 80), timeout=1)
        except Exception as e:  # noqa: BLE001 (any failure is the answer)
            return f"{type(e).__name__}: {e}"
        return "connected"
