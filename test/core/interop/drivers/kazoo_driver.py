"""One Kazoo contender, driven by lines on stdin; replies one line each on stdout.

Usage: /usr/bin/python3 kazoo_driver.py <connect/chroot> <ledger file> <id>
See interop-driver.ts for the protocol. The ledger gets "enter <id> <what>" after an
acquisition and "exit <id> <what>" before a release, appended (O_APPEND) one line per write.
"""
import base64
import logging
import os
import sys

from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import LockTimeout

logging.basicConfig(level=logging.CRITICAL)

connect, ledger_file, ident = sys.argv[1:4]
ledger = os.open(ledger_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)


def say(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def log(what, kind):
    os.write(ledger, ("%s %s %s\n" % (what, ident, kind)).encode())


def b64(data):
    return base64.b64encode(data or b"").decode()


zk = KazooClient(hosts=connect, timeout=2.0)
zk.start(timeout=20)
say("ready")

lock = None
kind = ""
for raw in sys.stdin:
    w = raw.split()
    if not w:
        continue
    try:
        cmd = w[0]
        if cmd in ("mutex", "read", "write"):
            # mutex|read|write <path> [extra_lock_patterns, comma-separated]
            extra = w[2].split(",") if len(w) > 2 else ()
            cls = {"mutex": zk.Lock, "read": zk.ReadLock, "write": zk.WriteLock}[cmd]
            lock = cls(w[1], ident, extra_lock_patterns=extra)
            kind = cmd
            say("ok")
        elif cmd == "semaphore":  # semaphore <path> <max_leases>
            lock = zk.Semaphore(w[1], ident, max_leases=int(w[2]))
            kind = cmd
            say("ok")
        elif cmd == "acquire":  # acquire [timeoutMs]
            timeout = int(w[1]) / 1000.0 if len(w) > 1 else 60.0
            try:
                got = lock.acquire(timeout=timeout)
            except LockTimeout:
                got = False
            if got:
                log("enter", kind)
                say("held")
            else:
                say("timeout")
        elif cmd == "release":
            log("exit", kind)
            lock.release()
            say("released")
        elif cmd == "lead":  # lead <path>: an Election; the leader function waits for "resign"

            term = {"on": False}

            def lost(state):
                # Kazoo's Election has no lost-leadership signal: a suspended or lost
                # connection ends the term in the ledger.
                if state != KazooState.CONNECTED and term["on"]:
                    term["on"] = False
                    log("exit", "leader")

            def leading():
                term["on"] = True
                log("enter", "leader")
                zk.add_listener(lost)
                say("leader")
                for line in sys.stdin:
                    if line.split() == ["resign"]:
                        break
                zk.remove_listener(lost)
                if term["on"]:
                    term["on"] = False
                    log("exit", "leader")

            zk.Election(w[1], ident).run(leading)
            say("resigned")
        elif cmd == "get":  # get <path>
            data, _ = zk.get(w[1])
            say("value " + b64(data))
        elif cmd == "set":  # set <path> <base64>: creates the node when missing
            data = base64.b64decode(w[2]) if len(w) > 2 else b""
            if zk.exists(w[1]):
                zk.set(w[1], data)
            else:
                zk.create(w[1], data, makepath=True)
            say("ok")
        elif cmd == "watch":  # watch <path>: "changed <base64>" on each change (DataWatch)

            @zk.DataWatch(w[1])
            def changed(data, stat):
                say("changed " + b64(data))

            say("ok")
        elif cmd == "quit":
            zk.stop()
            say("bye")
            break
        else:
            say("error unknown command " + cmd)
    except Exception as e:  # reported, never fatal
        say("error %s: %s" % (type(e).__name__, str(e).replace("\n", " ")))
