// Compiles contracts/TestUSDC.sol with the npm solc package (the version in package-lock.json)
// into contracts/TestUSDC.json: { contract, solc, settings, abi, bytecode }.
// Run: node tests/chain/compile.js   (after: npm ci --prefix tests/chain)
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const source = path.join(__dirname, "contracts", "TestUSDC.sol");
// ganache 7.9 runs the Shanghai rules: no Cancun opcodes (solc's default target since 0.8.25).
const settings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "shanghai",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
};
const input = {
  language: "Solidity",
  sources: { "TestUSDC.sol": { content: fs.readFileSync(source, "utf8") } },
  settings,
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
for (const e of output.errors || []) console.error(e.formattedMessage);
if (errors.length) process.exit(1);
const compiled = output.contracts["TestUSDC.sol"].TestUSDC;
const artifact = {
  contract: "TestUSDC",
  solc: solc.version(),
  settings: { optimizer: settings.optimizer, evmVersion: settings.evmVersion },
  abi: compiled.abi,
  bytecode: "0x" + compiled.evm.bytecode.object,
};
fs.writeFileSync(
  path.join(__dirname, "contracts", "TestUSDC.json"),
  JSON.stringify(artifact, null, 2) + "\n",
);
console.log(`compiled TestUSDC with solc ${artifact.solc}`);
