"""The seed's `worker(num)`, in Python: prints a start and a finish line on stdout."""

import wit_world


class WitWorld(wit_world.WitWorld):
    def worker(self, num: int) -> None:
        print(f"Starting worker {num}")
        print(f"Finished worker {num}")
