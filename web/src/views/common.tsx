// Small shared pieces: view header, connection badge, status pill, live feed, table card, money.
import { Children, type ReactElement, type ReactNode, cloneElement, isValidElement } from "react";

import { formatDecimal, formatMinor } from "../money/money";
import type { FeedItem } from "../state/reducers";
import type { ConnectionState } from "../state/types";

const LABELS: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  resuming: "Catching up…",
  offline: "Offline",
};

export function ConnectionBadge({
  state,
  error,
  lastReplayed = null,
}: {
  state: ConnectionState;
  error: string | null;
  lastReplayed?: number | null;
}) {
  return (
    <span
      className={`conn conn-${state}`}
      role="status"
      aria-live="polite"
      data-testid="connection-state"
      data-state={state}
      data-last-replayed={lastReplayed ?? undefined}
      title={error ?? (lastReplayed !== null ? `Caught up: ${lastReplayed} missed update(s) replayed` : undefined)}
    >
      <span className="dot" aria-hidden="true" />
      {LABELS[state]}
    </span>
  );
}

/** The result of a user's last action, shown under a view's title. */
export type Notice = { text: string; error: boolean };

/** A view's title with its connection badge, then its load error and the last action's result. */
export function ViewHeader({
  title,
  live,
  message,
}: {
  title: string;
  live: {
    hub: { state: ConnectionState; error: string | null; lastReplayed: number | null };
    loadError: string | null;
  };
  message: Notice | null;
}) {
  return (
    <>
      <div className="toolbar">
        <h1>{title}</h1>
        <ConnectionBadge state={live.hub.state} error={live.hub.error} lastReplayed={live.hub.lastReplayed} />
      </div>
      {live.loadError && (
        <p className="error" role="alert">
          {live.loadError}
        </p>
      )}
      {message && (
        <p className={message.error ? "error" : "notice"} role={message.error ? "alert" : "status"}>
          {message.text}
        </p>
      )}
    </>
  );
}

export function StatusPill({ status }: { status: string }) {
  return (
    <span className={`pill pill-${status.toLowerCase()}`} data-testid="order-status">
      {status}
    </span>
  );
}

/** A REST amount (exact decimal string) in its currency; see money/money.ts. */
export function money(amount: string, currency: string): string {
  return formatDecimal(amount, currency);
}

function describe(item: FeedItem): string {
  const e = item.event;
  switch (e.kind) {
    case "status": {
      const m = e.message;
      const why = m.reason ? ` (${m.reason})` : "";
      return `Order ${m.orderNumber}: ${m.oldStatus} → ${m.newStatus}${why}`;
    }
    case "created": {
      const m = e.message;
      return `New order ${m.orderNumber} from ${m.customerName} (${formatMinor(m.totalMinor, m.currency)})`;
    }
    case "lowStock":
      return `Low stock: ${e.message.sku} at ${e.message.stockLevel} (threshold ${e.message.threshold})`;
  }
}

function when(item: FeedItem): string {
  const e = item.event;
  const at =
    e.kind === "status" ? e.message.updatedAt : e.kind === "created" ? e.message.createdAt : "";
  return at ? new Date(at).toLocaleTimeString() : "";
}

export function LiveFeed({ items, title = "Live updates" }: { items: FeedItem[]; title?: string }) {
  return (
    <section className="card" aria-labelledby="feed-title">
      <h2 id="feed-title">{title}</h2>
      {items.length === 0 ? (
        <p className="empty">No updates yet. They appear here as they happen.</p>
      ) : (
        <ol className="feed" data-testid="feed">
          {items.map((item) => (
            <li key={item.position} className={`feed-item feed-${item.event.kind}`} data-position={item.position}>
              <span>{describe(item)}</span>
              <time className="muted small">{when(item)}</time>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** A column's name as text, for a cell's `data-label` ("" for a column without a text name). */
function columnLabel(column: ReactNode): string {
  return typeof column === "string" ? column : "";
}

/**
 * Gives each cell of `rows` (`<tr>`s of `<td>`s) its column's name as `data-label`, which the
 * phone layout shows before the value when the table stacks into one card per row (styles.css,
 * `.stack-table`), so a narrow screen never needs to scroll sideways.
 */
function labelCells(rows: ReactNode, columns: ReactNode[]): ReactNode {
  return Children.map(rows, (row) => {
    if (!isValidElement<{ children?: ReactNode }>(row)) return row;
    let i = 0;
    const cells = Children.map(row.props.children, (cell) => {
      if (!isValidElement(cell)) return cell;
      const label = columnLabel(columns[i++]);
      return cloneElement(cell as ReactElement<{ "data-label"?: string }>, { "data-label": label });
    });
    return cloneElement(row, {}, cells);
  });
}

/**
 * A card with a heading (`id` labels the section) over a table with `columns` and the rows in
 * `children`; `placeholder`, when set, stands instead of the table (loading, nothing yet). On a
 * phone the table stacks: one block per row, each value under its column's name.
 */
export function TableCard({
  id,
  title,
  className,
  placeholder,
  columns,
  children,
}: {
  id: string;
  title: string;
  className: string;
  placeholder: string | null;
  columns: ReactNode[];
  children: ReactNode;
}) {
  return (
    <section className={className} aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {placeholder !== null ? (
        <p className="empty">{placeholder}</p>
      ) : (
        <div className="table-wrap">
          <table className="stack-table">
            <thead>
              <tr>
                {columns.map((column, i) => (
                  <th key={i} scope="col">
                    {column}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>{labelCells(children, columns)}</tbody>
          </table>
        </div>
      )}
    </section>
  );
}
