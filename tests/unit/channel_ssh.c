/* tests/unit/channel_ssh.c — the ssh channel against a real OpenSSH server on
 * 127.0.0.1 that this test starts (tests/services/sshd.sh) and stops.
 *
 * Commands, stdin, quoting, signals, output bounds, time limits (the remote
 * command really ends), files by SFTP (atomic replace, modes, "~/"), host keys
 * (unknown, changed, trust on first use), key/agent/wrong-key authentication,
 * and the connection dropping (before a call: reconnect; during a command: the
 * call fails and the command is not run again; a stalled server: bounded).
 * When sshd cannot start, the test fails.
 */
#include "providers/channel.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include "tap.h"
#include "testutil.h"
#include "common/log.h"
#include "common/util.h"

static char dir[256];           /* everything of this test */
static char sdir[300];          /* the sshd's files */
static struct {
    int port;
    char user[64], key[512], kh[512];
    long pid;
} E;
static bool service_started;

/* --------------------------------------------------------------- helpers */

static int shf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int shf(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* First line of a command's output (static buffer). */
static const char *outf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static const char *outf(const char *fmt, ...)
{
    static char line[1024];
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    line[0] = '\0';
    FILE *p = popen(cmd, "r");
    if (p) {
        if (!fgets(line, sizeof line, p))
            line[0] = '\0';
        pclose(p);
    }
    line[strcspn(line, "\n")] = '\0';
    return line;
}

static double mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void teardown(void)
{
    if (service_started)
        shf("tests/services/sshd.sh down '%s' | sed 's/^/# /'", sdir);
    if (dir[0])
        shf("rm -rf '%s'", dir);
}

static int service_up(void)
{
    if (shf("tests/services/sshd.sh up '%s' 2>&1 | sed 's/^/# /'; "
            "test -s '%s/sshd.env'", sdir, sdir) != 0)
        return -1;
    service_started = true;
    char path[512];
    snprintf(path, sizeof path, "%s/sshd.env", sdir);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        char *v = strchr(line, '=');
        if (!v)
            continue;
        *v++ = '\0';
        if (!strcmp(line, "SSHD_PORT"))
            E.port = atoi(v);
        else if (!strcmp(line, "SSHD_USER"))
            snprintf(E.user, sizeof E.user, "%s", v);
        else if (!strcmp(line, "SSHD_KEY"))
            snprintf(E.key, sizeof E.key, "%s", v);
        else if (!strcmp(line, "SSHD_KNOWN_HOSTS"))
            snprintf(E.kh, sizeof E.kh, "%s", v);
        else if (!strcmp(line, "SSHD_PID"))
            E.pid = atol(v);
    }
    fclose(f);
    return E.port > 0 && E.pid > 0 && E.key[0] && E.kh[0] ? 0 : -1;
}

/* A config for the test server; strings point into static storage. */
static struct cp__channel_config cfg_for(const char *identity, const char *known_hosts)
{
    struct cp__channel_config c;
    cp__channel_config_local(&c);
    c.type = CP_CHANNEL_SSH;
    c.host = (char *)"127.0.0.1";
    c.user = E.user;
    c.port = E.port;
    c.identity = (char *)identity;
    c.known_hosts = (char *)known_hosts;
    c.cmd_timeout = 20;
    c.connect_timeout = 10;
    return c;
}

static struct cp__channel *open_ok(struct cp__channel_config c, const char *what)
{
    cp_err err = {0};
    struct cp__channel *ch = cp__channel_open(&c, &err);
    if (!ok(ch != NULL, "%s", what))
        diag("%s", err.text);
    return ch;
}

static const char *open_fails(struct cp__channel_config c)
{
    static cp_err err;
    memset(&err, 0, sizeof err);
    struct cp__channel *ch = cp__channel_open(&c, &err);
    if (ch) {
        cp__channel_close(ch);
        return "(it opened)";
    }
    return err.text;
}

/* The per-connection sshd processes (children of the listener). */
static int session_pids(long *pids, int max)
{
    DIR *d = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) && n < max) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%.20s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t len = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[len] = '\0';
        char *p = strrchr(buf, ')');
        char st;
        long ppid;
        if (p && sscanf(p + 1, " %c %ld", &st, &ppid) == 2 && ppid == E.pid && st != 'Z')
            pids[n++] = atol(e->d_name);
    }
    if (d)
        closedir(d);
    return n;
}

static bool pid_alive(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    char *p = strrchr(buf, ')');
    return p && p[1] == ' ' && p[2] != 'Z';
}

static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    while (d && readdir(d))
        n++;
    if (d)
        closedir(d);
    return n;
}

static int run(struct cp__channel *ch, const char *cmd, const char *in, double timeout,
               struct cp__channel_result *r, cp_err *err)
{
    return cp__channel_run(ch, cmd, in, timeout, r, err);
}

/* --------------------------------------------------------------- commands */

static void commands(struct cp__channel *ch)
{
    struct cp__channel_result r;
    cp_err err = {0};
    char want[400];
    snprintf(want, sizeof want, "%s@127.0.0.1:%d", E.user, E.port);
    is_str(cp__channel_describe(ch), want, "describe: user@host:port");

    if (!ok(run(ch, "echo out; echo err >&2; exit 3", NULL, 0, &r, &err) == 0,
            "a command that exits 3 ran"))
        diag("%s", err.text);
    is_int(r.exit_code, 3, "its exit code");
    is_str(r.out, "out\n", "its stdout (no pid line)");
    is_str(r.err_text, "err\n", "its stderr");
    ok(!r.truncated, "not truncated");
    cp__channel_result_clear(&r);
    ok(!r.out && !r.err_text && r.exit_code == 0, "result_clear zeroes");

    is_int(run(ch, "true", NULL, 0, &r, &err), 0, "true");
    ok(r.exit_code == 0 && r.out && !*r.out && r.err_text && !*r.err_text,
       "exit 0 with empty, non-NULL outputs");
    cp__channel_result_clear(&r);

    is_int(run(ch, "cat; printf end", "line one\nline two\n", 0, &r, &err), 0, "stdin text");
    is_str(r.out, "line one\nline two\nend", "the command read its stdin to the end");
    cp__channel_result_clear(&r);

    size_t big = 300000;
    char *in = malloc(big + 1);
    memset(in, 'x', big);
    in[big] = '\0';
    is_int(run(ch, "wc -c", in, 0, &r, &err), 0, "300 kB of stdin");
    ok(r.out && atol(r.out) == (long)big, "all of it arrived (%ld)", r.out ? atol(r.out) : -1L);
    cp__channel_result_clear(&r);
    free(in);

    const char *arg = "it's a \"test\" with  spaces, $HOME, `date`, \\ and ;|&";
    char *q = cp__shell_quote(arg);
    char *cmd = cp__strdup_printf("printf '%%s\\n' %s", q);
    is_int(run(ch, cmd, NULL, 0, &r, &err), 0, "a shell-quoted argument");
    snprintf(want, sizeof want, "%s\n", arg);
    is_str(r.out, want, "arrives as one word, unexpanded");
    cp__channel_result_clear(&r);
    free(cmd);
    free(q);

    is_int(run(ch, "kill -TERM $$", NULL, 0, &r, &err), 0, "a command killed by TERM");
    is_int(r.exit_code, 128 + SIGTERM, "exit code 128+15");
    cp__channel_result_clear(&r);
    is_int(run(ch, "kill -KILL $$", NULL, 0, &r, &err), 0, "a command killed by KILL");
    is_int(r.exit_code, 128 + SIGKILL, "exit code 128+9");
    cp__channel_result_clear(&r);

    is_int(run(ch, "head -c 5000000 /dev/zero | tr '\\0' a; echo tail >&2", NULL, 0, &r, &err), 0,
           "5 MB of stdout");
    ok(r.truncated && r.out && strlen(r.out) == CP_CHANNEL_OUTPUT_MAX,
       "kept CP_CHANNEL_OUTPUT_MAX bytes, truncated set (%zu)", r.out ? strlen(r.out) : 0);
    is_str(r.err_text, "tail\n", "stderr still complete");
    cp__channel_result_clear(&r);

    is_int(run(ch, "echo $0; ps -o comm= -p $$", NULL, 0, &r, &err), 0, "the shell");
    like(r.out, "sh", "commands run under /bin/sh");
    cp__channel_result_clear(&r);
}

static void time_limits(struct cp__channel *ch)
{
    struct cp__channel_result r;
    cp_err err = {0};
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sleep 30 & echo $! > '%s/bg.pid'; echo $$ > '%s/sh.pid'; "
             "echo started; wait", dir, dir);
    double t0 = mono();
    ok(run(ch, cmd, NULL, 1, &r, &err) < 0, "a command over its 1 s limit fails");
    double took = mono() - t0;
    like(err.text, "did not finish within 1 s", "the error says so");
    like(err.text, "sleep 30 &", "and names the command");
    is_int(err.code, ETIMEDOUT, "code ETIMEDOUT");
    ok(took >= 0.9 && took < 6, "after about 1 s (%.2f s)", took);
    ok(!r.out && !r.err_text, "res is cleared");
    long bg = atol(slurp(strcat(strcpy(cmd, dir), "/bg.pid")) ?: "0");
    long shp = atol(slurp(strcat(strcpy(cmd, dir), "/sh.pid")) ?: "0");
    int i = 0;
    while ((pid_alive(bg) || pid_alive(shp)) && i++ < 50)
        nap_ms(100);
    ok(bg > 0 && !pid_alive(bg), "its background child %ld was ended too", bg);
    ok(shp > 0 && !pid_alive(shp), "its shell %ld was ended", shp);

    is_int(run(ch, "echo next", NULL, 0, &r, &err), 0, "the next call works");
    is_str(r.out, "next\n", "with its output");
    cp__channel_result_clear(&r);

    /* cmd_timeout of the config applies when the call gives none. */
    struct cp__channel_config c = cfg_for(E.key, E.kh);
    c.cmd_timeout = 1;
    struct cp__channel *short_ch = open_ok(c, "a channel with cmd_timeout 1");
    if (short_ch) {
        ok(run(short_ch, "sleep 5", NULL, 0, &r, &err) < 0, "cmd_timeout ends a call without one");
        like(err.text, "within 1 s", "naming the config's limit");
        is_int(run(short_ch, "sleep 1.5; echo done", NULL, 4, &r, &err), 0,
               "the call's own limit wins over cmd_timeout");
        cp__channel_result_clear(&r);
        cp__channel_close(short_ch);
    }
}

/* --------------------------------------------------------------- files */

static void files(struct cp__channel *ch)
{
    cp_err err = {0};
    char path[600], p2[700];
    struct stat st;

    snprintf(path, sizeof path, "%s/files/a b/c/job.sh", dir);
    const char *v1 = "#!/bin/sh\necho one\n";
    if (!ok(cp__channel_put(ch, path, v1, strlen(v1), 0750, &err) == 0,
            "put into missing directories (one with a space)"))
        diag("%s", err.text);
    is_str(slurp(path), v1, "the content arrived");
    ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0750, "with mode 0750 (%o)",
       st.st_mode & 07777);
    snprintf(p2, sizeof p2, "%s/files/a b", dir);
    ok(stat(p2, &st) == 0 && (st.st_mode & 07777) == 0700, "new parents are 0700 (%o)",
       st.st_mode & 07777);

    const char *v2 = "#!/bin/sh\necho two, longer than one\n";
    ok(cp__channel_put(ch, path, v2, strlen(v2), 0640, &err) == 0, "put over an existing file");
    is_str(slurp(path), v2, "replaced");
    ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640, "with the new mode");
    snprintf(p2, sizeof p2, "ls -A '%s/files/a b/c' | wc -l", dir);
    is_str(outf("%s", p2), "1", "no temporary file is left beside it");

    /* A reader never sees a half-written file: the name only ever points to a
     * whole one (the old or the new). */
    size_t n = 2u << 20;
    char *blob = malloc(n);
    for (size_t i = 0; i < n; i++)
        blob[i] = (char)('a' + i % 26);
    ok(cp__channel_put(ch, path, blob, n, 0600, &err) == 0, "put 2 MB");
    char *data = NULL;
    size_t len = 0;
    ok(cp__channel_get(ch, path, n * 2, &data, &len, &err) == 0, "get it back");
    ok(len == n && data && memcmp(data, blob, n) == 0 && data[n] == '\0',
       "same bytes, NUL-terminated (%zu)", len);
    free(data);
    ok(cp__channel_get(ch, path, 10, &data, &len, &err) == 0, "get the last 10 bytes");
    ok(len == 10 && data && memcmp(data, blob + n - 10, 10) == 0, "they are the end of the file");
    free(data);
    free(blob);

    ok(cp__channel_put(ch, path, "", 0, 0600, &err) == 0, "put an empty file");
    ok(cp__channel_get(ch, path, 100, &data, &len, &err) == 0 && len == 0 && data && !*data,
       "get an empty file: \"\"");
    free(data);

    snprintf(p2, sizeof p2, "%s/files/none.txt", dir);
    data = (char *)"x";
    ok(cp__channel_get(ch, p2, 100, &data, &len, &err) < 0, "get of a missing file fails");
    is_int(err.code, ENOENT, "with ENOENT");
    like(err.text, "none.txt", "naming the path");
    ok(data == NULL, "*data NULL on failure");

    snprintf(p2, sizeof p2, "%s/files/m/n/o", dir);
    ok(cp__channel_mkdirs(ch, p2, 0750, &err) == 0, "mkdirs of three levels");
    ok(stat(p2, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0750,
       "made with mode 0750");
    ok(cp__channel_mkdirs(ch, p2, 0750, &err) == 0, "mkdirs of an existing directory is fine");
    snprintf(p2, sizeof p2, "%s/files/m/n/o/", dir);
    ok(cp__channel_mkdirs(ch, p2, 0750, &err) == 0, "a trailing slash is fine");
    ok(cp__channel_mkdirs(ch, path, 0700, &err) < 0, "mkdirs over a file fails");
    like(err.text, "not a directory", "saying why");
    snprintf(p2, sizeof p2, "%s/sub/file", path);
    ok(cp__channel_put(ch, p2, "x", 1, 0600, &err) < 0, "put below a file fails");
    like(err.text, "job.sh", "naming the path");

    /* "~/" and relative paths: the login directory of the far user. */
    struct passwd *pw = getpwnam(E.user);
    const char *home = pw ? pw->pw_dir : "/nonexistent";
    char rel[128], abs_[700];
    snprintf(rel, sizeof rel, ".cparsl-chtest-%d", (int)getpid());
    snprintf(p2, sizeof p2, "~/%s/x/t.txt", rel);
    ok(cp__channel_put(ch, p2, "tilde\n", 6, 0600, &err) == 0, "put to ~/…");
    snprintf(abs_, sizeof abs_, "%s/%s/x/t.txt", home, rel);
    is_str(slurp(abs_), "tilde\n", "lands in the login directory of %s", E.user);
    snprintf(p2, sizeof p2, "%s/x/t.txt", rel);
    ok(cp__channel_get(ch, p2, 100, &data, &len, &err) == 0, "a relative path");
    is_str(data, "tilde\n", "is relative to the login directory");
    free(data);
    snprintf(p2, sizeof p2, "~/%s/y", rel);
    ok(cp__channel_mkdirs(ch, p2, 0700, &err) == 0, "mkdirs ~/…");
    snprintf(abs_, sizeof abs_, "%s/%s/y", home, rel);
    ok(stat(abs_, &st) == 0 && S_ISDIR(st.st_mode), "made in the login directory");
    snprintf(abs_, sizeof abs_, "%s/%s", home, rel);
    shf("rm -rf '%s'", abs_);
    ok(cp__channel_get(ch, "", 10, &data, &len, &err) < 0, "an empty path is refused");
}

/* --------------------------------------------------------------- host keys */

static void host_keys(void)
{
    char fp[200], kh[600], other[600];
    snprintf(fp, sizeof fp, "%s", outf("ssh-keygen -lf '%s/host_ed25519.pub' | cut -d' ' -f2", sdir));
    ok(!strncmp(fp, "SHA256:", 7), "the server's fingerprint: %s", fp);

    snprintf(kh, sizeof kh, "%s/empty_known_hosts", dir);
    shf(": > '%s'", kh);
    const char *e = open_fails(cfg_for(E.key, kh));
    like(e, "is not in", "an unknown host key is refused");
    like(e, fp, "the error shows the server's SHA256 fingerprint");
    char want[800];
    snprintf(want, sizeof want, "ssh-keyscan -p %d -t ed25519 127.0.0.1 >> %s", E.port, kh);
    like(e, want, "and the ssh-keyscan line that adds it");
    like(e, "accept_new_host_key: true", "and the opt-in");
    snprintf(want, sizeof want, "[127.0.0.1]:%d", E.port);
    like(e, want, "the host as known_hosts writes it");
    diag("unknown host: %s", e);

    /* Changed: known_hosts holds another key for [127.0.0.1]:port. */
    snprintf(other, sizeof other, "%s/other_host", dir);
    shf("ssh-keygen -q -t ed25519 -N '' -f '%s'", other);
    snprintf(kh, sizeof kh, "%s/changed_known_hosts", dir);
    shf("printf '[127.0.0.1]:%d %%s\\n' \"$(cut -d' ' -f1,2 '%s.pub')\" > '%s'", E.port, other, kh);
    e = open_fails(cfg_for(E.key, kh));
    like(e, "HOST KEY CHANGED", "a changed host key is refused");
    like(e, fp, "showing the new fingerprint");
    snprintf(want, sizeof want, "ssh-keygen -R '[127.0.0.1]:%d' -f %s", E.port, kh);
    like(e, want, "and how to remove the old entry");
    diag("changed host: %s", e);
    struct cp__channel_config c = cfg_for(E.key, kh);
    c.accept_new_host_key = true;
    e = open_fails(c);
    like(e, "HOST KEY CHANGED", "refused also with accept_new_host_key");
    snprintf(want, sizeof want, "grep -c . '%s'", kh);
    is_str(outf("%s", want), "1", "known_hosts was not changed");

    /* Trust on first use: the entry is written (directory made) and logged. */
    snprintf(kh, sizeof kh, "%s/tofu/known_hosts", dir);
    char log[600];
    snprintf(log, sizeof log, "%s/parsl.log", dir);
    cp_err err = {0};
    ok(cp__log_open(log, "info", &err) == 0, "log opened");
    c = cfg_for(E.key, kh);
    c.accept_new_host_key = true;
    struct cp__channel *ch = open_ok(c, "accept_new_host_key: an unknown host is trusted");
    cp__channel_close(ch);
    cp__log_close();
    snprintf(want, sizeof want, "[127.0.0.1]:%d ssh-ed25519 ", E.port);
    like(slurp(kh), want, "its entry is in known_hosts");
    like(slurp(log), "trusted on first use", "the log says so");
    like(slurp(log), fp, "with the fingerprint");
    ch = open_ok(cfg_for(E.key, kh), "the second connection is verified by that entry");
    cp__channel_close(ch);
}

/* --------------------------------------------------------------- authentication */

static void auth(void)
{
    char home[600], other[600], enc[600];
    snprintf(home, sizeof home, "%s/emptyhome", dir);
    shf("mkdir -p '%s'", home);
    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", home, 1);
    unsetenv("SSH_AUTH_SOCK");

    char who[400];
    snprintf(who, sizeof who, "%s@127.0.0.1:%d", E.user, E.port);
    snprintf(other, sizeof other, "%s/other_user_key", dir);
    shf("ssh-keygen -q -t ed25519 -N '' -f '%s'", other);
    const char *e = open_fails(cfg_for(other, E.kh));
    like(e, "authentication failed", "a key the server does not know is refused");
    like(e, who, "naming user@host:port");
    like(e, "other_user_key (refused)", "and the key tried");
    like(e, "publickey", "and what the server offers");
    diag("wrong key: %s", e);

    snprintf(enc, sizeof enc, "%s/encrypted_key", dir);
    shf("ssh-keygen -q -t ed25519 -N 'sekrit-passphrase' -f '%s'", enc);
    e = open_fails(cfg_for(enc, E.kh));
    like(e, "passphrase", "an encrypted key: the error says to use the agent");
    ok(!strstr(e, "sekrit"), "and never shows a passphrase");

    e = open_fails(cfg_for(NULL, E.kh));
    like(e, "SSH_AUTH_SOCK is not set", "no identity, no agent: says the agent was missing");
    like(e, "none exists", "and that there are no default keys");
    like(e, "offers: publickey", "and what the server offers");
    diag("nothing to try: %s", e);

    snprintf(other, sizeof other, "%s/missing_key", dir);
    e = open_fails(cfg_for(other, E.kh));
    like(e, "missing_key (No such file or directory)", "a missing identity file is named");

    /* The agent: no identity set, the key only in the agent. */
    if (ok(shf("tests/services/sshd.sh agent '%s' 2>&1 | sed 's/^/# /'; test -S '%s/agent.sock'",
               sdir, sdir) == 0, "ssh-agent started holding the key")) {
        char sock[600];
        snprintf(sock, sizeof sock, "%s/agent.sock", sdir);
        setenv("SSH_AUTH_SOCK", sock, 1);
        struct cp__channel *ch = open_ok(cfg_for(NULL, E.kh), "agent authentication");
        struct cp__channel_result r;
        cp_err err = {0};
        if (ch) {
            is_int(cp__channel_run(ch, "echo via-agent", NULL, 0, &r, &err), 0, "a command");
            is_str(r.out, "via-agent\n", "runs");
            cp__channel_result_clear(&r);
            cp__channel_close(ch);
        }
        /* Default key files are tried after the agent. */
        shf("ssh-add -D >/dev/null 2>&1; mkdir -p '%s/.ssh' && cp '%s' '%s/.ssh/id_ed25519'",
            home, E.key, home);
        ch = open_ok(cfg_for(NULL, E.kh), "~/.ssh/id_ed25519 after an agent without keys");
        cp__channel_close(ch);
        unsetenv("SSH_AUTH_SOCK");
    }
    if (old_home)
        setenv("HOME", old_home, 1);
    free(old_home);
}

/* --------------------------------------------------------------- dropped connections */

static void kill_sessions(int sig)
{
    long pids[64];
    int n = session_pids(pids, 64);
    for (int i = 0; i < n; i++)
        kill((pid_t)pids[i], sig);
}

static void drops(void)
{
    struct cp__channel_config c = cfg_for(E.key, E.kh);
    c.connect_timeout = 2;
    struct cp__channel *ch = open_ok(c, "a channel for the drop tests");
    if (!ch)
        return;
    struct cp__channel_result r;
    cp_err err = {0};
    is_int(run(ch, "echo first", NULL, 0, &r, &err), 0, "a first command");
    cp__channel_result_clear(&r);
    int fds = count_fds();

    /* Dropped between calls: the next call reconnects. */
    long pids[64];
    ok(session_pids(pids, 64) >= 1, "the connection's sshd process is there");
    kill_sessions(SIGKILL);
    nap_ms(200);
    if (!ok(run(ch, "echo again", NULL, 0, &r, &err) == 0, "after the connection was killed, "
            "the next command works"))
        diag("%s", err.text);
    is_str(r.out, "again\n", "with its output");
    cp__channel_result_clear(&r);
    kill_sessions(SIGKILL);
    nap_ms(200);
    char path[600];
    snprintf(path, sizeof path, "%s/files/after-drop.txt", dir);
    ok(cp__channel_put(ch, path, "ok", 2, 0600, &err) == 0, "so does the next put");

    /* Lost while the command runs: the call fails; the command is not run again. */
    char cmd[600];
    snprintf(cmd, sizeof cmd, "echo ran >> '%s/count'; kill -9 $PPID; sleep 2", dir);
    ok(run(ch, cmd, NULL, 5, &r, &err) < 0, "a command whose connection dies fails");
    like(err.text, "lost while command", "saying the connection was lost");
    like(err.text, "not run again", "and that it is not run again");
    snprintf(path, sizeof path, "grep -c ran '%s/count'", dir);
    is_str(outf("%s", path), "1", "it ran exactly once");
    is_int(run(ch, "echo recovered", NULL, 0, &r, &err), 0, "the next call reconnects");
    cp__channel_result_clear(&r);

    /* A server that stops answering: bounded by connect_timeout, then a new
     * connection (nothing had started yet). */
    kill_sessions(SIGSTOP);
    double t0 = mono();
    if (!ok(run(ch, "echo fresh", NULL, 5, &r, &err) == 0, "a command on a stalled connection "
            "runs on a new one"))
        diag("%s", err.text);
    double took = mono() - t0;
    ok(took >= 1.5 && took < 8, "after about connect_timeout (2 s): %.2f s", took);
    is_str(r.out, "fresh\n", "with its output");
    cp__channel_result_clear(&r);
    long stalled[64];
    int ns = session_pids(stalled, 64);
    kill_sessions(SIGSTOP);     /* now the new one stalls too */
    t0 = mono();
    char *data = NULL;
    size_t len;
    snprintf(path, sizeof path, "%s/files/after-drop.txt", dir);
    ok(cp__channel_get(ch, path, 10, &data, &len, &err) < 0, "a get on a stalled server fails");
    took = mono() - t0;
    like(err.text, "no answer within 2 s", "saying it got no answer");
    ok(took < 8, "in bounded time: %.2f s", took);
    kill_sessions(SIGKILL);
    for (int i = 0; i < ns; i++)
        kill((pid_t)stalled[i], SIGKILL);
    kill_sessions(SIGCONT);
    is_int(cp__channel_get(ch, path, 10, &data, &len, &err), 0, "the next get reconnects");
    is_str(data, "ok", "and reads");
    free(data);
    nap_ms(100);
    ok(count_fds() == fds, "no descriptor leaked over the reconnections (%d, %d)", count_fds(),
       fds);
    cp__channel_close(ch);
}

/* --------------------------------------------------------------- threads */

struct worker {
    struct cp__channel *ch;
    int id, good;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 8; i++) {
        char cmd[64], want[64];
        snprintf(cmd, sizeof cmd, "echo %d-%d", w->id, i);
        snprintf(want, sizeof want, "%d-%d\n", w->id, i);
        struct cp__channel_result r;
        cp_err err;
        if (cp__channel_run(w->ch, cmd, NULL, 0, &r, &err) == 0 && r.out && !strcmp(r.out, want))
            w->good++;
        cp__channel_result_clear(&r);
    }
    return NULL;
}

static void threads(struct cp__channel *ch)
{
    pthread_t th[4];
    struct worker w[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){ch, i, 0};
        pthread_create(&th[i], NULL, worker_main, &w[i]);
    }
    int good = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        good += w[i].good;
    }
    is_int(good, 32, "4 threads x 8 commands on one channel, each with its own output");
}

int main(void)
{
    tap_start(180);
    snprintf(dir, sizeof dir, "%s", outf("mktemp -d /tmp/cparsl-ssh-XXXXXX"));
    snprintf(sdir, sizeof sdir, "%s/sshd", dir);
    atexit(teardown);
    if (!ok(dir[0] && service_up() == 0, "sshd started on 127.0.0.1 (tests/services/sshd.sh)")) {
        printf("Bail out! no sshd: the ssh channel cannot be tested\n");
        return 1;
    }
    struct cp__channel *ch = open_ok(cfg_for(E.key, E.kh), "open: key file, known_hosts");
    if (ch) {
        commands(ch);
        time_limits(ch);
        files(ch);
        threads(ch);
        cp__channel_close(ch);
    }
    host_keys();
    auth();
    drops();
    return done_testing();
}
