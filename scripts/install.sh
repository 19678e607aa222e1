#!/usr/bin/env bash
# Installs ringnova: the release binary, its configuration and the systemd unit.
#
#   PREFIX       binary and docs under PREFIX/bin, PREFIX/share/doc/ringnova (default /usr/local)
#   SYSCONFDIR   configuration directory's parent (default /etc; files go to SYSCONFDIR/ringnova)
#   UNITDIR      systemd unit directory (default /etc/systemd/system)
#   STATEDIR     data directory named in the unit (default /var/lib/ringnova; another one
#                also needs ReadWritePaths= in a drop-in, as the unit's StateDirectory=
#                only opens /var/lib/ringnova under ProtectSystem=strict)
#   DESTDIR      staging root prepended to every path (packaging; default empty)
#   RINGNOVA_BIN binary to install (default target/release/ringnova, built when missing)
#
# Idempotent: run it again to upgrade the binary, the unit and the samples; an existing
# ringnova.conf, api-paste.ini or policy.yaml is never overwritten (the shipped version is
# written next to it as *.dist when they differ). When installing onto the live system as
# root (DESTDIR empty) it also creates the `ringnova` system user and reloads systemd; it
# never enables or starts the service.
#
# Usage: sudo scripts/install.sh
#        DESTDIR=/tmp/pkg PREFIX=/usr scripts/install.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX="${PREFIX:-/usr/local}"
SYSCONFDIR="${SYSCONFDIR:-/etc}"
UNITDIR="${UNITDIR:-/etc/systemd/system}"
STATEDIR="${STATEDIR:-/var/lib/ringnova}"
DESTDIR="${DESTDIR:-}"
BIN="${RINGNOVA_BIN:-target/release/ringnova}"
CONFDIR="$SYSCONFDIR/ringnova"

say() { printf 'install: %s\n' "$*"; }

if [[ ! -x "$BIN" ]]; then
    [[ -z "${RINGNOVA_BIN:-}" ]] || { echo "install: $BIN is not an executable" >&2; exit 1; }
    say "building the release binary"
    cargo build --release --locked --quiet
fi

install -d -m 0755 "$DESTDIR$PREFIX/bin" "$DESTDIR$CONFDIR" "$DESTDIR$UNITDIR" \
    "$DESTDIR$PREFIX/share/doc/ringnova"
install -m 0755 "$BIN" "$DESTDIR$PREFIX/bin/ringnova.new"
mv -f "$DESTDIR$PREFIX/bin/ringnova.new" "$DESTDIR$PREFIX/bin/ringnova"
say "binary    $DESTDIR$PREFIX/bin/ringnova"

# Configuration: never overwrite what the operator may have edited.
config_file() { # source name mode
    local target="$DESTDIR$CONFDIR/$2"
    if [[ ! -e "$target" ]]; then
        install -m "$3" "$1" "$target"
        say "config    $target"
    elif cmp -s "$1" "$target"; then
        say "config    $target (unchanged)"
    else
        install -m "$3" "$1" "$target.dist"
        say "config    $target kept; the shipped version is $target.dist"
    fi
}
config_file config/ringnova.conf ringnova.conf 0644
config_file config/api-paste.ini api-paste.ini 0644
# Samples are always refreshed: they document the installed binary's defaults.
"$DESTDIR$PREFIX/bin/ringnova" policy sample >"$DESTDIR$CONFDIR/policy.yaml.sample"
"$DESTDIR$PREFIX/bin/ringnova" config sample >"$DESTDIR$CONFDIR/ringnova.conf.sample"
chmod 0644 "$DESTDIR$CONFDIR/policy.yaml.sample" "$DESTDIR$CONFDIR/ringnova.conf.sample"
install -m 0644 config/identity-bootstrap.example.ini "$DESTDIR$CONFDIR/identity-bootstrap.example.ini"
say "samples   $DESTDIR$CONFDIR/{policy.yaml,ringnova.conf}.sample"

# The unit, with this installation's paths.
sed -e "s|/usr/local/bin/ringnova|$PREFIX/bin/ringnova|g" \
    -e "s|/etc/ringnova/|$CONFDIR/|g" \
    -e "s|/var/lib/ringnova|$STATEDIR|g" \
    -e "s|/usr/local/share/doc/ringnova|$PREFIX/share/doc/ringnova|g" \
    config/ringnova.service >"$DESTDIR$UNITDIR/ringnova.service.new"
chmod 0644 "$DESTDIR$UNITDIR/ringnova.service.new"
mv -f "$DESTDIR$UNITDIR/ringnova.service.new" "$DESTDIR$UNITDIR/ringnova.service"
say "unit      $DESTDIR$UNITDIR/ringnova.service"

for doc in README.md docs/configuration.md docs/tuning.md; do
    if [[ -f "$doc" ]]; then
        install -m 0644 "$doc" "$DESTDIR$PREFIX/share/doc/ringnova/"
    fi
done
say "docs      $DESTDIR$PREFIX/share/doc/ringnova/"

"$DESTDIR$PREFIX/bin/ringnova" --config-file "$DESTDIR$CONFDIR/ringnova.conf" --check-config

if [[ -z "$DESTDIR" && "$(id -u)" == 0 ]]; then
    if ! getent passwd ringnova >/dev/null; then
        useradd --system --user-group --home-dir "$STATEDIR" --no-create-home \
            --shell /usr/sbin/nologin ringnova
        say "user      ringnova (system)"
    fi
    if command -v systemctl >/dev/null && [[ -d /run/systemd/system ]]; then
        systemctl daemon-reload
        say "systemd reloaded; start with: systemctl enable --now ringnova"
    fi
fi
