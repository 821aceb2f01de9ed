// Money in the browser: every amount is formatted with Intl.NumberFormat in its own ISO 4217
// currency. The hub sends integer minor units (`totalMinor`) next to the currency; how many
// digits a minor unit has is the currency's business (JPY none, USD two, BHD three), so it
// comes from the browser's currency data, never from a hard-coded /100. The REST APIs send
// decimal strings ("12.34"), which are exact and parsed as such.

const LOCALE = "en-US";
const digitsCache = new Map<string, number>();

function currencyFormat(currency: string): Intl.NumberFormat {
  return new Intl.NumberFormat(LOCALE, { style: "currency", currency });
}

/** Digits of `currency`'s minor unit (2 for USD, 0 for JPY, 3 for BHD). */
export function minorUnitDigits(currency: string): number {
  let digits = digitsCache.get(currency);
  if (digits === undefined) {
    digits = currencyFormat(currency).resolvedOptions().maximumFractionDigits ?? 2;
    digitsCache.set(currency, digits);
  }
  return digits;
}

/** `minor` units of `currency` as an exact decimal string: (1999, "USD") → "19.99", JPY → "1999". */
export function minorToDecimal(minor: number, currency: string): string {
  const digits = minorUnitDigits(currency);
  const negative = minor < 0;
  const text = Math.abs(Math.trunc(minor)).toString().padStart(digits + 1, "0");
  const whole = text.slice(0, text.length - digits);
  const fraction = digits > 0 ? `.${text.slice(text.length - digits)}` : "";
  return `${negative ? "-" : ""}${whole}${fraction}`;
}

/**
 * A decimal string ("12.34", "12", "-0.5") as integer minor units of `currency`; null when it is
 * not a decimal or has more fraction digits than the currency's minor unit.
 */
export function decimalToMinor(amount: string, currency: string): number | null {
  const match = /^(-)?(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!match) return null;
  const digits = minorUnitDigits(currency);
  const fraction = (match[3] ?? "").replace(/0+$/, "");
  if (fraction.length > digits) return null;
  const minor = Number(match[2] + fraction.padEnd(digits, "0"));
  if (!Number.isSafeInteger(minor)) return null;
  return match[1] && minor !== 0 ? -minor : minor;
}

/** Integer minor units of `currency`, formatted: (4250, "JPY") → "¥4,250", (4250, "EUR") → "€42.50". */
export function formatMinor(minor: number, currency: string): string {
  return currencyFormat(currency).format(Number(minorToDecimal(minor, currency)));
}

/** A REST decimal string in `currency`, formatted: ("12.34", "USD") → "$12.34". */
export function formatDecimal(amount: string, currency: string): string {
  const minor = decimalToMinor(amount, currency);
  // Exact through minor units when it fits the currency; otherwise as the number it says.
  return minor !== null ? formatMinor(minor, currency) : currencyFormat(currency).format(Number(amount));
}
