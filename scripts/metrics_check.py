"""Checks ringnova's /metrics with the Prometheus Python client's own parser.

Starts the given ringnova binary on a loopback ephemeral port (two workers, epoll), scrapes
/metrics, makes a known set of requests, scrapes again, and parses both scrapes with
prometheus_client.parser.text_string_to_metric_families. Fails (exit 1, one line per
problem) unless every family has help text and a declared type (a sample the parser cannot
attach to its family comes back untyped), the expected families have the expected types and
label names, label values come from the fixed sets, histograms are cumulative with +Inf equal
to _count, and the request counters moved by exactly the requests made.

Usage: python scripts/metrics_check.py path/to/ringnova
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 10

# family name (as the parser reports it) -> (type, label names of its samples)
EXPECTED = {
    "ringnova_build_info": ("gauge", {"version", "driver", "workers"}),
    "ringnova_http_requests": ("counter", {"route", "method", "status"}),
    "ringnova_http_request_duration_seconds": ("histogram", {"route", "method"}),
    "ringnova_http_requests_in_flight": ("gauge", {"worker"}),
    "ringnova_http_connections_open": ("gauge", {"worker"}),
    "ringnova_http_connections_refusing": ("gauge", {"worker"}),
    "ringnova_http_connections_refused": ("counter", {"worker", "answer"}),
    "ringnova_http_connections_parked": ("gauge", {"worker"}),
    "ringnova_heap_trims": ("counter", {"worker"}),
    "ringnova_orchestrator_tasks_in_flight": ("gauge", set()),
    "ringnova_orchestrator_queue_capacity": ("gauge", set()),
    "ringnova_orchestrator_tasks": ("counter", {"kind", "outcome"}),
    "ringnova_db_write_queue_waits": ("counter", set()),
    "ringnova_db_write_queue_wait_seconds": ("counter", set()),
    "ringnova_db_busy_waits": ("counter", set()),
    "ringnova_db_busy_wait_seconds": ("counter", set()),
    "ringnova_db_busy_timeouts": ("counter", set()),
    "ringnova_access_log_dropped": ("counter", set()),
}
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}
OUTCOMES = {"succeeded", "failed", "superseded", "cancelled", "skipped"}

problems = []


def problem(text):
    problems.append(text)


def start(binary, workdir):
    conf = os.path.join(workdir, "ringnova.conf")
    with open(conf, "w") as f:
        f.write(
            "[wsgi]\napi_paste_config = %s\n[ringnova]\nlog_level = warn\naccess_log = false\n"
            % os.path.join(REPO, "config", "api-paste.ini")
        )
    proc = subprocess.Popen(
        [binary, "--config-file", conf, "--listen", "127.0.0.1:0", "--workers", "2",
         "--driver", "legacy", "--cpus", "off", "--data-dir", os.path.join(workdir, "data")],
        cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    line = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(20)
    if not line or "http://" not in line[0]:
        proc.kill()
        sys.exit("ringnova did not become ready: %r" % (line,))
    return proc, line[0].split("http://")[1].split()[0]


def request(addr, path, method="GET", token=None):
    req = urllib.request.Request("http://%s%s" % (addr, path), method=method)
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
            return resp.status, dict(resp.headers), resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read().decode()


def scrape(addr):
    status, headers, text = request(addr, "/metrics")
    if status != 200:
        sys.exit("GET /metrics answered %d" % status)
    content_type = headers.get("Content-Type", "")
    if content_type != "text/plain; version=0.0.4; charset=utf-8":
        problem("Content-Type %r" % content_type)
    return {family.name: family for family in text_string_to_metric_families(text)}


def samples_of(families, name):
    family = families.get(name)
    return family.samples if family else []


def check_families(families, where):
    for name, family in families.items():
        if family.type in ("untyped", "unknown"):
            problem("%s: %s is untyped (a sample without its # TYPE family)" % (where, name))
        if not family.documentation:
            problem("%s: %s has no help text" % (where, name))
        if not name.startswith("ringnova_"):
            problem("%s: %s lacks the ringnova_ prefix" % (where, name))
    for name, (typ, labels) in EXPECTED.items():
        family = families.get(name)
        if family is None:
            problem("%s: family %s missing" % (where, name))
            continue
        if family.type != typ:
            problem("%s: %s is a %s, expected %s" % (where, name, family.type, typ))
        for sample in family.samples:
            got = set(sample.labels) - {"le"}
            if got != labels:
                problem("%s: %s has labels %s, expected %s" % (where, sample.name, sorted(got),
                                                               sorted(labels)))
            if sample.value < 0:
                problem("%s: %s is negative" % (where, sample.name))
    for sample in samples_of(families, "ringnova_http_requests"):
        labels = sample.labels
        if labels["method"] not in METHODS:
            problem("%s: method label %r" % (where, labels["method"]))
        if not (labels["status"] == "other" or labels["status"].isdigit()):
            problem("%s: status label %r" % (where, labels["status"]))
        if not (labels["route"] == "unmatched" or labels["route"].startswith("/")):
            problem("%s: route label %r" % (where, labels["route"]))
    for sample in samples_of(families, "ringnova_orchestrator_tasks"):
        if sample.labels["outcome"] not in OUTCOMES:
            problem("%s: outcome label %r" % (where, sample.labels["outcome"]))
    info = families.get("ringnova_build_info")
    if info and [s.value for s in info.samples] != [1.0]:
        problem("%s: build_info is not one sample of value 1" % where)
    if info and info.samples[0].labels.get("driver") != "epoll":
        problem("%s: build_info driver %r" % (where, info.samples[0].labels.get("driver")))
    check_histograms(families.get("ringnova_http_request_duration_seconds"), where)


def check_histograms(family, where):
    if family is None:
        return
    series = {}
    for sample in family.samples:
        key = (sample.labels["route"], sample.labels["method"])
        series.setdefault(key, {"buckets": []})
        if sample.name.endswith("_bucket"):
            series[key]["buckets"].append((float(sample.labels["le"]), sample.value))
        else:
            series[key][sample.name.rsplit("_", 1)[1]] = sample.value
    for key, parts in series.items():
        buckets = sorted(parts["buckets"])
        if not buckets or buckets[-1][0] != float("inf"):
            problem("%s: histogram %s has no +Inf bucket" % (where, key))
            continue
        if any(a[1] > b[1] for a, b in zip(buckets, buckets[1:])):
            problem("%s: histogram %s is not cumulative" % (where, key))
        if buckets[-1][1] != parts.get("count"):
            problem("%s: histogram %s: +Inf %s != count %s"
                    % (where, key, buckets[-1][1], parts.get("count")))
        if "sum" not in parts:
            problem("%s: histogram %s has no _sum" % (where, key))


def requests_total(families, route, method, status):
    for sample in samples_of(families, "ringnova_http_requests"):
        if sample.labels == {"route": route, "method": method, "status": status}:
            return sample.value
    return 0.0


def main():
    binary = os.path.abspath(sys.argv[1])
    workdir = tempfile.mkdtemp(prefix="ringnova-metrics-")
    proc, addr = start(binary, workdir)
    try:
        before = scrape(addr)
        check_families(before, "first scrape")
        made = [
            ("/v2.1/flavors/detail", "demo:demo", 200),
            ("/v2.1/flavors/detail", "demo:demo", 200),
            ("/v2.1/flavors/detail", "demo:demo", 200),
            ("/healthcheck", None, 200),
            ("/v2.1/nothing-here", "demo:demo", 404),
        ]
        for path, token, want in made:
            status, _, _ = request(addr, path, token=token)
            if status != want:
                problem("GET %s answered %d, expected %d" % (path, status, want))
        after = scrape(addr)
        check_families(after, "second scrape")
        expected = [
            ("/flavors/detail", "GET", "200", 3),
            ("/healthcheck", "GET", "200", 1),
            ("unmatched", "GET", "404", 1),
            ("/metrics", "GET", "200", 1),
        ]
        for route, method, status, want in expected:
            got = (requests_total(after, route, method, status)
                   - requests_total(before, route, method, status))
            if got != want:
                problem("requests_total{route=%s,method=%s,status=%s} moved by %s, expected %s"
                        % (route, method, status, got, want))
    finally:
        proc.terminate()
        try:
            proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    for text in problems:
        print("metrics check: " + text)
    if problems:
        sys.exit(1)
    print("metrics check: %d families parsed by prometheus_client, counts exact" % len(after))


if __name__ == "__main__":
    main()
