// A small progress bar for long bench jobs, on stderr so stdout keeps only the results. On a
// terminal it redraws one line; elsewhere (CI logs, a pipe) it prints a line every tenth of the way.

const BAR_WIDTH = 24;
const REDRAW_MS = 100;

const grouped = (value: number) => Math.round(value).toLocaleString('en-US');

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return '--:--';
  const seconds = Math.round(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  const mmss = `${String(m).padStart(h ? 2 : 1, '0')}:${String(s).padStart(2, '0')}`;
  return h ? `${h}:${mmss}` : mmss;
}

export class Progress {
  private readonly started = performance.now();
  private done = 0;
  private lastDraw = 0;
  private lastTenth = 0;
  private readonly tty: boolean;
  private readonly label: string;
  private readonly total: number;
  private readonly unit: string;
  private readonly stream: NodeJS.WriteStream;

  constructor(label: string, total: number, unit: string, stream: NodeJS.WriteStream = process.stderr) {
    this.label = label;
    this.total = total;
    this.unit = unit;
    this.stream = stream;
    this.tty = stream.isTTY;
    this.draw(true);
  }

  /** Sets how much is done (not an increment); `note` is shown after the ETA. */
  update(done: number, note = ''): void {
    this.done = Math.min(done, this.total);
    this.draw(false, note);
  }

  /** Draws the final state and ends the line; returns the elapsed milliseconds. */
  finish(note = ''): number {
    this.done = this.total;
    this.draw(true, note);
    if (this.tty) this.stream.write('\n');
    return performance.now() - this.started;
  }

  private draw(force: boolean, note = ''): void {
    const now = performance.now();
    const fraction = this.total > 0 ? this.done / this.total : 1;
    if (this.tty) {
      if (!force && now - this.lastDraw < REDRAW_MS) return;
      this.lastDraw = now;
      this.stream.write(`\r${this.line(now, fraction, note)}\x1b[K`);
      return;
    }
    // Without a terminal: one line per tenth reached, and the final one (from finish()).
    const tenth = Math.floor(fraction * 10);
    if (!force ? tenth === this.lastTenth || tenth === 10 : fraction < 1) return;
    this.lastTenth = tenth;
    this.stream.write(`${this.line(now, fraction, note)}\n`);
  }

  private line(now: number, fraction: number, note: string): string {
    const elapsed = now - this.started;
    const rate = elapsed > 0 ? (this.done / elapsed) * 1000 : 0;
    const eta = this.done > 0 ? (elapsed / this.done) * (this.total - this.done) : Infinity;
    const filled = Math.round(fraction * BAR_WIDTH);
    const bar = '#'.repeat(filled) + '-'.repeat(BAR_WIDTH - filled);
    const timing =
      this.done >= this.total
        ? `in ${formatDuration(elapsed)}`
        : `ETA ${formatDuration(eta)} (${formatDuration(elapsed)} so far)`;
    return [
      `${this.label.padEnd(8)} [${bar}] ${(fraction * 100).toFixed(1).padStart(5)}%`,
      `${grouped(this.done)}/${grouped(this.total)} ${this.unit}`,
      `${grouped(rate)}/s`,
      timing,
      note,
    ]
      .filter(Boolean)
      .join('  ');
  }
}
