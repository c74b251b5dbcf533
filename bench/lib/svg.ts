// A horizontal bar chart of each target's throughput relative to the ceiling and to the peer,
// written by hand: a few rectangles and labels do not need a chart library. The ratios span four
// orders of magnitude (a bare server against a bcrypt login), so the axis is logarithmic.

export interface Bar {
  label: string;
  ratioCeiling: number;
  ratioPeer: number;
}

const WIDTH = 950;
// Room for the longest target name ("posts.timeline, page 1, app beside the load²") at 12 px.
const LABEL_WIDTH = 300;
const VALUE_WIDTH = 60;
const BAR_HEIGHT = 12;
const ROW_HEIGHT = 2 * BAR_HEIGHT + 12;
const TOP = 70;
const COLORS = { ceiling: '#4e79a7', peer: '#f28e2b' };
const SMALLEST = 1e-4;

const escape = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

const decimals = (value: number) =>
  value >= 10 ? 1 : value >= 0.1 ? 2 : Math.min(5, 1 - Math.floor(Math.log10(value)));
const label = (value: number) => (Number.isFinite(value) && value > 0 ? `${value.toFixed(decimals(value))}×` : 'n/a');

export function ratioChart(title: string, subtitle: string, bars: Bar[]): string {
  const values = bars.flatMap((bar) => [bar.ratioCeiling, bar.ratioPeer]).filter((v) => Number.isFinite(v) && v > 0);
  const low = Math.floor(Math.log10(Math.max(SMALLEST, Math.min(1, ...values))));
  const high = Math.max(1, Math.ceil(Math.log10(Math.max(1, ...values))));
  const plotWidth = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 20;
  const x = (value: number) => {
    const clamped = Math.max(10 ** low, value);
    return LABEL_WIDTH + ((Math.log10(clamped) - low) / (high - low)) * plotWidth;
  };
  const height = TOP + bars.length * ROW_HEIGHT + 36;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="20" font-size="15" font-weight="bold">${escape(title)}</text>`,
    `<text x="10" y="38" fill="#555">${escape(subtitle)}</text>`,
    `<rect x="${LABEL_WIDTH}" y="48" width="12" height="12" fill="${COLORS.ceiling}"/>`,
    `<text x="${LABEL_WIDTH + 18}" y="58">× ceiling (bare node:http)</text>`,
    `<rect x="${LABEL_WIDTH + 210}" y="48" width="12" height="12" fill="${COLORS.peer}"/>`,
    `<text x="${LABEL_WIDTH + 228}" y="58">× peer (tRPC + Fastify hello)</text>`,
  ];
  for (let exponent = low; exponent <= high; exponent++) {
    const tx = x(10 ** exponent);
    const parity = exponent === 0;
    parts.push(
      `<line x1="${tx}" y1="${TOP - 4}" x2="${tx}" y2="${height - 28}" stroke="${parity ? '#555' : '#ddd'}"/>`,
      `<text x="${tx}" y="${height - 12}" text-anchor="middle" fill="#555">${(10 ** exponent).toFixed(Math.max(0, -exponent))}×</text>`,
    );
  }
  bars.forEach((bar, i) => {
    const y = TOP + i * ROW_HEIGHT;
    parts.push(`<text x="${LABEL_WIDTH - 8}" y="${y + BAR_HEIGHT + 4}" text-anchor="end">${escape(bar.label)}</text>`);
    for (const [row, key] of (['ceiling', 'peer'] as const).entries()) {
      const value = key === 'ceiling' ? bar.ratioCeiling : bar.ratioPeer;
      const by = y + row * BAR_HEIGHT;
      const end = Number.isFinite(value) && value > 0 ? x(value) : LABEL_WIDTH;
      parts.push(
        `<rect x="${LABEL_WIDTH}" y="${by}" width="${Math.max(0.5, end - LABEL_WIDTH).toFixed(1)}" height="${BAR_HEIGHT - 1}" fill="${COLORS[key]}"/>`,
        `<text x="${(end + 4).toFixed(1)}" y="${by + BAR_HEIGHT - 2}" font-size="10">${label(value)}</text>`,
      );
    }
  });
  parts.push('</svg>', '');
  return parts.join('\n');
}
