"""A streaming anomaly detector for one device's readings (pure: no I/O, no clock).

How it judges a reading, in the order the code does it:

1. Expected value = a robust level (an exponentially weighted mean whose updates are clipped, so one
   spike barely moves it) plus a daily profile kept as DAY_BINS time-of-day offsets (linear between
   bins). Slow drift is followed by the level; a daily cycle is learnt by the profile. On top of it a
   weekly profile learns each hour of the week's mean residual (WEEK_BINS offsets, once an hour), and joins
   the expected value once three weeks are seen: a plant's weekend, or a city's, is then expected, and a
   weekday that looks like a Sunday (a holiday, a line stopped) stands out instead of widening the band.
2. Residual = reading − expected, measured in *robust standard deviations* of that side (a reading
   above the band and one below it have their own scale). Each side tracks two quantiles of past
   residuals (MID_P and TAIL_P), so a heavy-tailed series (tweet counts, bursty traffic) gets a wider
   band than a Gaussian one instead of alerting on every routine burst. The band's edge on each side
   (its "reach") is where a residual is as rare as a Gaussian one `sensitivity` standard deviations
   out: beyond MID_P the tail is a generalised Pareto tail through the two quantiles, exponential unless
   the residuals beyond MID_P show a heavier, power-law tail (Hill's estimator of their shape, kept per
   side over HILL_PERIODS, less what an exponential tail through the same quantiles would give), so the
   band of a series with bursts of every size (bytes written, tweet counts) reaches further than an
   exponential extrapolation would; the reach is never less than `sensitivity` times the TAIL_P
   quantile expressed as a standard deviation.
   The band also remembers *when* large residuals come: per hourly bin, the largest residual above the
   expected value seen on two different days (at least RECUR_GAP_S apart, so one long excursion never
   confirms itself), decaying with its age over RECUR_DAYS. Above the expected value the reach is at least RECUR_MARGIN
   times that peak in the two bins around now: a spike of the size this series makes daily at this hour (a
   nightly job) is not news, the same spike at another hour still is, and a first one at a new hour alerts
   again the next day. Such a routine spike is not a gross error either.
3. Six tests, each a score where 1.0 means "anomalous at this sensitivity":
   - spike/dip: |residual| / reach;
   - gross error: a reading beyond the series' long-run range (the readings seen over ~RANGE_PERIODS,
     shrinking slowly toward the level, never widened by a gross error itself) by GROSS_FRACTION of that
     range's width (at the default sensitivity; a higher sensitivity widens the margin in proportion).
     Below the expected value this does not learn from how often such readings come, so frequent gross
     errors — a sensor that drops to zero now and then — keep alerting even where the tail-learnt band
     has widened past them. Above it, a reading inside the tail-learnt band widens the range: bursts
     that a series of counts or traffic makes routinely (the band has learnt them) are not gross errors;
   - level shift: the recent mean residual (a short time constant) against SHIFT_FRACTION of the band on the side
     the reading lies on (so a run of high readings is also flagged as it ends: see `_verdict`);
     when it fires the level jumps to the new mean, so a shift alerts once and is then the new normal;
   - volatility: the recent mean |residual| (VOL_PERIODS) against its usual value (VOL_BASE_PERIODS):
     VOL_RATIO times as large is anomalous at the default sensitivity — a series turned erratic without
     any single reading standing out. That fixed rule is the least it takes: the test also learns the tail
     of its own statistic on this series (its MID_P and TAIL_P quantiles, from readings that did not alert,
     extrapolated as an exponential tail), and a series whose turbulence routinely comes close to the rule
     (bursty counts) needs as rare a turbulence as a reading `sensitivity` deviations out. It also keeps an
     alert open while a burst's turbulence lasts, so one disturbance makes one alert rather than several;
   - frozen: a run of identical readings as unlikely as a reading `sensitivity` deviations out: its first
     repeat as likely as this series repeats a reading by itself (or its resolution and recent jitter
     imply), each further one as likely as a repeat has been followed by another (learnt over about
     REPEAT_EVENTS repeats, from runs not yet suspicious even as independent repeats), if that is more —
     a sensor that holds its value for a few readings at a time is not frozen for doing so;
   - burst: excursions (readings BURST_Z bulk standard deviations out, routine in a spiky series whose
     band has widened past them) come more often than usual: their count over ~BURST_PERIODS against
     their long-run rate (over BURST_BASE_PERIODS), as unlikely for Poisson arrivals as a reading
     `sensitivity` deviations out.
   The highest score wins and names the `kind` (a gross error is a "spike" or a "dip").

Every time constant is in seconds, a multiple of the device's reporting period (`period_s`), applied
to the real gap between readings, so a burst or a gap does not change what "recent" means. The state
is a fixed set of numbers plus 5·DAY_BINS numbers (profile, time-of-day peaks and their hours) and
WEEK_BINS weekly offsets, whatever the rate or the duration.

The constants are one set for every series, chosen on the Numenta Anomaly Benchmark and on the
simulator's injected anomalies; they are principled round values, not fitted per series.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import msgspec

DETECTOR = "robust level + daily profile"  # what alerts name as their detector
DEFAULT_SENSITIVITY = 4.0  # robust standard deviations outside the expected value

DAY_S = 86_400.0
DAY_BINS = 24  # hourly offsets: enough for a daily cycle, 24 floats of state
SEASON_DAYS = 3.0  # the daily profile forgets over ~3 days
WEEK_BINS = 168  # hourly offsets over a week on top of the daily profile: how weekdays differ from each other
WEEK_VISITS = 4.0  # the weekly profile forgets over ~4 weeks (each bin learns once a week)
WEEK_AFTER_S = 21 * DAY_S  # ...and is part of the expected value once it has seen three of each weekday

LEVEL_PERIODS = 30.0  # level time constant: slow enough not to chase a spike, fast enough for drift
SHIFT_PERIODS = 10.0  # "recent" for the level-shift test
SCALE_PERIODS = 200.0  # warm-up scale (mean absolute residual)
WARMUP_PERIODS = 288.0  # no verdict before this much history (a day at 5-minute readings)
SHIFT_FRACTION = 0.5  # a sustained shift of half the band is as alarming as a single reading past it

HUBER = 3.0  # residuals are clipped at this many scales before they update the level and profile
MAD_TO_SD = 1.2533  # mean absolute deviation → standard deviation for Gaussian noise
TAIL_P = 0.999  # the quantile of residuals each side's scale follows...
TAIL_Z = 3.09  # ...and where that quantile lies for Gaussian noise, to express it in standard deviations
TAIL_RATE = 0.05  # log-step of the quantile tracker per period

MID_P = 0.99  # a nearer quantile each side: with TAIL_P it gives the slope of the tail...
MID_Z = 2.326  # ...(where it lies for Gaussian noise)
HILL_PERIODS = 4_000.0  # the tail shape's memory (about 40 residuals beyond MID_P)
HILL_CLIP = 4.0  # a residual counts at most e^4 ≈ 55 times the MID_P quantile toward the shape
VOL_PERIODS = 40.0  # "recent" for the volatility test
VOL_BASE_PERIODS = 2_000.0  # "usual" for the volatility test
VOL_RATIO = 3.0  # recent mean |residual| this many times the usual one is anomalous (at the default sensitivity)
REL_FLOOR = 1e-3  # scale floor relative to the level: a flat series does not alert on its last digit
ABS_FLOOR = 1e-9
REPEAT_PERIODS = 500.0  # how long the repeat rate remembers
REPEAT_EVENTS = 50.0  # how many repeats the rate of a repeat following a repeat remembers
REPEAT_LEARN = 0.25  # ...learnt from runs whose frozen score, were repeats independent, is still below this
REPEAT_FLOOR = 1e-3  # never assume a series cannot repeat itself at all
RANGE_PERIODS = 10_000.0  # the long-run range shrinks toward the level over this many periods (~35 days at 5 min)
RANGE_LEARN = 4.0  # a reading within this many bulk standard deviations of the expected value widens the range
GROSS_FRACTION = 0.5  # a reading half the long-run range beyond it is a gross error (at the default sensitivity)
BURST_Z = 5.0  # an excursion: a reading this many bulk standard deviations from the expected value
BURST_PERIODS = 40.0  # "recent" for the burst test
BURST_BASE_PERIODS = 10_000.0  # "usual" for the burst test: long, as a rare event's rate needs
BURST_FLOOR = 1e-3  # never assume a series has no excursions at all
MAX_SENSITIVITY = 30.0  # beyond it a Gaussian tail's probability underflows; nothing is that rare anyway
RECUR_DAYS = 21.0  # how long the time-of-day peaks remember (a routine nightly job keeps renewing its own)
RECUR_GAP_S = 43_200.0  # two peaks at least this far apart are on two days: a recurrence, not one long excursion
RECUR_MARGIN = 1.25  # a spike up to this much larger than the peak seen at this time of day is routine


@dataclass(frozen=True, slots=True)
class DetectorParams:
    """period_s: the device's reporting period (from its configuration).

    sensitivity: alert when a reading lies this many robust standard deviations away from what was
    expected (the band is expected ± sensitivity·scale, each side with its own scale). Larger → fewer
    alerts. For Gaussian noise 4 (the default) is crossed by about one reading in 16,000, 3 by one in
    370, 5 by one in 1.7 million (a heavier tail than Gaussian widens the band so that a reading past it
    stays about that rare: see `_reach`); a sustained shift alerts at half the band, a frozen sensor when its
    run of identical readings is as unlikely as a reading `sensitivity` deviations out, a gross error
    when a reading lies sensitivity/8 of the series' long-run range beyond it (half the range at 4),
    erratic behaviour when the recent mean deviation is 3·sensitivity/4 times its usual value, and a burst
    when the recent count of excursions is as unlikely as a reading `sensitivity` deviations out.
    """

    period_s: float
    sensitivity: float = DEFAULT_SENSITIVITY


@dataclass(frozen=True, slots=True)
class Observation:
    score: float  # >= 1.0 anomalous at this sensitivity; < 0.5 clearly normal
    expected: float
    low: float
    high: float
    kind: str  # "spike", "dip", "level shift", "volatility", "frozen", "burst", "normal" or "warming up"
    warming_up: bool


class DetectorState(msgspec.Struct):
    """What one device's detector remembers: 29 numbers, DAY_BINS profile offsets, 2·DAY_BINS time-of-day peaks
    with the hour each was set, and WEEK_BINS weekly offsets (peaks and offsets to three digits): under 4 KB as
    JSON, whatever the rate or how long it runs. A msgspec struct: what Redis keeps decodes straight into it, and a
    state saved by an older version loads too (a field added since starts as a new state's, one removed since is
    ignored)."""

    n: int = 0  # readings seen (only to speed up the very first estimates)
    t_first: float = 0.0
    t_last: float = 0.0
    x_last: float = 0.0
    level: float = 0.0
    mad: float = 0.0  # mean absolute residual, as a standard deviation (the warm-up scale)
    scale_hi: float = 0.0  # robust standard deviation above the expected value
    scale_lo: float = 0.0  # ...and below it
    shift: float = 0.0  # recent mean residual
    quantum: float = 0.0  # smallest change seen between readings (the sensor's resolution)
    repeat_rate: float = 0.0  # share of readings identical to the previous one
    run: int = 0  # identical readings in a row, now
    jitter: float = 0.0  # recent mean |change| between readings
    season: list[float] = msgspec.field(default_factory=lambda: [0.0] * DAY_BINS)
    range_hi: float = 0.0  # the long-run range of readings that were not gross errors
    range_lo: float = 0.0
    mid_hi: float = 0.0  # the MID_P quantile above, as a standard deviation
    mid_lo: float = 0.0
    vol: float = 0.0  # recent mean absolute residual, as a standard deviation
    vol_base: float = 0.0  # ...and its usual value
    hill_hi: float = 0.0  # mean log(residual / MID_P quantile) of the residuals beyond it, above
    hill_lo: float = 0.0  # ...and below
    burst_rate: float = 0.0  # long-run share of readings beyond BURST_Z bulk standard deviations
    burst_recent: float = 0.0  # how many came lately (a count decaying over BURST_PERIODS)
    # per hourly bin: the decaying peak residual above the expected value seen on two days, and when it was set
    # (epoch hour); the peak seen at all, and when
    recur: list[float] = msgspec.field(default_factory=lambda: [0.0] * DAY_BINS)
    recur_at: list[int] = msgspec.field(default_factory=lambda: [0] * DAY_BINS)
    recur_seen: list[float] = msgspec.field(default_factory=lambda: [0.0] * DAY_BINS)
    recur_hour: list[int] = msgspec.field(default_factory=lambda: [0] * DAY_BINS)
    vol_mid: float = 0.0  # the MID_P quantile of the volatility test's fixed-rule score (0: not yet seen)
    vol_tail: float = 0.0  # ...and its TAIL_P quantile
    repeat_cont: float = 0.0  # share of repeats that were followed by another (repeats come in runs)
    week: list[float] = msgspec.field(default_factory=lambda: [0.0] * WEEK_BINS)  # mean residual per hour of week
    week_hour: int = 0  # the epoch hour whose residuals are being summed...
    week_sum: float = 0.0  # ...their sum
    week_n: int = 0  # ...and how many


def observe(state: DetectorState, t: float, x: float, params: DetectorParams) -> Observation:
    """Judge reading x at time t (epoch seconds, after the previous one) and learn from it."""
    if state.n == 0:
        _start(state, t, x)
        return Observation(0.0, x, x, x, "warming up", True)
    # `a if a > b else b` stands for max(b, a) and `a if a < b else b` for min(b, a) where it runs per reading:
    # the same result (the same comparison, the same operand kept on a tie), without a call.
    period = params.period_s
    sens = params.sensitivity
    dt = t - state.t_last
    dt = 0.0 if dt < 0.0 else dt
    decay = _decays(dt, period)
    state.t_last = t
    state.n += 1
    run = _track_repeats(state, x, decay, sens)
    i0, i1, f = _season_bins(t)
    expected = state.level + state.season[i0] * (1.0 - f) + state.season[i1] * f
    if t - state.t_first >= WEEK_AFTER_S:
        expected += _weekly(state, t)
    r = x - expected
    floor = REL_FLOOR * abs(state.level)
    floor = floor if floor > ABS_FLOOR else ABS_FLOOR
    floor = 0.5 * state.quantum if 0.5 * state.quantum > floor else floor
    warm = t - state.t_first < WARMUP_PERIODS * period
    if warm:  # until the tails are known, both sides use the mean absolute residual
        state.scale_hi = state.scale_lo = state.mid_hi = state.mid_lo = state.mad
    sc_hi = floor if floor > state.scale_hi else state.scale_hi
    sc_lo = floor if floor > state.scale_lo else state.scale_lo
    m_hi = floor if floor > state.mid_hi else state.mid_hi
    m_lo = floor if floor > state.mid_lo else state.mid_lo
    bulk = floor if floor > state.mad else state.mad
    reach_hi, reach_lo = _reach(sc_hi, m_hi, sens, state.hill_hi), _reach(sc_lo, m_lo, sens, state.hill_lo)
    gross = _gross(state, x, r, decay.range, bulk, reach_hi)
    routine = _recur(state, r, t, i0, i1)  # a spike this series makes daily at this hour is no news
    if not warm and routine > reach_hi:
        reach_hi = routine
        gross = 0.0 if 0.0 < r <= routine else gross
    sc = sc_hi if r >= 0.0 else sc_lo
    reach = reach_hi if r >= 0.0 else reach_lo
    burst = _burst(state, abs(r) > BURST_Z * bulk, decay, sens)
    _learn(state, r, decay, sc, bulk, i0, i1, f, warm)
    _learn_week(state, t, r if warm else max(-HUBER * sc, min(HUBER * sc, r)))
    _track_tails(state, r, decay, sc_hi, sc_lo, m_hi, m_lo)
    low, high = expected - reach_lo, expected + reach_hi
    if warm:
        return Observation(0.0, expected, low, high, "warming up", True)
    score, kind = _verdict(state, r, sc, reach, floor, sens, run, dt, period)
    gross *= _for_sensitivity(sens).gross_scale  # sensitivity scales this test as it does the others
    if burst > score:
        score, kind = burst, "burst"
    if gross > score:
        score, kind = gross, "spike" if r >= 0.0 else "dip"
    return Observation(score, expected, low, high, kind, False)


def _start(state: DetectorState, t: float, x: float) -> None:
    state.n = 1
    state.t_first = state.t_last = t
    state.level = state.x_last = state.range_hi = state.range_lo = x


def _alpha(dt: float, tau: float) -> float:
    """Weight of a new reading for an exponential average with time constant tau (seconds)."""
    return 1.0 - math.exp(-dt / tau)


_LOG_TAIL, _LOG_MID = math.log(1.0 - TAIL_P), math.log(1.0 - MID_P)
_LOG_SPAN = _LOG_MID - _LOG_TAIL
_CACHED = 256  # (gap, period) pairs and sensitivities remembered: a device reporting regularly needs one


@dataclass(frozen=True, slots=True)
class _Decays:
    """Every weight and factor that depends on the gap since the last reading and the period alone. A device
    reporting regularly has the same gap reading after reading, so they are computed once (`_decays`)."""

    shift: float
    repeat: float
    vol: float
    vol_base: float
    level: float
    season: float
    scale: float
    range: float
    hill: float  # already divided by (1 - MID_P)
    burst_keep: float  # the burst count's decay
    burst_base: float
    tail_up: float  # the quantile trackers' steps
    tail_down: float
    mid_up: float
    mid_down: float

    @classmethod
    def of(cls, dt: float, period: float) -> _Decays:
        step = TAIL_RATE * min(dt / period, 10.0)
        return cls(
            shift=_alpha(dt, SHIFT_PERIODS * period),
            repeat=_alpha(dt, REPEAT_PERIODS * period),
            vol=_alpha(dt, VOL_PERIODS * period),
            vol_base=_alpha(dt, VOL_BASE_PERIODS * period),
            level=_alpha(dt, LEVEL_PERIODS * period),
            season=_alpha(dt * DAY_BINS, SEASON_DAYS * DAY_S),  # each bin is visited 1/DAY_BINS of the time
            scale=_alpha(dt, SCALE_PERIODS * period),
            range=_alpha(dt, RANGE_PERIODS * period),
            hill=_alpha(dt, HILL_PERIODS * period) / (1.0 - MID_P),
            burst_keep=math.exp(-dt / (BURST_PERIODS * period)),
            burst_base=_alpha(dt, BURST_BASE_PERIODS * period),
            tail_up=math.exp(step * TAIL_P),
            tail_down=math.exp(-step * (1.0 - TAIL_P)),
            mid_up=math.exp(step * MID_P),
            mid_down=math.exp(-step * (1.0 - MID_P)),
        )


_DECAYS: dict[tuple[float, float], _Decays] = {}


def _decays(dt: float, period: float) -> _Decays:
    key = (dt, period)
    found = _DECAYS.get(key)
    if found is None:
        if len(_DECAYS) >= _CACHED:  # irregular gaps: start again rather than grow
            _DECAYS.clear()
        found = _DECAYS[key] = _Decays.of(dt, period)
    return found


@dataclass(frozen=True, slots=True)
class _Sensitivity:
    """What follows from the sensitivity alone (`_for_sensitivity`)."""

    log_target: float  # log of a Gaussian's upper tail beyond `sens` deviations
    log_erfc: float  # log of its two tails: the log-likelihood a score of 1.0 stands for
    mid_gap: float  # _LOG_MID - log_target
    tail_gap: float  # _LOG_TAIL - log_target
    exponential: float  # the exponential tail's ratio: tail_gap / _LOG_SPAN
    shift_band: float  # SHIFT_FRACTION * sens
    vol_rule: float  # VOL_RATIO * sens / DEFAULT_SENSITIVITY
    gross_scale: float  # DEFAULT_SENSITIVITY / sens

    @classmethod
    def of(cls, sens: float) -> _Sensitivity:
        log_target = math.log(0.5 * math.erfc(sens / math.sqrt(2.0)))
        return cls(
            log_target=log_target,
            log_erfc=math.log(math.erfc(sens / math.sqrt(2.0))),
            mid_gap=_LOG_MID - log_target,
            tail_gap=_LOG_TAIL - log_target,
            exponential=(_LOG_TAIL - log_target) / _LOG_SPAN,
            shift_band=SHIFT_FRACTION * sens,
            vol_rule=VOL_RATIO * sens / DEFAULT_SENSITIVITY,
            gross_scale=DEFAULT_SENSITIVITY / sens,
        )


_SENSITIVITIES: dict[float, _Sensitivity] = {}


def _for_sensitivity(sens: float) -> _Sensitivity:
    found = _SENSITIVITIES.get(sens)
    if found is None:
        if len(_SENSITIVITIES) >= _CACHED:
            _SENSITIVITIES.clear()
        found = _SENSITIVITIES[sens] = _Sensitivity.of(sens)
    return found


def _season_bins(t: float) -> tuple[int, int, float]:
    phase = (t % DAY_S) / DAY_S * DAY_BINS
    i0 = int(phase) % DAY_BINS
    return i0, (i0 + 1) % DAY_BINS, phase - int(phase)


def _weekly(state: DetectorState, t: float) -> float:
    """The weekly profile's offset at t: linear between the hourly means, each placed mid-hour."""
    phase = t / 3600.0 - 0.5
    hour = math.floor(phase)
    f = phase - hour
    week = state.week
    return week[hour % WEEK_BINS] * (1.0 - f) + week[(hour + 1) % WEEK_BINS] * f


def _learn_week(state: DetectorState, t: float, e: float) -> None:
    """Sum this hour's clipped residuals; when the hour is over, its mean moves that hour-of-week's offset by
    _WEEK_STEP (rounded to three digits: short in JSON, and the same live and in a backtest)."""
    hour = int(t // 3600.0)
    if hour != state.week_hour:
        if state.week_n:
            i = state.week_hour % WEEK_BINS
            old = state.week[i]
            state.week[i] = float(f"{old + _WEEK_STEP * (state.week_sum / state.week_n - old):.3g}")
        state.week_hour, state.week_sum, state.week_n = hour, 0.0, 0
    state.week_sum += e
    state.week_n += 1


_WEEK_STEP = 1.0 - math.exp(-1.0 / WEEK_VISITS)


def _track_repeats(state: DetectorState, x: float, decay: _Decays, sens: float) -> int:
    change = abs(x - state.x_last)
    if state.run >= 1:
        p_first = max(_repeat_chance(state), REPEAT_FLOOR)
        if _frozen_score(state, state.run, sens, p_first) < REPEAT_LEARN:
            # how often a repeat is followed by another, learnt from runs not suspicious even as independent repeats
            a = max(1.0 / REPEAT_EVENTS, 1.0 / state.n)
            state.repeat_cont += a * ((1.0 if change == 0.0 else 0.0) - state.repeat_cont)
    state.x_last = x
    if change > 0.0 and (state.quantum == 0.0 or change < state.quantum):
        state.quantum = change
    state.run = state.run + 1 if change == 0.0 else 0
    inv_n = 1.0 / state.n
    # clipped, so that a spike (a jump there and back) does not make a stuck run look unremarkable
    if state.n > 2:
        clip = HUBER * state.jitter
        step = clip if clip < change else change
    else:
        step = change
    a = decay.shift
    state.jitter += (inv_n if inv_n > a else a) * (step - state.jitter)
    if state.run <= 1:  # the rate of repeats, not of the runs under test (a stuck sensor teaches nothing)
        a = decay.repeat
        a = inv_n if inv_n > a else a
        state.repeat_rate += a * ((1.0 if change == 0.0 else 0.0) - state.repeat_rate)
    return state.run


def _learn(
    state: DetectorState,
    r: float,
    decay: _Decays,
    sc: float,
    mad: float,
    i0: int,
    i1: int,
    f: float,
    warm: bool,
) -> None:
    """Update level, daily profile, recent mean and warm-up scale from a clipped residual."""
    inv_n = 1.0 / state.n  # the first readings count fully: no slow start from a bad first guess
    limit = math.inf if warm else HUBER * sc
    e = r if r < limit else limit
    e = e if e > -limit else -limit
    state.shift += decay.shift * (e - state.shift)
    a = decay.vol
    state.vol += (inv_n if inv_n > a else a) * (MAD_TO_SD * abs(e) - state.vol)
    a = decay.vol_base
    state.vol_base += (inv_n if inv_n > a else a) * (MAD_TO_SD * abs(e) - state.vol_base)
    a = decay.level
    state.level += (inv_n if inv_n > a else a) * e
    a_season = decay.season
    state.season[i0] += a_season * (1.0 - f) * e
    state.season[i1] += a_season * f * e
    limit = HUBER * mad
    m = r if r < limit else limit
    m = m if m > -HUBER * mad else -HUBER * mad
    a = decay.scale
    state.mad += (inv_n if inv_n > a else a) * (MAD_TO_SD * abs(m) - state.mad)


def _gross(state: DetectorState, x: float, r: float, a: float, bulk: float, reach_hi: float) -> float:
    """The gross-error score (at the default sensitivity): how far x lies beyond the long-run range, in
    GROSS_FRACTION of its width; then the range learns from x unless x was a gross error. The range widens
    at once to a reading close to the expected value, or one less than GROSS_FRACTION beyond it (so a series
    whose excursions grow step by step keeps a range that covers them), or one above the expected value that
    the tail-learnt band covers (`reach_hi`: bursts this series makes routinely, however large), and shrinks
    slowly toward the level (`a`: its weight for this reading). Below, only the first two: a sensor that drops
    out keeps alerting."""
    width = state.range_hi - state.range_lo
    excess = x - state.range_hi
    below = state.range_lo - x
    excess = below if below > excess else excess
    excess = 0.0 if excess < 0.0 else excess
    score = excess / (GROSS_FRACTION * width) if width > 0.0 else 0.0
    state.range_hi -= a * (state.range_hi - state.level)
    state.range_lo -= a * (state.range_lo - state.level)
    if abs(r) <= RANGE_LEARN * bulk or score < 1.0 or 0.0 < r <= reach_hi:
        state.range_hi = x if x > state.range_hi else state.range_hi
        state.range_lo = x if x < state.range_lo else state.range_lo
    return score


def _reach(tail: float, mid: float, sens: float, hill: float) -> float:
    """How far from the expected value a reading on this side is as rare as a Gaussian one `sens` standard
    deviations out, never less than `sens` times the side's scale. The tail beyond the MID_P quantile is a
    generalised Pareto tail through the MID_P and TAIL_P quantiles: exponential (shape 0) unless the residuals
    beyond MID_P say it is heavier — their mean log-ratio to the MID_P quantile (Hill's estimator of the shape),
    less what an exponential tail through the same quantiles would give it, is the shape. For Gaussian noise at
    sensitivity 4 that is 4.2 standard deviations; a heavier tail reaches further, a power-law one further still."""
    c = _for_sensitivity(sens)
    q_tail, q_mid = TAIL_Z * tail, MID_Z * mid
    spread = q_tail - q_mid  # the tail's spread between the two quantiles
    spread = 0.0 if spread < 0.0 else spread
    if q_mid > 0.0:
        shape = hill - math.log1p(spread / (q_mid * _LOG_SPAN))
        shape = shape if shape > 0.0 else 0.0
    else:
        shape = 0.0
    if shape > 0.0:  # the generalised Pareto quantile, through q_mid and q_tail
        ratio = math.expm1(shape * c.mid_gap) / math.expm1(shape * _LOG_SPAN) - 1.0
    else:  # the exponential limit
        ratio = c.exponential
    least, reach = sens * tail, q_tail + spread * ratio
    return reach if reach > least else least


def _recur(state: DetectorState, r: float, t: float, i0: int, i1: int) -> float:
    """How far above the expected value a reading is routine at this time of day: RECUR_MARGIN times the
    largest residual seen above it on two different days (at least RECUR_GAP_S apart) in the two hourly bins
    around now, decaying over RECUR_DAYS. One excursion, however long, is never routine by itself. Then the two
    bins learn this reading's residual. Each peak is kept with the hour it was set and decays with its age, so
    rounding it (three digits: short in JSON) never stops the decay."""
    hour = int(t // 3600.0)
    routine = 0.0
    for i in (i0, i1):
        confirmed = state.recur[i] * math.exp((state.recur_at[i] - hour) * 3600.0 / _RECUR_TAU)
        seen = state.recur_seen[i] * math.exp((state.recur_hour[i] - hour) * 3600.0 / _RECUR_TAU)
        routine = max(routine, RECUR_MARGIN * confirmed)
        if hour - state.recur_hour[i] >= _RECUR_GAP_H and min(r, seen) > confirmed:
            state.recur[i], state.recur_at[i] = float(f"{min(r, seen):.3g}"), hour  # an earlier day's peak, seen again
        if r > seen:
            state.recur_seen[i], state.recur_hour[i] = float(f"{r:.3g}"), hour
    return routine


_RECUR_TAU = RECUR_DAYS * DAY_S
_RECUR_GAP_H = RECUR_GAP_S / 3600.0


def _volatility_score(state: DetectorState, floor: float, sens: float) -> float:
    """1.0 when the recent mean |residual| is VOL_RATIO times its usual value (at the default sensitivity;
    the ratio scales with sensitivity): a series turned noisy or erratic without any one reading standing out."""
    usual = floor if floor > state.vol_base else state.vol_base
    return state.vol / (_for_sensitivity(sens).vol_rule * usual)


def _track_tails(
    state: DetectorState, r: float, decay: _Decays, sc_hi: float, sc_lo: float, m_hi: float, m_lo: float
) -> None:
    """Follow the TAIL_P quantile of each side multiplicatively: up fast when exceeded, down slowly."""
    up, down = decay.tail_up, decay.tail_down
    state.scale_hi = sc_hi * (up if r > sc_hi * TAIL_Z else down)
    state.scale_lo = sc_lo * (up if -r > sc_lo * TAIL_Z else down)
    up, down = decay.mid_up, decay.mid_down
    state.mid_hi = m_hi * (up if r > m_hi * MID_Z else down)
    state.mid_lo = m_lo * (up if -r > m_lo * MID_Z else down)
    # Hill's estimator, each side, from the residuals beyond the MID_P quantile (1 - MID_P of the readings):
    # a time constant of HILL_PERIODS makes each of them weigh about 1 / (HILL_PERIODS (1 - MID_P)).
    u_hi, u_lo = MID_Z * m_hi, MID_Z * m_lo
    if r > u_hi:
        state.hill_hi += decay.hill * (min(math.log(r / u_hi), HILL_CLIP) - state.hill_hi)
    elif -r > u_lo:
        state.hill_lo += decay.hill * (min(math.log(-r / u_lo), HILL_CLIP) - state.hill_lo)


def _verdict(
    state: DetectorState,
    r: float,
    sc: float,
    reach: float,
    floor: float,
    sens: float,
    run: int,
    dt: float,
    period: float,
) -> tuple[float, str]:
    vol = _volatility(state, floor, sens, dt, period)
    # `sc` is the scale of the side this reading lies on, not necessarily the shift's: when a run of high readings
    # ends (this one back below the expected value) the shift meets the narrower lower band, so the test also flags
    # bursts as they end. Most of its detections, true and false, on NAB are of that kind: measuring the shift on its
    # own side instead cut its false alerts 35 -> 1 but its first detections 14 -> 3 (standard score 72.0 -> 70.2).
    scores = (
        (abs(r) / reach, "spike" if r >= 0.0 else "dip"),
        (abs(state.shift) / (_for_sensitivity(sens).shift_band * sc), "level shift"),
        (_frozen_score(state, run, sens), "frozen"),
        (vol, "volatility"),
    )
    score, kind = max(scores)
    if kind == "level shift" and score >= 1.0:
        # The new level is the normal from now on: one alert, then the band follows.
        state.level += state.shift
        state.shift = 0.0
    return score, kind if score >= 0.5 else "normal"


def _volatility(state: DetectorState, floor: float, sens: float, dt: float, period: float) -> float:
    """The volatility score, calibrated on this series: the fixed rule's score (`_volatility_score`) over the
    larger of 1 and where that score is, for this series, as rare as a Gaussian reading `sens` deviations out
    (an exponential tail through its own MID_P and TAIL_P quantiles, followed as the band's are). A series whose
    turbulence routinely comes in bursts (tweet counts) learns how large its bursts of turbulence are; a steady
    one keeps today's rule. Then the quantiles learn the score, unless it alerted."""
    raw = _volatility_score(state, floor, sens)
    q_mid, q_tail = state.vol_mid, state.vol_tail
    spread = q_tail - q_mid
    spread = 0.0 if spread < 0.0 else spread
    learnt = q_tail + spread * _for_sensitivity(sens).tail_gap / _LOG_SPAN
    score = raw / (learnt if learnt > 1.0 else 1.0)
    if raw > 0.0 and score < 1.0:  # an alert's own statistic does not teach the test to expect it
        if q_mid <= 0.0:  # the first score starts both
            q_mid = q_tail = raw
        decay = _decays(dt, period)
        q_mid *= decay.mid_up if raw > q_mid else decay.mid_down
        q_tail *= decay.tail_up if raw > q_tail else decay.tail_down
        state.vol_mid, state.vol_tail = q_mid, q_tail
    return score


def _repeat_chance(state: DetectorState) -> float:
    """How often this series repeats a reading by itself: what was seen, or what its resolution and
    recent jitter imply (for a change with mean |change| m, about quantum / (π·m) of changes are
    zero), whichever is larger: a quiet stretch of a coarse sensor repeats more than its history says."""
    implied = state.quantum / (math.pi * state.jitter) if state.jitter > 0.0 else 1.0
    return min(1.0, max(state.repeat_rate, implied))


def _frozen_score(state: DetectorState, run: int, sens: float, p_cont: float = 0.0) -> float:
    """1.0 when `run` repeats in a row are as unlikely as a reading `sens` standard deviations out: the first
    as likely as any repeat, each further one as likely as a repeat following a repeat has been (if more so)."""
    if run == 0:
        return 0.0
    p_first = max(_repeat_chance(state), REPEAT_FLOOR)
    p_cont = p_cont or max(p_first, min(state.repeat_cont, 1.0 - REPEAT_FLOOR))
    p_run = math.log(p_first) + (run - 1) * math.log(p_cont)
    return p_run / _for_sensitivity(sens).log_erfc


def _burst(state: DetectorState, excursion: bool, decay: _Decays, sens: float) -> float:
    """The burst score: excursions (readings beyond BURST_Z bulk deviations) came lately more often than usual.
    Their count over ~BURST_PERIODS, k, against the λ its long-run rate predicts is as unlikely as
    exp(−(k·ln(k/λ) − k + λ)) for Poisson arrivals (the Chernoff bound): 1.0 when that is as unlikely as a
    reading `sens` deviations out. Then the rate learns from this reading."""
    hit = 1.0 if excursion else 0.0
    rate = state.burst_rate
    lam = (BURST_FLOOR if rate < BURST_FLOOR else rate) * BURST_PERIODS
    state.burst_recent = state.burst_recent * decay.burst_keep + hit
    a, inv_n = decay.burst_base, 1.0 / state.n
    state.burst_rate += (inv_n if inv_n > a else a) * (hit - rate)
    k = state.burst_recent
    if k <= lam:
        return 0.0
    return (k * math.log(k / lam) - k + lam) / -_for_sensitivity(sens).log_erfc
