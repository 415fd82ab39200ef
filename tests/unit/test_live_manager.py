"""Which alert changes the service has sent each connection (iotmon/service/live_manager.py), without servers."""

from __future__ import annotations

from iotmon.service.live_manager import SentAlerts


def test_a_change_goes_to_a_connection_once_live_or_replayed():
    sent = SentAlerts()
    sent.start("a", floor=10)
    assert sent.take("a", 12) is True
    assert sent.take("a", 12) is False  # the replay after the live message, or the other way round
    assert sent.take("a", 11) is True  # older than its newest, but it did not have it
    assert sent.missing("a") == (10, [11, 12])


def test_a_connection_not_followed_is_sent_everything():
    sent = SentAlerts()
    assert sent.take("b", 5) is True and sent.take("b", 5) is True
    assert sent.missing("b") is None
    sent.start("b", floor=0)
    sent.forget("b")
    assert sent.missing("b") is None


def test_a_catch_up_looks_back_a_window_behind_the_newest():
    sent = SentAlerts(window=3)
    sent.start("a", floor=0)
    for sequence in (1, 2, 5, 9):
        sent.take("a", sequence)
    assert sent.missing("a") == (6, [9])  # 7 and 8 may still come; 1–6 are too old to chase
    assert sent.take("a", 4) is True  # a very late one still goes out, unrecorded


def test_subscribing_again_asks_for_more_and_keeps_the_record():
    sent = SentAlerts()
    sent.start("a", floor=20)
    sent.take("a", 21)
    sent.start("a", floor=15)
    assert sent.missing("a") == (15, [21])
    assert sent.take("a", 21) is False
