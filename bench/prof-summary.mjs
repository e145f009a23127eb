#!/usr/bin/env node
/**
 * Summarizes V8 CPU profiles (`.cpuprofile`, e.g. from `bench/run.ts --cpu-prof DIR`): the
 * functions and the files that took the most time, by self time and by inclusive time (a
 * function's own time plus its callees', counted once per sample however deep the recursion).
 *
 *   node bench/prof-summary.mjs DIR|FILE… [--top N] [--per-file] [--filter S] [--exclude S]…
 *
 *   --top N        rows per table (default 30)
 *   --per-file     one summary per profile instead of one for all of them
 *   --filter S     only samples whose stack has a frame whose function or file contains S
 *   --exclude S    leave out samples whose stack has a frame whose function or file contains S
 *                  (repeatable; e.g. `--exclude node:internal/modules` for module loading)
 *   --skip-ms N    leave out each profile's first N ms (the process's start)
 *
 * Times are percentages of the busy samples: "(idle)" is left out (and shown apart); GC and
 * "(program)" stay, as V8 counts them.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

const args = process.argv.slice(2);
let top = 30;
let perFile = false;
let filter = null;
const excludes = [];
let skipMs = 0;
const inputs = [];
for (let i = 0; i < args.length; i++) {
  const x = args[i];
  if (x === '--top') top = Number(args[++i]);
  else if (x === '--per-file') perFile = true;
  else if (x === '--filter') filter = args[++i];
  else if (x === '--exclude') excludes.push(args[++i]);
  else if (x === '--skip-ms') skipMs = Number(args[++i]);
  else inputs.push(x);
}
if (inputs.length === 0) {
  process.stderr.write('usage: node bench/prof-summary.mjs DIR|FILE… [--top N] [--per-file] [--filter S]\n');
  process.exit(2);
}
const files = inputs.flatMap((p) =>
  statSync(p).isDirectory()
    ? readdirSync(p)
        .filter((f) => f.endsWith('.cpuprofile'))
        .map((f) => join(p, f))
    : [p],
);

/** A short location: the path from `node_modules/<pkg>` or `packages/<pkg>` on, else the base name. */
function shortUrl(url) {
  if (!url) return '';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length).replace(/^\.pnpm\/[^/]+\/node_modules\//, '');
  const pk = u.indexOf('packages/');
  if (pk >= 0) return u.slice(pk);
  const b = u.indexOf('bench/');
  if (b >= 0) return u.slice(b);
  return u.startsWith('node:') ? u : basename(u);
}

function newAgg() {
  return {
    total: 0,
    idle: 0,
    excluded: 0,
    selfFn: new Map(),
    inclFn: new Map(),
    selfFile: new Map(),
    inclFile: new Map(),
  };
}
const add = (m, k, v) => m.set(k, (m.get(k) ?? 0) + v);

function addProfile(agg, prof) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // Time per sample: the delta to the next sample (the last one gets the mean).
  const counts = new Map();
  const { samples, timeDeltas } = prof;
  let t = 0;
  for (let i = 0; i < samples.length; i++) {
    t += timeDeltas[i];
    if (t < skipMs * 1000) continue;
    const dt = timeDeltas[i + 1] ?? (prof.endTime - prof.startTime) / samples.length;
    add(counts, samples[i], Math.max(0, dt));
  }
  for (const [id, us] of counts) {
    const stack = [];
    for (let x = id; x !== undefined; x = parent.get(x)) stack.push(byId.get(x));
    const frames = stack.map((n) => {
      const cf = n.callFrame;
      const file = shortUrl(cf.url) || '(native)';
      return { fn: `${cf.functionName || '(anonymous)'} ${file}:${cf.lineNumber + 1}`, file };
    });
    if (frames[0].fn.startsWith('(idle)')) {
      agg.idle += us;
      continue;
    }
    if (filter && !frames.some((f) => f.fn.includes(filter))) continue;
    if (excludes.some((x) => frames.some((f) => f.fn.includes(x)))) {
      agg.excluded += us;
      continue;
    }
    agg.total += us;
    add(agg.selfFn, frames[0].fn, us);
    add(agg.selfFile, frames[0].file, us);
    for (const k of new Set(frames.map((f) => f.fn))) add(agg.inclFn, k, us);
    for (const k of new Set(frames.map((f) => f.file))) add(agg.inclFile, k, us);
  }
}

function table(title, m, total) {
  const rows = [...m].sort((x, y) => y[1] - x[1]).slice(0, top);
  process.stdout.write(`\n${title}\n`);
  for (const [k, us] of rows) {
    process.stdout.write(
      `${((100 * us) / total).toFixed(1).padStart(6)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}\n`,
    );
  }
}

function report(name, agg) {
  const ms = (us) => `${(us / 1000).toFixed(0)} ms`;
  process.stdout.write(
    `\n=== ${name}: ${ms(agg.total)} busy${filter ? ` (filter ${filter})` : ''}; ${ms(agg.idle)} idle, ${ms(agg.excluded)} excluded\n`,
  );
  table('self time by function', agg.selfFn, agg.total);
  table('self time by file', agg.selfFile, agg.total);
  table('inclusive time by function', agg.inclFn, agg.total);
  table('inclusive time by file', agg.inclFile, agg.total);
}

const all = newAgg();
for (const f of files) {
  const prof = JSON.parse(readFileSync(f, 'utf8'));
  if (perFile) {
    const one = newAgg();
    addProfile(one, prof);
    report(basename(f), one);
  } else addProfile(all, prof);
}
if (!perFile) report(`${files.length} profile(s)`, all);
