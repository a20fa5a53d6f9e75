"""An embedded Ray whose node misses Ray's fixed 30 s start window (a loaded machine) is started again;
any other start error is raised at once. The start function is a fault injector standing in for
ray.init's failure only; the retry after a timeout with a real Ray is in the long test."""
import pytest

from tests.conftest import long_test
from w2s_ray.raycluster.runtime import start_embedded

TIMEOUT = Exception("The current node timed out during startup. This could happen because some of the "
                    "raylet failed to startup or the GCS has become overloaded.")


class Shutdowns:
    def __init__(self):
        self.calls = 0

    def shutdown(self):
        self.calls += 1


def failing(errors):
    errors = list(errors)

    def start():
        if errors:
            raise errors.pop(0)
    return start


def test_a_timed_out_node_start_is_tried_again_and_the_failed_one_shut_down():
    ray = Shutdowns()
    start_embedded(ray, failing([TIMEOUT, TIMEOUT]), attempts=3, pause_s=0)
    assert ray.calls == 2


def test_the_last_timeout_is_raised_with_the_number_of_attempts():
    with pytest.raises(RuntimeError, match="did not start in Ray's 30 s, 2 times"):
        start_embedded(Shutdowns(), failing([TIMEOUT] * 2), attempts=2, pause_s=0)


def test_another_start_error_is_not_retried():
    ray = Shutdowns()
    with pytest.raises(ValueError, match="bad num_cpus"):
        start_embedded(ray, failing([ValueError("bad num_cpus"), TIMEOUT]), attempts=3, pause_s=0)
    assert ray.calls == 0


@long_test
def test_a_real_embedded_ray_starts_after_an_injected_timeout(tmp_path, monkeypatch):
    import ray as real_ray

    from w2s_ray.raycluster import runtime

    real_init, calls = real_ray.init, []

    def init_failing_once(*args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise TIMEOUT
        return real_init(*args, **kwargs)

    monkeypatch.setattr(real_ray, "init", init_failing_once)
    try:
        runtime.init_ray(num_cpus=1)
        assert real_ray.is_initialized() and len(calls) == 2
        assert real_ray.get(real_ray.remote(lambda: 7).remote()) == 7
    finally:
        real_ray.shutdown()
