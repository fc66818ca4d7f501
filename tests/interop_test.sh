#!/usr/bin/env bash
# Runs tests/interop_test.py (troupe's typed messages against Python's
# protobuf, both ways) with Debian's /usr/bin/python3, or skips when that
# Python lacks ZeroMQ or protobuf: the test cannot install them (Bazel's
# sandbox has no network); ./bazelw installs them when run as root.
#   interop_test.sh PATH/TO/interop_peer PATH/TO/interop_test.py
set -u
peer=$1
script=$2
py=/usr/bin/python3

if [ ! -x "$py" ]; then
    echo "SKIP: $py not found (apt-get install python3 python3-zmq python3-protobuf)"
    exit 0
fi
if ! why=$("$py" -c 'import zmq, google.protobuf' 2>&1); then
    echo "SKIP: $py lacks zmq or google.protobuf (apt-get install python3-zmq python3-protobuf): ${why##*$'\n'}"
    exit 0
fi
exec "$py" "$script" "$peer"
