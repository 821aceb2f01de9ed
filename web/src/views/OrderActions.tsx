// An admin's actions on one order of the dashboard, each behind a confirmation step: advance it
// to the next status of its life cycle (Confirmed → Processing → Shipped → Delivered, through
// the orders API's process / ship / deliver), or cancel it with a reason the customer sees
// (an order that has not shipped). API refusals show their problem+json `detail` right here.
import { useId, useState } from "react";

import { ApiError, type OrderAction, cancelOrder, orderAction } from "../api";
import type { TokenStore } from "../auth";
import type { Order } from "../state/types";

/** The next step of an order's life cycle an admin can take, by its current status. */
export const NEXT_STEP: Record<string, { action: OrderAction; label: string; becomes: string } | undefined> = {
  Confirmed: { action: "process", label: "Process", becomes: "Processing" },
  Processing: { action: "ship", label: "Ship", becomes: "Shipped" },
  Shipped: { action: "deliver", label: "Deliver", becomes: "Delivered" },
};

/** Statuses the orders API lets an admin cancel from (not shipped yet). */
export const CANCELLABLE = new Set(["Draft", "Confirmed", "Processing"]);

export const REASON_MAX = 500;

type Step =
  | { kind: "idle" }
  // The step as it was when the admin chose it: a live update may move the order meanwhile.
  | { kind: "advance"; from: string; next: NonNullable<(typeof NEXT_STEP)[string]> }
  | { kind: "cancel"; reason: string };

export function OrderActions({
  tokens,
  order,
  disabled,
  onDone,
}: {
  tokens: TokenStore;
  order: Order;
  /** Another action of the dashboard is under way. */
  disabled: boolean;
  /** The API's answer: the order as it is now, and what to tell the admin. */
  onDone: (order: Order, text: string) => void;
}) {
  const [step, setStep] = useState<Step>({ kind: "idle" });
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const reasonId = useId();
  const next = NEXT_STEP[order.status];
  const cancellable = CANCELLABLE.has(order.status);

  const send = async (work: () => Promise<Order>, describe: (o: Order) => string) => {
    setSending(true);
    setError(null);
    try {
      const updated = await work();
      setStep({ kind: "idle" });
      onDone(updated, describe(updated));
    } catch (e) {
      setError(e instanceof ApiError || e instanceof Error ? e.message : String(e));
    } finally {
      setSending(false);
    }
  };

  const back = () => {
    setStep({ kind: "idle" });
    setError(null);
  };

  if (step.kind === "advance") {
    const chosen = step.next;
    const moved = order.status !== step.from;
    return (
      <div className="confirm" role="group" aria-label={`Confirm: ${chosen.label} ${order.orderNumber}`} data-testid="confirm-advance">
        <p className="confirm-question">
          {chosen.label} {order.orderNumber}? It becomes {chosen.becomes}.
        </p>
        {moved && (
          <p className="field-error" data-testid="status-moved">
            It is {order.status} now (changed meanwhile).
          </p>
        )}
        <div className="confirm-buttons">
          <button
            type="button"
            className="btn primary"
            disabled={sending}
            onClick={() =>
              void send(
                () => orderAction(tokens, order.id, chosen.action),
                (o) => `${o.orderNumber} is now ${o.status}.`,
              )
            }
          >
            {sending ? "Sending…" : `Yes, ${chosen.label.toLowerCase()}`}
          </button>
          <button type="button" className="btn" disabled={sending} onClick={back}>
            Back
          </button>
        </div>
        {error && <p className="error small" role="alert" data-testid="action-error">{error}</p>}
      </div>
    );
  }

  if (step.kind === "cancel") {
    const tooLong = step.reason.trim().length > REASON_MAX;
    return (
      <form
        className="confirm"
        aria-label={`Cancel ${order.orderNumber}`}
        data-testid="confirm-cancel"
        onSubmit={(e) => {
          e.preventDefault();
          if (tooLong) return;
          void send(
            () => cancelOrder(tokens, order.id, step.reason),
            (o) => `${o.orderNumber} is cancelled${o.cancelReason ? `: ${o.cancelReason}` : ""}.`,
          );
        }}
      >
        <label htmlFor={reasonId} className="confirm-question">
          Cancel {order.orderNumber}? Reason for the customer
        </label>
        <textarea
          id={reasonId}
          rows={2}
          value={step.reason}
          maxLength={REASON_MAX + 50}
          placeholder="e.g. Item discontinued"
          onChange={(e) => setStep({ kind: "cancel", reason: e.target.value })}
          aria-invalid={tooLong ? true : undefined}
          data-testid="cancel-reason-input"
        />
        {tooLong && <p className="field-error">At most {REASON_MAX} characters.</p>}
        <div className="confirm-buttons">
          <button type="submit" className="btn danger" disabled={sending || tooLong}>
            {sending ? "Cancelling…" : "Yes, cancel order"}
          </button>
          <button type="button" className="btn" disabled={sending} onClick={back}>
            Back
          </button>
        </div>
        {error && <p className="error small" role="alert" data-testid="action-error">{error}</p>}
      </form>
    );
  }

  if (!next && !cancellable) return null;
  return (
    <div className="row-actions">
      {next && (
        <button
          type="button"
          className="btn"
          disabled={disabled}
          onClick={() => setStep({ kind: "advance", from: order.status, next })}
        >
          {next.label}
        </button>
      )}
      {cancellable && (
        <button
          type="button"
          className="btn ghost"
          disabled={disabled}
          onClick={() => setStep({ kind: "cancel", reason: "" })}
          aria-label={`Cancel ${order.orderNumber}…`}
        >
          Cancel…
        </button>
      )}
    </div>
  );
}
