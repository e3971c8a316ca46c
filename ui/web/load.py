"""The web app's load benchmark: concurrent sessions through ``gradio_client``, one thread each.

``run_load(url, sessions=10, turns=3)`` holds a short consultation per session against a running
app (``anamnesis chat``) and returns errors, turn latency p50/p95 in ms and the wall time.
Each ``Client`` has its own Gradio session, so each thread is a separate patient.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

OPENINGS = (
    "I have had a bad headache and a fever for two days",
    "I've had a cough and a runny nose for three days",
    "burning when I pee and going all the time since yesterday",
    "tummy pain low down on the right and I feel sick",
    "itchy red rash on my arms that started two days ago",
)
ANSWERS = ("no", "yes", "not really", "no", "a little", "no")


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def patient_lines(session: int, turns: int) -> list[str]:
    """The messages of one simulated session: an opening complaint, then short answers."""
    lines = [OPENINGS[session % len(OPENINGS)]]
    lines += [ANSWERS[(session + i) % len(ANSWERS)] for i in range(turns - 1)]
    return lines


def run_load(url: str, sessions: int = 10, turns: int = 3, consent: bool = False) -> dict:
    """Drive ``sessions`` concurrent consultations of ``turns`` messages each through /chat."""
    from gradio_client import Client

    latencies: list[float] = []
    errors: list[str] = []
    guard = threading.Lock()

    def one(session: int) -> None:
        try:
            client = Client(url, verbose=False)
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            with guard:
                errors.append(f"session {session}: connect: {exc!r}"[:300])
            return
        for text in patient_lines(session, turns):
            start = time.perf_counter()
            try:
                result = client.predict(text, consent, api_name="/chat")
                if not result or not result[0]:
                    raise RuntimeError("the chat came back empty")
            except Exception as exc:  # noqa: BLE001
                with guard:
                    errors.append(f"session {session}: {exc!r}"[:300])
                continue
            with guard:
                latencies.append((time.perf_counter() - start) * 1000)

    wall = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        list(pool.map(one, range(sessions)))
    wall = time.perf_counter() - wall
    return {
        "url": url,
        "sessions": sessions,
        "turns_per_session": turns,
        "turns_ok": len(latencies),
        "errors": len(errors),
        "error_examples": errors[:5],
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p95_ms": round(percentile(latencies, 0.95), 1),
        "max_ms": round(max(latencies), 1) if latencies else math.nan,
        "wall_s": round(wall, 2),
        "turns_per_s": round(len(latencies) / wall, 2) if wall > 0 else math.nan,
    }
