#!/usr/bin/env bash
# Edge footprint of the release binary: its size on disk, the resident memory of an idle
# server per worker count (VmRSS from /proc/PID/status once it answers, after 1 s idle), and
# the same with transparent huge pages allowed (MIMALLOC_ALLOW_THP=1; ringnova turns them off
# otherwise, see src/server/memory.rs), and
# the time from spawning the process to the first 200 on GET /healthcheck (median, min and
# max of FOOTPRINT_RUNS starts; with a fresh data directory, which includes creating and
# migrating the database, and with an existing one). Loopback only; every server it starts
# is stopped before the next.
#
# Environment:
#   FOOTPRINT_RUNS     starts per case (default 11; BENCH_QUICK=1: 3)
#   FOOTPRINT_WORKERS  worker counts for the RSS table (default "1 2 4")
#   BENCH_PORT         loopback port (default 18200)
#   RINGNOVA_BIN       binary (default target/release/ringnova, built when it is the default)
#
# Usage: bench/footprint.sh        (markdown on stdout)
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="${RINGNOVA_BIN:-target/release/ringnova}"
if [[ -z "${RINGNOVA_BIN:-}" ]]; then
    cargo build --release --locked --quiet
fi
[[ -x "$BIN" ]] || { echo "footprint: $BIN is not an executable" >&2; exit 1; }
if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
    RUNS="${FOOTPRINT_RUNS:-3}"
else
    RUNS="${FOOTPRINT_RUNS:-11}"
fi
export FOOTPRINT_BIN="$BIN" FOOTPRINT_RUNS_N="$RUNS" FOOTPRINT_WORKERS="${FOOTPRINT_WORKERS:-1 2 4}"
export FOOTPRINT_PORT="${BENCH_PORT:-18200}" FOOTPRINT_PASTE="$PWD/config/api-paste.ini"
export FOOTPRINT_PROFILE
FOOTPRINT_PROFILE="$(awk '/^\[profile.release\]/ {on=1; next} /^\[/ {on=0}
    on && /^(lto|codegen-units|panic|strip|opt-level) *=/ {gsub(/ /, ""); printf "%s%s", sep, $0; sep=", "}' Cargo.toml)"

exec python3 - <<'PY'
import os, shutil, socket, statistics, subprocess, sys, tempfile, time

BIN = os.environ["FOOTPRINT_BIN"]
RUNS = int(os.environ["FOOTPRINT_RUNS_N"])
WORKERS = [int(w) for w in os.environ["FOOTPRINT_WORKERS"].split()]
PORT = int(os.environ["FOOTPRINT_PORT"])
REQUEST = b"GET /healthcheck HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def progress(text):
    print(f"[footprint] {text}", file=sys.stderr, flush=True)


def healthy():
    """One GET /healthcheck; True on a 200."""
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=1) as s:
            s.sendall(REQUEST)
            return s.recv(64).startswith(b"HTTP/1.1 200 ")
    except OSError:
        return False


def spawn(workdir, workers, thp=False):
    conf = os.path.join(workdir, "ringnova.conf")
    with open(conf, "w") as f:
        f.write(f"[wsgi]\napi_paste_config = {os.environ['FOOTPRINT_PASTE']}\n"
                "[ringnova]\naccess_log = false\nlog_level = warn\n")
    return subprocess.Popen(
        [BIN, "--config-file", conf, "--listen", f"127.0.0.1:{PORT}",
         "--workers", str(workers), "--cpus", "off", "--data-dir", os.path.join(workdir, "data")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, MIMALLOC_ALLOW_THP="1") if thp else None)


def stop(proc):
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    # The port is free again before the next start.
    deadline = time.monotonic() + 5
    while healthy() and time.monotonic() < deadline:
        time.sleep(0.01)


def start_to_first_response(workdir, workers, thp=False):
    """Seconds from spawn to the first 200, polling every 0.2 ms."""
    t0 = time.monotonic()
    proc = spawn(workdir, workers, thp)
    try:
        while True:
            if healthy():
                return time.monotonic() - t0, proc
            if proc.poll() is not None:
                raise SystemExit(f"ringnova exited with {proc.returncode} before answering")
            if time.monotonic() - t0 > 30:
                raise SystemExit("ringnova did not answer within 30 s")
            time.sleep(0.0002)
    except BaseException:
        stop(proc)
        raise


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def ms(values):
    return (f"**{statistics.median(values) * 1000:.1f} ms** "
            f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})")


if healthy():
    raise SystemExit(f"something already answers on 127.0.0.1:{PORT}")
size = os.path.getsize(BIN)
with open("/proc/loadavg") as f:
    load = " ".join(f.read().split()[:3])
cpu = "unknown CPU"
with open("/proc/cpuinfo") as f:
    for line in f:
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
work = tempfile.mkdtemp(prefix="ringnova-footprint.")
try:
    rss_rows = []
    for workers in WORKERS:
        progress(f"idle RSS with {workers} worker(s)")
        d = os.path.join(work, f"rss-{workers}")
        os.mkdir(d)
        _, proc = start_to_first_response(d, workers)
        time.sleep(1)
        row = [workers, vm(proc.pid, "VmRSS"), vm(proc.pid, "VmHWM"),
               len(os.listdir(f"/proc/{proc.pid}/task"))]
        stop(proc)
        _, proc = start_to_first_response(d, workers, thp=True)
        time.sleep(1)
        row.append(vm(proc.pid, "VmRSS"))
        stop(proc)
        rss_rows.append(row)
    timings = {}
    for workers in sorted({1, os.cpu_count() or 1}):
        fresh, warm = [], []
        existing = os.path.join(work, f"warm-{workers}")
        os.mkdir(existing)
        t, proc = start_to_first_response(existing, workers)
        stop(proc)
        for i in range(RUNS):
            progress(f"start-to-first-response, {workers} worker(s), run {i + 1}/{RUNS}")
            d = os.path.join(work, f"fresh-{workers}-{i}")
            os.mkdir(d)
            t, proc = start_to_first_response(d, workers)
            fresh.append(t)
            stop(proc)
            t, proc = start_to_first_response(existing, workers)
            warm.append(t)
            stop(proc)
        timings[workers] = (fresh, warm)
finally:
    shutil.rmtree(work, ignore_errors=True)

print("- date: " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
      + f"; machine: {os.cpu_count()} CPUs, {cpu}, kernel {os.uname().release}; "
      + f"load average before the runs: {load}")
print(f"- command: `bench/footprint.sh` (FOOTPRINT_RUNS={RUNS}); binary `{BIN}`; "
      f"release profile: {os.environ.get('FOOTPRINT_PROFILE', '')}")
print()
print(f"Binary size: **{size / 1048576:.2f} MiB** ({size} bytes).")
print()
thp = "unknown"
if os.path.exists("/sys/kernel/mm/transparent_hugepage/enabled"):
    with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
        thp = f.read().strip()
print(f"Transparent huge pages: `{thp}`. ringnova turns them off for itself; the last column "
      "starts the server with `MIMALLOC_ALLOW_THP=1` in its environment, which lets the "
      "allocator (mimalloc) back its arenas with huge pages: touched heap is then counted in "
      "2 MiB steps.")
print()
print("| workers | idle RSS (VmRSS) | peak RSS (VmHWM) | threads | idle RSS, MIMALLOC_ALLOW_THP=1 |")
print("| ---: | ---: | ---: | ---: | ---: |")
for workers, rss, hwm, threads, rss_thp in rss_rows:
    print(f"| {workers} | **{mib(rss)}** | {mib(hwm)} | {threads} | {mib(rss_thp)} |")
print()
print("| workers | spawn → first 200, fresh data dir (creates + migrates the database) "
      "| spawn → first 200, existing data dir |")
print("| ---: | ---: | ---: |")
for workers, (fresh, warm) in timings.items():
    print(f"| {workers} | {ms(fresh)} | {ms(warm)} |")
PY
