#!/usr/bin/env bash
# Headless Chromium for tests/workflow/test_report_html.py, which opens the Snakemake report
# in a real browser. Debian package; runs as root on a fresh CI machine.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
    chromium --version
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
chromium --version
