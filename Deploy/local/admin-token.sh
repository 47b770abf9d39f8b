#!/usr/bin/env bash
# Prints an admin JWT (an hour) minted with the local development secret, for the ops page
# (http://127.0.0.1:8080/ops) and the admin API. Local use only.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source Deploy/local/api.sh
token "${1:-local-operator}" admin
