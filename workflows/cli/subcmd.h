/* workflows/cli/subcmd.h — parsl-run's subcommands besides running a workflow:
 * `parsl-run report` (report_cmd.c) and `parsl-run status` (status_cmd.c), which
 * read a monitoring database (docs/monitoring.md).
 *
 * Exit statuses: 0 done; 1 the database could not be read or the output not
 * written; 2 bad input (usage, no such path, not a monitoring database, no such
 * run).
 */
#ifndef CP_WORKFLOWS_CLI_SUBCMD_H
#define CP_WORKFLOWS_CLI_SUBCMD_H

/* Each takes argv with argv[0] the subcommand's name; returns the exit status. */
int report_main(int argc, char **argv);
int status_main(int argc, char **argv);

/* The subcommand named by argv[1], run; -1 when argv[1] names none (a workflow
 * file of that name is then run as usual: `./report` reaches one called so). */
int subcmd_dispatch(int argc, char **argv);

#endif
