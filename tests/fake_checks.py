"""Fake symbolic checks for the worker pool (symbolic_worker), to inject a fault: a check that never
finishes on one input, the way sympy does on some answers the guard lets through."""
from __future__ import annotations

import os
import time


def slow_on_slow(gold: str, answer: str) -> bool:
    """Equal strings are equal; "slow" spins in one C call that holds the GIL for minutes (a big
    integer power, as sympy does on 10^{10^{10}}); "asleep" blocks without using CPU; "crash" kills
    the worker."""
    if answer == "slow":
        pow(3, 3 ** 17)  # ~25 MB result, minutes of Karatsuba squaring in one uninterruptible call
    if answer == "asleep":
        time.sleep(3600)
    if answer == "crash":
        os._exit(3)
    return gold == answer
