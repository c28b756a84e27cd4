"""The seed's sleeping `square`, in Python: sleeps 0-450 ms (the same fixed pause for each `x`
as the Rust `sleepy-square`), then returns `x * x`, so `--unordered` shows results arriving as
they complete."""

import time

import wit_world


class WitWorld(wit_world.WitWorld):
    def square(self, x: int) -> int:
        pause = (x * 7 + 3) % 10 * 50
        time.sleep(pause / 1000)
        return (x * x) % (1 << 64)
