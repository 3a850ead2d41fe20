// Builds the prebuilt JupyterLab extension into the Python package: workbench/jupyter/labextension/
// (shipped in the wheel as share/jupyter/labextensions/workbench). Run after `tsc` (npm run build).
// The shared packages are those of the JupyterLab installed beside the Python that runs the build
// ($PYTHON, else the repository's .venv), as `jupyter labextension build` would use.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, '..', '..', 'workbench', 'jupyter', 'labextension');
const venvPython = join(here, '..', '..', '.venv', 'bin', 'python');
const python = process.env.PYTHON || (existsSync(venvPython) ? venvPython : 'python3');
const staging = execFileSync(python, [
  '-c',
  'import jupyterlab, os; print(os.path.join(os.path.dirname(jupyterlab.__file__), "staging"))'
]).toString().trim();

execFileSync(
  process.execPath,
  [join(here, 'node_modules', '@jupyterlab', 'builder', 'lib', 'build-labextension.js'), '--core-path', staging, here],
  { stdio: 'inherit' }
);

// The digest of the sources the build came from, so a test can tell a stale build (sources edited, not rebuilt).
const sources = ['package.json', 'package-lock.json', 'tsconfig.json', 'build.mjs'];
for (const folder of ['src', 'style']) {
  for (const name of (await readdir(join(here, folder))).sort()) sources.push(`${folder}/${name}`);
}
const digest = createHash('sha256');
for (const name of sources) digest.update(await readFile(join(here, name)));
await writeFile(join(out, 'sources.sha256'), `${digest.digest('hex')}\n`);
console.log(`built ${out} from ${sources.length} source files`);
