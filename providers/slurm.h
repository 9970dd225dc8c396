/* providers/slurm.h — the `slurm` provider's parts (docs/providers.md, "The
 * Slurm provider"): its settings and script (slurm_script.c), what Slurm's tools
 * print read back into states (slurm_script.c), and the provider (slurm.c).
 * Internal: the ops table in provider.h is the interface; this header exists so
 * the pure parts can be tested without a cluster.
 */
#ifndef CP_PROVIDERS_SLURM_H
#define CP_PROVIDERS_SLURM_H

#include <stdbool.h>

#include "common/err.h"
#include "common/yaml.h"
#include "providers/channel.h"
#include "providers/provider.h"

/* The type's own keys (Parsl's SlurmProvider names). Strings are owned; NULL
 * means not set (no line in the script). */
struct cp__slurm_settings {
    char *partition, *account, *qos, *constraint, *clusters;
    char *gpus_per_node;        /* "2" or "a100:2" */
    char *gres;                 /* "gpu:a100:2,shard:1" */
    int cores_per_node;         /* 0: not set */
    int mem_per_node;           /* GB; 0: not set */
    bool exclusive;             /* true */
    char *scheduler_options;    /* "" or #SBATCH lines; never NULL */
    double cmd_timeout;         /* seconds per scheduler command (10) */
    int status_batch_size;      /* job ids per squeue/sacct call (50) */
    struct cp__channel_config channel;  /* absent: local */
};

extern const char *const cp__slurm_keys[];

/* ops->parse and ops->free_settings. */
int cp__slurm_parse(const struct cp__ynode *map, void **settings, cp_err *err) CP__WUR;
void cp__slurm_free_settings(void *settings);

/* The batch script of one block (Parsl's template, in its order). job_name goes
 * in as given once made safe (cp__batch_safe_name); script_path names the output
 * files (<script_path>.stdout/.stderr) and must pass cp__batch_path_ok. Every
 * value is validated again here, so settings built without the parser cannot
 * inject either. Caller frees; NULL with err. */
char *cp__slurm_script(const struct cp__slurm_settings *s, const struct cp__provider_common *c,
                       const char *cmd, int tasks_per_node, const char *job_name,
                       const char *script_path, cp_err *err) CP__WUR;

/* ops->render. */
char *cp__slurm_render(const struct cp__provider_config *cfg, const char *cmd,
                       int tasks_per_node, const char *job_name, const char *script_path,
                       cp_err *err);

/* A Slurm job state, long (sacct, squeue %T, scontrol: "RUNNING", "CANCELLED by
 * 0") or short (squeue %t: "R", "CA"), to a block state. reason (squeue %r, may
 * be NULL) turns a pending job held by a user or admin into HELD. Anything else
 * is UNKNOWN, which the executor counts as active so max_blocks holds. */
enum cp__block_state cp__slurm_state(const char *state, const char *reason);

/* Slurm's "EXIT:SIGNAL" (sacct ExitCode, scontrol ExitCode=) as one exit code:
 * the signal as 128+N when there is one, else the exit status. -1 when the text
 * is not that. */
int cp__slurm_exit_code(const char *text);

/* The job id in sbatch's answer ("Submitted batch job 42", "… 42 on cluster
 * c1", or --parsable's "42;c1"). Caller frees; NULL when there is none. */
char *cp__slurm_parse_job_id(const char *out);

/* Whether text is a job id this provider passes to Slurm's tools: digits, at
 * most 20. */
bool cp__slurm_job_id_ok(const char *text);

/* What one query said about one job (status reads sacct, squeue, scontrol). */
struct cp__slurm_seen {
    bool found;
    enum cp__block_state state;
    int exit_code;              /* -1 unknown */
    char slurm_state[32];
    char reason[64];
};

/* Fills seen[i] for ids[i] from lines "ID|STATE|THIRD": sacct --parsable2
 * JobID,State,ExitCode (is_exit: THIRD is an exit code) or squeue %i|%T|%r
 * (THIRD is the reason). Other lines (squeue's "CLUSTER: c" header) are
 * skipped; ids not listed are left as they were. */
void cp__slurm_read_lines(const char *out, bool is_exit, const char *const *ids, size_t n,
                          struct cp__slurm_seen *seen);
/* The value of KEY= in scontrol's one-line record (show job -o), cut to cap. */
bool cp__slurm_scontrol_field(const char *rec, const char *key, char *buf, size_t cap);
/* len bytes of src as a string in dst (cut to cap). */
void cp__slurm_copy(char *dst, size_t cap, const char *src, size_t len);
/* Whether a tool's output says "Invalid job id" (the job is unknown to slurmctld). */
bool cp__slurm_says_invalid_id(const struct cp__channel_result *r);

/* The provider with a channel the caller made (tests; takes ownership of ch even
 * on failure); remote_dir as in cp__batch_open_with. */
struct cp__provider *cp__slurm_create_with(const struct cp__provider_config *cfg,
                                           const char *run_dir, struct cp__channel *ch,
                                           const char *remote_dir, cp_err *err) CP__WUR;

#endif
