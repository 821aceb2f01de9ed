// The admin dashboard's presence panel: the customers connected now, on any gateway, updated
// live (usePresence). Admins are not listed.
import type { HubConnection } from "@microsoft/signalr";

import { sortedPresence } from "../hub/presence";
import { usePresence } from "../hub/usePresence";
import type { ConnectionState } from "../state/types";

export function PresencePanel({ hub }: { hub: { connection: HubConnection | null; state: ConnectionState } }) {
  const { presence, error } = usePresence(hub.connection, hub.state);
  const customers = sortedPresence(presence);
  return (
    <section className="card span-3" aria-labelledby="presence-title" data-testid="presence-panel">
      <h2 id="presence-title">
        Customers online{" "}
        {presence !== null && (
          <span className="muted small" data-testid="presence-count">
            ({customers.length})
          </span>
        )}
      </h2>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : presence === null ? (
        <p className="empty">Waiting for the live connection…</p>
      ) : customers.length === 0 ? (
        <p className="empty">No customer is connected right now.</p>
      ) : (
        <ul className="presence" aria-live="polite">
          {customers.map((c) => (
            <li key={c.customerId} className="presence-chip" data-testid="presence-row" data-customer-id={c.customerId}>
              <span className="dot" aria-hidden="true" />
              {c.name || c.customerId}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
