/*
 * The compiled move kernel: the same parsing rules and motion planner as
 * instance/analysis/pykernel.py (read that module's docstring first), written
 * in plain C with no Python headers. It is built as an optional extension at
 * install time and loaded with ctypes; when it is missing the pure Python
 * kernel is used. Any change here must be made there too: the tests check
 * that both give the same figures.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif

#define MAX_TOOLS 16
#define WINDOW 64
#define NLIM 18
#define MIN_PLANNER_SPEED 0.05
#define ARC_SEGMENT_MM 1.0
#define MAX_ARC_SEGMENTS 10000L
#define EPS 1e-9
#define HUGE_ACCEL 1e12
#define LAYER_EPS 1e-4
#define DEFAULT_FEEDRATE 25.0
#define MAX_VALUE 1e9

enum { MAXF = 0, MAXA = 4, ACC_P = 8, ACC_R = 9, ACC_T = 10, JERK = 11, JD = 15, MINF = 16,
       MINT = 17 };

typedef struct {
    double len, nom, acc, vmax, entry;
} block_t;

typedef struct {
    double lim[NLIM];
    double x, y, z, e, feed;
    int rel_xyz, rel_e;
    double scale;
    int tool;
    double net_e[MAX_TOOLS], max_e[MAX_TOOLS];
    double bbox[6];
    double *layers;
    size_t n_layers, cap_layers;
    double layer_z;
    block_t blocks[2 * WINDOW];
    int n_blocks;
    int pinned, has_prev;
    double prev_nom, prev_safe, prev_dir[4], prev_speed[4], last_safe;
    double time, dwell;
    long long moves;
    long long limit_lines;
} state_t;

/* One parsed line: which letters were seen, and their values (NAN when absent). */
typedef struct {
    unsigned int seen;
    double val[26];
} words_t;

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n';
}
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static char upper(char c) { return (c >= 'a' && c <= 'z') ? (char)(c - 32) : c; }

/* [-+]?(digits[.digits]|.digits)([eE][-+]?digits)?  Returns chars used, 0 if none. */
static size_t parse_number(const char *s, size_t n, double *out) {
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    unsigned long long mant = 0;
    int sig = 0, exp10 = 0, digits = 0;
    while (i < n && is_digit(s[i])) {
        if (sig < 19) {
            mant = mant * 10 + (unsigned)(s[i] - '0');
            if (mant) sig++;
        } else {
            exp10++;
        }
        i++;
        digits++;
    }
    if (i < n && s[i] == '.') {
        size_t j = i + 1;
        int frac = 0;
        while (j < n && is_digit(s[j])) {
            if (sig < 19) {
                mant = mant * 10 + (unsigned)(s[j] - '0');
                if (mant) sig++;
                exp10--;
            }
            j++;
            frac++;
        }
        if (digits == 0 && frac == 0) return 0;
        digits += frac;
        i = j;
    }
    if (digits == 0) return 0;
    size_t end = i;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t j = i + 1;
        int eneg = 0;
        if (j < n && (s[j] == '+' || s[j] == '-')) {
            eneg = s[j] == '-';
            j++;
        }
        if (j < n && is_digit(s[j])) {
            int ev = 0;
            while (j < n && is_digit(s[j])) {
                if (ev < 100000) ev = ev * 10 + (s[j] - '0');
                j++;
            }
            exp10 += eneg ? -ev : ev;
            end = j;
        }
    }
    double v;
    if (mant <= (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        v = (double)mant;
        v = exp10 < 0 ? v / POW10[-exp10] : v * POW10[exp10];
    } else {
        /* Rare: too many digits or a big exponent; let the C library round it. */
        char buf[128];
        size_t len = end < sizeof buf - 1 ? end : sizeof buf - 1;
        memcpy(buf, s, len);
        buf[len] = 0;
        for (size_t k = 0; k < len; k++) buf[k] = upper(buf[k]);
        v = fabs(strtod(buf, NULL));
    }
    *out = neg ? -v : v;
    return end;
}

static void parse_words(const char *s, size_t n, words_t *w) {
    w->seen = 0;
    size_t i = 0;
    while (i < n) {
        char c = upper(s[i]);
        if (c >= 'A' && c <= 'Z') {
            int k = c - 'A';
            double v;
            size_t used = parse_number(s + i + 1, n - i - 1, &v);
            w->seen |= 1u << k;
            w->val[k] = (used && v >= -MAX_VALUE && v <= MAX_VALUE) ? v : NAN;
            i += 1 + used;
        } else {
            i++;
        }
    }
}

#define SEEN(w, c) ((w)->seen & (1u << ((c) - 'A')))
#define HAS(w, c) (SEEN(w, c) && !isnan((w)->val[(c) - 'A']))
#define VAL(w, c) ((w)->val[(c) - 'A'])

static double trapezoid_time(double len, double nom, double acc, double vin, double vout) {
    double two_a = 2.0 * acc;
    double accel_dist = (nom * nom - vin * vin) / two_a;
    double decel_dist = (nom * nom - vout * vout) / two_a;
    if (accel_dist + decel_dist <= len) {
        double cruise = len - accel_dist - decel_dist;
        return (nom - vin) / acc + (nom - vout) / acc + cruise / nom;
    }
    double peak_sq = (two_a * len + vin * vin + vout * vout) / 2.0;
    double peak = peak_sq > 0.0 ? sqrt(peak_sq) : 0.0;
    if (peak < vin) peak = vin;
    if (peak < vout) peak = vout;
    return (peak - vin) / acc + (peak - vout) / acc;
}

static void replan(state_t *st, int count) {
    block_t *b = st->blocks;
    int n = st->n_blocks;
    double final = st->last_safe, nxt = final;
    int stop = st->pinned ? 0 : -1;
    for (int i = n - 1; i > stop; i--) {
        double reach = sqrt(nxt * nxt + 2.0 * b[i].acc * b[i].len);
        nxt = b[i].vmax < reach ? b[i].vmax : reach;
        b[i].entry = nxt;
    }
    for (int i = 0; i < n - 1; i++) {
        double reach = sqrt(b[i].entry * b[i].entry + 2.0 * b[i].acc * b[i].len);
        if (b[i + 1].entry > reach) b[i + 1].entry = reach;
    }
    double total = 0.0;
    for (int i = 0; i < count; i++) {
        double vin = b[i].entry, vout;
        if (i + 1 < n) {
            vout = b[i + 1].entry;
        } else {
            double reach = sqrt(vin * vin + 2.0 * b[i].acc * b[i].len);
            vout = final < reach ? final : reach;
        }
        total += trapezoid_time(b[i].len, b[i].nom, b[i].acc, vin, vout);
    }
    st->time += total;
    memmove(b, b + count, sizeof(block_t) * (size_t)(n - count));
    st->n_blocks = n - count;
    st->pinned = n > count;
}

static void sync_planner(state_t *st) {
    if (st->n_blocks) replan(st, st->n_blocks);
    st->pinned = 0;
    st->has_prev = 0;
}

static void plan(state_t *st, double dx, double dy, double dz, double de, double length,
                 int xyz) {
    const double *lim = st->lim;
    st->moves++;
    double v = st->feed;
    double floor_v = de != 0.0 ? lim[MINF] : lim[MINT];
    if (v < floor_v) v = floor_v;
    double inv = 1.0 / length;
    double d[4] = {dx, dy, dz, de};
    for (int i = 0; i < 4; i++) {
        double a = fabs(d[i]);
        if (a > 0.0) {
            double cap = lim[MAXF + i];
            if (cap > 0.0 && v * a * inv > cap) v = cap * length / a;
        }
    }
    if (v <= EPS) v = EPS;
    double acc = de == 0.0 ? lim[ACC_T] : (!xyz ? lim[ACC_R] : lim[ACC_P]);
    if (acc <= 0.0) acc = HUGE_ACCEL;
    for (int i = 0; i < 4; i++) {
        double a = fabs(d[i]);
        if (a > 0.0) {
            double cap = lim[MAXA + i];
            if (cap > 0.0 && acc * a * inv > cap) acc = cap * length / a;
        }
    }
    double speed[4];
    for (int i = 0; i < 4; i++) speed[i] = d[i] * inv * v;
    double safe = v;
    for (int i = 0; i < 4; i++) {
        double jerk = lim[JERK + i];
        if (fabs(speed[i]) > jerk && jerk < safe) safe = jerk;
    }
    double norm4 = sqrt(dx * dx + dy * dy + dz * dz + de * de);
    double unit[4] = {dx / norm4, dy / norm4, dz / norm4, de / norm4};
    double vmax;
    double jd = lim[JD];
    if (jd > 0.0) {
        if (st->has_prev) {
            double cos_theta = -(unit[0] * st->prev_dir[0] + unit[1] * st->prev_dir[1] +
                                 unit[2] * st->prev_dir[2] + unit[3] * st->prev_dir[3]);
            if (cos_theta > 0.999999) {
                vmax = MIN_PLANNER_SPEED;
            } else if (cos_theta < -0.999999) {
                vmax = v;
            } else {
                double sin_half = sqrt(0.5 * (1.0 - cos_theta));
                vmax = sqrt(acc * jd * sin_half / (1.0 - sin_half));
            }
            if (v < vmax) vmax = v;
            if (st->prev_nom < vmax) vmax = st->prev_nom;
        } else {
            vmax = MIN_PLANNER_SPEED;
        }
        safe = MIN_PLANNER_SPEED;
    } else if (st->has_prev) {
        double vj = v < st->prev_nom ? v : st->prev_nom;
        double factor = 1.0;
        double prev_scale = vj / st->prev_nom, cur_scale = vj / v;
        for (int i = 0; i < 4; i++) {
            double v_exit = st->prev_speed[i] * prev_scale;
            double v_entry = speed[i] * cur_scale;
            double jerk;
            if ((v_exit > 0.0) == (v_entry > 0.0) || v_exit == 0.0 || v_entry == 0.0)
                jerk = fabs(v_exit - v_entry);
            else
                jerk = fabs(v_exit) > fabs(v_entry) ? fabs(v_exit) : fabs(v_entry);
            double limit = lim[JERK + i];
            if (jerk > limit && jerk * factor > limit) factor = limit / jerk;
        }
        vmax = vj * factor;
        double both_safe = safe < st->prev_safe ? safe : st->prev_safe;
        if (both_safe > vmax) vmax = both_safe < vj ? both_safe : vj;
    } else {
        vmax = safe;
    }
    if (vmax > v) vmax = v;
    st->has_prev = 1;
    st->prev_nom = v;
    st->prev_safe = safe;
    memcpy(st->prev_dir, unit, sizeof unit);
    memcpy(st->prev_speed, speed, sizeof speed);
    st->last_safe = safe;
    block_t *blk = &st->blocks[st->n_blocks++];
    blk->len = length;
    blk->nom = v;
    blk->acc = acc;
    blk->vmax = vmax;
    blk->entry = vmax;
    if (st->n_blocks >= 2 * WINDOW) replan(st, WINDOW);
}

static void add_layer(state_t *st, double z) {
    if (st->n_layers == st->cap_layers) {
        size_t cap = st->cap_layers ? st->cap_layers * 2 : 256;
        double *grown = realloc(st->layers, cap * sizeof(double));
        if (!grown) return; /* out of memory: the layer list stops growing */
        st->layers = grown;
        st->cap_layers = cap;
    }
    st->layers[st->n_layers++] = z;
}

static void bbox_add(double *bb, double x, double y, double z) {
    if (x < bb[0]) bb[0] = x;
    if (x > bb[1]) bb[1] = x;
    if (y < bb[2]) bb[2] = y;
    if (y > bb[3]) bb[3] = y;
    if (z < bb[4]) bb[4] = z;
    if (z > bb[5]) bb[5] = z;
}

static void move_to(state_t *st, double x, double y, double z, double e) {
    double dx = x - st->x, dy = y - st->y, dz = z - st->z, de = e - st->e;
    double x0 = st->x, y0 = st->y, z0 = st->z;
    st->x = x;
    st->y = y;
    st->z = z;
    st->e = e;
    int tool = st->tool;
    if (de != 0.0) {
        double net = st->net_e[tool] + de;
        st->net_e[tool] = net;
        if (net > st->max_e[tool]) st->max_e[tool] = net;
    }
    double xy2 = dx * dx + dy * dy;
    if (de > 0.0 && xy2 > 0.0) {
        bbox_add(st->bbox, x0, y0, z0);
        bbox_add(st->bbox, x, y, z);
        if (!(fabs(z - st->layer_z) <= LAYER_EPS)) {
            st->layer_z = z;
            add_layer(st, z);
        }
    }
    double xyz2 = xy2 + dz * dz;
    double length;
    if (xyz2 > EPS * EPS) {
        length = sqrt(xyz2);
    } else {
        length = fabs(de);
        if (length <= EPS) return;
    }
    plan(st, dx, dy, dz, de, length, xyz2 > EPS * EPS);
}

static void target(state_t *st, const words_t *w, double *x, double *y, double *z, double *e) {
    double k = st->scale;
    if (HAS(w, 'F') && VAL(w, 'F') > 0) st->feed = VAL(w, 'F') * k / 60.0;
    *x = st->x;
    *y = st->y;
    *z = st->z;
    *e = st->e;
    if (HAS(w, 'X')) *x = st->rel_xyz ? *x + VAL(w, 'X') * k : VAL(w, 'X') * k;
    if (HAS(w, 'Y')) *y = st->rel_xyz ? *y + VAL(w, 'Y') * k : VAL(w, 'Y') * k;
    if (HAS(w, 'Z')) *z = st->rel_xyz ? *z + VAL(w, 'Z') * k : VAL(w, 'Z') * k;
    if (HAS(w, 'E')) *e = (st->rel_e || st->rel_xyz) ? *e + VAL(w, 'E') * k : VAL(w, 'E') * k;
}

static void arc(state_t *st, const words_t *w, int clockwise) {
    double k = st->scale;
    double x0 = st->x, y0 = st->y, z0 = st->z, e0 = st->e;
    double x, y, z, e, cx, cy;
    target(st, w, &x, &y, &z, &e);
    if (HAS(w, 'R')) {
        double dx = x - x0, dy = y - y0;
        double dist = hypot(dx, dy);
        double r = VAL(w, 'R') * k;
        double h2 = r * r - dist * dist / 4.0;
        if (dist < EPS || h2 < 0) {
            move_to(st, x, y, z, e);
            return;
        }
        double h = sqrt(h2) / dist;
        if (clockwise != (r < 0)) h = -h;
        cx = (x0 + x) / 2.0 - dy * h;
        cy = (y0 + y) / 2.0 + dx * h;
    } else if (HAS(w, 'I') || HAS(w, 'J')) {
        cx = x0 + (HAS(w, 'I') ? VAL(w, 'I') : 0.0) * k;
        cy = y0 + (HAS(w, 'J') ? VAL(w, 'J') : 0.0) * k;
    } else {
        move_to(st, x, y, z, e);
        return;
    }
    double radius = hypot(x0 - cx, y0 - cy);
    if (radius < EPS) {
        move_to(st, x, y, z, e);
        return;
    }
    double start = atan2(y0 - cy, x0 - cx);
    double travel = atan2(y - cy, x - cx) - start;
    if (clockwise) {
        if (travel >= -EPS) travel -= 2.0 * M_PI;
    } else if (travel <= EPS) {
        travel += 2.0 * M_PI;
    }
    double length = hypot(travel * radius, z - z0);
    double fseg = length / ARC_SEGMENT_MM;
    long segments = fseg >= 1.0 ? (fseg < (double)MAX_ARC_SEGMENTS ? (long)fseg : MAX_ARC_SEGMENTS) : 1;
    for (long n = 1; n < segments; n++) {
        double t = (double)n / (double)segments;
        double angle = start + travel * t;
        move_to(st, cx + radius * cos(angle), cy + radius * sin(angle), z0 + (z - z0) * t,
                e0 + (e - e0) * t);
    }
    move_to(st, x, y, z, e);
}

static void set_limits(state_t *st, int code, const words_t *w) {
    double *lim = st->lim;
    static const char axes[4] = {'X', 'Y', 'Z', 'E'};
    if (code == 201 || code == 203) {
        int base = code == 201 ? MAXA : MAXF;
        for (int i = 0; i < 4; i++)
            if (HAS(w, axes[i]) && VAL(w, axes[i]) >= 0) lim[base + i] = VAL(w, axes[i]);
    } else if (code == 204) {
        if (HAS(w, 'S') && VAL(w, 'S') >= 0) lim[ACC_P] = lim[ACC_T] = VAL(w, 'S');
        if (HAS(w, 'P') && VAL(w, 'P') >= 0) lim[ACC_P] = VAL(w, 'P');
        if (HAS(w, 'R') && VAL(w, 'R') >= 0) lim[ACC_R] = VAL(w, 'R');
        if (HAS(w, 'T') && VAL(w, 'T') >= 0) lim[ACC_T] = VAL(w, 'T');
    } else {
        int jerk_seen = 0;
        for (int i = 0; i < 4; i++) {
            if (HAS(w, axes[i]) && VAL(w, axes[i]) >= 0) {
                lim[JERK + i] = VAL(w, axes[i]);
                if (i < 2) jerk_seen = 1;
            }
        }
        if (HAS(w, 'J') && VAL(w, 'J') > 0)
            lim[JD] = VAL(w, 'J');
        else if (jerk_seen)
            lim[JD] = 0.0;
        if (HAS(w, 'S') && VAL(w, 'S') >= 0) lim[MINF] = VAL(w, 'S');
        if (HAS(w, 'T') && VAL(w, 'T') >= 0) lim[MINT] = VAL(w, 'T');
    }
}

/* Letter and integer code at s[*i]; returns the letter or 0 (none, or a sub-code). */
static char command(const char *s, size_t n, size_t *i, long *code) {
    size_t p = *i;
    if (p >= n) return 0;
    char c = upper(s[p]);
    if (c < 'A' || c > 'Z') return 0;
    p++;
    size_t start = p;
    long v = 0;
    while (p < n && is_digit(s[p])) {
        if (p - start < 9) v = v * 10 + (s[p] - '0');
        p++;
    }
    if (p == start || p - start > 9) return 0;
    if (p < n && s[p] == '.') return 0;
    *code = v;
    *i = p;
    return c;
}

static void line(state_t *st, const char *s, size_t n) {
    for (size_t k = 0; k < n; k++) {
        if (s[k] == ';' || s[k] == '*') {
            n = k;
            break;
        }
    }
    size_t i = 0;
    while (i < n && is_space(s[i])) i++;
    while (n > i && is_space(s[n - 1])) n--;
    if (i >= n) return;
    long code = 0;
    char c = command(s, n, &i, &code);
    if (c == 'N') {
        while (i < n && is_space(s[i])) i++;
        c = command(s, n, &i, &code);
    }
    if (!c) return;
    words_t w;
    const char *rest = s + i;
    size_t rn = n - i;
    if (c == 'G') {
        switch (code) {
        case 0:
        case 1: {
            parse_words(rest, rn, &w);
            if (!w.seen) return;
            double x, y, z, e;
            target(st, &w, &x, &y, &z, &e);
            move_to(st, x, y, z, e);
            break;
        }
        case 2:
        case 3:
            parse_words(rest, rn, &w);
            if (w.seen) arc(st, &w, code == 2);
            break;
        case 92:
            parse_words(rest, rn, &w);
            if (HAS(&w, 'X')) st->x = VAL(&w, 'X') * st->scale;
            if (HAS(&w, 'Y')) st->y = VAL(&w, 'Y') * st->scale;
            if (HAS(&w, 'Z')) st->z = VAL(&w, 'Z') * st->scale;
            if (HAS(&w, 'E')) st->e = VAL(&w, 'E') * st->scale;
            break;
        case 90: st->rel_xyz = 0; break;
        case 91: st->rel_xyz = 1; break;
        case 4:
            parse_words(rest, rn, &w);
            sync_planner(st);
            if (HAS(&w, 'P') && VAL(&w, 'P') > 0)
                st->dwell += VAL(&w, 'P') / 1000.0;
            else if (HAS(&w, 'S') && VAL(&w, 'S') > 0)
                st->dwell += VAL(&w, 'S');
            break;
        case 28: {
            parse_words(rest, rn, &w);
            sync_planner(st);
            int any = SEEN(&w, 'X') || SEEN(&w, 'Y') || SEEN(&w, 'Z');
            if (!any || SEEN(&w, 'X')) st->x = 0.0;
            if (!any || SEEN(&w, 'Y')) st->y = 0.0;
            if (!any || SEEN(&w, 'Z')) st->z = 0.0;
            break;
        }
        case 20: st->scale = 25.4; break;
        case 21: st->scale = 1.0; break;
        default: break;
        }
    } else if (c == 'M') {
        switch (code) {
        case 82: st->rel_e = 0; break;
        case 83: st->rel_e = 1; break;
        case 201:
        case 203:
        case 204:
        case 205:
            parse_words(rest, rn, &w);
            set_limits(st, (int)code, &w);
            st->limit_lines++;
            break;
        case 0:
        case 1:
        case 109:
        case 190:
        case 400: sync_planner(st); break;
        default: break;
        }
    } else if (c == 'T') {
        if (code < MAX_TOOLS) st->tool = (int)code;
    }
}

/* ---- the interface ctypes sees ---- */

void *fa_new(const double *limits) {
    state_t *st = calloc(1, sizeof(state_t));
    if (!st) return NULL;
    memcpy(st->lim, limits, sizeof st->lim);
    st->feed = DEFAULT_FEEDRATE;
    st->scale = 1.0;
    st->bbox[0] = st->bbox[2] = st->bbox[4] = INFINITY;
    st->bbox[1] = st->bbox[3] = st->bbox[5] = -INFINITY;
    st->layer_z = NAN;
    return st;
}

/* Complete lines only (a last line without its newline is fine too). */
void fa_feed(void *handle, const char *buf, size_t len) {
    state_t *st = handle;
    size_t start = 0;
    while (start <= len) {
        const char *nl = memchr(buf + start, '\n', len - start);
        size_t end = nl ? (size_t)(nl - buf) : len;
        line(st, buf + start, end - start);
        start = end + 1;
    }
}

void fa_finish(void *handle) { sync_planner((state_t *)handle); }

/* out: time, dwell, moves, limit lines, extruded[16], bbox[6] */
void fa_totals(void *handle, double *out) {
    state_t *st = handle;
    out[0] = st->time;
    out[1] = st->dwell;
    out[2] = (double)st->moves;
    out[3] = (double)st->limit_lines;
    for (int i = 0; i < MAX_TOOLS; i++) out[4 + i] = st->max_e[i];
    for (int i = 0; i < 6; i++) out[4 + MAX_TOOLS + i] = st->bbox[i];
}

size_t fa_layer_count(void *handle) { return ((state_t *)handle)->n_layers; }

void fa_layers(void *handle, double *out, size_t n) {
    state_t *st = handle;
    if (n > st->n_layers) n = st->n_layers;
    memcpy(out, st->layers, n * sizeof(double));
}

void fa_free(void *handle) {
    state_t *st = handle;
    if (!st) return;
    free(st->layers);
    free(st);
}
