// The dead letters waiting for `iotmon dlq replay`, in the health panel: how many, and the commonest reasons.
import type { DeadLetters } from "../api/types";

const DEAD_LETTER_GROUPS_SHOWN = 3;

export function DeadLetterSummary({ deadLetters }: { deadLetters: DeadLetters | null | undefined }) {
  if (!deadLetters) return null; // not known yet, or the transport is down (its dependency says so)
  if (deadLetters.waiting === 0)
    return (
      <p className="dead-letters">
        <span className="dot ok" aria-hidden="true" /> No dead letters
      </p>
    );
  return (
    <div className="dead-letters" aria-label="Dead letters">
      <p>
        <span className="dot bad" aria-hidden="true" /> {deadLetters.waiting.toLocaleString()} dead letter
        {deadLetters.waiting === 1 ? "" : "s"} waiting{" "}
        <span className="muted small">
          (<code>iotmon dlq list</code>, <code>iotmon dlq replay</code>)
        </span>
      </p>
      <ul className="muted small">
        {deadLetters.groups.slice(0, DEAD_LETTER_GROUPS_SHOWN).map((group) => (
          <li key={`${group.topic}/${group.kind}/${group.reason}`} title={group.topic}>
            {group.count.toLocaleString()} {group.kind}: {group.reason}
          </li>
        ))}
      </ul>
    </div>
  );
}
