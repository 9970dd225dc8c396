/* providers/pbs.h — the `pbspro` and `torque` providers' parts (docs/providers.md,
 * "The PBS Pro and Torque providers"): their settings and script (pbs_script.c),
 * what qsub and qstat print read back into states (pbs_qstat.c), and the two
 * providers, which share one implementation (pbs.c).
 * Internal: the ops tables in provider.h are the interface; this header exists so
 * the pure parts can be tested without a PBS server.
 */
#ifndef CP_PROVIDERS_PBS_H
#define CP_PROVIDERS_PBS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/yaml.h"
#include "providers/channel.h"
#include "providers/provider.h"

/* Which PBS. They share qsub/qdel and the #PBS script; they differ in the
 * resource line, the state letters and how status is asked. */
enum cp__pbs_flavor {
    CP_PBS_PRO = 0,             /* `pbspro`: PBS Pro / OpenPBS */
    CP_PBS_TORQUE = 1,          /* `torque`: Torque (and PBS servers that look like it) */
};

/* The type's own keys (Parsl's PBSProProvider / TorqueProvider names). Strings
 * are owned; NULL means not set (no line in the script). */
struct cp__pbs_settings {
    enum cp__pbs_flavor flavor;
    char *account;              /* #PBS -A */
    char *queue;                /* #PBS -q */
    char *select_options;       /* pbspro: appended to the select chunk, without
                                 * its leading ':' ("ngpus=4") */
    int cpus_per_node;          /* pbspro: ncpus of the chunk (1) */
    char *scheduler_options;    /* "" or #PBS lines; never NULL once parsed */
    double cmd_timeout;         /* seconds per scheduler command (120) */
    struct cp__channel_config channel;  /* absent: local */
};

extern const char *const cp__pbspro_keys[];
extern const char *const cp__torque_keys[];

/* ops->parse of each type, and the shared ops->free_settings. */
int cp__pbspro_parse(const struct cp__ynode *map, void **settings, cp_err *err) CP__WUR;
int cp__torque_parse(const struct cp__ynode *map, void **settings, cp_err *err) CP__WUR;
void cp__pbs_free_settings(void *settings);

/* Whether path may be named in a #PBS -o/-e line and on qsub's command line:
 * not empty, at most 4000 bytes, only ASCII letters, digits and "/_.-+~@,=".
 * Stricter than Slurm's: PBS reads "host:path" and blanks end the value, and
 * Slurm's Torque wrapper passes the path through a shell unquoted. */
bool cp__pbs_path_ok(const char *path);

/* The job name PBS is given: cp__batch_safe_name, then a leading 'p' when it does
 * not start with a letter (PBS wants that), cut at 200 bytes. Caller frees; NULL
 * when memory runs out. */
char *cp__pbs_job_name(const char *job_name);

/* The batch script of one block (Parsl's templates, in their order, plus
 * `#PBS -S /bin/bash`, -q and -A). job_name is used as cp__pbs_job_name makes it;
 * script_path names the output files (<script_path>.stdout/.stderr) and must pass
 * cp__pbs_path_ok unless check_path is false (render's placeholder). Every value
 * is validated again here, so settings built without the parser cannot inject
 * either. Caller frees; NULL with err. */
char *cp__pbs_script(const struct cp__pbs_settings *s, const struct cp__provider_common *c,
                     const char *cmd, int tasks_per_node, const char *job_name,
                     const char *script_path, bool check_path, cp_err *err) CP__WUR;

/* ops->render of both types. */
char *cp__pbs_render(const struct cp__provider_config *cfg, const char *cmd, int tasks_per_node,
                     const char *job_name, const char *script_path, cp_err *err);

/* ------------------------------------------------------------ reading PBS */

/* Whether text is a job id this provider passes to qstat/qdel: 1-100 characters
 * of ASCII letters, digits and "._-[]@" ("1234", "1234.server", "12[].pbs01"). */
bool cp__pbs_job_id_ok(const char *text);

/* The job id in qsub's answer: its last non-blank stdout line, one word that
 * passes cp__pbs_job_id_ok. Caller frees; NULL when there is none. */
char *cp__pbs_parse_job_id(const char *out);

/* Whether a job id qstat printed (maybe cut to its column, maybe without the
 * server part) names the job we know as ours: equal, or the same sequence
 * number before the first '.'. */
bool cp__pbs_id_match(const char *ours, const char *printed, size_t printed_len);

/* What qstat said about one job. */
struct cp__pbs_info {
    bool found;
    char state[8];              /* job_state, one letter as PBS prints it */
    bool has_exit;
    long exit_status;           /* Exit_status (PBS Pro) / exit_status (Torque) */
    char comment[200];          /* PBS Pro's comment ("job killed: walltime …") */
};

/* A state letter to a block state. Ended letters (pbspro F, X; torque C, E, F,
 * X) give COMPLETED: cp__pbs_ended then decides from the exit status. Unknown
 * letters are UNKNOWN (counted as active). */
enum cp__block_state cp__pbs_state(enum cp__pbs_flavor f, const char *letter);

/* An ended job's state and exit code from what qstat said (in->has_exit …):
 * no exit status → COMPLETED with exit code -1; 0 → COMPLETED; 1-255 → FAILED
 * with it; 256+N → FAILED, killed by signal N (exit code 128+N); Torque's
 * negative codes → FAILED (-11, walltime, and -12, CPU time → TIMEOUT); PBS
 * Pro's comment "walltime … exceeded limit" → TIMEOUT. *why (static text or
 * NULL) names a Torque code or the signal. */
enum cp__block_state cp__pbs_ended(enum cp__pbs_flavor f, const struct cp__pbs_info *in,
                                   int *exit_code, const char **why);

/* Fills info[i] for ids[i] from `qstat ID…` (the brief table: Job id, Name,
 * User, Time Use, S, Queue). Lines that are not rows of ours are skipped. */
void cp__pbs_read_brief(const char *out, const char *const *ids, size_t n,
                        struct cp__pbs_info *info);
/* The same from `qstat -f` text ("Job Id: X" records of "key = value" lines). */
void cp__pbs_read_full(const char *out, const char *const *ids, size_t n,
                       struct cp__pbs_info *info);
/* The same from `qstat -f -F json` ({"Jobs": {"ID": {"job_state": …}}}). 0, or -1
 * when out is not that JSON (then nothing is filled). */
int cp__pbs_read_json(const char *out, const char *const *ids, size_t n,
                      struct cp__pbs_info *info);
/* Whether out has at least one "Job Id:" record (qstat -f text). */
bool cp__pbs_has_full_record(const char *out);

/* The provider with a channel the caller made (tests; takes ownership of ch even
 * on failure); remote_dir as in cp__batch_open_with. */
struct cp__provider *cp__pbs_create_with(const struct cp__provider_config *cfg,
                                         const char *run_dir, struct cp__channel *ch,
                                         const char *remote_dir, cp_err *err) CP__WUR;

#endif
