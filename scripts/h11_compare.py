#!/usr/bin/env python3
"""Differential check of ringnova's HTTP/1.1 framing against h11, on the desync corpus.

Every case of tests/desync_cases.json (raw bytes plus the follow-up request, exactly as
tests/desync.rs builds them) is fed to h11 as a server-side Connection and, over loopback,
to a ringnova started here on a scratch directory and a free port. Each side is classified
the same way:

  accepted requests, in order: method and target (and, for h11, the decoded body)
  the framing error that ends the stream, if any: its status
  the end: "close" (the server decided to close), "eof" (it kept the connection until
  the client's end of stream, whether in sync or waiting for more), or, for h11 only,
  "tunnel" (a CONNECT was accepted: what follows is not HTTP)

ringnova's side is observed, not assumed: after the bytes, the client half-closes and reads
every response; a response carrying a request id is an accepted request whose method and
target come from ringnova's access log (matched by that id); a closing response without one
is a framing error; the last response's Connection header gives the end. ringnova's bodies
are not visible over the API: the h11 bodies are compared with the corpus's, which
tests/desync.rs proves are what ringnova's framing decodes.

A disagreement is allowed only when the case carries an "h11" reason in the corpus; the
script fails on any other, on an "h11" reason that no longer matches a disagreement, and on
ringnova disagreeing with the corpus itself.

Usage: h11_compare.py RINGNOVA_BINARY
"""

import json
import os
import queue
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import h11

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "tests", "desync_cases.json")
ACCESS = re.compile(r"\[(req-[0-9a-f-]{36})\] \S+ \"([^ ]*) (.*)\" status: (\d+) len:")


def raw_of(value):
    """The bytes of a corpus raw value (string, or list of strings and repeat parts)."""
    if isinstance(value, str):
        return value.encode("latin-1")
    out = b""
    for part in value:
        if isinstance(part, str):
            out += part.encode("latin-1")
        else:
            out += part["repeat"].encode("latin-1") * part["times"]
    return out


def load_corpus():
    with open(CORPUS, encoding="utf-8") as f:
        table = json.load(f)
    follow = table["follow_up"]
    cases = []
    for case in table["cases"]:
        data = raw_of(case["raw"])
        if case.get("follow_up", True):
            data += follow["raw"].encode("latin-1")
        accept = [follow if a == "follow_up" else a for a in case["accept"]]
        cases.append(dict(case, data=data, accept=accept))
    return cases


class Outcome:
    """What one side made of a case."""

    def __init__(self, requests, reject, end):
        self.requests = requests  # [(method, target)], "?" where unknown
        self.reject = reject  # status or None
        self.end = end  # "close" or "eof"

    def text(self):
        parts = []
        if self.requests:
            parts.append("accept " + ", ".join(f"{short(m)} {short(t)}" for m, t in self.requests))
        if self.reject is not None:
            parts.append(f"reject {self.reject}")
        parts.append(self.end)
        return "; ".join(parts)


def short(text, limit=24):
    return text if len(text) <= limit else text[:limit] + "..."


def run_h11(data, piece=1):
    """h11 as a server, fed `piece` bytes at a time as a socket would deliver them (h11
    enforces its head-size limit only on incomplete heads); returns the Outcome and the
    decoded bodies of the accepted requests."""
    conn = h11.Connection(h11.SERVER)
    requests, bodies, current = [], [], None
    offset = 0
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as err:
            return Outcome(requests, err.error_status_hint, "close"), bodies
        if event is h11.NEED_DATA:
            if offset >= len(data):
                return Outcome(requests, None, "eof"), bodies
            conn.receive_data(data[offset:offset + piece])
            offset += piece
        elif event is h11.PAUSED:
            return Outcome(requests, None, "eof"), bodies
        elif isinstance(event, h11.Request):
            current = (event.method.decode("latin-1"), event.target.decode("latin-1"), [b""])
        elif isinstance(event, h11.Data):
            current[2][0] += event.data
        elif isinstance(event, h11.EndOfMessage):
            requests.append(current[:2])
            bodies.append(current[2][0])
            conn.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
            if conn.our_state is h11.SWITCHED_PROTOCOL:
                # A 2xx to CONNECT makes the rest of the stream a tunnel, not requests.
                return Outcome(requests, None, "tunnel"), bodies
            conn.send(h11.EndOfMessage())
            if h11.MUST_CLOSE in (conn.our_state, conn.their_state):
                return Outcome(requests, None, "close"), bodies
            conn.start_next_cycle()
        elif isinstance(event, h11.ConnectionClosed):
            return Outcome(requests, None, "close"), bodies


class Ringnova:
    """A ringnova process on a scratch directory; its access log indexed by request id."""

    def __init__(self, binary):
        os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="h11-compare-", dir=os.path.join(ROOT, "target"))
        conf = os.path.join(self.dir, "ringnova.conf")
        paste = os.path.join(ROOT, "config", "api-paste.ini")
        with open(conf, "w") as f:
            f.write(f"[wsgi]\napi_paste_config = {paste}\n[ringnova]\nlog_level = warn\naccess_log = true\n")
        self.proc = subprocess.Popen(
            [binary, "--config-file", conf, "--listen", "127.0.0.1:0", "--workers", "1",
             "--driver", "legacy", "--cpus", "off", "--data-dir", os.path.join(self.dir, "data")],
            cwd=self.dir, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.log = {}
        self.log_lock = threading.Condition()
        threading.Thread(target=self._read_log, daemon=True).start()
        ready = queue.Queue()
        threading.Thread(target=lambda: ready.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            line = ready.get(timeout=30).decode()
            self.addr = line.split("http://")[1].split()[0].rsplit(":", 1)
        except (queue.Empty, IndexError):
            self.stop()
            sys.exit("ringnova did not become ready")

    def _read_log(self):
        for line in self.proc.stderr:
            match = ACCESS.search(line.decode("utf-8", "replace"))
            if match:
                with self.log_lock:
                    self.log[match.group(1)] = (match.group(2), match.group(3))
                    self.log_lock.notify_all()

    def logged(self, request_id):
        deadline = time.monotonic() + 5
        with self.log_lock:
            while request_id not in self.log:
                left = deadline - time.monotonic()
                if left <= 0:
                    return ("?", "?")
                self.log_lock.wait(left)
            return self.log[request_id]

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def run(self, data):
        """Sends a case, half-closes, reads every response; returns Outcome and statuses."""
        sock = socket.create_connection((self.addr[0], int(self.addr[1])), timeout=5)
        try:
            sock.sendall(data)
        except OSError:
            pass  # refused early and closed: the answer is still in the receive buffer
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        received = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            received += chunk
        sock.close()
        requests, statuses, reject, end = [], [], None, "eof"
        for status, headers in parse_responses(received):
            request_id = headers.get("x-openstack-request-id") or headers.get("x-compute-request-id")
            closes = headers.get("connection", "").lower() == "close"
            end = "close" if closes else "eof"
            if request_id:
                requests.append(self.logged(request_id))
                statuses.append(status)
            elif closes and status >= 400:
                reject = status
            else:
                requests.append(("?", "?"))
                statuses.append(status)
        return Outcome(requests, reject, end), statuses


def parse_responses(data):
    """(status, lower-cased headers) of each final response in `data`."""
    out = []
    while data:
        end = data.find(b"\r\n\r\n")
        if end < 0:
            break
        lines = data[:end].decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0")) if status >= 200 else 0
        data = data[end + 4 + length:]
        if status >= 200:
            out.append((status, headers))
    return out


def same_requests(a, b):
    if len(a) != len(b):
        return False
    return all(x == "?" or y == "?" or x == y for p, q in zip(a, b) for x, y in zip(p, q))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cases = load_corpus()
    server = Ringnova(os.path.abspath(sys.argv[1]))
    rows, problems = [], []
    try:
        for case in cases:
            name = case["name"]
            mine, statuses = server.run(case["data"])
            theirs, bodies = run_h11(case["data"])
            # ringnova must do what the corpus says (tests/desync.rs checks it too).
            want = Outcome([(a["method"], a["target"]) for a in case["accept"]], case["reject"],
                           "close" if case["end"] == "close" else "eof")
            if (not same_requests(mine.requests, want.requests) or mine.reject != want.reject
                    or mine.end != want.end or statuses != [a["status"] for a in case["accept"]]):
                want_statuses = [a["status"] for a in case["accept"]]
                problems.append(f"{name}: ringnova {mine.text()} {statuses}, "
                                f"corpus {want.text()} {want_statuses}")
                continue
            differs = []
            if not same_requests(mine.requests, theirs.requests):
                differs.append("requests")
            elif bodies != [a["body"].encode("latin-1") for a in case["accept"]]:
                differs.append("bodies")
            if mine.reject != theirs.reject:
                differs.append("reject")
            if mine.end != theirs.end:
                differs.append("end")
            reason = case.get("h11")
            if differs:
                rows.append((name, ",".join(differs), theirs.text(), mine.text(), reason))
                if not reason:
                    problems.append(f"{name}: unexplained disagreement ({', '.join(differs)})")
            elif reason:
                problems.append(f"{name}: has an h11 reason but h11 now agrees; drop the reason")
    finally:
        server.stop()
    print(f"h11 {h11.__version__} against ringnova on {len(cases)} cases: "
          f"{len(rows)} disagreements, {sum(1 for r in rows if not r[4])} unexplained\n")
    for name, what, theirs, mine, reason in rows:
        print(f"{name}  [{what}]")
        print(f"    h11:      {theirs}")
        print(f"    ringnova: {mine}")
        print(f"    why:      {reason or 'UNEXPLAINED'}")
    if problems:
        print("\nFAILED:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("\nevery disagreement is explained")


if __name__ == "__main__":
    main()
