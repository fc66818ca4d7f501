#!/usr/bin/python3
"""interop_test.py: troupe's typed messages against Python's protobuf, both
ways, between real processes over real ZeroMQ sockets.

    /usr/bin/python3 tests/interop_test.py PATH/TO/interop_peer

Python -> C: `interop_peer recv` prints its actor's mailbox address once the
mailbox is bound; a PUSH socket here sends one typed message to it (an
envelope frame and a payload frame, made by Python's protobuf); the actor
reads it with tr_codec_self_recv and exits 0 only when every field is the
agreed value. Each field is then changed in turn, and the actor must see the
difference (exit 1); a type it does not know must be refused (exit 2).

C -> Python: a PULL socket here is bound under a fresh directory in /tmp;
`interop_peer send ADDR` sends one Ping made by tr_codec_encode; Python's
protobuf decodes both frames and every field is checked.

The message classes are built at run time from FileDescriptorProtos that
mirror codecs/envelope.proto and codecs/codec_test.proto (no protoc for
Python here). The agreed values are written here and in interop_peer.c.

Synchronisation is on events only (the address line, socket readiness,
process exit), each wait bounded. Prints "N passed, N failed".
"""

import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

import zmq
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

# interop_peer gives up after 25 s at most (20 s for the message, 5 more for
# its actor to exit); we wait a little longer, so that it is the one to
# report a timeout.
WAIT_S = 30.0

# ---- the agreed values (mirrored in interop_peer.c) ---------------------------

# Python -> C.
PY_SEQ = 2**40 + 77
PY_TEXT = "héllo, troupe ✓ 日本"  # UTF-8: 2, 3 and 3 bytes per character
PY_BLOB = b"\x00\x01\x00\xff\x00\x7f"
PY_NUMBERS = [-1, 0, 7, -(2**31), 2**31 - 1, 2**30, -300]
PY_SENDER = "python-peer"
PY_ID = 0x8000000000000005
PY_FLAGS = 0x80000001

# C -> Python. The sender is "main": the C side encodes outside any actor.
C_SEQ = 2**64 - 1
C_TEXT = "ça marche — αβγ 🎭"  # UTF-8 up to 4 bytes per character
C_BLOB = b"\x00\x00\xfe\x00\x01"
C_NUMBERS = [-5, 0, 2**31 - 1, -(2**31), 128, -129]
C_SENDER = "main"
C_FLAGS = 0x00C0FFEE

# ---- the message classes ----------------------------------------------------------

F = descriptor_pb2.FieldDescriptorProto


def _file(name, package, messages):
    """A proto3 FileDescriptorProto; messages: {name: [(field, number, type,
    repeated)]}."""
    fd = descriptor_pb2.FileDescriptorProto(name=name, package=package, syntax="proto3")
    for mname, fields in messages.items():
        m = fd.message_type.add(name=mname)
        for fname, number, ftype, repeated in fields:
            m.field.add(
                name=fname,
                number=number,
                type=ftype,
                label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL,
            )
    return fd


def message_classes():
    """Returns {full name: class} for troupe.Envelope and the trtest types."""
    files = [
        # codecs/envelope.proto
        _file(
            "codecs/envelope.proto",
            "troupe",
            {
                "Envelope": [
                    ("version", 1, F.TYPE_UINT32, False),
                    ("type", 2, F.TYPE_STRING, False),
                    ("id", 3, F.TYPE_UINT64, False),
                    ("sender", 4, F.TYPE_STRING, False),
                    ("flags", 5, F.TYPE_UINT32, False),
                ]
            },
        ),
        # codecs/codec_test.proto
        _file(
            "codecs/codec_test.proto",
            "trtest",
            {
                "Ping": [
                    ("seq", 1, F.TYPE_UINT64, False),
                    ("text", 2, F.TYPE_STRING, False),
                    ("blob", 3, F.TYPE_BYTES, False),
                    ("numbers", 4, F.TYPE_INT32, True),
                ],
                "Pong": [
                    ("seq", 1, F.TYPE_UINT64, False),
                    ("value", 2, F.TYPE_DOUBLE, False),
                ],
                "Stranger": [("who", 1, F.TYPE_STRING, False)],
            },
        ),
    ]
    pool = descriptor_pool.DescriptorPool()
    for fd in files:
        # AddSerializedFile works with every implementation (python, cpp,
        # upb) of protobuf 3.x and 4.x.
        pool.AddSerializedFile(fd.SerializeToString())
    names = ["troupe.Envelope", "trtest.Ping", "trtest.Pong", "trtest.Stranger"]
    descs = [pool.FindMessageTypeByName(n) for n in names]
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.22
        classes = [message_factory.GetMessageClass(d) for d in descs]
    else:  # Debian 12: protobuf 3.21 (Python package 4.21)
        factory = message_factory.MessageFactory(pool)
        classes = [factory.GetPrototype(d) for d in descs]
    return dict(zip(names, classes))


M = message_classes()
Envelope, Ping, Pong, Stranger = (
    M["troupe.Envelope"],
    M["trtest.Ping"],
    M["trtest.Pong"],
    M["trtest.Stranger"],
)

# ---- reporting ----------------------------------------------------------------------

passed = 0
failed = 0


def check(what, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok: %s" % what, flush=True)
    else:
        failed += 1
        print("FAILED: %s%s" % (what, ": " + detail if detail else ""), flush=True)
    return ok


# ---- processes --------------------------------------------------------------------------


class Lines:
    """Reads a child's stdout line by line with a deadline, straight from the
    descriptor (no buffered reader that could hide data from select)."""

    def __init__(self, fd):
        self.fd = fd
        self.buf = b""
        self.eof = False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.fd], [], [], left)[0]:
            return False
        chunk = os.read(self.fd, 4096)
        if not chunk:
            self.eof = True
        self.buf += chunk
        return True

    def readline(self, deadline):
        """One line without its newline, or None at EOF or the deadline."""
        while b"\n" not in self.buf:
            if self.eof or not self._fill(deadline):
                return None
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def rest(self, deadline):
        """Every line until EOF; None at the deadline."""
        while not self.eof:
            if not self._fill(deadline):
                return None
        lines = self.buf.decode("utf-8", "replace").splitlines()
        self.buf = b""
        return lines


def finish(proc, deadline):
    """Waits for proc until the deadline, killing it after; returns its code
    (None when it had to be killed)."""
    try:
        return proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


# ---- Python -> C ----------------------------------------------------------------------


def agreed_ping():
    return Ping(seq=PY_SEQ, text=PY_TEXT, blob=PY_BLOB, numbers=PY_NUMBERS)


def agreed_envelope(type_name="trtest.Ping"):
    return Envelope(version=1, type=type_name, id=PY_ID, sender=PY_SENDER, flags=PY_FLAGS)


def send_to_actor(peer, ctx, env, frames):
    """Runs `peer recv`, sends frames to the actor's mailbox, and returns
    (exit code, result line, stderr text)."""
    deadline = time.monotonic() + WAIT_S
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([peer, "recv"], stdout=subprocess.PIPE, stderr=err, env=env)
        out = Lines(proc.stdout.fileno())
        push = ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.SNDTIMEO, int(WAIT_S * 1000))
        push.setsockopt(zmq.LINGER, 0)
        result = None
        try:
            addr = out.readline(deadline)
            if addr is not None and addr.startswith("ipc://"):
                push.connect(addr)
                push.send_multipart(frames)
                rest = out.rest(deadline) or []
                result = rest[-1] if rest else None
            else:
                result = "no address: %r" % addr
        except zmq.ZMQError as e:
            result = "send: %s" % e
        finally:
            code = finish(proc, deadline)
            # The peer has exited: whatever is still queued is moot.
            push.close()
            proc.stdout.close()
        err.seek(0)
        errtext = err.read().decode("utf-8", "replace")
    if errtext:
        sys.stderr.write(errtext)
    return code, result, errtext


def python_to_c(peer, ctx, env):
    ping, envl = agreed_ping(), agreed_envelope()
    frames = [envl.SerializeToString(), ping.SerializeToString()]
    code, result, errtext = send_to_actor(peer, ctx, env, frames)
    check("python -> c: every field as agreed", code == 0 and result == "result ok",
          "exit %s, %r" % (code, result))

    # Each field changed in turn: the C side must notice each one, or the
    # check above proves nothing.
    def changed(field, value, obj="ping"):
        p, e = agreed_ping(), agreed_envelope()
        target = p if obj == "ping" else e
        if isinstance(value, list):
            del target.numbers[:]
            target.numbers.extend(value)
        else:
            setattr(target, field, value)
        return field, [e.SerializeToString(), p.SerializeToString()]

    cases = [
        changed("seq", PY_SEQ + 1),
        changed("text", PY_TEXT.replace("é", "e")),
        changed("blob", PY_BLOB[:-1]),  # one zero byte short
        changed("numbers", PY_NUMBERS[:-1] + [300]),
        changed("sender", "python-peeR", "env"),
        changed("id", PY_ID - 1, "env"),
        changed("flags", PY_FLAGS ^ 1, "env"),
    ]
    # A Pong, registered on the C side: decoded, then refused by the type
    # check rather than by the registry.
    pong = Pong(seq=PY_SEQ, value=-0.5)
    cases.append(("type", [agreed_envelope("trtest.Pong").SerializeToString(),
                           pong.SerializeToString()]))
    for field, frames in cases:
        code, result, errtext = send_to_actor(peer, ctx, env, frames)
        named = [line.split("mismatch: ", 1)[1].replace("env.", "")
                 for line in errtext.splitlines() if "interop_peer: mismatch: " in line]
        check("python -> c: a changed %s is noticed, and only it" % field,
              code == 1 and result == "result mismatch" and named == [field],
              "exit %s, %r, mismatches %s" % (code, result, named))

    # A type the C side never registered is refused by tr_codec_self_recv.
    frames = [agreed_envelope("trtest.Stranger").SerializeToString(),
              Stranger(who="nobody").SerializeToString()]
    code, result, errtext = send_to_actor(peer, ctx, env, frames)
    check("python -> c: an unregistered type is refused (TR_ETYPE)",
          code == 2 and result == "result error" and "TR_ETYPE" in errtext,
          "exit %s, %r" % (code, result))


# ---- C -> Python ----------------------------------------------------------------------


def c_fields_wrong(env, ping):
    """The names of the fields that differ from what the C side sends."""
    want_env = {"version": 1, "type": "trtest.Ping", "sender": C_SENDER, "flags": C_FLAGS}
    want_ping = {"seq": C_SEQ, "text": C_TEXT, "blob": C_BLOB, "numbers": C_NUMBERS}
    wrong = ["env." + k for k, v in want_env.items() if getattr(env, k) != v]
    if env.id == 0:  # chosen by the sender; 0 is "not set"
        wrong.append("env.id")
    for k, v in want_ping.items():
        got = list(getattr(ping, k)) if k == "numbers" else getattr(ping, k)
        if got != v:
            wrong.append(k)
    return wrong


def c_to_python(peer, ctx, tmp, env):
    addr = "ipc://%s/py-pull" % tmp
    pull = ctx.socket(zmq.PULL)
    pull.setsockopt(zmq.LINGER, 0)
    pull.bind(addr)
    deadline = time.monotonic() + WAIT_S
    proc = subprocess.Popen([peer, "send", addr], stdout=subprocess.PIPE, env=env)
    frames = None
    try:
        if pull.poll(int(WAIT_S * 1000), zmq.POLLIN):
            frames = pull.recv_multipart()
    finally:
        try:
            out, _ = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        pull.close()
    check("c -> python: the C sender exits 0", proc.returncode == 0,
          "exit %s, %r" % (proc.returncode, out))
    if not check("c -> python: one message of two frames arrived",
                 frames is not None and len(frames) == 2,
                 "got %r" % (frames if frames is None else len(frames))):
        return
    try:
        envl = Envelope.FromString(frames[0])
        ping = Ping.FromString(frames[1])
    except Exception as e:  # protobuf's DecodeError, whatever the backend
        check("c -> python: both frames parse", False, repr(e))
        return
    check("c -> python: both frames parse", True)
    wrong = c_fields_wrong(envl, ping)
    check("c -> python: every field as agreed", not wrong,
          "differ: %s (envelope %s; ping %s)" % (", ".join(wrong), envl, ping))

    # The checker itself notices each field changed in turn.
    def mutated(obj, field, value):
        e, p = Envelope(), Ping()
        e.CopyFrom(envl)
        p.CopyFrom(ping)
        target = e if obj == "env" else p
        if field == "numbers":
            target.numbers[0] += 1
        else:
            setattr(target, field, value)
        return c_fields_wrong(e, p)

    blind = [name for obj, name, value in [
        ("env", "version", 2), ("env", "type", "trtest.Pong"), ("env", "id", 0),
        ("env", "sender", "mainx"), ("env", "flags", 0),
        ("ping", "seq", 0), ("ping", "text", C_TEXT[:-1]), ("ping", "blob", C_BLOB[:-1]),
        ("ping", "numbers", None),
    ] if not mutated(obj, name, value)]
    check("c -> python: the field checks notice each change", not blind,
          "blind to %s" % blind)


def main():
    if len(sys.argv) != 2:
        print("usage: interop_test.py PATH/TO/interop_peer", file=sys.stderr)
        return 2
    peer = os.path.abspath(sys.argv[1])
    # ipc:// paths must stay under 107 bytes: a short private directory in
    # /tmp, which also holds the C side's troupe run directory.
    tmp = tempfile.mkdtemp(prefix="trinterop-", dir="/tmp")
    env = dict(os.environ, TROUPE_RUN_DIR=tmp)
    ctx = zmq.Context()
    try:
        python_to_c(peer, ctx, env)
        c_to_python(peer, ctx, tmp, env)
    finally:
        ctx.term()
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
