// Validates each OpenAPI document named on the command line against the official JSON Schema of
// its version (3.1 here) and resolves every $ref in it. Prints what is wrong and exits 1 if
// anything is.
import fs from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";

let failed = false;
for (const path of process.argv.slice(2)) {
  const validator = new Validator();
  const result = await validator.validate(JSON.parse(fs.readFileSync(path, "utf8")));
  let problem = result.valid ? null : JSON.stringify(result.errors, null, 2);
  if (!problem) {
    try {
      validator.resolveRefs();
    } catch (error) {
      problem = `unresolvable $ref: ${error.message}`;
    }
  }
  if (problem) {
    failed = true;
    console.error(`${path}: not valid OpenAPI ${validator.version ?? ""}\n${problem}`);
  } else {
    console.log(`${path}: valid OpenAPI ${validator.version}`);
  }
}
process.exit(failed ? 1 : 0);
