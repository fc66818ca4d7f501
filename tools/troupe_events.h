/* tools/troupe_events.h: the `troupe events` subcommand (troupe_events.c),
 * for tools/troupe.c's table of subcommands. */
#ifndef TROUPE_TOOLS_TROUPE_EVENTS_H
#define TROUPE_TOOLS_TROUPE_EVENTS_H

/* troupe_events_main runs `troupe events [--topic PREFIX] [--json]
 * [--dir RUN_DIR] [--count N]`: prints what a running system's event hub
 * publishes, one line per message, until interrupted or N messages were
 * printed. argv[0] is the subcommand's name. Returns the exit code: 0, 1
 * (no hub found, or a failure), 2 (usage). */
int troupe_events_main(int argc, char **argv);

#endif /* TROUPE_TOOLS_TROUPE_EVENTS_H */
