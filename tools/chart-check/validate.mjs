#!/usr/bin/env node
// Validates rendered Kubernetes manifests offline, as an API server would before admitting them:
//   1. every document parses as YAML (duplicate keys are errors) and names a known apiVersion/kind;
//   2. it meets that kind's OpenAPI schema (kubernetes-models: types, required fields, enums);
//   3. it has no unknown fields (strict field validation, as `kubectl apply --validate=strict`),
//      checked against the TypeScript types generated from the same schemas;
//   4. it keeps the chart's own rules: selectors match pod labels, named ports and volumes exist,
//      references between objects resolve, pods run hardened, no RBAC is granted.
//
//   node validate.mjs rendered.yaml...      exit 0: valid; 1: errors listed on stderr
import { createRequire } from "node:module";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const yaml = require("js-yaml");
const ts = require("typescript");
const here = path.dirname(fileURLToPath(import.meta.url));

// ---- 1. documents and their model classes ----

function modelModule(apiVersion, kind) {
  if (typeof apiVersion !== "string" || typeof kind !== "string") return null;
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  if (apiVersion.startsWith("keda.sh/")) return `@kubernetes-models/keda/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

function loadDocuments(files, errors) {
  const docs = [];
  for (const file of files) {
    // Split at "---" lines ourselves, so that each document keeps its "# Source:" comment.
    const chunks = fs.readFileSync(file, "utf8").split(/^---[ \t]*$/m);
    chunks.forEach((chunk, i) => {
      const source = chunk.match(/^# Source: (.*)$/m)?.[1] ?? `${file} document ${i}`;
      let obj;
      try {
        obj = yaml.load(chunk);
      } catch (e) {
        errors.push(`${source}: YAML: ${e.message}`);
        return;
      }
      if (obj === null || obj === undefined) return;
      if (typeof obj !== "object" || Array.isArray(obj)) {
        errors.push(`${source}: a manifest must be a map`);
        return;
      }
      docs.push({ obj, where: `${source} (${obj.kind ?? "?"} ${obj.metadata?.name ?? "?"})` });
    });
  }
  return docs;
}

// ---- 2. schemas ----

function validateSchema(doc, errors) {
  const { obj, where } = doc;
  const module = modelModule(obj.apiVersion, obj.kind);
  if (!module) {
    errors.push(`${where}: apiVersion and kind are required`);
    return false;
  }
  let Model;
  try {
    Model = require(module)[obj.kind];
  } catch {
    errors.push(`${where}: unknown kind ${obj.kind} in ${obj.apiVersion}`);
    return false;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    errors.push(`${where}: ${e.message}`);
  }
  doc.module = module;
  return true;
}

// ---- 3. unknown fields ----

// Types of each kind's interface (I<Kind>), from the models' TypeScript declarations.
function typeChecker(docs) {
  const modules = [...new Set(docs.filter((d) => d.module).map((d) => `${d.module}|${d.obj.kind}`))];
  const entry = path.join(here, "__kinds__.ts");
  const source = modules
    .map((m, i) => {
      const [module, kind] = m.split("|");
      return `import type { I${kind} as T${i} } from "${module}";\nexport declare const v${i}: T${i};`;
    })
    .join("\n");
  const options = { strict: false, noEmit: true, target: ts.ScriptTarget.ES2020,
                    module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.Node10,
                    types: [], skipLibCheck: true };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version) =>
    name === entry ? ts.createSourceFile(name, source, version) : getSourceFile(name, version);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === entry || fileExists(name);
  const program = ts.createProgram([entry], options, host);
  const diagnostics = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === entry);
  if (diagnostics.length) {
    throw new Error(ts.flattenDiagnosticMessageText(diagnostics[0].messageText, "\n"));
  }
  const checker = program.getTypeChecker();
  const file = program.getSourceFile(entry);
  const byKind = new Map();
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(file));
  modules.forEach((m, i) => {
    const symbol = exports.find((s) => s.name === `v${i}`);
    byKind.set(m, checker.getTypeOfSymbolAtLocation(symbol, file));
  });
  return { checker, file, byKind };
}

function checkFields(value, type, where, { checker, file }, errors) {
  if (value === null || typeof value !== "object") return;
  if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
  const members = type.isUnion() ? type.types : [type];
  const objectTypes = members.filter((t) => t.flags & ts.TypeFlags.Object);
  if (objectTypes.length === 0) return;
  if (Array.isArray(value)) {
    const arrays = objectTypes.filter((t) => checker.isArrayType(t));
    if (arrays.length === 0) return; // wrong type: the schema check reports it
    const element = checker.getTypeArguments(arrays[0])[0];
    value.forEach((v, i) => checkFields(v, element, `${where}[${i}]`, { checker, file }, errors));
    return;
  }
  for (const [key, v] of Object.entries(value)) {
    let propertyType = null;
    for (const t of objectTypes) {
      const property = checker.getPropertyOfType(t, key);
      if (property) {
        propertyType = checker.getTypeOfSymbolAtLocation(property, file);
        break;
      }
      const index = checker.getIndexInfoOfType(t, ts.IndexKind.String);
      if (index) {
        propertyType = index.type;
        break;
      }
    }
    if (!propertyType) {
      errors.push(`${where}.${key}: unknown field`);
      continue;
    }
    checkFields(v, propertyType, `${where}.${key}`, { checker, file }, errors);
  }
}

// ---- 4. the chart's own rules ----

function podSpecOf(obj) {
  if (obj.kind === "Pod") return { spec: obj.spec, labels: obj.metadata?.labels ?? {} };
  const template = obj.spec?.template;
  if (["Deployment", "StatefulSet", "DaemonSet", "Job"].includes(obj.kind) && template) {
    return { spec: template.spec, labels: template.metadata?.labels ?? {} };
  }
  return null;
}

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => labels[k] === v);

function checkRules(docs, errors) {
  const objects = docs.map((d) => d.obj);
  const pods = objects.map((o) => ({ o, pod: podSpecOf(o) })).filter((p) => p.pod);
  const seen = new Set();
  for (const { obj, where } of docs) {
    const id = `${obj.apiVersion}/${obj.kind}/${obj.metadata?.name}`;
    if (seen.has(id)) errors.push(`${where}: defined twice`);
    seen.add(id);
    if (!/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(obj.metadata?.name ?? "") ||
        obj.metadata.name.length > 63) {
      errors.push(`${where}: name must be a DNS label of at most 63 characters`);
    }
    if (["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"].includes(obj.kind)) {
      errors.push(`${where}: the chart grants no Kubernetes API permissions`);
    }
  }
  for (const { o, pod } of pods) {
    const where = `${o.kind} ${o.metadata?.name}`;
    if (o.kind === "Deployment" && !matches(o.spec?.selector?.matchLabels, pod.labels)) {
      errors.push(`${where}: selector does not match the pod template's labels`);
    }
    const spec = pod.spec ?? {};
    if (spec.automountServiceAccountToken !== false) {
      errors.push(`${where}: pods must not mount a service account token`);
    }
    const psc = spec.securityContext ?? {};
    if (psc.runAsNonRoot !== true) errors.push(`${where}: runAsNonRoot must be true`);
    if (psc.seccompProfile?.type !== "RuntimeDefault") {
      errors.push(`${where}: seccompProfile must be RuntimeDefault`);
    }
    const volumes = new Set((spec.volumes ?? []).map((v) => v.name));
    const ports = new Set();
    for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])]) {
      const cw = `${where} container ${c.name}`;
      const sc = c.securityContext ?? {};
      if (sc.allowPrivilegeEscalation !== false) {
        errors.push(`${cw}: allowPrivilegeEscalation must be false`);
      }
      if (sc.readOnlyRootFilesystem !== true) errors.push(`${cw}: root filesystem must be read-only`);
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) errors.push(`${cw}: must drop ALL capabilities`);
      if (!c.resources?.requests) errors.push(`${cw}: resource requests are required`);
      for (const m of c.volumeMounts ?? []) {
        if (!volumes.has(m.name)) errors.push(`${cw}: mounts undefined volume ${m.name}`);
      }
      const env = (c.env ?? []).map((e) => e.name);
      const dup = env.find((n, i) => env.indexOf(n) !== i);
      if (dup) errors.push(`${cw}: environment variable ${dup} set twice`);
      for (const p of c.ports ?? []) if (p.name) ports.add(p.name);
      for (const probe of [c.readinessProbe, c.livenessProbe, c.startupProbe]) {
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (typeof port === "string" && !(c.ports ?? []).some((p) => p.name === port)) {
          errors.push(`${cw}: probe uses undefined port ${port}`);
        }
      }
    }
    pod.portNames = ports;
  }
  const podsSelectedBy = (selector) => pods.filter(({ pod }) => matches(selector, pod.labels));
  for (const o of objects) {
    const where = `${o.kind} ${o.metadata?.name}`;
    if (o.kind === "Service") {
      const selected = podsSelectedBy(o.spec?.selector);
      if (selected.length === 0) errors.push(`${where}: selects no pods of this chart`);
      for (const p of o.spec?.ports ?? []) {
        if (typeof p.targetPort === "string" &&
            !selected.every(({ pod }) => pod.portNames.has(p.targetPort))) {
          errors.push(`${where}: targetPort ${p.targetPort} is not a port of the selected pods`);
        }
      }
    }
    if (o.kind === "PodDisruptionBudget" && podsSelectedBy(o.spec?.selector?.matchLabels).length === 0) {
      errors.push(`${where}: selects no pods of this chart`);
    }
    if (o.kind === "NetworkPolicy") {
      const selected = podsSelectedBy(o.spec?.podSelector?.matchLabels);
      if (selected.length === 0) errors.push(`${where}: selects no pods of this chart`);
      for (const rule of o.spec?.ingress ?? []) {
        for (const p of rule.ports ?? []) {
          if (typeof p.port === "string" && !selected.every(({ pod }) => pod.portNames.has(p.port))) {
            errors.push(`${where}: port ${p.port} is not a port of the selected pods`);
          }
        }
      }
    }
    if (o.kind === "HorizontalPodAutoscaler" || o.kind === "ScaledObject") {
      const ref = o.spec?.scaleTargetRef ?? {};
      const kind = ref.kind ?? "Deployment";  // KEDA's default
      const target = objects.find((t) => t.kind === kind && t.metadata?.name === ref.name);
      if (!target) errors.push(`${where}: scales ${kind} ${ref.name}, which is not in the chart`);
      else if (target.spec?.replicas !== undefined) {
        errors.push(`${where}: ${ref.name} must leave replicas to the autoscaler`);
      }
      const scalers = objects.filter((t) => (t.kind === "HorizontalPodAutoscaler" ||
                                             t.kind === "ScaledObject") &&
                                            (t.spec?.scaleTargetRef?.name === ref.name));
      if (scalers.length > 1) errors.push(`${where}: ${ref.name} has more than one autoscaler`);
    }
    if (o.kind === "ServiceMonitor") {
      const services = objects.filter((s) => s.kind === "Service" &&
                                             matches(o.spec?.selector?.matchLabels, s.metadata?.labels ?? {}));
      if (services.length === 0) errors.push(`${where}: selects no Service of this chart`);
      for (const e of o.spec?.endpoints ?? []) {
        if (!services.every((s) => (s.spec?.ports ?? []).some((p) => p.name === e.port))) {
          errors.push(`${where}: port ${e.port} is not a port of the selected Services`);
        }
      }
    }
    if (o.kind === "PodMonitor") {
      const selected = podsSelectedBy(o.spec?.selector?.matchLabels);
      if (selected.length === 0) errors.push(`${where}: selects no pods of this chart`);
      for (const e of o.spec?.podMetricsEndpoints ?? []) {
        if (!selected.every(({ pod }) => pod.portNames.has(e.port))) {
          errors.push(`${where}: port ${e.port} is not a port of the selected pods`);
        }
      }
    }
  }
}

// ---- main ----

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: validate.mjs rendered.yaml...");
  process.exit(2);
}
const errors = [];
const docs = loadDocuments(files, errors);
const typed = docs.filter((d) => validateSchema(d, errors));
const types = typeChecker(typed);
for (const d of typed) {
  checkFields(d.obj, types.byKind.get(`${d.module}|${d.obj.kind}`), d.where, types, errors);
}
checkRules(docs, errors);
if (errors.length) {
  for (const e of errors) console.error(`error: ${e}`);
  process.exit(1);
}
console.log(`${docs.length} manifests valid (${[...new Set(docs.map((d) => d.obj.kind))].sort().join(", ")})`);
