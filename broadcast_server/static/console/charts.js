// Charts drawn as inline SVG through DOM APIs (no HTML strings, no inline styles: colours come from console.css).

import { s } from '../shared/dom.js';

/** What a chart shows, as text for a screen reader (its aria-label): each label with its value. */
function spoken(pairs) {
  return pairs.map(([name, value]) => `${name} ${value}`).join('; ');
}

/** Horizontal bars: entries [[label, value, cls?]]. */
export function barChart(entries, { testid, width = 420, format = String } = {}) {
  const rowH = 28;
  const labelW = 110;
  const valueW = 48;
  const max = Math.max(1, ...entries.map(([, v]) => v));
  const height = Math.max(1, entries.length) * rowH + 4;
  const svg = s('svg', {
    class: 'chart bars', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', testid,
    'aria-label': spoken(entries.map(([name, value]) => [name, format(value)])),
  });
  entries.forEach(([name, value, cls], i) => {
    const y = i * rowH + 2;
    const barW = Math.round(((width - labelW - valueW) * value) / max);
    svg.append(
      s('text', { x: labelW - 8, y: y + rowH / 2 + 5, class: 'axis', 'text-anchor': 'end' }, name),
      s('rect', { x: labelW, y: y + 4, width: Math.max(value > 0 ? 2 : 0, barW), height: rowH - 10, rx: 3, class: `bar ${cls || ''}` }),
      s('text', { x: labelW + barW + 6, y: y + rowH / 2 + 5, class: 'value', dataset: { value: String(value) } }, format(value)),
    );
  });
  return svg;
}

/** Vertical bars over time: points [[label, value|null]]. */
export function columnChart(points, { testid, width = 420, height = 180, format = String } = {}) {
  const pad = { l: 8, r: 8, t: 18, b: 26 };
  const values = points.map(([, v]) => v || 0);
  const max = Math.max(1, ...values);
  const step = (width - pad.l - pad.r) / Math.max(1, points.length);
  const inner = height - pad.t - pad.b;
  const svg = s('svg', {
    class: 'chart columns', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', testid,
    'aria-label': spoken(points.map(([name, value]) => [name, value === null ? '—' : format(value)])),
  });
  svg.append(s('line', { x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b, class: 'axis-line' }));
  points.forEach(([name, value], i) => {
    const x = pad.l + i * step;
    const h = value ? Math.max(2, (inner * value) / max) : 0;
    svg.append(
      s('rect', { x: x + step * 0.2, y: height - pad.b - h, width: step * 0.6, height: h, rx: 2, class: 'bar' }),
      s('text', { x: x + step / 2, y: height - 8, class: 'axis', 'text-anchor': 'middle' }, name),
      s('text', { x: x + step / 2, y: height - pad.b - h - 4, class: 'value', 'text-anchor': 'middle' }, value === null ? '—' : format(value)),
    );
  });
  return svg;
}

/** Lines over time for rates 0..1: series [{name, cls, values: [rate|null]}], labels for the x axis. */
export function rateLines(series, labels, { testid, width = 420, height = 200, format = String } = {}) {
  const pad = { l: 40, r: 12, t: 12, b: 26 };
  const innerW = width - pad.l - pad.r;
  const innerH = height - pad.t - pad.b;
  const x = (i) => pad.l + (labels.length > 1 ? (innerW * i) / (labels.length - 1) : innerW / 2);
  const y = (v) => pad.t + innerH * (1 - v);
  const svg = s('svg', {
    class: 'chart lines', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', testid,
    'aria-label': series.map((line) => `${line.name}: ${spoken(labels.map((name, i) => [name, line.values[i] == null ? '—' : format(line.values[i])]))}`)
      .join('. '),
  });
  for (const tick of [0, 0.5, 1]) {
    svg.append(
      s('line', { x1: pad.l, x2: width - pad.r, y1: y(tick), y2: y(tick), class: 'grid-line' }),
      s('text', { x: pad.l - 6, y: y(tick) + 4, class: 'axis', 'text-anchor': 'end' }, format(tick)),
    );
  }
  labels.forEach((name, i) => svg.append(s('text', { x: x(i), y: height - 8, class: 'axis', 'text-anchor': 'middle' }, name)));
  for (const line of series) {
    const pts = line.values.map((v, i) => (v === null || v === undefined ? null : [x(i), y(v)])).filter(Boolean);
    if (pts.length > 1) svg.append(s('polyline', { points: pts.map((p) => p.join(',')).join(' '), class: `line ${line.cls}` }));
    for (const [px, py] of pts) svg.append(s('circle', { cx: px, cy: py, r: 3, class: `dot ${line.cls}` }));
  }
  return svg;
}
