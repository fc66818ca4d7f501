"""Compiler flags shared by every troupe target: one place, as the style asks."""

TR_COPTS = [
    "-std=c11",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wshadow",
    "-Wstrict-prototypes",
    "-Wmissing-prototypes",
    "-Wpointer-arith",
    "-Wcast-qual",
    "-Wformat=2",
    "-Wvla",
    "-D_GNU_SOURCE",
]

# Tests may use cmocka's macros, which trip a few of the stricter warnings.
TR_TEST_COPTS = TR_COPTS + [
    "-Wno-missing-prototypes",
]
