import { describe, expect, it } from "vitest";

import { decimalToMinor, formatDecimal, formatMinor, minorToDecimal, minorUnitDigits } from "./money";

describe("money", () => {
  it("takes each currency's minor-unit digits from Intl", () => {
    expect(minorUnitDigits("USD")).toBe(2);
    expect(minorUnitDigits("EUR")).toBe(2);
    expect(minorUnitDigits("JPY")).toBe(0);
    expect(minorUnitDigits("BHD")).toBe(3);
  });

  it("formats integer minor units in their own currency, never /100 for all", () => {
    expect(formatMinor(1999, "USD")).toBe("$19.99");
    expect(formatMinor(4250, "EUR")).toBe("€42.50");
    expect(formatMinor(1999, "JPY")).toBe("¥1,999");
    expect(formatMinor(1234, "BHD").replace(/\s/g, " ")).toBe("BHD 1.234");
    expect(formatMinor(5, "USD")).toBe("$0.05");
    expect(formatMinor(0, "USD")).toBe("$0.00");
    expect(formatMinor(-250, "USD")).toBe("-$2.50");
    // Exact for large amounts (no float rounding of minor/100).
    expect(formatMinor(123456789012, "USD")).toBe("$1,234,567,890.12");
  });

  it("converts between decimal strings and minor units exactly", () => {
    expect(minorToDecimal(1999, "USD")).toBe("19.99");
    expect(minorToDecimal(7, "USD")).toBe("0.07");
    expect(minorToDecimal(1999, "JPY")).toBe("1999");
    expect(minorToDecimal(-5, "BHD")).toBe("-0.005");
    expect(decimalToMinor("12.34", "USD")).toBe(1234);
    expect(decimalToMinor("12", "USD")).toBe(1200);
    expect(decimalToMinor("0.10", "USD")).toBe(10);
    expect(decimalToMinor("0.1", "USD")).toBe(10);
    expect(decimalToMinor("1500", "JPY")).toBe(1500);
    expect(decimalToMinor("1500.00", "JPY")).toBe(1500);
    expect(decimalToMinor("0.29", "USD")! * 3).toBe(87); // 0.29 * 3 in floats is 0.8699999…
    for (const bad of ["", "1.", ".5", "1e3", "abc", "12.345"]) {
      expect(decimalToMinor(bad, "USD")).toBeNull();
    }
  });

  it("formats the REST APIs' decimal strings in their currency", () => {
    expect(formatDecimal("112.48", "USD")).toBe("$112.48");
    expect(formatDecimal("30.00", "EUR")).toBe("€30.00");
    expect(formatDecimal("1500", "JPY")).toBe("¥1,500");
  });
});
