"""The streaming anomaly detector: real behaviour on synthetic signals (pure, no servers)."""

import json
import math
import random

import msgspec
import pytest

from iotmon.core.detector import DetectorParams, DetectorState, Observation, _reach, _volatility, observe

DAY = 86_400.0


def alerts(times, values, period_s, sensitivity=None):
    """(time, kind) of each alert opening, as the rule engine opens them: first reading with score >= 1,
    none while one is open, resolved once the score stayed < 0.5 for max(30 s, 5 periods)."""
    params = DetectorParams(period_s) if sensitivity is None else DetectorParams(period_s, sensitivity)
    state = DetectorState()
    clear_after = max(30.0, 5 * period_s)
    opened, is_open, calm_since = [], False, None
    for t, x in zip(times, values, strict=True):
        seen = observe(state, t, x, params)
        score = 0.0 if seen.warming_up else seen.score
        if is_open:
            calm_since = (calm_since if calm_since is not None else t) if score < 0.5 else None
            if calm_since is not None and t - calm_since >= clear_after:
                is_open, calm_since = False, None
        elif score >= 1.0:
            is_open = True
            opened.append((t, seen.kind))
    return opened


def noisy(times, level=50.0, sd=1.0, seed=7):
    rng = random.Random(seed)
    return [level + rng.gauss(0.0, sd) for _ in times]


def grid(seconds, period_s):
    return [1_700_000_000.0 + i * period_s for i in range(int(seconds / period_s))]


def test_a_spike_alerts_and_says_why():
    times = grid(3 * 3600, 2.0)
    values = noisy(times)
    at = len(times) // 2
    values[at] += 40.0
    found = alerts(times, values, 2.0)
    assert found == [(times[at], "spike")]


def test_the_alert_explains_itself_with_the_expected_band():
    times = grid(3 * 3600, 2.0)
    values = noisy(times)
    state, params = DetectorState(), DetectorParams(2.0)
    seen = [observe(state, t, x, params) for t, x in zip(times, values, strict=True)]
    calm = seen[-1]
    assert not calm.warming_up and calm.score < 0.5 and calm.kind == "normal"
    assert calm.low < calm.expected < calm.high
    assert abs(calm.expected - 50.0) < 1.0
    width = (calm.high - calm.low) / 2
    assert 3.0 < width < 12.0  # about sensitivity (4) robust standard deviations of unit noise
    dip = observe(state, times[-1] + 2.0, calm.low - 5.0, params)
    assert dip.score >= 1.0 and dip.kind == "dip" and dip.low > calm.low - 5.0


def test_nothing_is_judged_while_warming_up():
    state, params = DetectorState(), DetectorParams(5.0)
    first = [observe(state, t, x, params) for t, x in zip(grid(600, 5.0), [1.0, 500.0] * 60, strict=True)]
    assert all(seen.warming_up and seen.score == 0.0 for seen in first)


def test_a_level_shift_alerts_once_then_becomes_the_new_normal():
    times = grid(4 * 3600, 2.0)
    values = noisy(times)
    at = len(times) // 2
    values[at:] = [x + 8.0 for x in values[at:]]
    found = alerts(times, values, 2.0)
    assert len(found) == 1
    when, _ = found[0]
    assert times[at] <= when <= times[at] + 120.0  # within a minute or two of the shift
    state, params = DetectorState(), DetectorParams(2.0)
    last = [observe(state, t, x, params) for t, x in zip(times, values, strict=True)][-1]
    assert abs(last.expected - 58.0) < 1.0 and last.score < 0.5


def test_a_daily_cycle_does_not_alert_once_learnt():
    period = 300.0
    times = grid(10 * DAY, period)
    values = [x + 20.0 * math.sin(2 * math.pi * t / DAY) for t, x in zip(times, noisy(times), strict=True)]
    assert [t for t, _ in alerts(times, values, period) if t > times[0] + DAY] == []


def test_slow_drift_adds_no_alert():
    times = grid(6 * 3600, 1.0)
    flat = noisy(times)
    drifting = [x + 30.0 * i / len(times) for i, x in enumerate(flat)]  # 30 σ over six hours
    # At the default (4 σ) Gaussian noise alone crosses the band about once in 16,000 readings; at 5 σ
    # once in 1.7 million, so any alert here would be the drift's.
    assert alerts(times, flat, 1.0, sensitivity=5.0) == []
    assert alerts(times, drifting, 1.0, sensitivity=5.0) == []


def test_a_frozen_sensor_alerts():
    times = grid(2 * 3600, 2.0)
    values = [round(x, 2) for x in noisy(times)]
    at = len(times) // 2
    values[at : at + 4] = [values[at - 1]] * 4
    assert alerts(times, values, 2.0) == [(times[at + 1], "frozen")]


def test_a_coarse_or_constant_series_does_not_alert_on_its_last_digit():
    times = grid(3 * 3600, 5.0)
    rng = random.Random(3)
    coarse = [float(round(20 + rng.gauss(0, 0.3))) for _ in times]  # mostly 20, sometimes 19 or 21
    assert alerts(times, coarse, 5.0) == []
    assert alerts(times, [42.0] * len(times), 5.0) == []


def test_a_heavy_tailed_series_gets_a_wider_band_than_gaussian_noise():
    times = grid(2 * DAY, 300.0)
    rng = random.Random(11)
    bursty = [50.0 + rng.gauss(0, 1) + (rng.expovariate(1.0) * 6 if rng.random() < 0.05 else 0.0) for _ in times]
    gaussian = noisy(times)
    bands = []
    for values in (bursty, gaussian):
        state, params = DetectorState(), DetectorParams(300.0)
        last = [observe(state, t, x, params) for t, x in zip(times, values, strict=True)][-1]
        bands.append(last.high - last.expected)
    assert bands[0] > 1.5 * bands[1]


def test_a_power_law_tail_reaches_further_than_an_exponential_one_through_the_same_quantiles():
    # Bursts of every size (a Pareto tail, as in bytes written or tweet counts): the residuals beyond the
    # 99 % quantile say the tail is a power law, and the band reaches past the exponential extrapolation
    # through the same two quantiles, so a burst of a routine size stays inside it. Gaussian noise shows no
    # such tail: its band is the exponential one.
    times = grid(10 * DAY, 300.0)
    rng = random.Random(17)
    bursty = [50.0 + rng.gauss(0, 1) + (3 * rng.paretovariate(1.0) if rng.random() < 0.05 else 0.0) for _ in times]
    reaches = []
    for values in (bursty, noisy(times)):
        state, params = DetectorState(), DetectorParams(300.0)
        for t, x in zip(times, values, strict=True):
            observe(state, t, x, params)
        heavy = _reach(state.scale_hi, state.mid_hi, 4.0, state.hill_hi)
        exponential = _reach(state.scale_hi, state.mid_hi, 4.0, 0.0)
        reaches.append(heavy / exponential)
    assert reaches[0] > 1.5
    assert reaches[1] < 1.02


def test_frequent_gross_errors_keep_alerting_however_often_they_come():
    # A sensor that drops to zero on 3 % of its readings: its tails learn the drops, the gross-error test
    # (beyond the long-run range of the other readings) still alerts on every one once warmed up.
    times = grid(3 * 3600, 2.0)
    rng = random.Random(5)
    values = noisy(times, level=50.0, sd=2.0, seed=3)
    drops = [i for i in range(len(times)) if rng.random() < 0.03]
    for i in drops:
        values[i] = 0.0
    state, params = DetectorState(), DetectorParams(2.0)
    seen = [observe(state, t, x, params) for t, x in zip(times, values, strict=True)]
    judged = [i for i in drops if not seen[i].warming_up]
    assert len(judged) > 100
    assert all(seen[i].score >= 1.0 and seen[i].kind == "dip" for i in judged)


def test_routine_bursts_inside_the_band_are_not_gross_errors():
    # Traffic or counts: upward bursts of every size on 3 % of the readings. Once the band has learnt them, a
    # burst inside it widens the long-run range instead of alerting as a gross error; one past the band
    # still alerts (a drop below the range always does: the test above).
    times = grid(10 * DAY, 300.0)
    rng = random.Random(23)
    values = [50.0 + rng.gauss(0, 1) + (5 * rng.paretovariate(1.0) if rng.random() < 0.03 else 0.0) for _ in times]
    state, params = DetectorState(), DetectorParams(300.0)
    seen = [observe(state, t, x, params) for t, x in zip(times, values, strict=True)]
    bursts = [i for i in range(len(times) // 2, len(times)) if values[i] > 56.0]
    inside = [i for i in bursts if values[i] <= seen[i].high]
    assert len(inside) > 20
    assert all(seen[i].score < 1.0 for i in inside)
    # a burst ten times past the band is still a spike
    past = observe(state, times[-1] + 300.0, 50.0 + 10 * (seen[-1].high - 50.0), params)
    assert past.score >= 1.0 and past.kind == "spike"


def test_a_spike_that_recurs_at_the_same_time_of_day_becomes_routine_but_not_at_another_time():
    # A nightly job: a spike around 03:00 (give or take 40 minutes) every day. Once it has been seen on two
    # days it is routine at that hour; the same spike in the afternoon still alerts, and a first spike at a
    # new hour alerts again the next day (one occurrence is not a routine).
    times = grid(12 * DAY, 300.0)
    values = noisy(times, sd=0.5, seed=11)
    rng = random.Random(2)
    nightly = []
    for day in range(1, 12):
        i = int((day * DAY + 3 * 3600 + rng.uniform(-2400, 2400)) / 300.0)
        values[i] += rng.uniform(19.5, 20.5)
        nightly.append(times[i])
    afternoon = [int((day * DAY + 15 * 3600) / 300.0) for day in (10, 11)]
    for i in afternoon:
        values[i] += 20.0
    found = alerts(times, values, 300.0)
    routine = [t for t, _ in found if t in nightly[4:]]
    assert routine == []  # no alert from the fifth night on
    assert [times[i] for i in afternoon] == [t for t, kind in found if t in {times[i] for i in afternoon}]
    assert all(kind == "spike" for _, kind in found)


def test_a_nightly_spike_that_stopped_long_ago_is_news_again():
    # The time-of-day memory decays, also at a short period (rounded peaks must not stall the decay): after a
    # week of nightly spikes at 1-minute readings, six quiet weeks make the same spike at that hour alert again.
    times = grid(50 * DAY, 60.0)
    values = noisy(times, sd=0.5, seed=5)
    nightly = [int((day * DAY + 3 * 3600) / 60.0) for day in range(1, 8)]
    for i in nightly:
        values[i] += 20.0
    late = int((49 * DAY + 3 * 3600) / 60.0)
    values[late] += 20.0
    found = [t for t, _ in alerts(times, values, 60.0)]
    assert times[nightly[-1]] not in found  # routine while it recurred
    assert times[late] in found


def test_a_series_turned_erratic_alerts_though_no_reading_stands_out():
    # After hours of unit noise the readings swing ±3 around the level: none is past the band (about 4
    # standard deviations), but their mean deviation soon exceeds three times the usual one.
    times = grid(4 * 3600, 2.0)
    values = noisy(times)
    start = len(times) * 3 // 4
    for i in range(start, len(times)):
        values[i] = 50.0 + (3.0 if i % 2 else -3.0)
    found = alerts(times, values, 2.0)
    assert [kind for t, kind in found if t >= times[start]] == ["volatility"]
    assert all(t >= times[start] for t, _ in found)


def test_the_volatility_test_learns_how_turbulent_this_series_routinely_gets():
    # The fixed rule (recent mean deviation three times the usual one) is the start; a series whose recent
    # deviation often comes close to it (bursty traffic, tweet counts) learns that tail and needs more, while
    # a steady one keeps the fixed rule.
    rng = random.Random(4)
    steady, turbulent = DetectorState(), DetectorState()
    for state, spread in ((steady, 0.3), (turbulent, 0.8)):
        state.vol_base = 1.0
        for _ in range(20_000):  # the fixed rule's score is vol / 3 here
            state.vol = min(rng.expovariate(1.0 / spread), 2.9) if rng.random() < 0.1 else 0.3
            _volatility(state, 1e-9, 4.0, 60.0, 60.0)
    for state in (steady, turbulent, DetectorState()):
        state.vol_base, state.vol = 1.0, 3.6  # 1.2 times the fixed rule's threshold
    assert _volatility(steady, 1e-9, 4.0, 60.0, 60.0) == pytest.approx(1.2)
    assert _volatility(turbulent, 1e-9, 4.0, 60.0, 60.0) < 1.0


def test_repeats_that_come_in_runs_are_not_frozen_but_a_stuck_sensor_still_is():
    # A sensor that often holds its last value for a few readings (runs of about 1 / (1 − 0.7) readings): a
    # run of ten is routine for it, though ten independent repeats would not be. Forty identical readings are not.
    times = grid(3 * DAY, 60.0)
    rng = random.Random(2)
    values: list[float] = []
    holding = False
    for _ in times:
        if holding and rng.random() < 0.7:
            values.append(values[-1])
            continue
        holding = rng.random() < 0.15
        values.append(round(50 + rng.gauss(0, 1), 3))
    stuck = 3000
    values[stuck : stuck + 40] = [values[stuck - 1]] * 40
    frozen = [t for t, kind in alerts(times, values, 60.0) if kind == "frozen" and t >= times[0] + DAY]
    assert len(frozen) == 1 and times[stuck] <= frozen[0] <= times[stuck + 39]


def test_excursions_coming_more_often_than_usual_alert_as_a_burst():
    # Noise with a 9-deviation excursion every 97 readings: once learnt, each is routine. Then for a while
    # one comes every 4 readings, each no taller than before.
    times = grid(12 * 3600, 10.0)
    rng = random.Random(4)
    start = len(times) * 3 // 4

    def excursion(i):
        return i % 4 == 0 if start <= i < start + 40 else i % 97 == 0

    values = [50.0 + rng.gauss(0.0, 1.0) + (9.0 if excursion(i) else 0.0) for i in range(len(times))]
    found = alerts(times, values, 10.0)
    assert not [t for t, _ in found if times[start // 2] <= t < times[start]]  # routine by then
    assert [kind for t, kind in found if t >= times[start]] == ["burst"]
    assert next(t for t, _ in found if t >= times[start]) <= times[start + 40]


def test_the_state_stays_small_whatever_the_duration():
    state, params = DetectorState(), DetectorParams(30.0)  # 100,000 readings: five weeks, every profile learnt
    rng = random.Random(5)
    shapes, sizes = [], []
    for i in range(100_000):
        observe(state, 1_700_000_000.0 + 30.0 * i, 10 + rng.gauss(0, 1), params)
        if i in (20_000, 99_999):
            data = msgspec.to_builtins(state)
            shapes.append({key: len(value) if isinstance(value, list) else 1 for key, value in data.items()})
            sizes.append(len(json.dumps(data)))
    assert shapes[0] == shapes[1]  # nothing grows with the number of readings
    assert max(sizes) <= 4_096  # stored per device in Redis


def test_a_state_restored_from_json_gives_identical_observations():
    times = grid(2 * 3600, 3.0)
    values = noisy(times)
    values[900] += 30
    params = DetectorParams(3.0)
    straight = DetectorState()
    expected: list[Observation] = [observe(straight, t, x, params) for t, x in zip(times, values, strict=True)]
    state, got = DetectorState(), []
    for t, x in zip(times, values, strict=True):
        state = msgspec.convert(json.loads(json.dumps(msgspec.to_builtins(state))), DetectorState)
        got.append(observe(state, t, x, params))
    assert got == expected


def test_a_state_saved_before_the_time_of_day_peaks_existed_still_loads():
    times = grid(2 * 3600, 3.0)
    state, params = DetectorState(), DetectorParams(3.0)
    for t, x in zip(times, noisy(times), strict=True):
        observe(state, t, x, params)
    added = ("vol_mid", "vol_tail", "repeat_cont")  # fields added since, as the time-of-day peaks
    old = {k: v for k, v in msgspec.to_builtins(state).items() if not k.startswith("recur") and k not in added}
    restored = msgspec.convert(json.loads(json.dumps(old)), DetectorState)
    assert restored.recur == [0.0] * len(state.recur) and restored.recur_hour == [0] * len(state.recur)
    assert (restored.vol_mid, restored.vol_tail, restored.repeat_cont) == (0.0, 0.0, 0.0)
    assert observe(restored, times[-1] + 3.0, 50.0, params).score < 0.5


def test_a_state_saved_with_the_pattern_tests_counts_still_loads_and_judges_alike():
    # States saved while the detector had an unusual-pattern test carry its counts: they are ignored.
    times = grid(2 * 3600, 3.0)
    values = noisy(times)
    params = DetectorParams(3.0)
    state = DetectorState()
    for t, x in zip(times[:1000], values[:1000], strict=True):
        observe(state, t, x, params)
    old = msgspec.to_builtins(state) | {"context": 12, "surprise": 0.7, "transitions": [0.5] * 125}
    restored = msgspec.convert(json.loads(json.dumps(old)), DetectorState)
    assert msgspec.to_builtins(restored) == msgspec.to_builtins(state)
    rest = list(zip(times[1000:], values[1000:], strict=True))
    assert [observe(restored, t, x, params) for t, x in rest] == [observe(state, t, x, params) for t, x in rest]


def test_the_same_signal_gives_the_same_verdicts_at_different_sampling_periods():
    def signal(t0, t):
        return 50.0 + (10.0 if t >= t0 + 5_000 else 0.0) + (40.0 if t0 + 3_000 <= t < t0 + 3_000.5 else 0.0)

    verdicts = []
    for period in (1.0, 2.0, 5.0):
        times = grid(8_000, period)
        values = [
            signal(times[0], t) + x for t, x in zip(times, noisy(times, level=0.0, seed=int(period)), strict=True)
        ]
        verdicts.append([(round((t - times[0]) / 100), kind) for t, kind in alerts(times, values, period)])
    # The step's first reading already lies outside the band: it opens as a spike, and the band then
    # moves to the new level instead of opening a second alert.
    assert verdicts[0] == [(30, "spike"), (50, "spike")]
    assert verdicts[1] == verdicts[0] and verdicts[2] == verdicts[0]


def weekly(times, holiday=None):
    """Busy weekdays (a daily cycle around 100) and quiet weekends (around 20), with noise; a holiday is a
    weekday as quiet as a weekend."""
    values = []
    for t, noise in zip(times, noisy(times, level=0.0, sd=3.0), strict=True):
        day = int(t // DAY)
        quiet = (day + 3) % 7 >= 5 or day == holiday  # 1970-01-01 was a Thursday: (day + 3) % 7 is 0 on Mondays
        values.append((20.0 if quiet else 100.0 + 40.0 * math.sin(2 * math.pi * t / DAY)) + noise)
    return values


def test_a_weekly_cycle_is_learnt_and_a_quiet_weekday_alerts():
    period = 1800.0
    times = grid(8 * 7 * DAY, period)
    learnt = times[0] + 5 * 7 * DAY
    assert [t for t, _ in alerts(times, weekly(times), period) if t > learnt] == []
    wednesday = next(int(t // DAY) for t in times if t > learnt and (int(t // DAY) + 3) % 7 == 2)
    found = [t for t, _ in alerts(times, weekly(times, holiday=wednesday), period) if t > learnt]
    assert found and wednesday * DAY <= found[0] < (wednesday + 1) * DAY
