"""tr_proto_library: a C library made from .proto files by the system protoc-c.

    load("//codecs:proto.bzl", "tr_proto_library")

    tr_proto_library(
        name = "work_proto",
        srcs = ["work.proto"],
    )

    cc_binary(..., deps = [":work_proto", "//codecs:codec"])

For each `x.proto` it generates `x.pb-c.c` and `x.pb-c.h` with
`protoc-c --c_out`, run from the workspace root, so a C file includes
"<package>/x.pb-c.h" and an import names "<package>/other.proto". `deps`
are other tr_proto_library targets whose files these import. Nothing is
downloaded: protoc-c and libprotobuf-c come from the system (Debian's
protobuf-c-compiler and libprotobuf-c-dev).
"""

load("@rules_cc//cc:defs.bzl", "cc_library")

def tr_proto_library(name, srcs, deps = [], visibility = None, testonly = False):
    for s in srcs:
        if not s.endswith(".proto"):
            fail("tr_proto_library %s: %s is not a .proto file" % (name, s))
    stems = [s[:-len(".proto")] for s in srcs]
    native.filegroup(
        name = name + "_files",
        srcs = srcs + [d + "_files" for d in deps],
        visibility = visibility,
        testonly = testonly,
    )
    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_files" for d in deps],
        outs = [s + ".pb-c.c" for s in stems] + [s + ".pb-c.h" for s in stems],
        # Only this target's own files are generated here: the imported
        # ones are generated (and compiled) by their own targets.
        cmd = "protoc-c --c_out=$(GENDIR) -I. " +
              " ".join(["$(location %s)" % s for s in srcs]),
        testonly = testonly,
    )
    cc_library(
        name = name,
        srcs = [s + ".pb-c.c" for s in stems],
        hdrs = [s + ".pb-c.h" for s in stems],
        deps = deps,
        linkopts = ["-lprotobuf-c"],
        visibility = visibility,
        testonly = testonly,
    )
