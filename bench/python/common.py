"""Shared by the Python contenders of `cargo xtask bench`: the task functions (the same
algorithms as the guest tasks in guest-tasks/) and the `metric` line the harness reads."""

import hashlib
import json


def square(x):
    """guest-tasks/square: x * x, wrapping at 64 bits."""
    return (x * x) & 0xFFFFFFFFFFFFFFFF


def is_prime(candidate):
    """Trial division by 2, then by every odd number up to the square root."""
    if candidate < 2:
        return False
    if candidate % 2 == 0:
        return candidate == 2
    divisor = 3
    while divisor * divisor <= candidate:
        if candidate % divisor == 0:
            return False
        divisor += 2
    return True


def primes(n):
    """guest-tasks/primes: how many primes are below n."""
    count = 0
    for candidate in range(n):
        if is_prime(candidate):
            count += 1
    return count


def sha256_line(line):
    """guest-tasks/hash on one JSON Lines input: the hex SHA-256 of the string, as JSON."""
    return json.dumps(hashlib.sha256(json.loads(line).encode()).hexdigest())


def metric(name, value, unit):
    """One in-process measurement, in the form the harness reads."""
    print(f"metric {name} {value:.3f} {unit}")
