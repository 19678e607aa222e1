"""Acknowledgement order under strace: for every 2xx answer to a write, was the commit's part of
the write-ahead log on disk before the answer left?

kill -9 only kills the process: the kernel keeps what was written, so it cannot tell
`synchronous = full` from `normal`. A power loss drops whatever was not flushed. This check
looks at the order of system calls instead: it runs the release binary under
`strace -f -ttt -T -y` (epoll driver, whose socket I/O is system calls; io_uring's is not,
and the acknowledgement wait in src/server/conn.rs is the same code for both), puts write load
on it (key pair imports, flavor and server creates and deletes) and then, for each answer
`HTTP/1.1 2xx` to a POST or DELETE, finds the `-wal` writes the answering thread made since
it read that request (the commit) and asks whether an `fsync`/`fdatasync` of the `-wal` file,
by any thread, began after the last of them ended and ended before the answer was sent.
strace takes each time stamp while the traced thread is stopped at the system call's entry
or exit, so its interval contains the call's real one: "began after" and "ended before" on
those stamps hold for the real calls too.

Under `full` every acknowledgement must be covered (exit status 1 otherwise). Under `normal`
the script reports how many were sent before any flush covered them: those are the writes a
power loss at that moment could take back (they survive kill -9, which the crash rounds
show). NORMAL answers before flushing by design, so a `normal` run that finds none fails:
it is the check's own control, proof that it can see an unflushed acknowledgement.

Usage: python3 fsync_order.py --binary target/release/ringnova --work DIR
           --synchronous full|normal [--seconds 3] [--clients 4]
Needs strace; Python standard library only.
"""

import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crash_safety import (  # noqa: E402  (the sibling module, found through sys.path)
    ADMIN,
    IMAGE,
    PUBLIC_KEY,
    Client,
    keypair_token,
    server_token,
    write_config,
)

TRACED = (
    "pwrite64,pwritev,write,writev,fsync,fdatasync,sendto,sendmsg,"
    "read,readv,recvfrom,recvmsg"
)
LINE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$")
CALL = re.compile(r"^(\w+)\((\d+)<([^>]*)>(.*)$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)$")
DURATION = re.compile(r"<(\d+\.\d+)>\s*$")
SOCKET_READS = {"read", "readv", "recvfrom", "recvmsg"}
SOCKET_WRITES = {"write", "writev", "sendto", "sendmsg"}


def parse(path):
    """The completed calls of the trace: (tid, name, fd target, args text, start, end), in
    start order."""
    calls = []
    pending = {}
    with open(path, errors="replace") as f:
        for raw in f:
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            tid, ts, rest = int(m.group(1)), float(m.group(2)), m.group(3)
            resumed = RESUMED.match(rest)
            if resumed:
                begun = pending.pop((tid, resumed.group(1)), None)
                dur = DURATION.search(rest)
                if begun and dur:
                    # What a call reads is printed when it returns, on the resumed line.
                    name, target, args, start = begun
                    args = args.replace("<unfinished ...>", "") + resumed.group(2)
                    calls.append((tid, name, target, args, start, start + float(dur.group(1))))
                continue
            call = CALL.match(rest)
            if not call:
                continue
            name, target, args = call.group(1), call.group(3), call.group(4)
            if rest.endswith("<unfinished ...>"):
                pending[(tid, name)] = (name, target, args, ts)
                continue
            dur = DURATION.search(rest)
            if dur:
                calls.append((tid, name, target, args, ts, ts + float(dur.group(1))))
    calls.sort(key=lambda c: c[4])
    return calls


def analyse(calls):
    """Counts (acknowledgements, covered, uncovered, without a commit). A worker thread
    dispatches a request in the same step that read it (src/server/conn.rs), so the `-wal`
    writes a thread makes after reading from a socket, until it reads from another, are that
    request's commit."""
    flushes = sorted(
        (start, end)
        for _, name, target, _, start, end in calls
        if name in ("fsync", "fdatasync") and target.endswith("-wal")
    )
    request = {}  # socket -> [method, end of each -wal write of its commit]
    reading = {}  # thread -> the socket it read last
    acks = covered = uncovered = no_commit = 0
    for tid, name, target, args, start, end in calls:
        if name in ("pwrite64", "pwritev") and target.endswith("-wal"):
            socket = reading.get(tid)
            if socket in request:
                request[socket][1].append(end)
        elif name in SOCKET_READS and target.startswith("socket:"):
            reading[tid] = target
            method = args.lstrip(', "').split(" ", 1)[0]
            if method in ("POST", "DELETE", "PUT", "GET", "HEAD"):
                request[target] = [method, []]
        elif name in SOCKET_WRITES and target.startswith("socket:"):
            if '"HTTP/1.1 2' not in args:
                continue
            asked = request.pop(target, None)
            if asked is None or asked[0] not in ("POST", "DELETE", "PUT"):
                continue
            acks += 1
            if not asked[1]:
                no_commit += 1
                continue
            last = max(asked[1])
            if any(f_start >= last and f_end <= start for f_start, f_end in flushes):
                covered += 1
            else:
                uncovered += 1
    return acks, covered, uncovered, no_commit


def load(addr, seconds, clients):
    """Write load from `clients` threads for `seconds`; returns the 2xx count."""
    acked = [0] * clients
    deadline = time.monotonic() + seconds

    def run(slot):
        client = Client(addr)
        n = 0
        servers = []
        while time.monotonic() < deadline:
            n += 1
            kind = n % 4
            if kind == 0:
                body = {"keypair": {"name": f"o-{slot}-{n}", "public_key": PUBLIC_KEY}}
                got = client.call("POST", "/v2.1/os-keypairs", keypair_token(slot), body)
            elif kind == 1:
                fid = f"o-{slot}-{n}"
                body = {"flavor": {"name": fid, "ram": 64, "vcpus": 1, "disk": 1, "id": fid}}
                got = client.call("POST", "/v2.1/flavors", ADMIN, body)
            elif kind == 2:
                body = {"server": {"name": f"o-{slot}-{n}", "imageRef": IMAGE,
                                   "flavorRef": "1", "networks": "auto"}}
                got = client.call("POST", "/v2.1/servers", server_token(slot), body, "2.37")
                if got and got[0] == 202:
                    servers.append(got[1]["server"]["id"])
            elif servers:
                got = client.call(
                    "DELETE", f"/v2.1/servers/{servers.pop(0)}", server_token(slot)
                )
            else:
                continue
            if got and 200 <= got[0] < 300:
                acked[slot] += 1
        client.close()

    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(acked)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", required=True, help="scratch directory (emptied first)")
    parser.add_argument("--synchronous", choices=["normal", "full"], required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    if os.path.exists(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work)
    conf = os.path.join(args.work, "ringnova.conf")
    write_config(conf, args)
    trace = os.path.join(args.work, "trace.txt")
    log = open(os.path.join(args.work, "server.log"), "w")
    proc = subprocess.Popen(
        ["strace", "-f", "-qq", "-ttt", "-T", "-y", "-s", "16", "-e", f"trace={TRACED}",
         "-o", trace, args.binary, "--config-file", conf, "--listen", "127.0.0.1:0",
         "--workers", "2", "--driver", "legacy", "--cpus", "off",
         "--data-dir", os.path.join(args.work, "data")],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    line = ""
    if select.select([proc.stdout], [], [], 60)[0]:
        line = proc.stdout.readline()
    m = re.search(r"http://([0-9.]+):(\d+)", line)
    if not m:
        proc.kill()
        proc.wait()
        print(f"ringnova did not start under strace: {line!r} (see {log.name})")
        return 1
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    # ringnova itself is strace's child: signals go to it, and strace ends with it.
    with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
        server_pid = int(f.read().split()[0])
    try:
        acked = load((m.group(1), int(m.group(2))), args.seconds, args.clients)
        os.kill(server_pid, signal.SIGTERM)
        proc.wait(timeout=30)
    except BaseException:
        os.kill(server_pid, signal.SIGKILL)
        proc.wait()
        print("FAILED: the load or the SIGTERM stop of ringnova under strace did not finish")
        raise
    acks, covered, uncovered, no_commit = analyse(parse(trace))
    print(
        f"fsync order (synchronous = {args.synchronous}): {acked} writes acknowledged to the "
        f"clients, {acks} found in the trace; {covered} sent after a -wal flush that began "
        f"after their commit, {uncovered} sent before any such flush, {no_commit} without a "
        f"commit of their own",
        flush=True,
    )
    if acks == 0 or acks < acked * 0.98:
        print("FAILED: too few acknowledgements found in the trace: the parser does not match it")
        return 1
    if args.synchronous == "full" and uncovered:
        print(f"FAILED: {uncovered} acknowledgements left before their commit was flushed")
        return 1
    if args.synchronous == "normal" and not uncovered:
        # NORMAL answers before any flush by design: seeing none means the check is blind.
        print("FAILED: under normal every acknowledgement looked flushed; the check cannot see")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
