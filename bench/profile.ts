/**
 * Reads a V8 .cpuprofile (from `node --cpu-prof`) and says where the time went: the functions with the most
 * self time, and the time per area (our code by folder, each dependency, Node internals, GC, idle).
 *
 * Standalone: `node --import tsx bench/profile.ts FILE.cpuprofile [top]`.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { formatTable } from './stats.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  total_ms: number;
  /** Everything but `(idle)`: the time the process actually spent on the CPU. */
  busy_ms: number;
  functions: { name: string; self_ms: number }[];
  /** Our own functions by inclusive time (self plus everything they call): where to look first. */
  ours_inclusive: { name: string; total_ms: number }[];
  areas: { area: string; self_ms: number }[];
}

/** Where a frame's code lives: `src/<folder>`, a package name, `node:internal`, or V8's own pseudo-frames. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  const ours = /\/(?:dist|src)\/([^/]+)\//.exec(url);
  if (ours && !url.includes('/node_modules/')) return `ours:${ours[1]}`;
  const dependency = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (dependency) return dependency[1] as string;
  if (url.startsWith('node:')) return 'node:internal';
  return url.split('/').slice(-2).join('/');
}

function frameName(frame: CallFrame): string {
  const file = frame.url.replace(/^.*\/(node_modules\/|src\/|dist\/)/, '$1');
  // Code compiled from a string (eval, data: URLs) carries its whole source as its URL.
  const where = file.length > 80 ? `${file.slice(0, 77)}...` : file;
  return `${frame.functionName || '(anonymous)'} ${where}:${frame.lineNumber + 1}`;
}

export function summarizeProfile(profile: CpuProfile, top = 20): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const byFunction = new Map<string, number>();
  const byArea = new Map<string, number>();
  const oursInclusive = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    const frame = nodes.get(id)?.callFrame;
    if (!frame) return;
    total += delta;
    if (frame.functionName === '(idle)') {
      idle += delta;
      return;
    }
    const name = frameName(frame);
    byFunction.set(name, (byFunction.get(name) ?? 0) + delta);
    const area = areaOf(frame);
    byArea.set(area, (byArea.get(area) ?? 0) + delta);
    // Each of our functions on the stack counts once per sample, however deep the recursion.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const stackFrame = nodes.get(at)?.callFrame;
      if (!stackFrame || !areaOf(stackFrame).startsWith('ours:')) continue;
      const stackName = frameName(stackFrame);
      if (seen.has(stackName)) continue;
      seen.add(stackName);
      oursInclusive.set(stackName, (oursInclusive.get(stackName) ?? 0) + delta);
    }
  });
  const sorted = (map: Map<string, number>) => [...map].sort((a, b) => b[1] - a[1]);
  return {
    total_ms: total / 1000,
    busy_ms: (total - idle) / 1000,
    functions: sorted(byFunction)
      .slice(0, top)
      .map(([name, micros]) => ({ name, self_ms: micros / 1000 })),
    ours_inclusive: sorted(oursInclusive)
      .slice(0, top)
      .map(([name, micros]) => ({ name, total_ms: micros / 1000 })),
    areas: sorted(byArea).map(([area, micros]) => ({ area, self_ms: micros / 1000 })),
  };
}

export function formatProfileSummary(summary: ProfileSummary): string {
  const share = (ms: number) => `${((100 * ms) / Math.max(summary.busy_ms, 1e-9)).toFixed(1)}%`;
  return [
    `busy ${summary.busy_ms.toFixed(0)} ms of ${summary.total_ms.toFixed(0)} ms sampled`,
    formatTable(
      ['area', 'self ms', 'of busy'],
      summary.areas.slice(0, 15).map((a) => [a.area, a.self_ms.toFixed(0), share(a.self_ms)]),
    ),
    formatTable(
      ['function', 'self ms', 'of busy'],
      summary.functions.map((f) => [f.name, f.self_ms.toFixed(0), share(f.self_ms)]),
    ),
    formatTable(
      ['our function (inclusive)', 'total ms', 'of busy'],
      summary.ours_inclusive.map((f) => [f.name, f.total_ms.toFixed(0), share(f.total_ms)]),
    ),
  ].join('\n\n');
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const files = process.argv.slice(2).filter((arg) => !/^\d+$/.test(arg));
  const top = Number(process.argv.slice(2).find((arg) => /^\d+$/.test(arg)) ?? 25);
  if (files.length === 0) {
    process.stderr.write('usage: node --import tsx bench/profile.ts FILE.cpuprofile... [top]\n');
    process.exitCode = 2;
  }
  for (const file of files) {
    process.stdout.write(`== ${file}\n${formatProfileSummary(summarizeProfile(readProfile(file), top))}\n`);
  }
}
