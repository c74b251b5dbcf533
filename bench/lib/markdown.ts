// What every bench report writes: aligned Markdown tables, goal marks, the source line, and the
// files of a phase run alone (`--only realtime`, `--only rest`).
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Pinning } from './cpu.ts';
import type { Meta } from './meta.ts';
import type { Goal } from './results.ts';

export const mark = (met: boolean | null) => (met === null ? '–' : met ? '✓' : '✗');

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

/** The commit measured, and whether the tree had changes besides. */
export const sourceOf = (meta: Meta) =>
  meta.git.sha ? `${meta.git.sha.slice(0, 12)}${meta.git.dirty ? ' (uncommitted changes)' : ''}` : 'unknown';

export interface PhaseOnlyResults {
  startedAt: string;
  finishedAt: string;
  options: Record<string, unknown>;
  meta: Meta;
  pinning: Pinning;
  notes: string[];
}

/**
 * `--only <phase>`: the phase's section and goals alone, printed and written to
 * `<time>-<phase>.md/.json` and `latest-<phase>.*` (the full run's `latest.*` stays as it was).
 */
export async function writePhaseOnly(
  outDir: string,
  phase: { file: string; title: string },
  results: PhaseOnlyResults,
  section: string[],
  goals: Goal[],
) {
  const { meta, options } = results;
  const markdown = [
    `# Warble benchmark ${results.startedAt}, ${phase.title} phase only`,
    '',
    `- source: git ${sourceOf(meta)}; Node ${meta.versions.node}, PostgreSQL ${meta.versions.postgresql}, fastify ` +
      `${meta.versions.fastify}, @trpc/server ${meta.versions['@trpc/server']}`,
    `- machine: ${meta.machine.cpus} × ${meta.machine.cpuModel}, ${meta.machine.memoryGB} GB; ${results.pinning.note}`,
    `- method: ${String(options.rounds)} interleaved rounds of ${String(options.duration)} s, ` +
      `${String(options.connections)} connections`,
    '',
    ...section,
    '## Goals',
    '',
    table(
      ['goal', 'measured', 'goal', 'met'],
      goals.map((g) => [g.name, g.measured, g.goal, mark(g.met)]),
    ),
    '',
    ...(results.notes.length ? ['## Notes', '', ...results.notes.map((note) => `- ${note}`), ''] : []),
  ].join('\n');
  await mkdir(outDir, { recursive: true });
  const stamp = results.startedAt.replaceAll(':', '-').replace(/\.\d+Z$/, 'Z');
  const files: string[] = [];
  for (const [extension, text] of [
    ['json', `${JSON.stringify({ ...results, goals }, null, 2)}\n`],
    ['md', markdown],
  ] as const) {
    const file = path.join(outDir, `${stamp}-${phase.file}.${extension}`);
    await writeFile(file, text);
    await copyFile(file, path.join(outDir, `latest-${phase.file}.${extension}`));
    files.push(file);
  }
  return { markdown, files };
}
