/* monitoring/report.c — see report.h. The page's frame, the run summary and the
 * state timeline; the other sections are in rep_*.c (rep_parts.h).
 *
 * The page's Content-Security-Policy allows nothing but its own inline styles and
 * script: even if a string from the database slipped past escaping, the page
 * could not load anything from anywhere, and a reader sees it offline.
 */
#include "monitoring/report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "monitoring/rep_html.h"
#include "monitoring/rep_parts.h"
#include "monitoring/schema.h"

#define BINS 160

static const char style[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:960px;padding:0 16px;"
    "color:#222}h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;"
    "margin-top:28px}h3{font-size:15px}table{border-collapse:collapse;margin:8px 0}"
    "td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;vertical-align:top}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#f4f4f4}"
    "pre{margin:0;white-space:pre-wrap;word-break:break-word;max-width:520px}"
    ".note,.none{color:#555}.scroll{overflow:auto;max-height:720px;border:1px solid #eee}"
    "svg.chart{display:block;font-size:11px}svg .grid{stroke:#e4e4e4}"
    "svg .tickmark{stroke:#999}svg .tick{fill:#555}svg .lane{stroke:#ccc}"
    "svg .lanelabel,svg .nodelabel{fill:#222}svg .edges line{stroke:#999;stroke-width:.7}"
    "svg .try .wait{fill:#cfd8e3}svg .t-ok rect:last-child{fill:#009e73}"
    "svg .t-fail rect:last-child{fill:#d55e00}svg .t-open rect:last-child{fill:#56b4e9}"
    "svg .range{fill:#9ecae1}svg .mean{fill:#08519c}"
    ".legendrow span{margin-right:14px}.legendrow i{display:inline-block;width:10px;"
    "height:10px;margin-right:4px}#js-errors:empty{display:none}#js-errors{color:#b00}"
    "dl.summary{display:grid;grid-template-columns:max-content auto;gap:2px 16px}"
    "dl.summary dt{color:#555}dl.summary dd{margin:0}";

/* Records any script error in the page itself (tests read it), and filters the
 * failure table as the user types. */
static const char script[] =
    "window.onerror=function(m,s,l){var e=document.getElementById('js-errors');"
    "if(e)e.textContent+=m+' (line '+l+')\\n';};\n"
    "(function(){var i=document.getElementById('failures-filter');if(!i)return;"
    "i.addEventListener('input',function(){var q=i.value.toLowerCase();"
    "var rows=document.querySelectorAll('#failures-table tbody tr');"
    "for(var k=0;k<rows.length;k++){rows[k].style.display="
    "rows[k].textContent.toLowerCase().indexOf(q)<0?'none':'';}});})();\n"
    "document.body.setAttribute('data-ready','1');\n";

static void dd_text(FILE *f, const char *dt, const char *id, const char *v)
{
    fprintf(f, "<dt>%s</dt><dd id=\"%s\">", dt, id);
    if (v && *v)
        cp__h_esc(f, v, 1000);
    else
        fputs("–", f);
    fputs("</dd>\n", f);
}

static void dd_count(FILE *f, const char *dt, const char *id, long v)
{
    fprintf(f, "<dt>%s</dt><dd id=\"%s\" data-value=\"%ld\">", dt, id, v);
    cp__h_count(f, v);
    fputs("</dd>\n", f);
}

static void summary(struct cp__rep_ctx *c, long ntasks, long ntries)
{
    FILE *f = c->f;
    const struct cp__rep_workflow *w = &c->r->wf;
    bool ended = w->completed_text != NULL;
    fputs("<section id=\"summary\"><h2>Run</h2><dl class=\"summary\">\n", f);
    dd_text(f, "workflow", "sum-name", w->name);
    dd_text(f, "version", "sum-version", w->version);
    dd_text(f, "run id", "sum-run-id", w->run_id);
    dd_text(f, "host", "sum-host", w->host);
    dd_text(f, "user", "sum-user", w->user);
    dd_text(f, "run directory", "sum-rundir", w->rundir);
    dd_text(f, "database", "sum-db", c->r->path);
    dd_text(f, "began", "sum-began", w->began_text);
    dd_text(f, "completed", "sum-completed", ended ? w->completed_text
                                                   : "not yet: the run is going on, or it "
                                                     "was killed before it could say it ended");
    fputs("<dt>duration</dt><dd id=\"sum-duration\">", f);
    cp__h_secs(f, (ended ? w->completed : c->t1) - w->began);
    fputs(ended ? "" : " so far", f);
    fputs("</dd>\n", f);
    dd_count(f, "tasks", "sum-tasks", ntasks);
    dd_count(f, "tries", "sum-tries", ntries);
    dd_count(f, "tasks retried", "sum-retried", c->scan.retried);
    if (ended) {
        dd_count(f, "completed (workflow row)", "sum-wf-completed", w->tasks_completed);
        dd_count(f, "failed (workflow row)", "sum-wf-failed", w->tasks_failed);
    }
    fputs("</dl>\n", f);

    fputs("<h3>Tasks by state</h3><table id=\"state-counts\"><thead><tr><th>state</th>"
          "<th>tasks</th></tr></thead><tbody>\n", f);
    for (int s = 0; s < REP_NSTATES; s++) {
        long v = c->scan.state[s];
        if (v == 0 && (s == REP_ST_OTHER || s == REP_ST_JOINING || s == REP_ST_MEMO_DONE ||
                       s == REP_ST_RUNNING_ENDED))
            continue;
        const char *name = cp__rep_state_name(s);
        fprintf(f, "<tr><td>%s</td><td class=\"num\" id=\"count-%s\" data-value=\"%ld\">", name,
                name, v);
        cp__h_count(f, v);
        fputs("</td></tr>\n", f);
    }
    long none = ntasks - c->scan.ntasks;
    if (none > 0) {
        fprintf(f, "<tr><td>no status row</td><td class=\"num\" id=\"count-none\" "
                   "data-value=\"%ld\">", none);
        cp__h_count(f, none);
        fputs("</td></tr>\n", f);
    }
    fputs("</tbody></table>\n<p class=\"note\">A task's state is the last it entered; "
          "fail_retryable means a failed try waiting to be tried again.</p></section>\n", f);
}

static void timeline(struct cp__rep_ctx *c)
{
    FILE *f = c->f;
    const struct cp__rep_scan *s = &c->scan;
    fputs("<section id=\"timeline\"><h2>Tasks by state over time</h2>\n", f);
    if (s->ntasks == 0) {
        fputs("<p class=\"none\" id=\"timeline-none\">No status rows yet.</p></section>\n", f);
        return;
    }
    /* Stacked bottom to top: finished work first, so the pile grows upwards. */
    static const int order[REP_NCAT] = {REP_CAT_DONE, REP_CAT_FAILED, REP_CAT_DEP_FAIL,
                                        REP_CAT_RUNNING, REP_CAT_LAUNCHED, REP_CAT_PENDING};
    double top = 1;
    for (int b = 0; b < s->bins; b++) {
        double sum = 0;
        for (int k = 0; k < REP_NCAT; k++)
            sum += (double)s->timeline[(size_t)b * REP_NCAT + k];
        top = sum > top ? sum : top;
    }
    const int w = 920, h = 300;
    struct cp__plot p = {.x0 = 70, .y0 = 30, .x1 = w - 12, .y1 = h - 26};
    cp__axis_nice(&p.y, 0, top, 5);
    cp__svg_open(f, "chart-states", w, h, "Tasks by state over time");
    const char *names[REP_NCAT], *colors[REP_NCAT];
    for (int k = 0; k < REP_NCAT; k++)
        names[k] = cp__rep_cat_name(order[k]), colors[k] = cp__rep_cat_color(order[k]);
    cp__svg_legend(f, p.x0, 6, names, colors, REP_NCAT);
    cp__svg_yaxis(f, &p, "");
    cp__svg_xaxis_secs(f, &p, c->t1 - c->t0);
    double sy = (p.y1 - p.y0) / (p.y.hi - p.y.lo);
    for (int k = 0; k < REP_NCAT; k++) {
        fprintf(f, "<path class=\"area\" data-state=\"%s\" fill=\"%s\" d=\"",
                cp__rep_cat_name(order[k]), cp__rep_cat_color(order[k]));
        /* upper edge left to right, then the lower edge back */
        for (int pass = 0; pass < 2; pass++)
            for (int i = 0; i < s->bins; i++) {
                int b = pass == 0 ? i : s->bins - 1 - i;
                double below = 0;
                for (int j = 0; j < k; j++)
                    below += (double)s->timeline[(size_t)b * REP_NCAT + order[j]];
                double v = below + (pass == 0 ? (double)s->timeline[(size_t)b * REP_NCAT +
                                                                  order[k]] : 0);
                double x = p.x0 + (b + 1.0) / s->bins * (p.x1 - p.x0);
                fprintf(f, "%s%.1f %.1f", i == 0 && pass == 0 ? "M" : "L", x, p.y1 - v * sy);
            }
        fputs("Z\"/>\n", f);
    }
    fputs("</svg>\n<p class=\"note\">Tasks in each state at the end of each of ", f);
    fprintf(f, "%d equal intervals of the run; the counts come from every status row.</p>"
               "</section>\n", s->bins);
}

static int sections(struct cp__rep_ctx *c, struct cp__rep_dag *dag, long ntasks, long ntries,
                    cp_err *err)
{
    FILE *f = c->f;
    const struct cp__rep_workflow *w = &c->r->wf;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width\">\n<title>", f);
    cp__h_esc(f, w->name ? w->name : "workflow", 200);
    fputs(" — cparsl run report</title>\n<style>", f);
    fputs(style, f);
    fputs("</style></head>\n<body data-ready=\"0\">\n<h1>", f);
    cp__h_esc(f, w->name ? w->name : "workflow", 200);
    fputs(" <small>run ", f);
    cp__h_esc(f, w->run_id, 64);
    fputs("</small></h1>\n<pre id=\"js-errors\"></pre>\n", f);
    summary(c, ntasks, ntries);
    timeline(c);
    int ret = cp__rep_gantt(c, err);
    if (ret == 0)
        ret = cp__rep_apps(c, err);
    if (ret == 0)
        ret = cp__rep_resources(c, err);
    if (ret == 0)
        ret = cp__rep_dag_write(c, dag, err);
    if (ret == 0)
        ret = cp__rep_failures(c, err);
    if (ret == 0)
        ret = cp__rep_blocks(c, err);
    fputs("<p class=\"note\">Made by parsl-run report (cparsl) from ", f);
    cp__h_esc(f, c->r->path, 1000);
    fputs(".</p>\n<script>", f);
    fputs(script, f);
    fputs("</script>\n</body></html>\n", f);
    return ret;
}

int cp__report_write(struct cp__rep_db *r, const struct cp__report_opts *o, FILE *out,
                     cp_err *err)
{
    struct cp__rep_ctx c = {.r = r, .f = out};
    if (o)
        c.o = *o;
    c.o.gantt_tries = c.o.gantt_tries > 0 ? c.o.gantt_tries : 2000;
    c.o.dag_tasks = c.o.dag_tasks > 0 ? c.o.dag_tasks : 300;
    c.o.failures = c.o.failures > 0 ? c.o.failures : 200;
    c.o.resource_tries = c.o.resource_tries > 0 ? c.o.resource_tries : 400;
    /* One snapshot for every query, so counts agree with each other on a live run. */
    int rc = sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return cp__mon_sqlerr(err, r->db, rc, "%s: starting a read", r->path);
    struct cp__rep_dag *dag = NULL;
    int ret = -1;
    if (cp__rep_reload(r, err) != 0 || cp__rep_span(r, &c.t0, &c.t1, err) != 0)
        goto out;
    long ntasks = cp__rep_count(r, "SELECT count(*) FROM task WHERE run_id = ?1",
                                "counting tasks", err);
    long ntries = ntasks < 0 ? -1 : cp__rep_count(r, "SELECT count(*) FROM try WHERE "
                                                  "run_id = ?1", "counting tries", err);
    if (ntries < 0 || !(dag = cp__rep_dag_load(&c, err)))
        goto out;
    struct cp__rep_scan_opts so = {.t0 = c.t0, .t1 = c.t1, .bins = BINS, .recent_since = NAN};
    so.want_ids = cp__rep_dag_ids(dag, &so.nwant);
    if (cp__rep_scan(r, &so, &c.scan, err) != 0)
        goto out;
    ret = sections(&c, dag, ntasks, ntries, err);
out:
    cp__rep_scan_free(&c.scan);
    cp__rep_dag_free(dag);
    sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    return ret;
}
