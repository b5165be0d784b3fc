// The directory's files against the national reference library for places of digital
// mediation, `@gouvfr-anct/lieux-de-mediation-numerique` (the model the national cartography
// uses), driven through the `passerelle directory` CLI on its embedded engines:
//   - every row of our JSON export is read by the library (`fromSchemaLieuDeMediationNumerique`);
//   - the file the library writes back (`toSchemaLieuxDeMediationNumerique`) imports with
//     nothing lost: the same places, field for field.
//
// usage: node --test e2e/web/schema.test.mjs   (scripts/test.sh runs it)
//   PASSERELLE_BIN  the binary (default: target/debug/passerelle)

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const lib = require("@gouvfr-anct/lieux-de-mediation-numerique");

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const bin = process.env.PASSERELLE_BIN ?? join(root, "target/debug/passerelle");
const places = join(root, "services/directory/tests/data/lieux-amiens.csv");
const work = mkdtempSync(join(tmpdir(), "passerelle-schema-"));

after(() => rmSync(work, { recursive: true, force: true }));

function directory(dataDir, ...args) {
  return execFileSync(bin, ["directory", ...args, "--data-dir", join(work, dataDir)], {
    encoding: "utf8",
    env: { ...process.env, RUST_LOG: "warn" },
  });
}

test("the reference library reads every place we export, and what it writes back imports with nothing lost", () => {
  assert.match(directory("first", "import", places), /10 imported, 0 updated, 0 merged, 0 rejected/);
  directory("first", "export", join(work, "export.json"));
  directory("first", "export", join(work, "export.csv"));
  const rows = JSON.parse(readFileSync(join(work, "export.json"), "utf8"));
  assert.equal(rows.length, 10);

  // Our JSON, row by row, through the library's own parser.
  const refused = [];
  const models = [];
  for (const row of rows) {
    try {
      models.push(lib.fromSchemaLieuDeMediationNumerique(row));
    } catch (error) {
      refused.push(`${row.id}: ${error.message}`);
    }
  }
  assert.deepEqual(refused, [], "rows of our export the reference library refuses");

  // The library's file, imported into an empty directory, gives the same places.
  writeFileSync(join(work, "library.json"), JSON.stringify(lib.toSchemaLieuxDeMediationNumerique(models)));
  assert.match(directory("second", "import", join(work, "library.json")), /10 imported, 0 updated, 0 merged, 0 rejected/);
  directory("second", "export", join(work, "again.csv"));
  assert.equal(
    readFileSync(join(work, "again.csv"), "utf8"),
    readFileSync(join(work, "export.csv"), "utf8"),
    "a place changed on its way through the reference library",
  );
});
