// Copies the API contract (the checkout's proto/gridflow) into the package and generates its
// TypeScript types (src/generated, with @grpc/proto-loader's generator). Neither is committed:
// every build makes them from the contract they speak.
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");

const here = path.resolve(__dirname, "..");
const source = path.resolve(here, "..", "..", "proto", "gridflow");
const target = path.join(here, "proto", "gridflow");
if (!fs.existsSync(source)) {
  console.error(`gridflow sdk: no ${source}; build from a Gridflow checkout`);
  process.exit(1);
}
fs.rmSync(path.join(here, "proto"), { recursive: true, force: true });
fs.cpSync(source, target, { recursive: true, filter: (p) => !p.endsWith(".h") });
const protos = fs.readdirSync(path.join(target, "v1")).filter((f) => f.endsWith(".proto"))
  .map((f) => `gridflow/v1/${f}`);
fs.rmSync(path.join(here, "src", "generated"), { recursive: true, force: true });
execFileSync(process.execPath, [
  require.resolve("@grpc/proto-loader/build/bin/proto-loader-gen-types.js"), ...protos,
  "--keepCase", "--longs=String", "--enums=String", "--defaults", "--oneofs",
  "--grpcLib=@grpc/grpc-js", "--outDir=src/generated",
  "--includeDirs", "proto", // last: an array option takes the arguments after it
], { cwd: here, stdio: "inherit" });
