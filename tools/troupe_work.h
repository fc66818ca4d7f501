/* tools/troupe_work.h: the `troupe work` subcommand (troupe_work.c), for
 * tools/troupe.c's table of subcommands. */
#ifndef TROUPE_TOOLS_TROUPE_WORK_H
#define TROUPE_TOOLS_TROUPE_WORK_H

/* troupe_work_main runs `troupe work BROKER [--dir RUN_DIR] [--dead N]
 * [--json] [--timeout MS] [--key FILE --broker-key FILE]`: prints a
 * broker's counters and dead letters. argv[0] is the subcommand's name.
 * Returns the exit code: 0, 1 (no answer, or a failure), 2 (usage). */
int troupe_work_main(int argc, char **argv);

#endif /* TROUPE_TOOLS_TROUPE_WORK_H */
