"""The per-(device, rule) alert state machine: pure, on reading timestamps (no servers)."""

import msgspec

from iotmon.core.alert_machine import (
    FLAPPING,
    RENEW,
    RESOLVE,
    TRIGGER,
    UPDATE,
    MachineState,
    Settings,
    opened,
    step,
)
from iotmon.core.rules import BREACH, CLEAR, HOLD, NONE

SETTINGS = Settings(breach_count=3, clear_after_s=30, flap_window_s=600, flap_transitions=4)


def run(state, verdicts, settings=SETTINGS):
    """verdicts: (time, kind, severity); returns the changes as (time, change)."""
    changes = []
    for at, kind, severity in verdicts:
        change = step(state, kind, severity, at, settings)
        if change:
            changes.append((at, change))
    return changes


def test_enters_only_after_breach_count_consecutive_breaches():
    state = MachineState()
    assert (
        run(
            state,
            [
                (0, BREACH, 0),
                (1, BREACH, 0),
                (2, HOLD, 0),
                (3, BREACH, 0),
                (4, BREACH, 0),
            ],
        )
        == []
    )
    assert run(state, [(5, BREACH, 1)]) == [(5, TRIGGER)]
    assert state.open and state.severity == 1
    assert run(state, [(6, BREACH, 1), (7, BREACH, 0)]) == []  # no repeat while open


def test_severity_rise_is_one_update_and_never_falls():
    state = MachineState()
    run(state, [(0, BREACH, 0), (1, BREACH, 0), (2, BREACH, 0)])
    assert run(state, [(3, BREACH, 2), (4, BREACH, 1), (5, BREACH, 2), (6, BREACH, 3)]) == [(3, UPDATE), (6, UPDATE)]
    assert state.severity_name == "critical"


def test_resolves_after_clear_for_clear_after_s_and_hold_restarts_the_wait():
    state = MachineState()
    run(state, [(0, BREACH, 0), (1, BREACH, 0), (2, BREACH, 0)])
    assert (
        run(
            state,
            [
                (10, CLEAR, 0),
                (35, CLEAR, 0),
                (36, HOLD, 0),
                (40, CLEAR, 0),
                (69, CLEAR, 0),
            ],
        )
        == []
    )
    assert run(state, [(70, CLEAR, 0)]) == [(70, RESOLVE)]
    assert not state.open


def test_breach_while_clearing_restarts_the_wait():
    state = MachineState()
    run(state, [(0, BREACH, 0), (1, BREACH, 0), (2, BREACH, 0)])
    assert run(state, [(10, CLEAR, 0), (30, BREACH, 0), (45, CLEAR, 0), (70, CLEAR, 0)]) == []
    assert run(state, [(75, CLEAR, 0)]) == [(75, RESOLVE)]


def test_clear_after_zero_resolves_on_the_first_clear():
    settings = Settings(breach_count=1, clear_after_s=0)
    state = MachineState()
    assert run(state, [(0, BREACH, 0), (1, CLEAR, 0)], settings) == [
        (0, TRIGGER),
        (1, RESOLVE),
    ]


def test_none_changes_nothing():
    state = MachineState()
    run(state, [(0, BREACH, 0), (1, BREACH, 0)])
    assert run(state, [(2, NONE, 0)]) == [] and state.breaches == 2


def test_flapping_notifies_once_and_holds_the_alert_open():
    settings = Settings(breach_count=1, clear_after_s=10, flap_window_s=600, flap_transitions=4)
    state = MachineState()

    def cycle(t):
        return [(t, BREACH, 0), (t + 5, CLEAR, 0), (t + 15, CLEAR, 0)]

    changes = run(state, cycle(0) + cycle(100) + cycle(200) + cycle(300) + cycle(400), settings)
    # enter, exit, enter, then the 4th transition (an exit) is turned into FLAPPING; later cycles stay open.
    assert changes == [(0, TRIGGER), (15, RESOLVE), (100, TRIGGER), (115, FLAPPING)]
    assert state.open and state.flapping
    # resolves only once the value has been clear for the whole flap window
    assert run(state, [(500, CLEAR, 0), (1004, CLEAR, 0)], settings) == []  # clear since 405
    assert run(state, [(1005, CLEAR, 0)], settings) == [(1005, RESOLVE)]
    assert not state.flapping


def test_slow_cycles_do_not_flap():
    settings = Settings(breach_count=1, clear_after_s=10, flap_window_s=600, flap_transitions=4)
    state = MachineState()
    verdicts = [v for t in range(0, 7000, 700) for v in [(t, BREACH, 0), (t + 20, CLEAR, 0), (t + 31, CLEAR, 0)]]
    changes = run(state, verdicts, settings)
    assert [c for _, c in changes].count(FLAPPING) == 0
    assert [c for _, c in changes].count(TRIGGER) == 10


def test_a_stronger_breach_after_a_long_quiet_spell_renews_the_alert_and_breach_after_breach_does_not():
    settings = Settings(
        breach_count=1, clear_after_s=10, hold_restarts_clear=False, renew_after_s=100, renew_quiet_s=20
    )
    state = MachineState()
    assert step(state, BREACH, 0, 0, settings, strength=2.0) == TRIGGER
    # held open by evidence near the band's edge (HOLD), then a weaker breach: more of the same alert
    assert [step(state, HOLD, 0, t, settings) for t in range(1, 150)] == [None] * 149
    assert step(state, BREACH, 0, 150, settings, strength=1.5) is None
    # a stronger one, but only 10 s after the last breach: still the same disturbance
    assert step(state, BREACH, 1, 160, settings, strength=3.0) == UPDATE
    # quiet for 20 s, stronger than all the alert has seen: a new anomaly, reported as a new alert
    assert [step(state, HOLD, 0, t, settings) for t in range(161, 181)] == [None] * 20
    assert step(state, BREACH, 2, 181, settings, strength=3.5) == RENEW
    assert state.open and state.opened_at == 181 and state.peak == 3.5 and state.severity == 2
    # the renewed alert is new: it is not renewed again before it too has been open renew_after_s
    assert step(state, BREACH, 2, 250, settings, strength=9.0) is None


def test_an_alert_renews_only_where_asked_and_never_when_its_opening_is_unknown():
    state = MachineState()
    run(state, [(0, BREACH, 0), (1, BREACH, 0), (2, BREACH, 0)])
    assert step(state, BREACH, 0, 10_000, SETTINGS, strength=99.0) is None  # renew_after_s is infinite by default
    rebuilt = opened("low")  # rebuilt from PostgreSQL: when it opened is not known
    settings = Settings(breach_count=1, renew_after_s=1, renew_quiet_s=0)
    assert step(rebuilt, BREACH, 0, 10_000, settings, strength=99.0) is None


def test_state_round_trips_through_a_dict_and_open_state_rebuilds():
    state = MachineState()
    run(state, [(0, BREACH, 2), (1, BREACH, 2), (2, BREACH, 2), (3, CLEAR, 0)])
    assert msgspec.convert(msgspec.to_builtins(state), MachineState) == state
    rebuilt = opened("high")
    assert rebuilt.open and rebuilt.severity_name == "high"


def test_by_default_one_breach_enters():
    assert run(MachineState(), [(0, BREACH, 1)], Settings()) == [(0, TRIGGER)]


def test_a_breach_asked_to_last_enters_once_it_has_lasted_and_a_break_starts_again():
    lasting = Settings(breach_for_s=30)
    state = MachineState()
    assert run(state, [(0, BREACH, 0), (20, BREACH, 0), (25, HOLD, 0), (26, BREACH, 0), (50, BREACH, 0)], lasting) == []
    assert run(state, [(56, BREACH, 0)], lasting) == [(56, TRIGGER)]
    both = Settings(breach_count=3, breach_for_s=5)
    assert run(MachineState(), [(0, BREACH, 0), (10, BREACH, 0), (11, BREACH, 0)], both) == [(11, TRIGGER)]
    assert msgspec.convert(msgspec.to_builtins(state), MachineState) == state


def test_a_statistical_band_clears_through_readings_near_its_edge_not_through_breaches():
    # An anomaly's in-between verdicts (HOLD) are noise near the band's edge: they do not restart the wait to
    # clear, as they do for a threshold's hysteresis; a BREACH does. It resolves on a CLEAR reading.
    band = Settings(clear_after_s=30, hold_restarts_clear=False)
    state = MachineState()
    assert run(state, [(0, BREACH, 0), (10, CLEAR, 0), (20, HOLD, 0), (35, HOLD, 0)], band) == [(0, TRIGGER)]
    assert run(state, [(41, CLEAR, 0)], band) == [(41, RESOLVE)]
    threshold = Settings(clear_after_s=30)
    state = MachineState()
    assert run(state, [(0, BREACH, 0), (10, CLEAR, 0), (20, HOLD, 0), (41, CLEAR, 0)], threshold) == [(0, TRIGGER)]
    assert run(MachineState(), [(0, BREACH, 0), (10, CLEAR, 0), (20, BREACH, 0), (41, CLEAR, 0)], band) == [
        (0, TRIGGER)
    ]
