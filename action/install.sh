#!/usr/bin/env bash
# Installs a released cspctl: downloads the archive for this runner and the
# release's SHA256SUMS, refuses an archive whose SHA-256 is not listed there, and
# puts cspctl on PATH (GITHUB_PATH).
#
# Reads CSPCTL_VERSION (e.g. 0.1.0; empty: CSPCTL_ACTION_REF when it is a version
# tag, else the latest release), CSPCTL_DOWNLOAD_URL (the releases URL),
# RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP, GITHUB_PATH.
set -euo pipefail

base=${CSPCTL_DOWNLOAD_URL:-https://github.com/cspctl/cspctl/releases}
version=${CSPCTL_VERSION:-}
if [ -z "$version" ] && [[ "${CSPCTL_ACTION_REF:-}" =~ ^v[0-9]+\.[0-9]+\.[0-9]+ ]]; then
  version=${CSPCTL_ACTION_REF}
fi
version=${version#v}
if [ -n "$version" ]; then
  url="$base/download/v$version"
else
  url="$base/latest/download"
fi

# A job that uses the Action twice installs once.
if [ -n "$version" ] && command -v cspctl >/dev/null &&
  [ "$(cspctl --version 2>/dev/null)" = "cspctl $version" ]; then
  echo "cspctl $version is already installed"
  exit 0
fi

case "${RUNNER_OS:-Linux}/${RUNNER_ARCH:-X64}" in
  Linux/X64) target=x86_64-unknown-linux-musl ;;
  Linux/ARM64) target=aarch64-unknown-linux-musl ;;
  macOS/X64) target=x86_64-apple-darwin ;;
  macOS/ARM64) target=aarch64-apple-darwin ;;
  Windows/X64) target=x86_64-pc-windows-msvc ;;
  *) echo "::error title=cspctl::no cspctl release for ${RUNNER_OS:-?}/${RUNNER_ARCH:-?}"; exit 1 ;;
esac
case "$target" in
  *windows*) archive="cspctl-$target.zip" ;;
  *) archive="cspctl-$target.tar.gz" ;;
esac

dir="${RUNNER_TEMP:-/tmp}/cspctl-install"
rm -rf "$dir"
mkdir -p "$dir/bin"
cd "$dir"
echo "Downloading $url/$archive"
curl --fail --silent --show-error --location --retry 3 -o "$archive" "$url/$archive"
curl --fail --silent --show-error --location --retry 3 -o SHA256SUMS "$url/SHA256SUMS"

expected=$(awk -v name="$archive" '$2 == name || $2 == "*" name { print $1 }' SHA256SUMS)
if [ -z "$expected" ]; then
  echo "::error title=cspctl::$archive is not listed in the release's SHA256SUMS; nothing was installed"
  exit 1
fi
if command -v sha256sum >/dev/null; then
  actual=$(sha256sum "$archive" | awk '{ print $1 }')
else
  actual=$(shasum -a 256 "$archive" | awk '{ print $1 }')
fi
if [ "$actual" != "$expected" ]; then
  echo "::error title=cspctl::$archive has SHA-256 $actual, the release lists $expected; nothing was installed"
  exit 1
fi

case "$archive" in
  *.zip) unzip -q -o "$archive" -d bin ;;
  *) tar -xzf "$archive" -C bin ;;
esac
bin_dir=$(dirname "$(find "$dir/bin" -type f \( -name cspctl -o -name cspctl.exe \) | head -n 1)")
chmod +x "$bin_dir"/cspctl* 2>/dev/null || true
if [ -n "${GITHUB_PATH:-}" ]; then
  echo "$bin_dir" >> "$GITHUB_PATH"
fi
"$bin_dir/cspctl" --version
echo "Installed cspctl into $bin_dir (SHA-256 $actual verified)"
