"""The portable move kernel: G-code parsing and the motion planner in pure Python.

It is the reference the C kernel (``_kernel.c``) must agree with, and the path
used where that could not be compiled. Both follow the same rules:

- a line is cut at ``;`` and ``*``, upper-cased and read as words: a letter and
  an optional number (``[-+]?digits[.digits][E[-+]digits]``); anything else is
  skipped. A number that is not finite or beyond ±1e9 counts as absent.
- ``G0``/``G1`` move, ``G2``/``G3`` arcs (``I``/``J`` or ``R``) are cut into
  ≤ 1 mm chords like Marlin, ``G20``/``G21`` units, ``G90``/``G91`` and
  ``M82``/``M83`` modes (``G91`` also makes E relative), ``G92`` sets positions,
  ``G28`` homes to 0, ``T<n>`` selects a tool, ``M201``/``M203``/``M204``/``M205``
  change the limits; ``G4``, ``G28``, ``M0``/``M1``, ``M109``, ``M190`` and
  ``M400`` empty the planner (the printer stops there).
- the planner is a trapezoid planner with lookahead: every move gets a nominal
  speed (its feedrate, capped per axis), an acceleration (print, travel or
  retract, capped per axis), and a maximum entry speed from the junction with
  the move before (classic jerk like Marlin 1 and PrusaSlicer, or junction
  deviation like Marlin 2). Moves are planned in windows of ``WINDOW`` to
  ``2 * WINDOW`` moves, the last one able to stop; then backward and forward
  passes fix each move's entry and exit speeds, and its time is that of the
  trapezoid (or triangle) between them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from instance.analysis.kernel_result import MAX_TOOLS, KernelResult

WINDOW = 64
MIN_PLANNER_SPEED = 0.05  # mm/s, Marlin's MINIMUM_PLANNER_SPEED
ARC_SEGMENT_MM = 1.0
MAX_ARC_SEGMENTS = 10_000  # an absurd radius must not stall the analysis
_EPS = 1e-9
_HUGE_ACCEL = 1e12
_LAYER_EPS = 1e-4
_DEFAULT_FEEDRATE = 25.0  # mm/s (F1500), Marlin's power-on feedrate
_MAX_VALUE = 1e9

_WORD = re.compile(rb"([A-Z])([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:E[-+]?[0-9]+)?)?")
_LETTERS = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ")

# Indexes into the limits vector (MachineLimits.as_vector()).
_MAXF, _MAXA, _ACC_P, _ACC_R, _ACC_T, _JERK, _JD, _MINF, _MINT = 0, 4, 8, 9, 10, 11, 15, 16, 17


def _words(line: bytes) -> dict[int, float | None]:
    """The words of an upper-cased command: ``{letter: value}``, value None if absent."""
    if b"_" in line:  # float() reads "1_0" as 10; the grammar does not
        return _words_slow(line)
    params: dict[int, float | None] = {}
    for word in line.split():
        letter = word[0]
        if letter not in _LETTERS:
            return _words_slow(line)
        if len(word) == 1:
            params[letter] = None
            continue
        try:
            value = float(word[1:])
        except ValueError:
            return _words_slow(line)
        if not (-_MAX_VALUE <= value <= _MAX_VALUE):  # also rejects nan
            if not math.isfinite(value):  # "XINF", "XNAN": letters, per the grammar
                return _words_slow(line)
            params[letter] = None
        else:
            params[letter] = value
    return params


def _words_slow(line: bytes) -> dict[int, float | None]:
    params: dict[int, float | None] = {}
    for match in _WORD.finditer(line):
        raw = match.group(2)
        value: float | None = None
        if raw is not None:
            value = float(raw)
            if not (-_MAX_VALUE <= value <= _MAX_VALUE):
                value = None
        params[match.group(1)[0]] = value
    return params


_G, _M, _T, _N = ord("G"), ord("M"), ord("T"), ord("N")
_X, _Y, _Z, _E, _F = ord("X"), ord("Y"), ord("Z"), ord("E"), ord("F")
_I, _J, _R, _P, _S = ord("I"), ord("J"), ord("R"), ord("P"), ord("S")


_CMD = re.compile(rb"([A-Z])([0-9]+)(\.)?")


def _command(line: bytes) -> tuple[int, int, bytes]:
    """The command letter, its number and the rest; letter 0 if none or a sub-code."""
    match = _CMD.match(line)
    if match is None or match.group(3) is not None or len(match.group(2)) > 9:
        return 0, 0, b""
    return match.group(1)[0], int(match.group(2)), line[match.end() :]


class PyKernel:
    """Feed it complete lines (``feed``), then ``finish`` once."""

    def __init__(self, limits: Sequence[float]) -> None:
        self.lim = [float(v) for v in limits]
        # Position (mm) and modes.
        self.x = self.y = self.z = self.e = 0.0
        self.feed_mms = _DEFAULT_FEEDRATE
        self.rel_xyz = False
        self.rel_e = False  # M83
        self.scale = 1.0  # 25.4 after G20
        self.tool = 0
        self.net_e = [0.0] * MAX_TOOLS
        self.max_e = [0.0] * MAX_TOOLS
        # Part extents and layers.
        self.bbox = [math.inf, -math.inf, math.inf, -math.inf, math.inf, -math.inf]
        self.layers: list[float] = []
        self.layer_z = math.nan
        # Planner: the window of moves not yet timed, as parallel lists.
        self.b_len: list[float] = []
        self.b_nom: list[float] = []
        self.b_acc: list[float] = []
        self.b_vmax: list[float] = []
        self.b_entry: list[float] = []
        self.pinned = False  # b_entry[0] is fixed (the exit of a timed move)
        self.has_prev = False
        self.prev_nom = 0.0
        self.prev_safe = 0.0
        self.prev_dir = (0.0, 0.0, 0.0, 0.0)  # unit vector of the last move (4D)
        self.prev_speed = (0.0, 0.0, 0.0, 0.0)  # its per-axis speeds at nominal
        self.last_safe = 0.0
        self.time = 0.0
        self.dwell = 0.0
        self.moves = 0
        self.limit_lines = 0

    # -- parsing -----------------------------------------------------------

    def feed(self, data: bytes) -> None:
        for raw in data.split(b"\n"):
            cut = raw.find(b";")
            if cut >= 0:
                raw = raw[:cut]
            cut = raw.find(b"*")
            if cut >= 0:
                raw = raw[:cut]
            line = raw.strip()
            if not line:
                continue
            line = line.upper()
            letter, code, rest = _command(line)
            if letter == _N:
                letter, code, rest = _command(rest.lstrip())
            if letter == _G:
                if code == 1 or code == 0:
                    params = _words(rest)
                    if params:
                        self._linear(params)
                elif code == 2 or code == 3:
                    params = _words(rest)
                    if params:
                        self._arc(params, code == 2)
                elif code == 92:
                    self._set_position(_words(rest))
                elif code == 90:
                    self.rel_xyz = False
                elif code == 91:
                    self.rel_xyz = True
                elif code == 4:
                    params = _words(rest)
                    self._sync()
                    p, s = params.get(_P), params.get(_S)
                    if p is not None and p > 0:
                        self.dwell += p / 1000.0
                    elif s is not None and s > 0:
                        self.dwell += s
                elif code == 28:
                    self._home(_words(rest))
                elif code == 20:
                    self.scale = 25.4
                elif code == 21:
                    self.scale = 1.0
            elif letter == _M:
                if code == 82:
                    self.rel_e = False
                elif code == 83:
                    self.rel_e = True
                elif code in (201, 203, 204, 205):
                    self._set_limits(code, _words(rest))
                    self.limit_lines += 1
                elif code in (0, 1, 109, 190, 400):
                    self._sync()
            elif letter == _T and code < MAX_TOOLS:
                self.tool = code

    def _set_limits(self, code: int, params: dict[int, float | None]) -> None:
        lim = self.lim
        if code in (201, 203):
            base = _MAXA if code == 201 else _MAXF
            for i, letter in enumerate((_X, _Y, _Z, _E)):
                value = params.get(letter)
                if value is not None and value >= 0:
                    lim[base + i] = value
        elif code == 204:
            s, p, r, t = params.get(_S), params.get(_P), params.get(_R), params.get(_T)
            if s is not None and s >= 0:
                lim[_ACC_P] = lim[_ACC_T] = s
            if p is not None and p >= 0:
                lim[_ACC_P] = p
            if r is not None and r >= 0:
                lim[_ACC_R] = r
            if t is not None and t >= 0:
                lim[_ACC_T] = t
        else:
            jerk_seen = False
            for i, letter in enumerate((_X, _Y, _Z, _E)):
                value = params.get(letter)
                if value is not None and value >= 0:
                    lim[_JERK + i] = value
                    jerk_seen = jerk_seen or i < 2
            j = params.get(_J)
            if j is not None and j > 0:
                lim[_JD] = j
            elif jerk_seen:
                lim[_JD] = 0.0
            s, t = params.get(_S), params.get(_T)
            if s is not None and s >= 0:
                lim[_MINF] = s
            if t is not None and t >= 0:
                lim[_MINT] = t

    def _set_position(self, params: dict[int, float | None]) -> None:
        k = self.scale
        v = params.get(_X)
        if v is not None:
            self.x = v * k
        v = params.get(_Y)
        if v is not None:
            self.y = v * k
        v = params.get(_Z)
        if v is not None:
            self.z = v * k
        v = params.get(_E)
        if v is not None:
            self.e = v * k

    def _home(self, params: dict[int, float | None]) -> None:
        self._sync()
        named = [a for a in (_X, _Y, _Z) if a in params]
        if not named:
            named = [_X, _Y, _Z]
        if _X in named:
            self.x = 0.0
        if _Y in named:
            self.y = 0.0
        if _Z in named:
            self.z = 0.0

    def _target(self, params: dict[int, float | None]) -> tuple[float, float, float, float]:
        k = self.scale
        f = params.get(_F)
        if f is not None and f > 0:
            self.feed_mms = f * k / 60.0
        x, y, z, e = self.x, self.y, self.z, self.e
        v = params.get(_X)
        if v is not None:
            x = x + v * k if self.rel_xyz else v * k
        v = params.get(_Y)
        if v is not None:
            y = y + v * k if self.rel_xyz else v * k
        v = params.get(_Z)
        if v is not None:
            z = z + v * k if self.rel_xyz else v * k
        v = params.get(_E)
        if v is not None:
            e = e + v * k if (self.rel_e or self.rel_xyz) else v * k
        return x, y, z, e

    def _linear(self, params: dict[int, float | None]) -> None:
        x, y, z, e = self._target(params)
        self._move(x, y, z, e)

    def _arc(self, params: dict[int, float | None], clockwise: bool) -> None:
        k = self.scale
        x0, y0, z0, e0 = self.x, self.y, self.z, self.e
        x, y, z, e = self._target(params)
        i, j, r = params.get(_I), params.get(_J), params.get(_R)
        if r is not None:
            dx, dy = x - x0, y - y0
            dist = math.hypot(dx, dy)
            r *= k
            h2 = r * r - dist * dist / 4.0
            if dist < _EPS or h2 < 0:
                self._move(x, y, z, e)
                return
            h = math.sqrt(h2) / dist
            if clockwise != (r < 0):
                h = -h
            cx = (x0 + x) / 2.0 - dy * h
            cy = (y0 + y) / 2.0 + dx * h
        elif i is not None or j is not None:
            cx = x0 + (i or 0.0) * k
            cy = y0 + (j or 0.0) * k
        else:
            self._move(x, y, z, e)
            return
        radius = math.hypot(x0 - cx, y0 - cy)
        if radius < _EPS:
            self._move(x, y, z, e)
            return
        start = math.atan2(y0 - cy, x0 - cx)
        travel = math.atan2(y - cy, x - cx) - start
        if clockwise:
            if travel >= -_EPS:
                travel -= 2.0 * math.pi
        elif travel <= _EPS:
            travel += 2.0 * math.pi
        length = math.hypot(travel * radius, z - z0)
        segments = min(MAX_ARC_SEGMENTS, max(1, int(length / ARC_SEGMENT_MM)))
        for n in range(1, segments):
            t = n / segments
            angle = start + travel * t
            self._move(
                cx + radius * math.cos(angle),
                cy + radius * math.sin(angle),
                z0 + (z - z0) * t,
                e0 + (e - e0) * t,
            )
        self._move(x, y, z, e)

    # -- one move ------------------------------------------------------------

    def _move(self, x: float, y: float, z: float, e: float) -> None:
        dx, dy, dz, de = x - self.x, y - self.y, z - self.z, e - self.e
        x0, y0, z0 = self.x, self.y, self.z
        self.x, self.y, self.z, self.e = x, y, z, e
        tool = self.tool
        if de != 0.0:
            net = self.net_e[tool] + de
            self.net_e[tool] = net
            if net > self.max_e[tool]:
                self.max_e[tool] = net
        xy2 = dx * dx + dy * dy
        if de > 0.0 and xy2 > 0.0:
            bb = self.bbox
            for px, py, pz in ((x0, y0, z0), (x, y, z)):
                if px < bb[0]:
                    bb[0] = px
                if px > bb[1]:
                    bb[1] = px
                if py < bb[2]:
                    bb[2] = py
                if py > bb[3]:
                    bb[3] = py
                if pz < bb[4]:
                    bb[4] = pz
                if pz > bb[5]:
                    bb[5] = pz
            if not abs(z - self.layer_z) <= _LAYER_EPS:
                self.layer_z = z
                self.layers.append(z)
        xyz2 = xy2 + dz * dz
        if xyz2 > _EPS * _EPS:
            length = math.sqrt(xyz2)
        else:
            length = abs(de)
            if length <= _EPS:
                return
        self._plan(dx, dy, dz, de, length, xyz2 > _EPS * _EPS)

    def _plan(self, dx: float, dy: float, dz: float, de: float, length: float, xyz: bool) -> None:
        lim = self.lim
        self.moves += 1
        v = self.feed_mms
        floor = lim[_MINF] if de != 0.0 else lim[_MINT]
        if v < floor:
            v = floor
        inv = 1.0 / length
        deltas = (dx, dy, dz, de)
        # Cap the speed so that no axis exceeds its maximum feedrate.
        for i in range(4):
            d = abs(deltas[i])
            if d > 0.0:
                cap = lim[_MAXF + i]
                if cap > 0.0 and v * d * inv > cap:
                    v = cap * length / d
        if v <= _EPS:
            v = _EPS
        if de == 0.0:
            acc = lim[_ACC_T]
        elif not xyz:
            acc = lim[_ACC_R]
        else:
            acc = lim[_ACC_P]
        if acc <= 0.0:
            acc = _HUGE_ACCEL
        for i in range(4):
            d = abs(deltas[i])
            if d > 0.0:
                cap = lim[_MAXA + i]
                if cap > 0.0 and acc * d * inv > cap:
                    acc = cap * length / d
        speed = (dx * inv * v, dy * inv * v, dz * inv * v, de * inv * v)
        # The speed this move can start from (or stop at) instantly.
        safe = v
        for i in range(4):
            jerk = lim[_JERK + i]
            if abs(speed[i]) > jerk and jerk < safe:
                safe = jerk
        jd = lim[_JD]
        norm4 = math.sqrt(dx * dx + dy * dy + dz * dz + de * de)
        unit = (dx / norm4, dy / norm4, dz / norm4, de / norm4)
        if jd > 0.0:
            if self.has_prev:
                cos_theta = -(
                    unit[0] * self.prev_dir[0]
                    + unit[1] * self.prev_dir[1]
                    + unit[2] * self.prev_dir[2]
                    + unit[3] * self.prev_dir[3]
                )
                if cos_theta > 0.999999:
                    vmax = MIN_PLANNER_SPEED
                elif cos_theta < -0.999999:
                    vmax = v
                else:
                    sin_half = math.sqrt(0.5 * (1.0 - cos_theta))
                    vmax = math.sqrt(acc * jd * sin_half / (1.0 - sin_half))
                vmax = min(vmax, v, self.prev_nom)
            else:
                vmax = MIN_PLANNER_SPEED
            safe = MIN_PLANNER_SPEED
        elif self.has_prev:
            vj = min(v, self.prev_nom)
            factor = 1.0
            prev_scale = vj / self.prev_nom
            cur_scale = vj / v
            for i in range(4):
                v_exit = self.prev_speed[i] * prev_scale
                v_entry = speed[i] * cur_scale
                if (v_exit > 0.0) == (v_entry > 0.0) or v_exit == 0.0 or v_entry == 0.0:
                    jerk = abs(v_exit - v_entry)
                else:
                    jerk = max(abs(v_exit), abs(v_entry))
                limit = lim[_JERK + i]
                if jerk > limit and jerk * factor > limit:
                    factor = limit / jerk
            vmax = vj * factor
            both_safe = min(safe, self.prev_safe)
            if both_safe > vmax:
                vmax = min(both_safe, vj)
        else:
            vmax = safe
        if vmax > v:
            vmax = v
        self.has_prev = True
        self.prev_nom = v
        self.prev_safe = safe
        self.prev_dir = unit
        self.prev_speed = speed
        self.last_safe = safe
        self.b_len.append(length)
        self.b_nom.append(v)
        self.b_acc.append(acc)
        self.b_vmax.append(vmax)
        self.b_entry.append(vmax)
        if len(self.b_len) >= 2 * WINDOW:
            self._replan(WINDOW)

    # -- the planner -----------------------------------------------------------

    def _replan(self, count: int) -> None:
        """Fix entry speeds over the window, then time its first ``count`` moves."""
        length, nom, acc, vmax, entry = (
            self.b_len,
            self.b_nom,
            self.b_acc,
            self.b_vmax,
            self.b_entry,
        )
        n = len(length)
        final = self.last_safe
        nxt = final
        stop = 0 if self.pinned else -1
        for i in range(n - 1, stop, -1):
            reach = math.sqrt(nxt * nxt + 2.0 * acc[i] * length[i])
            nxt = vmax[i] if vmax[i] < reach else reach
            entry[i] = nxt
        for i in range(n - 1):
            reach = math.sqrt(entry[i] * entry[i] + 2.0 * acc[i] * length[i])
            if entry[i + 1] > reach:
                entry[i + 1] = reach
        total = 0.0
        for i in range(count):
            v_in = entry[i]
            if i + 1 < n:
                v_out = entry[i + 1]
            else:
                reach = math.sqrt(v_in * v_in + 2.0 * acc[i] * length[i])
                v_out = final if final < reach else reach
            total += _trapezoid_time(length[i], nom[i], acc[i], v_in, v_out)
        self.time += total
        del length[:count], nom[:count], acc[:count], vmax[:count], entry[:count]
        self.pinned = n > count

    def _sync(self) -> None:
        """The printer finishes every queued move and stops (a dwell, a heat wait)."""
        if self.b_len:
            self._replan(len(self.b_len))
        self.pinned = False
        self.has_prev = False

    def finish(self) -> KernelResult:
        self._sync()
        bb = self.bbox
        bbox = None if bb[0] > bb[1] else (bb[0], bb[1], bb[2], bb[3], bb[4], bb[5])
        return KernelResult(
            time_s=self.time,
            dwell_s=self.dwell,
            extruded_mm=tuple(self.max_e),
            bbox=bbox,
            layer_z=tuple(self.layers),
            move_count=self.moves,
            limit_lines=self.limit_lines,
        )


def _trapezoid_time(length: float, nominal: float, acc: float, v_in: float, v_out: float) -> float:
    """Seconds to cover ``length`` from ``v_in`` to ``v_out``, peaking at ≤ ``nominal``."""
    two_a = 2.0 * acc
    accel_dist = (nominal * nominal - v_in * v_in) / two_a
    decel_dist = (nominal * nominal - v_out * v_out) / two_a
    if accel_dist + decel_dist <= length:
        cruise = length - accel_dist - decel_dist
        return (nominal - v_in) / acc + (nominal - v_out) / acc + cruise / nominal
    peak_sq = (two_a * length + v_in * v_in + v_out * v_out) / 2.0
    peak = math.sqrt(peak_sq) if peak_sq > 0.0 else 0.0
    if peak < v_in:
        peak = v_in
    if peak < v_out:
        peak = v_out
    return (peak - v_in) / acc + (peak - v_out) / acc
