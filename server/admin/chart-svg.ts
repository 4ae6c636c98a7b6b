import { escapeHtml } from '../../domain/html-escape.js';

// A small server-rendered bar chart (SVG, no script): letters written and emails sent per bucket.
// It renders without JavaScript, and the page shows the same numbers in a table for screen readers.

export interface ChartBucket {
  start: number;
  written: number;
  sent: number;
}

/** A "nice" axis maximum at or above `n` (1, 2, 5 × 10^k). */
export function niceMax(n: number): number {
  if (n <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 5, 10]) if (m * p >= n) return m * p;
  return 10 * p;
}

/**
 * The SVG of a grouped bar chart: for each bucket a "written" bar and a "sent" bar (told apart by
 * colour and by pattern, so not by colour alone), a y axis with its maximum, and an x label every
 * `labelEvery` buckets.
 */
export function barChartSvg(
  buckets: readonly ChartBucket[],
  opts: { id: string; title: string; label: (start: number) => string; labelEvery: number; width?: number; height?: number },
): string {
  const width = opts.width ?? 720;
  const height = opts.height ?? 220;
  const left = 44;
  const bottom = 28;
  const top = 12;
  const plotW = width - left - 8;
  const plotH = height - top - bottom;
  const max = niceMax(Math.max(0, ...buckets.map((b) => Math.max(b.written, b.sent))));
  const slot = buckets.length ? plotW / buckets.length : plotW;
  const bar = Math.min(24, Math.max(1, slot * 0.38));
  const y = (v: number) => top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  parts.push(
    // Ids are per chart: a page with two charts must not give both the first one's name.
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${opts.id}-title" class="chart">`,
    `<title id="${opts.id}-title">${escapeHtml(opts.title)}</title>`,
    `<defs><pattern id="${opts.id}-hatch" width="4" height="4" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="4" height="4" fill="#8fb3d9"/><line x1="0" y1="0" x2="0" y2="4" stroke="#1d3b5a" stroke-width="1.5"/></pattern></defs>`,
  );
  for (const f of [0, 0.5, 1]) {
    const v = Math.round(max * f);
    parts.push(`<line x1="${left}" x2="${width - 8}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#d5dbe1"/>`);
    parts.push(`<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#4a5560">${v}</text>`);
  }
  buckets.forEach((b, i) => {
    const x = left + i * slot + (slot - 2 * bar) / 2;
    const hw = (b.written / max) * plotH;
    const hs = (b.sent / max) * plotH;
    const label = escapeHtml(`${opts.label(b.start)}: ${b.written} written, ${b.sent} sent`);
    parts.push(`<g><title>${label}</title>`);
    parts.push(
      `<rect class="bar-written" x="${x.toFixed(1)}" y="${(top + plotH - hw).toFixed(1)}" width="${bar.toFixed(1)}" height="${hw.toFixed(1)}" fill="#1d3b5a"/>`,
    );
    parts.push(
      `<rect class="bar-sent" x="${(x + bar).toFixed(1)}" y="${(top + plotH - hs).toFixed(1)}" width="${bar.toFixed(1)}" height="${hs.toFixed(1)}" fill="url(#${opts.id}-hatch)"/>`,
    );
    parts.push('</g>');
    if (i % opts.labelEvery === 0)
      parts.push(`<text x="${(left + i * slot).toFixed(1)}" y="${height - 8}" font-size="11" fill="#4a5560">${escapeHtml(opts.label(b.start))}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${width - 8}" y1="${top + plotH}" y2="${top + plotH}" stroke="#6b7682"/>`);
  parts.push('</svg>');
  return parts.join('');
}
