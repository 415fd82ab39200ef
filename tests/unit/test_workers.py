"""`iotmon up --workers n`: the figures a worker reports and the main process adds up (no processes here)."""

from eventing.memory import MemoryTransport
from eventing.router import Router
from eventing.wiring import Wiring
from iotmon.workers import Routers, Worker, report


def test_the_metrics_add_the_workers_reports_to_the_main_routers_figures() -> None:
    main = Router(MemoryTransport(), Wiring((), ()), {})
    main.counts.update(delivered=5, retried=1)
    reporting = Router(MemoryTransport(), Wiring((), ()), {})
    reporting.counts.update(delivered=7, dead_lettered=2)
    worker = Worker((1, 2), {})
    worker._take(report(reporting))
    worker.lag = {("aggregate", "metrics"): 3}
    worker._take("not a report\n")  # ignored: the last good figures stay

    routers = Routers(main, [worker])

    assert routers.counts == {"delivered": 12, "retried": 1, "dead_lettered": 2}
    assert routers.lag() == {("aggregate", "metrics"): 3}
