#!/usr/bin/env bash
# Checks scripts/install.sh into temporary DESTDIRs (never the live system): every file in
# place with its mode, the unit's paths following PREFIX/SYSCONFDIR/STATEDIR, a second run
# keeping an edited ringnova.conf (the shipped one as .dist) and refreshing the binary, the
# installed binary accepting the installed configuration, and the unit passing
# `systemd-analyze verify` when systemd-analyze is present. Bounded: seconds.
#
# Usage: scripts/install_test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --quiet
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ringnova-install.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
fail() { echo "install_test: $*" >&2; exit 1; }

D="$WORK/default"
DESTDIR="$D" scripts/install.sh >"$WORK/first.log"
for f in usr/local/bin/ringnova:755 etc/ringnova/ringnova.conf:644 \
    etc/ringnova/api-paste.ini:644 etc/ringnova/policy.yaml.sample:644 \
    etc/ringnova/ringnova.conf.sample:644 etc/systemd/system/ringnova.service:644 \
    usr/local/share/doc/ringnova/README.md:644 usr/local/share/doc/ringnova/configuration.md:644; do
    path="$D/${f%%:*}"
    [[ -f "$path" ]] || fail "missing $path"
    mode="$(stat -c %a "$path")"
    [[ "$mode" == "${f##*:}" ]] || fail "$path has mode $mode, not ${f##*:}"
done
cmp -s target/release/ringnova "$D/usr/local/bin/ringnova" || fail "binary differs"
cmp -s docs/policy.yaml.sample "$D/etc/ringnova/policy.yaml.sample" || fail "policy sample differs"
grep -q '^Type=notify$' "$D/etc/systemd/system/ringnova.service" || fail "unit is not Type=notify"
grep -q '^ExecStart=/usr/local/bin/ringnova --config-file /etc/ringnova/ringnova.conf --data-dir /var/lib/ringnova$' \
    "$D/etc/systemd/system/ringnova.service" || fail "default ExecStart"

# Second run: the operator's edit survives; nothing else changes.
echo "# operator edit" >>"$D/etc/ringnova/ringnova.conf"
DESTDIR="$D" scripts/install.sh >"$WORK/second.log"
grep -q '^# operator edit$' "$D/etc/ringnova/ringnova.conf" || fail "edited config overwritten"
cmp -s config/ringnova.conf "$D/etc/ringnova/ringnova.conf.dist" || fail "no .dist next to the edited config"
cmp -s config/api-paste.ini "$D/etc/ringnova/api-paste.ini" || fail "api-paste.ini changed"
[[ ! -e "$D/etc/ringnova/api-paste.ini.dist" ]] || fail ".dist written for an unchanged file"

# Another layout.
P="$WORK/packaged"
DESTDIR="$P" PREFIX=/usr SYSCONFDIR=/opt/etc STATEDIR=/srv/ringnova scripts/install.sh >/dev/null
unit="$P/etc/systemd/system/ringnova.service"
grep -q '^ExecStart=/usr/bin/ringnova --config-file /opt/etc/ringnova/ringnova.conf --data-dir /srv/ringnova$' \
    "$unit" || fail "ExecStart does not follow PREFIX/SYSCONFDIR/STATEDIR"
[[ -x "$P/usr/bin/ringnova" ]] || fail "no binary under PREFIX=/usr"
"$P/usr/bin/ringnova" --config-file "$P/opt/etc/ringnova/ringnova.conf" --check-config >/dev/null \
    || fail "installed binary refuses the installed configuration"

if command -v systemd-analyze >/dev/null 2>&1; then
    # Verify against the staged binary: point the unit's commands at it.
    sed "s|/usr/local/bin/ringnova|$D/usr/local/bin/ringnova|g" \
        "$D/etc/systemd/system/ringnova.service" >"$WORK/ringnova.service"
    out="$(systemd-analyze verify "$WORK/ringnova.service" 2>&1 || true)"
    if grep -v -E 'Failed to .*(bus|connect)|System has not been booted with systemd' <<<"$out" | grep -q .; then
        echo "$out" >&2
        fail "systemd-analyze verify reported problems"
    fi
fi
echo "install_test: ok"
