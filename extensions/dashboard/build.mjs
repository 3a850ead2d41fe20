// Builds the dashboard into the Python package: workbench/dashboard/static/{index.html,dashboard.js,dashboard.css}.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFile, mkdir, readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "..", "workbench", "dashboard", "static");

// The bundle names the sources it was built from, so a test can tell a stale build (sources edited, not rebuilt).
const SOURCES = ["src/main.js", "src/index.html", "src/dashboard.css", "package-lock.json"];
const digest = createHash("sha256");
for (const name of SOURCES) digest.update(await readFile(join(here, name)));

await mkdir(out, { recursive: true });
await build({
  entryPoints: [join(here, "src", "main.js")],
  outfile: join(out, "dashboard.js"),
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2020",
  legalComments: "eof",
  banner: { js: `/* workbench dashboard, built from sources sha256:${digest.digest("hex")} */` },
  logLevel: "info",
});
for (const name of ["index.html", "dashboard.css"]) {
  await copyFile(join(here, "src", name), join(out, name));
}
