// Validates an AsyncAPI document with the official parser (@asyncapi/parser), which checks
// it against the AsyncAPI JSON Schema and the spec's semantic rules (references resolve,
// channel parameters match the address, ...).
//
// Usage: node validate.mjs <document.json>
// Prints every diagnostic; exits 1 if any is an error or a warning, so the document stays
// clean rather than merely parseable.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate.mjs <document.json>");
  process.exit(2);
}

const { document, diagnostics } = await new Parser().parse(await readFile(path, "utf8"), {
  source: path,
});
const names = ["error", "warning", "information", "hint"];
for (const d of diagnostics) {
  console.log(`${names[d.severity]}: ${d.code}: ${d.message} at /${d.path.join("/")}`);
}
const failing = diagnostics.filter(
  (d) => d.severity === DiagnosticSeverity.Error || d.severity === DiagnosticSeverity.Warning,
);
if (document === undefined || failing.length > 0) {
  console.error(`${path}: invalid (${failing.length} errors and warnings)`);
  process.exit(1);
}
console.log(
  `${path}: valid AsyncAPI ${document.version()}, ${document.channels().length} channels, ` +
    `${document.operations().length} operations, ${document.components().messages().length} messages`,
);
