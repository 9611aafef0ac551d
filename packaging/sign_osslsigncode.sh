#!/usr/bin/env bash
# Authenticode-sign every Windows executable and library of a build from Linux, with osslsigncode.
#
#   SIGN_PFX=codesign.pfx SIGN_PFX_PASS_FILE=pass.txt [SIGN_TIMESTAMP_URL=http://timestamp.example] \
#     packaging/sign_osslsigncode.sh dist/clinic-triage [dist/ClinicSuite-Setup-1.2.0.exe ...]
#
# Signs each PE file (.exe .dll .pyd, checked by its "MZ" header) that has no signature yet; files that
# their vendor already signed (Python, Qt, the MSVC runtime) keep the vendor's signature. SHA-256 digest,
# RFC 3161 timestamp when SIGN_TIMESTAMP_URL is set (recommended: the signature outlives the certificate).
# Without SIGN_PFX the build is left unsigned and the script says so (exit 0), so unsigned test builds work.
# Exit 1 if any file fails to sign or to verify afterwards.
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 BUNDLE_DIR_OR_FILE..." >&2
  exit 2
fi
if [ -z "${SIGN_PFX:-}" ]; then
  echo "SIGN_PFX not set: no certificate given, the build is left unsigned" >&2
  exit 0
fi
command -v osslsigncode >/dev/null || { echo "osslsigncode is not installed (apt-get install osslsigncode)" >&2; exit 1; }
[ -f "$SIGN_PFX" ] || { echo "certificate file $SIGN_PFX not found" >&2; exit 1; }

pass_args=()
if [ -n "${SIGN_PFX_PASS_FILE:-}" ]; then
  pass_args=(-readpass "$SIGN_PFX_PASS_FILE")
elif [ -n "${SIGN_PFX_PASS:-}" ]; then
  pass_args=(-pass "$SIGN_PFX_PASS")
fi
ts_args=()
[ -n "${SIGN_TIMESTAMP_URL:-}" ] && ts_args=(-ts "$SIGN_TIMESTAMP_URL")
desc_args=(-n "${SIGN_DESCRIPTION:-Clinic Suite}" -i "${SIGN_URL:-https://example.invalid/clinic-suite}")

signed=0 kept=0 failed=0
while IFS= read -r -d '' file; do
  [ "$(head -c 2 "$file")" = "MZ" ] || continue
  sig=$(mktemp -u)  # extract-signature refuses to overwrite, so a name that does not exist yet
  if osslsigncode extract-signature -in "$file" -out "$sig" >/dev/null 2>&1; then
    rm -f "$sig"
    kept=$((kept + 1))
    continue
  fi
  tmp="$file.signing"
  if osslsigncode sign -pkcs12 "$SIGN_PFX" "${pass_args[@]}" -h sha256 "${desc_args[@]}" "${ts_args[@]}" \
       -in "$file" -out "$tmp" >/dev/null 2>&1; then
    mv -f "$tmp" "$file"
    signed=$((signed + 1))
  else
    rm -f "$tmp"
    echo "FAILED to sign $file" >&2
    failed=$((failed + 1))
  fi
done < <(find "$@" -type f \( -iname '*.exe' -o -iname '*.dll' -o -iname '*.pyd' \) -print0)

echo "signed $signed file(s); $kept already signed by their vendor; $failed failed" >&2
[ "$failed" -eq 0 ]
