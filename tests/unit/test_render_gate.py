"""RenderGate: places for large and small renders, a bounded wait, the time budget, memory handed back."""

import threading
import time

import pytest
from wsi.errors import Overloaded, status_for
from wsi.render_gate import SMALL_SLOTS_PER_SLOT, Deadline, RenderGate, release_memory

MP = 1 << 20


def test_large_means_output_or_a_quarter_of_the_decoded_source_over_the_threshold():
    gate = RenderGate(large_pixels=MP)
    assert not gate.is_large(MP, 4 * MP)
    assert gate.is_large(MP + 1, 0)
    assert gate.is_large(1000, 4 * MP + 4)  # a thumbnail of a shallow pyramid decodes many tiles


def test_at_most_n_large_renders_and_the_next_is_refused_after_the_bounded_wait():
    released = []
    gate = RenderGate(slots=2, queue_seconds=0.2, large_pixels=MP, release=lambda: released.append(1))
    with gate.admit(2 * MP, 0), gate.admit(2 * MP, 0):
        started = time.monotonic()
        with pytest.raises(Overloaded) as error, gate.admit(2 * MP, 0):
            pass
        assert 0.15 < time.monotonic() - started < 2
        assert status_for(error.value) == 503 and error.value.retry_after == 1
        assert "IIIFMaxConcurrentRenders" in str(error.value)
        with gate.admit(1000, 0):  # small renders have places of their own
            pass
    assert len(released) == 2  # glibc is asked to give memory back after each large render
    with gate.admit(2 * MP, 0):  # places are given back
        pass


def test_a_waiting_render_gets_the_place_freed_within_its_wait():
    gate = RenderGate(slots=1, queue_seconds=5, large_pixels=MP, release=lambda: None)
    order = []
    first_in = threading.Event()

    def first():
        with gate.admit(2 * MP, 0):
            first_in.set()
            time.sleep(0.3)
            order.append("first")

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(5)
    with gate.admit(2 * MP, 0):
        order.append("second")
    thread.join()
    assert order == ["first", "second"]


def test_small_renders_are_bounded_too():
    gate = RenderGate(slots=1, queue_seconds=0, large_pixels=MP, release=lambda: None)
    held = [gate.admit(100, 0) for _ in range(SMALL_SLOTS_PER_SLOT)]
    for context in held:
        context.__enter__()
    with pytest.raises(Overloaded), gate.admit(100, 0):
        pass
    for context in held:
        context.__exit__(None, None, None)


def test_a_render_that_fails_gives_its_place_back():
    gate = RenderGate(slots=1, queue_seconds=0, large_pixels=MP, release=lambda: None)
    with pytest.raises(ValueError), gate.admit(2 * MP, 0):
        raise ValueError("decoder failed")
    with gate.admit(2 * MP, 0):
        pass


def test_deadline():
    now = [100.0]
    deadline = Deadline(30, clock=lambda: now[0])
    deadline.check()
    now[0] += 29.9
    deadline.check()
    now[0] += 0.2
    with pytest.raises(Overloaded) as error:
        deadline.check()
    assert error.value.retry_after == 30 and "IIIFRenderTimeoutSeconds" in str(error.value)


def test_admit_yields_a_deadline_of_the_configured_budget():
    now = [0.0]
    gate = RenderGate(timeout_seconds=2, clock=lambda: now[0], release=lambda: None)
    with gate.admit(2 * MP, 0) as deadline:
        now[0] = 3
        with pytest.raises(Overloaded):
            deadline.check()


def test_release_memory_runs_here():
    release_memory()  # glibc's malloc_trim through ctypes; a no-op elsewhere
