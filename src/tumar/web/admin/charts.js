// Charts as inline SVG built with DOM APIs (no chart library; the CSP allows no inline
// scripts, and none is needed). Sizes are percentages of the chart's width, so one drawing
// fits 1280 px and 390 px screens without measuring; colours come from CSS classes.
// Every chart has role="img" and a text summary, and the page shows the same figures in a
// table next to it, so nothing is only in the picture.

const NS = "http://www.w3.org/2000/svg";

export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined && v !== false) el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svgRoot(height, summary, cls) {
  return s(
    "svg",
    { class: ["adm-chart", cls].join(" "), width: "100%", height, role: "img", "aria-label": summary, focusable: "false" },
    s("title", {}, summary),
  );
}

/**
 * Horizontal bars, one per item: `{label, value (0..100 or null), text, warn}`.
 * The label sits above its bar, so long organisation names never squeeze the bars.
 */
export function barChart(items, summary) {
  const row = 46;
  const svg = svgRoot(Math.max(items.length * row, row), summary, "adm-bars");
  items.forEach((item, i) => {
    const y = i * row;
    const value = item.value === null || item.value === undefined ? 0 : Math.max(0, Math.min(100, item.value));
    // The name has a line of its own; the bar takes 72 % of the width and the figure the rest.
    svg.append(
      s(
        "g",
        { class: item.warn ? "adm-bar-row adm-warn" : "adm-bar-row" },
        s("title", {}, `${item.label}: ${item.text}`),
        s("text", { x: 0, y: y + 14, class: "adm-chart-label" }, item.label),
        s("rect", { x: 0, y: y + 21, width: "72%", height: 14, rx: 3, class: "adm-bar-track" }),
        s("rect", { x: 0, y: y + 21, width: `${value * 0.72}%`, height: 14, rx: 3, class: "adm-bar" }),
        s("text", { x: "74%", y: y + 33, class: "adm-chart-value" }, item.text),
      ),
    );
  });
  return svg;
}

/**
 * Registrations per day (bars) and the running total (a line), over `days`
 * ([{date, registered, cumulative}]); `fmtDay` writes a date, `fmtNum` a number.
 */
export function timeChart(days, summary, fmtDay, fmtNum, labels) {
  const height = 220;
  const top = 24;
  const plotH = 150;
  const svg = svgRoot(height, summary, "adm-timeline");
  const n = Math.max(days.length, 1);
  const maxDay = Math.max(1, ...days.map((d) => d.registered));
  const maxTotal = Math.max(1, ...days.map((d) => d.cumulative));
  // The plot itself stretches to the width (preserveAspectRatio none); text stays outside it.
  const plot = s("svg", {
    x: 0, y: top, width: "100%", height: plotH, viewBox: `0 0 ${n} 100`,
    preserveAspectRatio: "none", class: "adm-plot",
  });
  for (const frac of [0, 0.5, 1]) {
    plot.append(s("line", { x1: 0, x2: n, y1: 100 * frac, y2: 100 * frac, class: "adm-grid", "vector-effect": "non-scaling-stroke" }));
  }
  days.forEach((d, i) => {
    const bh = (d.registered / maxDay) * 60; // daily bars use the lower 60 % of the plot
    if (bh > 0) {
      plot.append(s("rect", { x: i + 0.15, y: 100 - bh, width: 0.7, height: bh, class: "adm-day" }, s("title", {}, `${fmtDay(d.date)}: ${fmtNum(d.registered)}`)));
    }
  });
  const points = days.map((d, i) => `${i + 0.5},${100 - (d.cumulative / maxTotal) * 96}`).join(" ");
  if (days.length) {
    plot.append(s("polyline", { points, class: "adm-total", fill: "none", "vector-effect": "non-scaling-stroke" }));
  }
  svg.append(plot);
  const yAxis = top + plotH + 18;
  if (days.length) {
    svg.append(
      s("text", { x: 0, y: yAxis, class: "adm-chart-axis" }, fmtDay(days[0].date)),
      s("text", { x: "100%", y: yAxis, "text-anchor": "end", class: "adm-chart-axis" }, fmtDay(days[days.length - 1].date)),
    );
    if (days.length > 4) {
      svg.append(s("text", { x: "50%", y: yAxis, "text-anchor": "middle", class: "adm-chart-axis adm-chart-mid" }, fmtDay(days[Math.floor(days.length / 2)].date)));
    }
  }
  // Legend: what the line and the bars are, with their scales.
  svg.append(
    s("rect", { x: 0, y: 4, width: 14, height: 4, class: "adm-legend-total" }),
    s("text", { x: 20, y: 12, class: "adm-chart-legend" }, `${labels.total}: ${fmtNum(days.length ? days[days.length - 1].cumulative : 0)}`),
    s("rect", { x: "55%", y: 2, width: 10, height: 10, class: "adm-day" }),
    s("text", { x: "55%", dx: 16, y: 12, class: "adm-chart-legend" }, `${labels.perDay}: ${fmtNum(Math.max(0, ...days.map((d) => d.registered)))}`),
  );
  return svg;
}
