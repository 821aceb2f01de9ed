// The admin dashboard's "since" control: pick a local date and time (by default the latest
// 09:00) and the dashboard feed is rebuilt from every update since then, then continues live.
// The replay itself is the gateway's `ReplaySince` method, called by useOrderHub.
import { useState } from "react";

import { type SinceOutcome, defaultSince, describeOutcome, fromLocalInput, toLocalInput } from "../hub/since";
import type { Notice } from "./common";

export function SinceControl({ replaySince }: { replaySince: (since: Date) => Promise<SinceOutcome> }) {
  const [value, setValue] = useState(() => toLocalInput(defaultSince(new Date())));
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<Notice | null>(null);

  const submit = async () => {
    const since = fromLocalInput(value);
    if (since === null) {
      setNotice({ text: "Choose a date and a time.", error: true });
      return;
    }
    if (since.getTime() > Date.now()) {
      setNotice({ text: "Choose a time that has already passed.", error: true });
      return;
    }
    setBusy(true);
    setNotice(null);
    try {
      setNotice({ text: describeOutcome(since, await replaySince(since)), error: false });
    } catch (e) {
      setNotice({ text: e instanceof Error ? e.message : String(e), error: true });
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="since" aria-label="Replay the dashboard since a time">
      <form
        className="since-form"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <label>
          Show updates since{" "}
          <input
            type="datetime-local"
            value={value}
            max={toLocalInput(new Date())}
            onChange={(e) => setValue(e.target.value)}
            data-testid="since-input"
            required
          />
        </label>
        <button type="submit" className="btn" disabled={busy} data-testid="since-submit">
          {busy ? "Replaying…" : "Replay"}
        </button>
      </form>
      {notice && (
        <p className={notice.error ? "error" : "notice"} role={notice.error ? "alert" : "status"} data-testid="since-result">
          {notice.text}
        </p>
      )}
    </section>
  );
}
