"""Draws the benchmark chart from the full-matrix table bench/run.sh writes.

Reads the markdown report (bench/run.sh's `| server | endpoint | load | req/s | p99 | ... |
µs/req |` rows and bench/servers.sh's `| scenario | req/s | p99 | ... | µs/req |` rows) and writes a PNG with three panels, one bar group per scenario (endpoint × load) and
one bar per server: server CPU µs per request (log scale), requests per second, and p99
latency of the plain runs (wrk 4 gives no usable p99 for pipelined runs). It never reads
anything but the report it is given.

Usage: python plot_results.py REPORT.md OUT.png [TITLE]
"""

import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROW = re.compile(r"^\| (?P<server>[\w.-]+) \| `(?P<path>[^`]+)` \| (?P<load>[^|]+?) \| "
                 r"(?P<rps>[\d.]+) \| (?P<p99>[^|]+?) \|(?:[^|]*\|){4} \*\*(?P<us>[\d.]+)\*\* \|$")
# bench/servers.sh rows: | scenario | req/s | p99 | requests | non-2xx | **µs/req** |
SERVERS_ROW = re.compile(r"^\| (?P<scenario>(?:POST|GET) /v2\.1/servers[^|]*?) \| (?P<rps>[\d.]+) \| "
                         r"(?P<p99>[^|]+?) \| \d+ \| \d+ \| \*\*(?P<us>[\d.]+)\*\* \|$")


def latency_ms(text):
    """wrk's latency text (`759.00us`, `1.44ms`, `2.1s`) in milliseconds, or None."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text.strip())
    if not m:
        return None
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def label(path, load):
    """A short two-line tick label: the path without the /v2.1 prefix, then the load."""
    path = path.replace("/v2.1/", "/").replace(" (100 servers)", " ×100")
    return f"{path}\n{load}"


def parse(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = ROW.match(line.strip())
            if m:
                rows.append({
                    "server": m["server"], "scenario": label(m["path"], m["load"]),
                    "rps": float(m["rps"]), "p99": latency_ms(m["p99"]), "us": float(m["us"]),
                })
                continue
            m = SERVERS_ROW.match(line.strip())
            if m:
                path, _, load = m["scenario"].partition(", ")
                pipelined = "pipelined" in load
                rows.append({
                    "server": "ringnova (servers.sh)", "scenario": label(path, load),
                    "rps": float(m["rps"]),
                    "p99": None if pipelined else latency_ms(m["p99"]), "us": float(m["us"]),
                })
    return rows


def grouped(ax, rows, key, servers, scenarios, ylabel, log=False):
    width = 0.8 / max(len(servers), 1)
    for i, server in enumerate(servers):
        xs, ys = [], []
        for j, scenario in enumerate(scenarios):
            value = next((r[key] for r in rows
                          if r["server"] == server and r["scenario"] == scenario), None)
            if value is not None:
                xs.append(j + (i - (len(servers) - 1) / 2) * width)
                ys.append(value)
        ax.bar(xs, ys, width, label=server)
    ax.set_xticks(range(len(scenarios)))
    ax.set_xticklabels(scenarios, fontsize=7, rotation=20, ha="right")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    ax.grid(axis="y", alpha=0.3)


def main():
    report, out = sys.argv[1], sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else "ringnova benchmark"
    rows = parse(report)
    if not rows:
        raise SystemExit(f"plot_results: no result rows in {report}")
    servers = list(dict.fromkeys(r["server"] for r in rows))
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    plain = [s for s in scenarios if "pipelined" not in s]
    fig, axes = plt.subplots(3, 1, figsize=(max(10, 1.1 * len(scenarios)), 13))
    grouped(axes[0], rows, "us", servers, scenarios,
            "server CPU µs / request (log; lower is better)", log=True)
    axes[0].set_title(title)
    grouped(axes[1], rows, "rps", servers, scenarios, "requests / s (one wrk thread; log)",
            log=True)
    grouped(axes[2], [r for r in rows if r["p99"] is not None], "p99", servers, plain,
            "p99 latency, ms (plain runs; log)", log=True)
    axes[0].legend(fontsize=8, ncol=min(len(servers), 5))
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    print(f"plot_results: {len(rows)} results, {len(scenarios)} scenarios -> {out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
