/* monitoring/rep_html.h — writing the report's HTML and SVG: escaping, numbers,
 * durations, and the chart primitives the sections share.
 *
 * Every string that came from the database goes through cp__h_esc (or a helper
 * that calls it): task names, errors, host names are the user's text and may hold
 * '<' or quotes. Output errors are not checked per call; the caller checks
 * ferror() once at the end, as with any stdio stream.
 */
#ifndef CP_MONITORING_REP_HTML_H
#define CP_MONITORING_REP_HTML_H

#include <stddef.h>
#include <stdio.h>

/* s escaped for both text and attribute values (& < > " '); NULL writes nothing.
 * At most max bytes of s are written (cut on a UTF-8 character boundary, with
 * "…" appended); max 0 means all. */
void cp__h_esc(FILE *f, const char *s, size_t max);

/* 1234567 as "1,234,567". */
void cp__h_count(FILE *f, long n);

/* "st", "nd", "rd" or "th": the English ordinal suffix of k. */
const char *cp__h_ordinal(long k);

/* A duration for people: "0.42 ms", "3.1 s", "4 min 05 s", "2 h 03 min". */
void cp__h_secs(FILE *f, double s);

/* Bytes for people: "512 B", "3.2 MiB". */
void cp__h_bytes(FILE *f, double b);

/* The axis of a chart: ticks at round values covering [lo, hi]. */
struct cp__axis {
    double lo, hi, step;
    int nticks;
};
void cp__axis_nice(struct cp__axis *a, double lo, double hi, int want_ticks);

/* <svg id=… viewBox=…> with a <title> (the chart's accessible name). */
void cp__svg_open(FILE *f, const char *id, int w, int h, const char *title);

/* A chart's frame: the plot area (x0, y0)–(x1, y1) in SVG units, and y axis
 * ticks with labels (formatted by fmt, "%g" style, with unit appended). */
struct cp__plot {
    double x0, y0, x1, y1;
    struct cp__axis y;
};
void cp__svg_yaxis(FILE *f, const struct cp__plot *p, const char *unit);
/* x axis in seconds from the run's start, span seconds wide. */
void cp__svg_xaxis_secs(FILE *f, const struct cp__plot *p, double span);
/* The legend: n coloured boxes with names, in a row at (x, y). */
void cp__svg_legend(FILE *f, double x, double y, const char *const *names,
                    const char *const *colors, int n);

/* A column chart: one column per value, tooltips from tips (may be NULL). */
void cp__svg_columns(FILE *f, const char *id, const char *title, const double *v,
                     const char *const *tips, int n, const char *unit, const char *color);

#endif
