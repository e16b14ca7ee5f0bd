"""The suite's kernels: a slow start is retried, never a verdict; no more kernels at once than cores."""

import threading
import time

import pytest
from jupyter_client.manager import KernelManager

import kernels


def test_a_start_that_times_out_is_cleaned_up_and_started_again(monkeypatch):
    monkeypatch.setattr(kernels, "RETRY_PAUSE", 0.0)
    started = []

    class SlowOnce(KernelManager):
        def client(self, **kwargs):
            client = super().client(**kwargs)
            started.append(self)
            if len(started) == 1:  # what a busy machine does: the kernel does not answer in time
                ready = client.wait_for_ready

                def wait_for_ready(timeout=None):
                    ready(timeout=timeout)  # the channels are up, as after a real wait
                    raise RuntimeError(f"Kernel didn't respond in {timeout} seconds")
                client.wait_for_ready = wait_for_ready
            return client

    monkeypatch.setattr("jupyter_client.manager.KernelManager", SlowOnce)
    kernel = kernels.start_nbval_kernel("python3", ".")
    try:
        assert len(started) == 2
        assert not started[0].is_alive()  # the first kernel is not left running
        reply = kernel.kc.execute_interactive("x = 6 * 7", timeout=60)
        assert reply["content"]["status"] == "ok"
    finally:
        kernel.stop()


def test_a_kernel_that_never_starts_says_the_machine_is_overloaded(monkeypatch):
    monkeypatch.setattr(kernels, "RETRY_PAUSE", 0.0)
    stopped = []

    def start():
        raise RuntimeError("Kernel didn't respond in 120 seconds")

    with pytest.raises(RuntimeError, match="did not start in 3 attempts.*overloaded"):
        kernels.patiently(start, stopped.append, "kernel for notebooks")
    assert len(stopped) == kernels.START_ATTEMPTS


def test_an_error_that_is_not_a_slow_start_is_not_retried(monkeypatch):
    calls = []

    def start():
        calls.append(1)
        raise KeyError("no such kernel")

    with pytest.raises(KeyError):
        kernels.patiently(start, lambda error: None, "kernel")
    assert calls == [1]


def test_no_more_kernels_at_once_than_cores_and_a_wide_request_is_served(monkeypatch):
    monkeypatch.setattr(kernels, "cores", lambda: 2)
    monkeypatch.setenv("PYTEST_XDIST_TESTRUNUID", f"slots-test-{time.monotonic_ns()}")
    lock, running, most = threading.Lock(), [0], [0]

    def use(slots: int):
        with kernels.kernel_slots(slots):
            with lock:
                running[0] += slots
                most[0] = max(most[0], running[0])
            time.sleep(0.05)
            with lock:
                running[0] -= slots

    threads = [threading.Thread(target=use, args=(2 if n == 3 else 1,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert most[0] == 2
