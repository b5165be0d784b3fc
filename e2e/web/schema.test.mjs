// The directory's files against the national reference library for places of digital
// mediation, `@gouvfr-anct/lieux-de-mediation-numerique` (the model the national cartography
// uses), driven through the `passerelle directory` CLI on its embedded engines:
//   - every row of our JSON and CSV exports is read by the library
//     (`fromSchemaLieuDeMediationNumerique`), places kept with warnings included;
//   - the file the library writes back (`toSchemaLieuxDeMediationNumerique`) imports with
//     nothing lost: the same places, field for field;
//   - our data·inclusion export is, value for value, what the library's
//     `toSchemaStructuresDataInclusion` and `toSchemaServicesDataInclusion` write.
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

/** RFC 4180 CSV (as our export writes it) to objects, empty fields left out, coordinates as numbers. */
function csvRows(text) {
  const records = [];
  let record = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === ",") {
      record.push(field);
      field = "";
    } else if (c === "\n") {
      record.push(field);
      records.push(record);
      record = [];
      field = "";
    } else if (c !== "\r") {
      field += c;
    }
  }
  if (field !== "" || record.length > 0) {
    record.push(field);
    records.push(record);
  }
  const [header, ...rows] = records;
  return rows.map((values) => {
    const row = {};
    header.forEach((name, i) => {
      if (values[i] !== undefined && values[i] !== "") {
        row[name] = name === "latitude" || name === "longitude" ? Number(values[i]) : values[i];
      }
    });
    return row;
  });
}

function csvText(rows, header) {
  const quote = (v) => `"${String(v ?? "").replaceAll('"', '""')}"`;
  return [header.join(","), ...rows.map((row) => header.map((name) => quote(row[name])).join(","))].join("\n") + "\n";
}

function refusedBy(parse, rows) {
  const refused = [];
  for (const row of rows) {
    try {
      parse(row);
    } catch (error) {
      refused.push(`${row.id}: ${error.message}`);
    }
  }
  return refused;
}

test("every row of our CSV export reads too, and so do places kept with doubtful values", () => {
  // The Amiens places with the kinds of typo real files carry.
  const header = readFileSync(places, "utf8").split("\n")[0].split(",");
  const rows = csvRows(readFileSync(places, "utf8"));
  rows[0].pivot = "21800021000012"; // a SIRET whose check digit is wrong
  rows[1].telephone = "+33 6 92 12 34 56"; // a Réunion mobile written after +33
  rows[2].typologie = "FRANCE_SERVICE|RFS"; // a type outside the schema's list
  rows[3].horaires = "Lundi de 9h à 12h"; // hours a person wrote
  rows[4].courriels = "contact chez emmaus"; // not an address
  rows[5].telephone = "+689 40 47 00 00"; // French Polynesia: eight digits
  rows[6].site_web = "https://www.exemple.fr:8080/accueil"; // a port: the schema has none
  rows[7].fiche_acces_libre = "https://acceslibre.beta.gouv.fr/app/80-amiens/a/bibliothèque/erp/aragon/";
  rows[8].commune = "Amiens «centre»"; // characters the schema refuses in a commune
  rows[9].adresse = "3 rue #Victor_Hugo"; // and in a street
  writeFileSync(join(work, "typos.csv"), csvText(rows, header));
  const report = directory("typos", "import", join(work, "typos.csv"));
  assert.match(report, /10 imported, 0 updated, 0 merged, 0 rejected, 7 warnings/, report);

  directory("typos", "export", join(work, "typos-export.json"));
  directory("typos", "export", join(work, "typos-export.csv"));
  const json = JSON.parse(readFileSync(join(work, "typos-export.json"), "utf8"));
  const csv = csvRows(readFileSync(join(work, "typos-export.csv"), "utf8"));
  assert.equal(json.length, 10);
  assert.equal(csv.length, 10);
  assert.deepEqual(refusedBy(lib.fromSchemaLieuDeMediationNumerique, json), [], "JSON rows the library refuses");
  assert.deepEqual(refusedBy(lib.fromSchemaLieuDeMediationNumerique, csv), [], "CSV rows the library refuses");
  const kept = json.find((row) => row.id === rows[0].id);
  assert.equal(kept.pivot, "21800021000012", "the doubtful SIRET is kept as written");
});

test("our data·inclusion export is what the reference library makes of our places", () => {
  directory("inclusion", "import", places);
  directory("inclusion", "export", join(work, "inclusion.json"));
  directory("inclusion", "export", join(work, "data-inclusion.json"), "--format", "data-inclusion");
  const models = JSON.parse(readFileSync(join(work, "inclusion.json"), "utf8")).map(lib.fromSchemaLieuDeMediationNumerique);
  const ours = JSON.parse(readFileSync(join(work, "data-inclusion.json"), "utf8"));
  const theirs = JSON.parse(
    JSON.stringify({
      structures: lib.toSchemaStructuresDataInclusion(models),
      services: lib.toSchemaServicesDataInclusion(models),
    }),
  );
  assert.equal(ours.structures.length, 10);
  assert.equal(ours.services.length, 10);
  for (const kind of ["structures", "services"]) {
    for (let i = 0; i < theirs[kind].length; i++) {
      assert.deepStrictEqual(ours[kind][i], theirs[kind][i], `${kind} ${theirs[kind][i].id}`);
    }
  }
});
