/* tests/scripts/pbs_drive.c — drives one provider's operations directly, for
 * torque.t: the blocks parsl-run's executor never cancels itself mid-run.
 *
 *   pbs_drive CONFIG.yaml RUN_DIR
 *
 * CONFIG.yaml is a provider mapping (type: torque or pbspro …). It submits a
 * block that sleeps and one that exits 3, polls until the first runs, cancels
 * it, polls until both have ended, asks about an id no server has, and prints
 * one line per fact: "id A", "id B", "A running", "cancel 0", "A cancelled",
 * "B failed|completed EXIT", "missing <state>". Exit 0 when it got that far, 1
 * with the error on stderr otherwise.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/yaml.h"
#include "providers/provider.h"

static void nap(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (long)s) * 1e9)};
    nanosleep(&ts, NULL);
}

static int state_of(struct cp__provider *p, const char *id, struct cp__block_status *st,
                    cp_err *err)
{
    const char *ids[1] = {id};
    cp__block_status_clear(st);
    return cp__provider_status(p, ids, 1, st, err);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: pbs_drive CONFIG.yaml RUN_DIR\n");
        return 2;
    }
    cp_err err = {0};
    struct cp__provider_config cfg;
    struct cp__provider *p = NULL;
    struct cp__block_status st = {0};
    char *a = NULL, *b = NULL;
    int rc = 1;
    struct cp__ydoc *d = cp__ydoc_load_file(argv[1], NULL, &err);
    if (!d || cp__provider_config_parse(d->root, NULL, &cfg, &err) != 0)
        goto out;
    if (!(p = cp__provider_create(&cfg, argv[2], &err)) ||
        !(a = cp__provider_submit(p, "0", "sleep 120", 1, "drive.sleeper", &err)) ||
        !(b = cp__provider_submit(p, "1", "echo to stdout; echo to stderr >&2; exit 3", 1,
                                  "drive.exit3", &err)))
        goto out;
    printf("id A %s\nid B %s\n", a, b);
    fflush(stdout);
    for (int i = 0; i < 300; i++) {
        if (state_of(p, a, &st, &err) != 0)
            goto out;
        if (st.state != CP_BLOCK_PENDING)
            break;
        nap(0.1);
    }
    printf("A %s\n", cp__block_state_name(st.state));
    bool cancelled[1] = {false};
    const char *ids[1] = {a};
    int c = cp__provider_cancel(p, ids, 1, cancelled, &err);
    printf("cancel %d %s\n", c, cancelled[0] ? "yes" : "no");
    if (state_of(p, a, &st, &err) != 0)
        goto out;
    printf("A %s\n", cp__block_state_name(st.state));
    for (int i = 0; i < 300; i++) {
        if (state_of(p, b, &st, &err) != 0)
            goto out;
        if (cp__block_state_terminal(st.state))
            break;
        nap(0.1);
    }
    printf("B %s %d\n", cp__block_state_name(st.state), st.exit_code);
    printf("B message %s\n", st.message ? st.message : "");
    printf("B stdout %s\n", st.stdout_tail ? st.stdout_tail : "(none)");
    printf("B stderr %s\n", st.stderr_tail ? st.stderr_tail : "(none)");
    if (state_of(p, "999999", &st, &err) != 0)
        goto out;
    printf("missing %s\n", cp__block_state_name(st.state));
    printf("missing message %s\n", st.message ? st.message : "");
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "pbs_drive: %s\n", err.text);
    cp__block_status_clear(&st);
    free(a);
    free(b);
    cp__provider_destroy(p);
    if (d)
        cp__provider_config_fini(&cfg);
    cp__ydoc_free(d);
    return rc;
}
