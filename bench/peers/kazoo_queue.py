#!/usr/bin/python3
"""Kazoo's LockingQueue as a peer of the zkjobs bench (issue 7).

Run with Debian's own interpreter and package: /usr/bin/python3 with python3-kazoo.

  kazoo_queue.py produce HOSTS PATH COUNT BATCH
      puts COUNT items with LockingQueue.put_all in transactions of BATCH, prints
      {"event": "produced", "t0": ms, "t1": ms}
  kazoo_queue.py consume HOSTS PATH THREADS DEADLINE_S
      THREADS consumer threads (one LockingQueue each, one shared KazooClient) loop
      get() -> no-op -> consume(); prints {"event": "ready"} then {"event": "count", "n", "last"}
      lines (times in ms since the epoch) whenever the count changes.

Stops on SIGTERM (closing its session, so its lock nodes go at once), when stdin closes (the
bench died), and after DEADLINE_S in any case. Only talks to the hosts it is given.
"""
import json
import os
import signal
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.recipe.queue import LockingQueue


def out(**kw):
    sys.stdout.write(json.dumps(kw) + "\n")
    sys.stdout.flush()


def exit_when_stdin_closes():
    def run():
        try:
            while sys.stdin.buffer.read(1):
                pass
        finally:
            os._exit(0)

    threading.Thread(target=run, daemon=True).start()


def connect(hosts):
    zk = KazooClient(hosts=hosts, timeout=10.0)
    zk.start(timeout=15)
    return zk


def produce(hosts, path, count, batch):
    zk = connect(hosts)
    q = LockingQueue(zk, path)
    t0 = time.time()
    sent = 0
    while sent < count:
        n = min(batch, count - sent)
        q.put_all([b"{}"] * n)
        sent += n
    t1 = time.time()
    out(event="produced", count=count, t0=t0 * 1000, t1=t1 * 1000)
    zk.stop()
    zk.close()


def consume(hosts, path, threads, deadline_s):
    zk = connect(hosts)
    lock = threading.Lock()
    state = {"n": 0, "last": 0.0}
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    def loop():
        q = LockingQueue(zk, path)
        while not stop.is_set():
            try:
                item = q.get(timeout=0.5)
                if item is None:
                    continue
                q.consume()  # the no-op job is done
            except Exception as e:  # noqa: BLE001 - report and go on, as a consumer would
                if not stop.is_set():
                    out(event="error", message=repr(e))
                    time.sleep(0.05)
                continue
            with lock:
                state["n"] += 1
                state["last"] = time.time() * 1000

    LockingQueue(zk, path)._ensure_paths()
    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for t in workers:
        t.start()
    out(event="ready", pid=os.getpid())
    end = time.time() + deadline_s
    reported = -1
    while not stop.is_set() and time.time() < end:
        time.sleep(0.02)
        with lock:
            n, last = state["n"], state["last"]
        if n != reported:
            reported = n
            out(event="count", n=n, last=last)
    try:
        zk.stop()
        zk.close()
    finally:
        out(event="stopped")
        os._exit(0)


def main():
    exit_when_stdin_closes()
    role = sys.argv[1]
    if role == "produce":
        produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif role == "consume":
        consume(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        raise SystemExit("usage: kazoo_queue.py produce|consume ...")


if __name__ == "__main__":
    main()
