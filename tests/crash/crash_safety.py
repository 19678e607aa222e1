"""Crash-safety driver: runs create load against the release binary, kill -9s it at a random
moment, and checks after each restart that nothing acknowledged was lost.

One run uses one data directory for every round and one `[database] synchronous` mode. Each
round:
  1. starts ringnova on a free loopback port (the driver alternates uring and legacy);
  2. checks through the API that every acknowledged write of the earlier rounds is there
     (creates present, deletes gone or `deleting`), and that nothing exists that was never
     asked for;
  3. waits for the fake driver: every server settles (no task_state) and the `tasks` table
     has no queued or running row, i.e. the tasks interrupted by the last kill were resumed
     and finished; each server whose last request was acknowledged is in the status and
     flavor that request leads to; every acknowledged snapshot of a live server is an ACTIVE
     image and no snapshot image is left in the making;
  4. runs concurrent load from several client threads, each on its own keep-alive
     connection: key pair imports and deletes, flavor creates and deletes (admin), server
     creates, deletes and actions (reboot, os-stop, os-start, pause, unpause, createImage,
     resize, confirmResize, revertResize). A write counts
     as acknowledged only once its whole 2xx response has been read; a request without a
     response is "unknown" (it may or may not have committed) and is resolved by the next
     observation;
  5. kill -9s the server after a random delay (every third time just after a SIGTERM, in
     the graceful drain), then copies the database file and its
     write-ahead log as the kill left them and checks the copy: PRAGMA integrity_check is
     ok, foreign keys hold, the quota usage table matches the instances, every transitional
     server has an unfinished task (so a restart resumes it), and every acknowledged write
     is in the file.
A last start verifies the last round and settles, then the server is stopped with SIGTERM.

Exit status 1 on any violation, or an error or panic in the server's log; every round prints
one line of counts. `--inject-loss` is the self-test: it removes acknowledged rows from a
crashed file and requires both checks to report them. On a failure the work directory keeps
server.log, acknowledged.log (every acknowledged write) and ledger.json.

Usage: python3 crash_safety.py --binary target/release/ringnova --work DIR
           [--synchronous normal|full] [--rounds N] [--clients N] [--seed N] [--inject-loss]
Python standard library only.
"""

import argparse
import http.client
import json
import os
import random
import re
import select
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

IMAGE = "70a599e0-31e7-49b7-b260-868f441e862b"
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHB0iJbMHpTPbDzBXf3XEbvlnMS0eFqO/sV3TY5mODRn crash"
)
ADMIN = "admin:admin"
# Actions worth sending from a settled status (resize only from flavor 1 to 2).
ACTIONS_FROM = {
    "ACTIVE": ["reboot", "os-stop", "pause", "createImage", "resize"],
    "SHUTOFF": ["os-start", "createImage"],
    "PAUSED": ["unpause", "createImage"],
    "VERIFY_RESIZE": ["confirmResize", "revertResize"],
}
ACTION_BODY = {
    "reboot": {"reboot": {"type": "SOFT"}},
    "os-stop": {"os-stop": None},
    "os-start": {"os-start": None},
    "pause": {"pause": None},
    "unpause": {"unpause": None},
    "createImage": {"createImage": {"name": "crash-snapshot"}},
    "resize": {"resize": {"flavorRef": "2"}},
    "confirmResize": {"confirmResize": None},
    "revertResize": {"revertResize": None},
}
FAKE_DRIVER_TIMES = {
    "build_time": 0.6,
    "reboot_time": 0.4,
    "power_time": 0.4,
    "pause_time": 0.3,
    "resize_time": 0.6,
    "snapshot_time": 0.4,
    "delete_time": 0.4,
}


def leads_to(action, status, flavor):
    """The (status, flavor id) an acknowledged action leaves a server in once its task has
    finished, from `status` and `flavor`."""
    return {
        "reboot": ("ACTIVE", flavor),
        "os-start": ("ACTIVE", flavor),
        "unpause": ("ACTIVE", flavor),
        "os-stop": ("SHUTOFF", flavor),
        "pause": ("PAUSED", flavor),
        "createImage": (status, flavor),
        "resize": ("VERIFY_RESIZE", "2"),
        "confirmResize": ("ACTIVE", "2"),
        "revertResize": ("ACTIVE", "1"),
    }[action]
SETTLE_TIMEOUT = 30.0
REQUEST_TIMEOUT = 10.0


class Failure(Exception):
    """A violated promise: the run fails."""


def keypair_token(slot):
    return f"ku{slot}:kp"


def server_token(slot):
    return f"su{slot}:sp{slot % 2}"


# ---------------------------------------------------------------------------------------------
# The ledger: what the clients were told, and what is still unknown.


class Obj:
    """A key pair, flavor or server the load created (or may have created)."""

    __slots__ = (
        "kind", "key", "owner", "created", "deleted", "ops", "status", "flavor", "acked_at"
    )

    def __init__(self, kind, key, owner, created):
        self.kind = kind
        self.key = key  # keypair: (slot, name); flavor: flavorid; server: name
        self.owner = owner  # the client slot that may touch it
        self.created = created  # "acked" | "unknown" | "seen" (observed after a restart)
        self.deleted = None  # None | "acked" | "unknown"
        # Servers: the requests since the last observation that were applied or may have
        # been, [(action, "acked" | "unknown", status it leads to, flavor it leads to)].
        self.ops = []
        self.status = None  # servers: last settled status observed or implied
        self.flavor = None  # servers: flavor id observed or implied
        self.acked_at = 0.0  # monotonic time of the last acknowledged request


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.keypairs = {}  # (slot, name) -> Obj
        self.flavors = {}  # flavorid -> Obj
        self.servers = {}  # name -> Obj
        self.server_ids = {}  # name -> uuid (known from a 202 or a listing)
        self.snapshots = []  # (image id, server name) of acknowledged createImage

    def must_exist(self, obj):
        return obj.created in ("acked", "seen") and obj.deleted is None

    def must_be_gone(self, obj):
        return obj.deleted == "acked"


# ---------------------------------------------------------------------------------------------
# HTTP.


class Client:
    """One keep-alive connection; `call` returns (status, body) or None when no complete
    response arrived (the request's outcome is then unknown)."""

    def __init__(self, addr):
        self.addr = addr
        self.conn = None

    def call(self, method, path, token, body=None, version=None):
        headers = {"X-Auth-Token": token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if version:
            headers["OpenStack-API-Version"] = f"compute {version}"
        try:
            if self.conn is None:
                host, port = self.addr
                self.conn = http.client.HTTPConnection(host, port, timeout=REQUEST_TIMEOUT)
            self.conn.request(method, path, body=data, headers=headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return None
        if resp.will_close:
            self.close()
        text = raw.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except ValueError:
            parsed = text
        return resp.status, parsed

    def must(self, method, path, token, body=None, version=None, ok=(200,)):
        got = self.call(method, path, token, body, version)
        if got is None:
            raise Failure(f"{method} {path}: no response")
        if got[0] not in ok:
            raise Failure(f"{method} {path}: {got[0]} {got[1]}")
        return got[1]

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def paged(client, path, token, key, marker_of, version=None):
    """Every item of a paged list (follows `limit`/`marker` until a short page)."""
    items = []
    marker = None
    sep = "&" if "?" in path else "?"
    while True:
        url = f"{path}{sep}limit=1000" + (f"&marker={marker}" if marker else "")
        page = client.must("GET", url, token, version=version)[key]
        items.extend(page)
        if len(page) < 1000:
            return items
        marker = marker_of(page[-1])


# ---------------------------------------------------------------------------------------------
# The server process.


class Server:
    def __init__(self, args, conf, data_dir, driver, log):
        self.proc = subprocess.Popen(
            [
                args.binary,
                "--config-file", conf,
                "--listen", "127.0.0.1:0",
                "--workers", str(args.workers),
                "--driver", driver,
                "--cpus", "off",
                "--data-dir", data_dir,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        # The first stdout line is "... ready ... http://ADDR ..."; a start that fails ends
        # the process (and the pipe) instead.
        line = ""
        if select.select([self.proc.stdout], [], [], 30)[0]:
            line = self.proc.stdout.readline()
        match = re.search(r"http://([0-9.]+):(\d+)", line)
        if not match:
            self.proc.kill()
            self.proc.wait()
            raise Failure(f"ringnova did not become ready: {line!r} (see {log.name})")
        self.addr = (match.group(1), int(match.group(2)))
        # Drain stdout so the server never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def kill9(self, after_term=None):
        """kill -9; with `after_term` seconds, SIGTERM first (the server starts its graceful
        drain) and kill -9 that long after, in the middle of the drain."""
        if after_term is not None:
            os.kill(self.proc.pid, signal.SIGTERM)
            time.sleep(after_term)
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise Failure("ringnova did not stop within 30 s of SIGTERM")


# ---------------------------------------------------------------------------------------------
# Checks through the API after a restart.


def observe(client, ledger, settled):
    """Checks the API against the ledger and resolves unknown outcomes. Before the tasks
    have settled a deleted server may still be listed as `deleting`; after, it must be gone
    and every server must be in the state its last acknowledged request leads to. Returns
    the number of ledger entries checked."""
    checked = 0
    problems = []
    # Key pairs, per user.
    slots = sorted({obj.owner for obj in ledger.keypairs.values()})
    for slot in slots:
        listed = paged(
            client, "/v2.1/os-keypairs", keypair_token(slot), "keypairs",
            lambda k: k["keypair"]["name"], version="2.35",
        )
        names = {k["keypair"]["name"] for k in listed}
        for (owner, name), obj in list(ledger.keypairs.items()):
            if owner != slot:
                continue
            checked += 1
            resolve(ledger.keypairs, (owner, name), obj, name in names, problems)
        for name in names:
            if name.startswith("kp-") and (slot, name) not in ledger.keypairs:
                problems.append(f"key pair {name} of ku{slot} exists but was never created")
    # Flavors (admin sees private and public).
    listed = paged(
        client, "/v2.1/flavors/detail?is_public=none", ADMIN, "flavors", lambda f: f["id"]
    )
    ids = {f["id"] for f in listed}
    for fid, obj in list(ledger.flavors.items()):
        checked += 1
        resolve(ledger.flavors, fid, obj, fid in ids, problems)
    for fid in ids:
        if fid.startswith("cf-") and fid not in ledger.flavors:
            problems.append(f"flavor {fid} exists but was never created")
    # Servers, per project (names are unique across the run).
    by_name = {}
    for project_slot in (0, 1):
        listed = paged(
            client, "/v2.1/servers/detail", server_token(project_slot), "servers",
            lambda s: s["id"],
        )
        for server in listed:
            by_name[server["name"]] = server
    for name, obj in list(ledger.servers.items()):
        checked += 1
        server = by_name.get(name)
        task_state = server and server.get("OS-EXT-STS:task_state")
        if server is not None:
            ledger.server_ids[name] = server["id"]
        if ledger.must_be_gone(obj):
            if server is not None and (settled or task_state != "deleting"):
                problems.append(
                    f"server {name} ({server['id']}): acknowledged delete, but it is "
                    f"{server['status']}/{task_state}"
                )
            if server is None:
                del ledger.servers[name]
            continue
        if server is None:
            if ledger.must_exist(obj):
                problems.append(f"server {name}: acknowledged create, but it is missing")
            else:
                del ledger.servers[name]  # an unknown create or delete that did not happen
            continue
        if task_state == "deleting" and not settled:
            continue
        if obj.created == "unknown":
            obj.created = "seen"
        if obj.deleted == "unknown":
            obj.deleted = None
        if not settled:
            continue
        if task_state is not None or server["status"] not in ACTIONS_FROM:
            problems.append(f"server {name}: not settled: {server['status']}/{task_state}")
            continue
        # The state the last request leads to: an acknowledged one decides it; with none
        # since the last observation the server must still be as it was then.
        last = obj.ops[-1] if obj.ops else None
        want = None
        if last is not None and last[1] == "acked":
            want = last[2:]
        elif last is None:
            want = (obj.status, obj.flavor)
        found = (server["status"], server["flavor"]["id"])
        if want is not None and found != want:
            problems.append(
                f"server {name}: expected {want} after {last[0] if last else 'nothing'}, "
                f"found {found}"
            )
        obj.status, obj.flavor = found
        obj.ops = []
    for name, server in by_name.items():
        if name.startswith("srv-") and name not in ledger.servers:
            problems.append(f"server {name} ({server['id']}) exists but was never created")
    if problems:
        more = f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
        raise Failure("; ".join(problems[:20]) + more)
    return checked


def check_snapshots(client, ledger, db_path):
    """After settling: every acknowledged snapshot of a live server is an ACTIVE image, and
    no snapshot image, acknowledged or not, is still in the making (one whose server was
    deleted under it is deleted with it). Returns the number of images checked."""
    checked = 0
    problems = []
    for image_id, name in ledger.snapshots:
        obj = ledger.servers.get(name)
        if obj is None or obj.deleted is not None:
            continue  # the server went away, maybe mid-snapshot (counted below)
        checked += 1
        got = client.call("GET", f"/v2.1/images/{image_id}", server_token(obj.owner))
        status = got and got[0] == 200 and got[1]["image"]["status"]
        if status != "ACTIVE":
            problems.append(f"snapshot {image_id} of server {name}: {got and got[0]} {status}")
    ledger.snapshots = []
    stuck = query_live(
        db_path,
        "SELECT count(*) FROM images WHERE server_uuid IS NOT NULL "
        "AND lower(status) NOT IN ('active', 'deleted')",
    )
    if stuck:
        problems.append(f"{stuck} snapshot images are neither ACTIVE nor deleted")
    if problems:
        raise Failure("; ".join(problems[:20]))
    return checked


def resolve(table, key, obj, present, problems):
    """Checks one key pair or flavor against its listing and resolves unknown outcomes."""
    if obj.deleted == "acked":
        if present:
            problems.append(f"{obj.kind} {key}: acknowledged delete, but it exists")
        else:
            del table[key]
        return
    if obj.created in ("acked", "seen") and obj.deleted is None:
        if not present:
            problems.append(f"{obj.kind} {key}: acknowledged create, but it is missing")
        return
    # An unknown create or delete: whatever the server shows is now the truth.
    if present:
        obj.created = "seen"
        obj.deleted = None
    else:
        del table[key]


def settle(client, ledger, db_path):
    """Waits until no server is transitional and no task is unfinished; returns seconds."""
    started = time.monotonic()
    while True:
        busy = 0
        for project_slot in (0, 1):
            listed = paged(
                client, "/v2.1/servers/detail", server_token(project_slot), "servers",
                lambda s: s["id"],
            )
            busy += sum(1 for s in listed if s.get("OS-EXT-STS:task_state") is not None)
        unfinished = query_live(
            db_path, "SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')"
        )
        if busy == 0 and unfinished == 0:
            return time.monotonic() - started
        if time.monotonic() - started > SETTLE_TIMEOUT:
            raise Failure(
                f"tasks stuck: {busy} servers transitional, {unfinished} unfinished task rows "
                f"after {SETTLE_TIMEOUT:.0f} s"
            )
        time.sleep(0.1)


def query_live(db_path, sql):
    """One value from the running server's database (a read-only connection; WAL lets it
    read beside the writers)."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=5)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


# ---------------------------------------------------------------------------------------------
# Checks of the file a kill -9 left behind.


def check_crashed_file(db_path, scratch, ledger):
    """Copies the database and its log as the kill left them, opens the copy (SQLite
    recovers the log) and checks it. Returns (acknowledged entries checked, unfinished tasks)."""
    if os.path.exists(scratch):
        shutil.rmtree(scratch)
    os.makedirs(scratch)
    copy = os.path.join(scratch, "copy.sqlite")
    shutil.copyfile(db_path, copy)
    if os.path.exists(db_path + "-wal"):
        shutil.copyfile(db_path + "-wal", copy + "-wal")
    conn = sqlite3.connect(copy)
    try:
        integrity = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if integrity != ["ok"]:
            raise Failure(f"PRAGMA integrity_check: {integrity[:10]}")
        broken = conn.execute("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise Failure(f"PRAGMA foreign_key_check: {broken[:10]}")
        # Usage is kept per project and user (per-user quotas); compare row by row.
        usage = dict(
            ((row[0], row[1]), row[2:])
            for row in conn.execute(
                "SELECT project_id, user_id, instances, cores, ram FROM instance_usage"
            )
        )
        actual = dict(
            ((row[0], row[1]), row[2:])
            for row in conn.execute(
                "SELECT project_id, user_id, count(*), sum(vcpus), sum(memory_mb) FROM instances "
                "WHERE deleted = 0 GROUP BY project_id, user_id"
            )
        )
        for project in set(usage) | set(actual):
            if usage.get(project, (0, 0, 0)) != actual.get(project, (0, 0, 0)):
                raise Failure(
                    f"quota usage of {project}: table {usage.get(project)}, "
                    f"instances {actual.get(project)}"
                )
        orphans = conn.execute(
            "SELECT uuid, vm_state, task_state FROM instances i WHERE deleted = 0 "
            "AND task_state IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tasks t "
            "WHERE t.instance_uuid = i.uuid AND t.state IN ('queued', 'running'))"
        ).fetchall()
        if orphans:
            raise Failure(f"transitional servers without an unfinished task: {orphans[:10]}")
        unfinished = conn.execute(
            "SELECT count(*) FROM tasks WHERE state IN ('queued', 'running')"
        ).fetchone()[0]
        checked = 0
        problems = []
        for (slot, name), obj in ledger.keypairs.items():
            there = conn.execute(
                "SELECT count(*) FROM key_pairs WHERE user_id = ? AND name = ?",
                (f"ku{slot}", name),
            ).fetchone()[0]
            checked += check_file_entry(ledger, obj, there > 0, problems)
        for fid, obj in ledger.flavors.items():
            there = conn.execute(
                "SELECT count(*) FROM flavors WHERE flavorid = ? AND deleted = 0", (fid,)
            ).fetchone()[0]
            checked += check_file_entry(ledger, obj, there > 0, problems)
        for name, obj in ledger.servers.items():
            row = conn.execute(
                "SELECT deleted, task_state FROM instances WHERE display_name = ? "
                "ORDER BY deleted LIMIT 1",
                (name,),
            ).fetchone()
            live = row is not None and row[0] == 0 and row[1] != "deleting"
            if ledger.must_be_gone(obj):
                checked += 1
                if live:
                    problems.append(f"server {name}: acknowledged delete not in the file")
            elif ledger.must_exist(obj):
                checked += 1
                if row is None or row[0] != 0:
                    problems.append(f"server {name}: acknowledged create not in the file")
        if problems:
            raise Failure("after the kill: " + "; ".join(problems[:20]))
        return checked, unfinished
    finally:
        conn.close()


def check_file_entry(ledger, obj, present, problems):
    if ledger.must_be_gone(obj):
        if present:
            problems.append(f"{obj.kind} {obj.key}: acknowledged delete not in the file")
        return 1
    if ledger.must_exist(obj):
        if not present:
            problems.append(f"{obj.kind} {obj.key}: acknowledged create not in the file")
        return 1
    return 0


# ---------------------------------------------------------------------------------------------
# Load.


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.acked = {}
        self.log = []  # every acknowledged write, "<what> <name>", in answer order
        self.unknown = 0
        self.refused = 0
        self.unanswered = set()  # client slots whose last request got no answer

    def cut_off(self, slot):
        with self.lock:
            return slot in self.unanswered

    def ack(self, what, name):
        with self.lock:
            self.acked[what] = self.acked.get(what, 0) + 1
            self.log.append(f"{what} {name}")

    def total(self):
        return sum(self.acked.values())


def load_thread(slot, addr, ledger, counts, stop, rng, tag):
    client = Client(addr)
    seq = 0
    while not stop.is_set():
        seq += 1
        roll = rng.random()
        if roll < 0.25:
            keypair_create(client, slot, ledger, counts, f"kp-{tag}-{slot}-{seq}")
        elif roll < 0.33:
            keypair_delete(client, slot, ledger, counts, rng)
        elif roll < 0.43:
            flavor_create(client, slot, ledger, counts, f"cf-{tag}-{slot}-{seq}")
        elif roll < 0.48:
            flavor_delete(client, slot, ledger, counts, rng)
        elif roll < 0.68:
            server_create(client, slot, ledger, counts, f"srv-{tag}-{slot}-{seq}")
        elif roll < 0.78:
            server_delete(client, slot, ledger, counts, rng)
        else:
            server_action(client, slot, ledger, counts, rng)
        if counts.cut_off(slot):
            break  # the server is gone: this thread's last request went unanswered
    client.close()


def outcome(got, ok, counts, what, slot, name):
    """"acked", "refused" (a complete non-2xx answer: nothing changed) or "unknown"."""
    if got is None:
        with counts.lock:
            counts.unknown += 1
            counts.unanswered.add(slot)
        return "unknown"
    if got[0] in ok:
        counts.ack(what, name)
        return "acked"
    with counts.lock:
        counts.refused += 1
    return "refused"


def pick(ledger, table, slot, rng, extra=lambda obj: True):
    with ledger.lock:
        mine = [
            obj for obj in table.values()
            if obj.owner == slot and ledger.must_exist(obj) and extra(obj)
        ]
    return rng.choice(mine) if mine else None


def keypair_create(client, slot, ledger, counts, name):
    obj = Obj("key pair", (slot, name), slot, "unknown")
    with ledger.lock:
        ledger.keypairs[(slot, name)] = obj
    body = {"keypair": {"name": name, "public_key": PUBLIC_KEY}}
    got = client.call("POST", "/v2.1/os-keypairs", keypair_token(slot), body)
    result = outcome(got, (200, 201), counts, "keypair create", slot, name)
    with ledger.lock:
        if result == "acked":
            obj.created = "acked"
        elif result == "refused":
            del ledger.keypairs[(slot, name)]


def keypair_delete(client, slot, ledger, counts, rng):
    obj = pick(ledger, ledger.keypairs, slot, rng)
    if obj is None:
        return
    with ledger.lock:
        obj.deleted = "unknown"
    got = client.call("DELETE", f"/v2.1/os-keypairs/{obj.key[1]}", keypair_token(slot))
    result = outcome(got, (202, 204), counts, "keypair delete", slot, obj.key[1])
    with ledger.lock:
        obj.deleted = {"acked": "acked", "unknown": "unknown", "refused": None}[result]


def flavor_create(client, slot, ledger, counts, fid):
    obj = Obj("flavor", fid, slot, "unknown")
    with ledger.lock:
        ledger.flavors[fid] = obj
    body = {"flavor": {"name": fid, "ram": 64, "vcpus": 1, "disk": 1, "id": fid}}
    got = client.call("POST", "/v2.1/flavors", ADMIN, body)
    result = outcome(got, (200,), counts, "flavor create", slot, fid)
    with ledger.lock:
        if result == "acked":
            obj.created = "acked"
        elif result == "refused":
            del ledger.flavors[fid]


def flavor_delete(client, slot, ledger, counts, rng):
    obj = pick(ledger, ledger.flavors, slot, rng)
    if obj is None:
        return
    with ledger.lock:
        obj.deleted = "unknown"
    got = client.call("DELETE", f"/v2.1/flavors/{obj.key}", ADMIN)
    result = outcome(got, (202,), counts, "flavor delete", slot, obj.key)
    with ledger.lock:
        obj.deleted = {"acked": "acked", "unknown": "unknown", "refused": None}[result]


def server_create(client, slot, ledger, counts, name):
    obj = Obj("server", name, slot, "unknown")
    obj.ops.append(("create", "unknown", "ACTIVE", "1"))
    with ledger.lock:
        ledger.servers[name] = obj
    body = {"server": {"name": name, "imageRef": IMAGE, "flavorRef": "1", "networks": "auto"}}
    got = client.call("POST", "/v2.1/servers", server_token(slot), body, version="2.37")
    result = outcome(got, (202,), counts, "server create", slot, name)
    with ledger.lock:
        if result == "acked":
            obj.created = "acked"
            obj.ops[-1] = ("create", "acked", "ACTIVE", "1")
            obj.status, obj.flavor = "ACTIVE", "1"
            obj.acked_at = time.monotonic()
            ledger.server_ids[name] = got[1]["server"]["id"]
        elif result == "refused":
            del ledger.servers[name]


def server_delete(client, slot, ledger, counts, rng):
    obj = pick(ledger, ledger.servers, slot, rng, lambda o: o.key in ledger.server_ids)
    if obj is None:
        return
    uuid = ledger.server_ids[obj.key]
    with ledger.lock:
        obj.deleted = "unknown"
    got = client.call("DELETE", f"/v2.1/servers/{uuid}", server_token(slot))
    result = outcome(got, (204,), counts, "server delete", slot, obj.key)
    with ledger.lock:
        obj.deleted = {"acked": "acked", "unknown": "unknown", "refused": None}[result]


def server_action(client, slot, ledger, counts, rng):
    # Only servers whose last request was acknowledged long enough ago to have settled.
    quiet = time.monotonic() - 1.0
    obj = pick(
        ledger, ledger.servers, slot, rng,
        lambda o: o.key in ledger.server_ids and o.status in ACTIONS_FROM
        and o.acked_at < quiet and (not o.ops or o.ops[-1][1] == "acked"),
    )
    if obj is None:
        return
    choices = [a for a in ACTIONS_FROM[obj.status] if a != "resize" or obj.flavor == "1"]
    action = rng.choice(choices)
    uuid = ledger.server_ids[obj.key]
    status, flavor = leads_to(action, obj.status, obj.flavor)
    obj.ops.append((action, "unknown", status, flavor))
    got = client.call(
        "POST", f"/v2.1/servers/{uuid}/action", server_token(slot), ACTION_BODY[action],
        version="2.45",
    )
    ok = (204,) if action == "confirmResize" else (202,)
    result = outcome(got, ok, counts, "server action", slot, f"{obj.key} {action}")
    with ledger.lock:
        if result == "acked":
            obj.ops[-1] = (action, "acked", status, flavor)
            obj.status, obj.flavor = status, flavor
            obj.acked_at = time.monotonic()
            if action == "createImage":
                ledger.snapshots.append((got[1]["image_id"], obj.key))
        elif result == "refused":
            obj.ops.pop()  # a 409: nothing changed
        else:
            obj.status = obj.flavor = None  # not known until observed


# ---------------------------------------------------------------------------------------------


def check_log(path):
    """A panic or an error logged by the server fails the run."""
    with open(path, errors="replace") as f:
        bad = [line.strip() for line in f if " ERROR " in line or "panic" in line]
    if bad:
        raise Failure(f"the server logged errors: {bad[:5]}")


def self_test(args, conf, data_dir, db_path, log, ledger):
    """Removes one acknowledged key pair and one acknowledged server from the file, as a
    lost write would, and requires the file check and the API check to report both."""
    with ledger.lock:
        keypair = next(o for o in ledger.keypairs.values() if ledger.must_exist(o))
        server = next(o for o in ledger.servers.values() if ledger.must_exist(o))
    conn = sqlite3.connect(db_path)
    with conn:
        conn.execute(
            "DELETE FROM key_pairs WHERE user_id = ? AND name = ?",
            (f"ku{keypair.key[0]}", keypair.key[1]),
        )
        conn.execute("UPDATE instances SET deleted = 1 WHERE display_name = ?", (server.key,))
        conn.execute(
            "UPDATE tasks SET state = 'done' WHERE instance_uuid IN "
            "(SELECT uuid FROM instances WHERE display_name = ?)",
            (server.key,),
        )
    conn.close()
    caught = []
    try:
        check_crashed_file(db_path, os.path.join(args.work, "tampered-copy"), ledger)
    except Failure as err:
        caught.append(("file", str(err)))
    restarted = Server(args, conf, data_dir, "legacy", log)
    try:
        observe(Client(restarted.addr), ledger, settled=False)
    except Failure as err:
        caught.append(("API", str(err)))
    finally:
        restarted.kill9()
    missed = [
        f"{where} check missed {what}"
        for where in ("file", "API")
        for what in (keypair.key[1], server.key)
        if not any(w == where and what in text for w, text in caught)
    ]
    if missed:
        print(f"self-test FAILED: {'; '.join(missed)}", flush=True)
        return 1
    print(
        f"self-test passed: the file and the API checks both reported the removed key pair "
        f"{keypair.key[1]} and server {server.key}",
        flush=True,
    )
    return 0


def write_config(path, args):
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    paste = os.path.normpath(os.path.join(root, "config", "api-paste.ini"))
    times = "".join(f"{k} = {v}\n" for k, v in FAKE_DRIVER_TIMES.items())
    with open(path, "w") as f:
        f.write(
            f"[wsgi]\napi_paste_config = {paste}\n"
            "[ringnova]\nlog_level = warn\naccess_log = false\n"
            f"[database]\nsynchronous = {args.synchronous}\n"
            "[quota]\ninstances = -1\ncores = -1\nram = -1\nkey_pairs = -1\n"
            f"[fake_driver]\n{times}"
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--binary", required=True)
    parser.add_argument("--work", required=True, help="scratch directory (emptied first)")
    parser.add_argument("--synchronous", choices=["normal", "full"], default="normal")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--max-kill-delay", type=float, default=2.0)
    parser.add_argument(
        "--inject-loss", action="store_true",
        help="self-test: after one kill, remove one acknowledged key pair and server from the "
        "file and require both checks to report them",
    )
    args = parser.parse_args()
    if args.inject_loss:
        args.rounds = 1
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    rng = random.Random(seed)
    if os.path.exists(args.work):
        shutil.rmtree(args.work)
    os.makedirs(args.work)
    conf = os.path.join(args.work, "ringnova.conf")
    write_config(conf, args)
    data_dir = os.path.join(args.work, "data")
    db_path = os.path.join(data_dir, "ringnova.sqlite")
    log = open(os.path.join(args.work, "server.log"), "a")
    ledger = Ledger()
    print(
        f"crash safety: synchronous = {args.synchronous}, {args.rounds} rounds, "
        f"{args.clients} clients, {args.workers} workers, seed {seed}",
        flush=True,
    )
    totals = {
        "acked": 0, "checked_api": 0, "checked_file": 0, "unknown": 0, "resumed": 0,
        "snapshots": 0,
    }
    interrupted = 0
    server = None
    try:
        for round_no in range(args.rounds + 1):
            driver = ("uring", "legacy")[round_no % 2]
            server = Server(args, conf, data_dir, driver, log)
            client = Client(server.addr)
            checked = observe(client, ledger, settled=False)
            settle_s = settle(client, ledger, db_path)
            checked += observe(client, ledger, settled=True)
            snapshots = check_snapshots(client, ledger, db_path)
            totals["snapshots"] += snapshots
            totals["checked_api"] += checked
            totals["resumed"] += interrupted
            if round_no == args.rounds:
                client.close()
                server.stop()
                check_log(log.name)
                final = check_crashed_file(db_path, os.path.join(args.work, "final"), ledger)
                print(
                    f"final start ({driver}): {checked} entries checked through the API, "
                    f"{interrupted} interrupted tasks finished (settled in {settle_s:.1f} s); "
                    f"after SIGTERM: {final[0]} entries in the file, integrity ok",
                    flush=True,
                )
                break
            client.close()
            counts = Counts()
            stop = threading.Event()
            tag = f"{args.synchronous[0]}{round_no}"
            threads = [
                threading.Thread(
                    target=load_thread,
                    args=(
                        slot, server.addr, ledger, counts, stop,
                        random.Random(rng.random()), tag,
                    ),
                )
                for slot in range(args.clients)
            ]
            for t in threads:
                t.start()
            delay = rng.uniform(0.2, args.max_kill_delay)
            # Every third kill lands in the graceful drain of a SIGTERM.
            after_term = rng.uniform(0.0, 0.05) if round_no % 3 == 2 else None
            time.sleep(delay)
            server.kill9(after_term)
            how = "kill -9"
            if after_term is not None:
                how = f"SIGTERM, kill -9 {after_term * 1000:.0f} ms later,"
            stop.set()
            for t in threads:
                t.join(timeout=REQUEST_TIMEOUT + 5)
            with open(os.path.join(args.work, "acknowledged.log"), "a") as acked_log:
                acked_log.write("".join(f"round {round_no + 1}: {w}\n" for w in counts.log))
            check_log(log.name)
            in_file, interrupted = check_crashed_file(
                db_path, os.path.join(args.work, "crash-copy"), ledger
            )
            if args.inject_loss:
                return self_test(args, conf, data_dir, db_path, log, ledger)
            totals["checked_file"] += in_file
            totals["acked"] += counts.total()
            totals["unknown"] += counts.unknown
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(counts.acked.items()))
            print(
                f"round {round_no + 1} ({driver}): verified {checked} entries and {snapshots} "
                f"snapshots through the API (settled in {settle_s:.1f} s); "
                f"load {counts.total()} acknowledged writes ({kinds}), "
                f"{counts.refused} refused, {counts.unknown} without answer; "
                f"{how} after {delay:.2f} s: integrity ok, {in_file} acknowledged entries "
                f"in the file, {interrupted} tasks interrupted",
                flush=True,
            )
    except Failure as err:
        print(f"FAILED (seed {seed}): {err}", flush=True)
        dump = os.path.join(args.work, "ledger.json")
        with open(dump, "w") as f:
            json.dump(
                [
                    {"kind": o.kind, "key": o.key, "created": o.created, "deleted": o.deleted,
                     "ops": o.ops, "status": o.status}
                    for table in (ledger.keypairs, ledger.flavors, ledger.servers)
                    for o in table.values()
                ],
                f,
                indent=1,
            )
        print(
            f"server log: {log.name}; acknowledged writes: "
            f"{os.path.join(args.work, 'acknowledged.log')}; ledger: {dump}",
            flush=True,
        )
        return 1
    finally:
        # Never leave a server behind, whatever went wrong.
        if server is not None and server.proc.poll() is None:
            server.kill9()
    print(
        f"crash safety passed (synchronous = {args.synchronous}, seed {seed}): {args.rounds} "
        f"kills, {totals['acked']} acknowledged writes, {totals['unknown']} requests cut off by "
        f"a kill, {totals['checked_file']} acknowledged entries checked in the crashed files, "
        f"{totals['checked_api']} through the API after restarts, {totals['resumed']} "
        f"interrupted tasks resumed and finished, {totals['snapshots']} snapshots ACTIVE, "
        f"0 lost",
        flush=True,
    )

    return 0


if __name__ == "__main__":
    sys.exit(main())
