#!/bin/sh
# One image, five roles: the chart and the compose file pick one with the container's args.
set -eu

usage() {
  echo "usage: entrypoint.sh api | migrate | temporal-setup | drain-check | worker POOL" >&2
  exit 64
}

# Containers log JSON lines unless told otherwise.
export SWATH_LOG_FORMAT="${SWATH_LOG_FORMAT:-json}"

[ $# -ge 1 ] || usage
role=$1
shift
case "$role" in
  api) exec python -m api ;;
  migrate) exec swath migrate ;;
  temporal-setup) exec swath temporal setup ;;
  drain-check) exec swath temporal drain-check ;;
  worker)
    [ $# -eq 1 ] || usage
    exec python -m workers --pool "$1" ;;
  *) usage ;;
esac
