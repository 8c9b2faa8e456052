#!/usr/bin/env node
// Compiles contracts/src/**/*.sol with the pinned solc-js into python/polyhunter/_artifacts/<Contract>.json
// (ABI + bytecode), and copies the real Gnosis ConditionalTokens artifact beside them. The artifacts live in
// the Python package so that the wheel carries them (`polyhunter chain up` outside a checkout); they are
// generated, never edited, and not tracked.
// Deterministic: sorted inputs, fixed settings, no metadata hash, sorted keys; compiling twice gives
// byte-identical files.
"use strict";

const fs = require("fs");
const path = require("path");
const solc = require("solc");

const ROOT = __dirname;
const SRC = path.join(ROOT, "src");
const OUT = path.join(ROOT, "..", "python", "polyhunter", "_artifacts");
const CTF_ARTIFACT = path.join(
  ROOT,
  "node_modules/@gnosis.pm/conditional-tokens-contracts/build/contracts/ConditionalTokens.json",
);

// Cancun: PUSH0 and transient storage (EIP-1153), both live on Polygon PoS and on anvil.
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  metadata: { bytecodeHash: "none", appendCBOR: false },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function solFiles(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((entry) => {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) return solFiles(full);
      return entry.name.endsWith(".sol") ? [full] : [];
    })
    .sort();
}

function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((key) => [key, sortKeys(value[key])]),
    );
  }
  return value;
}

function write(name, artifact) {
  const text = JSON.stringify(sortKeys(artifact), null, 2) + "\n";
  fs.writeFileSync(path.join(OUT, `${name}.json`), text);
}

function main() {
  const sources = {};
  for (const file of solFiles(SRC)) {
    sources[path.relative(ROOT, file).split(path.sep).join("/")] = { content: fs.readFileSync(file, "utf8") };
  }
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) process.stderr.write(e.formattedMessage + "\n");
  if (errors.length) process.exit(1);

  fs.rmSync(OUT, { recursive: true, force: true });
  fs.mkdirSync(OUT, { recursive: true });
  const compiler = `solc ${solc.version()}`;
  let count = 0;
  for (const source of Object.keys(output.contracts).sort()) {
    for (const name of Object.keys(output.contracts[source]).sort()) {
      const c = output.contracts[source][name];
      if (!c.evm.bytecode.object) continue; // interfaces and abstract contracts
      write(name, {
        contractName: name,
        sourceName: source,
        compiler,
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      });
      count += 1;
    }
  }
  const ctf = JSON.parse(fs.readFileSync(CTF_ARTIFACT, "utf8"));
  write("ConditionalTokens", {
    contractName: "ConditionalTokens",
    sourceName: "@gnosis.pm/conditional-tokens-contracts/contracts/ConditionalTokens.sol",
    compiler: `solc ${ctf.compiler.version}`,
    abi: ctf.abi,
    bytecode: ctf.bytecode,
    deployedBytecode: ctf.deployedBytecode,
  });
  process.stdout.write(`compiled ${count} contracts (+ ConditionalTokens) into ${path.relative(process.cwd(), OUT) || "."}\n`);
}

main();
