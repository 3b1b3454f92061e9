"""Concurrent clients against `convention-qa serve` on 127.0.0.1: throughput, latency, errors, memory.

    python benchmarks/load.py [--llm extractive] [--clients 1 8 32] [--seconds 20]

Starts the server on a free loopback port with the shipped corpus, then for each client count
runs that many threads posting /api/ask in a loop until the time is up (requests in flight are
finished and counted). Prints requests/s, p50/p95 latency, errors (anything but 200) and the
server's peak RSS. With the local model, answers queue behind one model instance by design.

Then one client asks normal questions for the same time twice: alone, and while another client
keeps abusive requests in flight (/v1/chat/completions with a 100 kB earlier user message and
a short follow-up, the request that used to hold the embedder for minutes). Its p50/p95 in
both runs show how much one abusive client can slow everyone else.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "Berapa negara yang menandatangani Konvensi Hanoi?",
    "How many articles does the Hanoi Convention have?",
    "Siapa yang mengambil foto panorama sesi diskusi?",
    "Who won the 2022 FIFA World Cup final?",
    "Berapa pidato yang didengarkan pada sesi pleno?",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def run_clients(url: str, clients: int, seconds: float) -> tuple[int, int, list[float], float]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        nonlocal errors
        with httpx.Client(timeout=900) as session:
            i = index
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    ok = session.post(url, json={"question": QUESTIONS[i % len(QUESTIONS)]}).status_code == 200
                except httpx.HTTPError:
                    ok = False
                with lock:
                    latencies.append(time.perf_counter() - started)
                    errors += not ok
                i += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), errors, latencies, time.perf_counter() - started


ABUSE = {
    "messages": [
        {"role": "user", "content": "Konvensi Hanoi tentang kejahatan siber. " * 2500},  # about 100 kB
        {"role": "assistant", "content": "Baik."},
        {"role": "user", "content": "Dan berapa pasalnya?"},
    ]
}


def abuse_rows(base: str, seconds: float) -> None:
    print("\none client's questions, alone and with an abusive client in flight:")
    print("| run | requests | p50 s | p95 s | errors | abusive requests (errors) |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, abusive in (("alone", False), ("with abuse", True)):
        stop = threading.Event()
        sent, failed = [0], [0]

        def abuser(stop: threading.Event = stop, sent: list[int] = sent, failed: list[int] = failed) -> None:
            with httpx.Client(timeout=300) as session:
                while not stop.is_set():
                    try:
                        failed[0] += session.post(f"{base}/v1/chat/completions", json=ABUSE).status_code >= 500
                    except httpx.HTTPError:
                        failed[0] += 1
                    sent[0] += 1

        thread = threading.Thread(target=abuser, daemon=True)
        if abusive:
            thread.start()
            time.sleep(1)
        count, errors, latencies, _ = run_clients(f"{base}/api/ask", 1, seconds)
        stop.set()
        if abusive:
            thread.join(timeout=300)
        ordered = sorted(latencies)
        p95 = ordered[max(0, int(0.95 * len(ordered)) - 1)]
        extra = f"{sent[0]} ({failed[0]})" if abusive else "-"
        print(
            f"| {label} | {count} | {statistics.median(latencies):.3f} | {p95:.3f} | {errors} | {extra} |", flush=True
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llm", default="extractive")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--models-dir", type=Path, default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(ROOT / "corpus", Path(tmp) / "corpus")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONVENTION_QA_")}
        env.update(
            CONVENTION_QA_DATA_DIR=f"{tmp}/data",
            CONVENTION_QA_CORPUS_DIR=f"{tmp}/corpus",
            CONVENTION_QA_LLM=args.llm,
            CONVENTION_QA_PORT=str(port),
        )
        if args.models_dir:
            env["CONVENTION_QA_MODELS_DIR"] = str(args.models_dir)
        server = subprocess.Popen(
            [sys.executable, "-m", "convention_qa", "serve"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(600):
                try:
                    httpx.get(f"{base}/health", timeout=2)
                    break
                except httpx.HTTPError:
                    time.sleep(0.5)
            httpx.post(f"{base}/api/ask", json={"question": QUESTIONS[0]}, timeout=900)  # warm-up
            print(f"llm={args.llm}, {args.seconds:.0f} s per row")
            print("| clients | requests | requests/s | p50 s | p95 s | errors | server peak RSS MB |")
            print("|---:|---:|---:|---:|---:|---:|---:|")
            for clients in args.clients:
                count, errors, latencies, elapsed = run_clients(f"{base}/api/ask", clients, args.seconds)
                ordered = sorted(latencies)
                p95 = ordered[max(0, int(0.95 * len(ordered)) - 1)]
                print(
                    f"| {clients} | {count} | {count / elapsed:.2f} | {statistics.median(latencies):.3f} | "
                    f"{p95:.3f} | {errors} | {peak_rss_mb(server.pid):.0f} |",
                    flush=True,
                )
            abuse_rows(base, args.seconds)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
