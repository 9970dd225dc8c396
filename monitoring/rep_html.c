/* monitoring/rep_html.c — see rep_html.h. */
#include "monitoring/rep_html.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

void cp__h_esc(FILE *f, const char *s, size_t max)
{
    if (!s)
        return;
    size_t n = strlen(s);
    bool cut = max > 0 && n > max;
    if (cut) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)  /* not mid-character */
            n--;
    }
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        const char *rep;
        switch (s[i]) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&#39;"; break;
        default:
            /* Control characters other than tab/newline are not valid HTML text. */
            if ((unsigned char)s[i] < 0x20 && s[i] != '\n' && s[i] != '\t')
                rep = "\xef\xbf\xbd";
            else
                continue;
        }
        fwrite(s + from, 1, i - from, f);
        fputs(rep, f);
        from = i + 1;
    }
    fwrite(s + from, 1, n - from, f);
    if (cut)
        fputs("\xe2\x80\xa6", f);
}

void cp__h_count(FILE *f, long n)
{
    char buf[32], out[48];
    int len = snprintf(buf, sizeof buf, "%ld", n < 0 ? -n : n), o = 0;
    if (n < 0)
        out[o++] = '-';
    for (int i = 0; i < len; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            out[o++] = ',';
        out[o++] = buf[i];
    }
    out[o] = '\0';
    fputs(out, f);
}

const char *cp__h_ordinal(long k)
{
    if (k % 100 >= 11 && k % 100 <= 13)
        return "th";
    return k % 10 == 1 ? "st" : k % 10 == 2 ? "nd" : k % 10 == 3 ? "rd" : "th";
}

void cp__h_secs(FILE *f, double s)
{
    if (isnan(s))
        fputs("–", f);
    else if (s < 1)
        fprintf(f, "%.3g ms", s * 1000);
    else if (s < 60)
        fprintf(f, "%.3g s", s);
    else if (s < 3600)
        fprintf(f, "%d min %02d s", (int)(s / 60), (int)fmod(s, 60));
    else
        fprintf(f, "%ld h %02d min", (long)(s / 3600), (int)fmod(s / 60, 60));
}

void cp__h_bytes(FILE *f, double b)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024 && u < 4)
        b /= 1024, u++;
    if (u == 0)
        fprintf(f, "%.0f B", b);
    else
        fprintf(f, "%.3g %s", b, units[u]);
}

void cp__axis_nice(struct cp__axis *a, double lo, double hi, int want)
{
    if (!(hi > lo))
        hi = lo + 1;
    double raw = (hi - lo) / (want > 1 ? want : 1);
    double mag = pow(10, floor(log10(raw)));
    double step = mag;
    if (raw / mag > 5)
        step = 10 * mag;
    else if (raw / mag > 2)
        step = 5 * mag;
    else if (raw / mag > 1)
        step = 2 * mag;
    a->step = step;
    a->lo = floor(lo / step) * step;
    a->hi = ceil(hi / step) * step;
    a->nticks = (int)lround((a->hi - a->lo) / step) + 1;
}

void cp__svg_open(FILE *f, const char *id, int w, int h, const char *title)
{
    fprintf(f, "<svg id=\"%s\" class=\"chart\" xmlns=\"http://www.w3.org/2000/svg\" "
               "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\"><title>",
            id, w, h, w, h);
    cp__h_esc(f, title, 0);
    fputs("</title>\n", f);
}

static double y_of(const struct cp__plot *p, double v)
{
    return p->y1 - (v - p->y.lo) / (p->y.hi - p->y.lo) * (p->y1 - p->y0);
}

void cp__svg_yaxis(FILE *f, const struct cp__plot *p, const char *unit)
{
    for (int i = 0; i < p->y.nticks; i++) {
        double v = p->y.lo + i * p->y.step, y = y_of(p, v);
        fprintf(f, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g",
                p->x0, y, p->x1, y, p->x0 - 4, y + 4, fabs(v) < 1e-12 ? 0 : v);
        cp__h_esc(f, unit, 0);
        fputs("</text>\n", f);
    }
}

void cp__svg_xaxis_secs(FILE *f, const struct cp__plot *p, double span)
{
    struct cp__axis a;
    cp__axis_nice(&a, 0, span, 8);
    for (int i = 0; i < a.nticks; i++) {
        double v = a.lo + i * a.step;
        if (v > span * 1.0001)
            break;
        double x = p->x0 + v / span * (p->x1 - p->x0);
        fprintf(f, "<line class=\"tickmark\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                   "<text class=\"tick\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                x, p->y1, x, p->y1 + 4, x, p->y1 + 16);
        cp__h_secs(f, v);
        fputs("</text>\n", f);
    }
}

void cp__svg_legend(FILE *f, double x, double y, const char *const *names,
                    const char *const *colors, int n)
{
    for (int i = 0; i < n; i++) {
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                   "<text class=\"legend\" x=\"%.1f\" y=\"%.1f\">",
                x, y, colors[i], x + 14, y + 9);
        cp__h_esc(f, names[i], 0);
        fputs("</text>\n", f);
        x += 24 + 7.0 * (double)strlen(names[i]);
    }
}

void cp__svg_columns(FILE *f, const char *id, const char *title, const double *v,
                     const char *const *tips, int n, const char *unit, const char *color)
{
    const int w = 900, h = 260;
    double hi = 0;
    for (int i = 0; i < n; i++)
        if (v[i] > hi)
            hi = v[i];
    struct cp__plot p = {.x0 = 70, .y0 = 10, .x1 = w - 10, .y1 = h - 30};
    cp__axis_nice(&p.y, 0, hi > 0 ? hi : 1, 5);
    cp__svg_open(f, id, w, h, title);
    cp__svg_yaxis(f, &p, unit);
    double cw = (p.x1 - p.x0) / (n > 0 ? n : 1);
    for (int i = 0; i < n; i++) {
        double y = y_of(&p, v[i]);
        fprintf(f, "<rect class=\"col\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" "
                   "fill=\"%s\">", p.x0 + i * cw, y, cw > 2 ? cw - 1 : cw, p.y1 - y, color);
        if (tips) {
            fputs("<title>", f);
            cp__h_esc(f, tips[i], 0);
            fputs("</title>", f);
        }
        fputs("</rect>\n", f);
    }
    fputs("</svg>\n", f);
}
