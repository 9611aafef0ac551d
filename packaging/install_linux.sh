#!/usr/bin/env bash
# Install (or add by hand) one release of a Clinic Suite app on a Linux PC, in the layout the updater uses.
#
#   sudo packaging/install_linux.sh dist/clinic-triage-1.2.0-linux-x86_64.tar.gz \
#        [--prefix /opt/clinic-suite] [--trusted-root repo/metadata/1.root.json] [--data-folder DIR]
#        [--bin-dir /usr/local/bin]    (--bin-dir "" makes no command link)
#
#   <prefix>/<app>/versions/<version>/    the unpacked bundle        <prefix>/<app>/state.json
#   <prefix>/<app>/current -> versions/<version>                       <prefix>/<app>/tuf/root.json
#   /usr/local/bin/clinic-<app> -> <prefix>/<app>/current/clinic-<app>
# The new version's --self-test runs before it becomes current; on failure nothing is switched.
set -euo pipefail

archive="${1:?usage: $0 ARCHIVE [--prefix DIR] [--trusted-root FILE] [--data-folder DIR]}"
shift
prefix=/opt/clinic-suite trusted_root="" data_args=() bin_dir=/usr/local/bin
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="$2"; shift 2 ;;
    --trusted-root) trusted_root="$2"; shift 2 ;;
    --data-folder) data_args=(--data-folder "$2"); shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

name=$(basename "$archive")
if [[ ! "$name" =~ ^clinic-([a-z]+)-([0-9]+\.[0-9]+\.[0-9]+)-.+\.tar\.gz$ ]]; then
  echo "$name is not named clinic-<app>-<version>-<platform>.tar.gz" >&2
  exit 2
fi
app="${BASH_REMATCH[1]}" version="${BASH_REMATCH[2]}"
root="$prefix/$app"
dest="$root/versions/$version"

mkdir -p "$root/versions" "$root/tuf"
rm -rf "$dest.unpacking"
mkdir -p "$dest.unpacking"
tar -xzf "$archive" -C "$dest.unpacking" --no-same-owner
rm -rf "$dest"
mv "$dest.unpacking" "$dest"
echo "clinic-$app" > "$dest/.clinic-entry"
if [ -n "$trusted_root" ] && [ ! -f "$root/tuf/root.json" ]; then
  cp "$trusted_root" "$root/tuf/root.json"
fi

if [ "$app" != server ]; then
  if ! QT_QPA_PLATFORM=offscreen "$dest/clinic-$app" --self-test "${data_args[@]}"; then
    echo "the self-test of $app $version failed: not switched to it" >&2
    exit 1
  fi
fi

previous=""
[ -f "$root/state.json" ] && previous=$(sed -n 's/.*"current": *"\([^"]*\)".*/\1/p' "$root/state.json" | head -n1)
[ "$previous" = "$version" ] && previous=$(sed -n 's/.*"previous": *"\([^"]*\)".*/\1/p' "$root/state.json" | head -n1)
printf '{"app": "%s", "current": "%s", "previous": "%s", "bad": [], "history": []}\n' \
  "$app" "$version" "$previous" > "$root/state.json.tmp"
mv -f "$root/state.json.tmp" "$root/state.json"
ln -sfn "versions/$version" "$root/.current.tmp"
mv -Tf "$root/.current.tmp" "$root/current"
[ -n "$bin_dir" ] && ln -sfn "$root/current/clinic-$app" "$bin_dir/clinic-$app"
echo "installed $app $version in $root (previous: ${previous:-none})"
