import { ApiError } from "../api/client";
import { enqueue, flush, type QueuedAction } from "./outbox";

const action = (alertId: string, kind: QueuedAction["kind"] = "acknowledge"): QueuedAction => ({
  alertId,
  kind,
  note: "",
  queuedAt: "2026-11-30T10:00:00Z",
});

describe("the outbox", () => {
  it("keeps one action of a kind per alert", () => {
    const queue = enqueue(enqueue(enqueue([], action("a")), action("b")), { ...action("a"), note: "again" });
    expect(queue.map((a) => [a.alertId, a.note])).toEqual([
      ["b", ""],
      ["a", "again"],
    ]);
    expect(enqueue(queue, action("a", "resolve"))).toHaveLength(3);
  });

  it("sends in order, drops refusals with their reason and keeps the rest when the service is gone again", async () => {
    const sent: string[] = [];
    const result = await flush([action("a"), action("b"), action("c"), action("d")], async (a) => {
      if (a.alertId === "b") throw new ApiError(409, "INVALID_TRANSITION", "alert-b is already resolved");
      if (a.alertId === "c") throw new ApiError(0, "UNREACHABLE", "down");
      sent.push(a.alertId);
    });
    expect(sent).toEqual(["a"]);
    expect(result.refused.map((r) => r.reason)).toEqual(["alert-b is already resolved"]);
    expect(result.remaining.map((a) => a.alertId)).toEqual(["c", "d"]);
  });

  it("keeps an action whose session expired, to send after logging in", async () => {
    const result = await flush([action("a")], async () => {
      throw new ApiError(401, "TOKEN_EXPIRED", "log in again");
    });
    expect(result.remaining).toHaveLength(1);
  });
});
