"""The seed's `square`, in Python: built by componentize-py against the `square` world."""

import wit_world


class WitWorld(wit_world.WitWorld):
    def square(self, x: int) -> int:
        return (x * x) % (1 << 64)
