// Stream positions ("ORDERS:1042"): the hub stamps every pushed message with the JetStream stream
// and sequence it came from. Sequences are ordered within a stream, so the highest one seen per
// stream is both the de-duplication mark and where the next connection resumes (the `resume`
// parameter of the hub URL, see resume.ts).

export interface Position {
  stream: string;
  sequence: number;
}

/** Parses "STREAM:sequence"; null for anything else (such messages are never de-duplicated). */
export function parsePosition(text: unknown): Position | null {
  if (typeof text !== "string") return null;
  const colon = text.lastIndexOf(":");
  if (colon <= 0) return null;
  const stream = text.slice(0, colon);
  const digits = text.slice(colon + 1);
  if (!/^\d+$/.test(digits)) return null;
  const sequence = Number(digits);
  return Number.isSafeInteger(sequence) ? { stream, sequence } : null;
}

/** Highest sequence seen per stream. */
export class PositionTracker {
  private readonly high = new Map<string, number>();

  /**
   * Records `position` and says whether its message is new. A message at or below the mark of
   * its stream was already delivered (a replay overlapping live traffic, a redelivery): drop it.
   * The gateway promises neither happens; this stays as a defence.
   */
  accept(position: unknown): boolean {
    const parsed = parsePosition(position);
    if (!parsed) return true;
    const seen = this.high.get(parsed.stream);
    if (seen !== undefined && parsed.sequence <= seen) return false;
    this.high.set(parsed.stream, parsed.sequence);
    return true;
  }

  /** Where to resume: one "STREAM:sequence" per stream seen, in a stable order (by stream). */
  resumePositions(): string[] {
    return [...this.high.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([stream, sequence]) => `${stream}:${sequence}`);
  }

  get isEmpty(): boolean {
    return this.high.size === 0;
  }
}
