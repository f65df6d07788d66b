// A small line chart in inline SVG: calls in progress and calls finished over time,
// rebuilt from the job's dial.started / dial.finished events and anchored to the
// job's current counters (walking back from "now": before a finish there was one
// call more in progress and one finished less; before a start, one call less). The cap
// is drawn as it was at each instant: walking back past a job.config_applied, the cap
// becomes the one it replaced (previousMaxConcurrentDials).

const SVG = "http://www.w3.org/2000/svg";
const BUCKETS = 120;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Keeps per-time-bucket counts of starts and finishes; memory is bounded. */
export class Timeline {
  constructor(fromMs) {
    this.fromMs = fromMs;
    this.marks = []; // [atMs, +1 start | -1 finish], trimmed to the last 20,000
    this.caps = []; // [atMs, cap before, cap after] of each job.config_applied
  }

  add(event) {
    const at = Date.parse(event.at);
    if (Number.isNaN(at) || at < this.fromMs) return;
    if (event.type === "job.config_applied") {
      const after = event.config && event.config.maxConcurrentDials;
      const before = event.previousMaxConcurrentDials;
      if (after && before && after !== before) this.caps.push([at, before, after]);
      return;
    }
    if (event.type === "dial.started") this.marks.push([at, 1]);
    else if (event.type === "dial.finished") this.marks.push([at, -1]);
    else return;
    if (this.marks.length > 20000) {
      this.marks.splice(0, this.marks.length - 20000);
      this.fromMs = this.marks[0][0];
    }
  }

  /** Points [{at, inProgress, finished, cap}] from the window start to `nowMs`. */
  series(nowMs, inProgressNow, finishedNow, capNow = 0) {
    const start = this.fromMs;
    const span = Math.max(nowMs - start, 1000);
    const step = span / BUCKETS;
    const points = [];
    let inProgress = inProgressNow;
    let finished = finishedNow;
    let cap = capNow;
    let i = this.marks.length - 1;
    let c = this.caps.length - 1;
    for (let b = BUCKETS; b >= 0; b -= 1) {
      const at = start + b * step;
      while (i >= 0 && this.marks[i][0] > at) {
        if (this.marks[i][1] > 0) inProgress -= 1;
        else { inProgress += 1; finished -= 1; }
        i -= 1;
      }
      while (c >= 0 && this.caps[c][0] > at) {
        cap = this.caps[c][1];
        c -= 1;
      }
      points.push({ at, inProgress: Math.max(inProgress, 0), finished: Math.max(finished, 0),
        cap });
    }
    return points.reverse();
  }
}

function path(points, x, y, key) {
  return points.map((p, i) => `${i ? "L" : "M"}${x(p.at).toFixed(1)},${y(p[key]).toFixed(1)}`)
    .join(" ");
}

const clock = (ms, seconds) => new Date(ms).toLocaleTimeString([],
  seconds ? { hour: "2-digit", minute: "2-digit", second: "2-digit" }
    : { hour: "2-digit", minute: "2-digit" });

/** Draw the chart into `figure` (replacing what was there). */
export function drawChart(figure, points, cap) {
  const w = 640, h = 220, left = 44, right = 44, top = 12, bottom = 28;
  const maxIn = Math.max(cap || 1, ...points.map((p) => Math.max(p.inProgress, p.cap || 0)), 1);
  const maxDone = Math.max(...points.map((p) => p.finished), 1);
  const t0 = points[0].at, t1 = points[points.length - 1].at;
  const x = (t) => left + ((t - t0) / Math.max(t1 - t0, 1)) * (w - left - right);
  const yIn = (v) => top + (1 - v / maxIn) * (h - top - bottom);
  const yDone = (v) => top + (1 - v / maxDone) * (h - top - bottom);
  const last = points[points.length - 1];
  const svg = el("svg", {
    viewBox: `0 0 ${w} ${h}`, role: "img", class: "chart",
    "aria-label": `Calls over time: now ${last.inProgress} in progress (cap ${cap}), ` +
      `${last.finished} finished`,
  });
  const axis = { class: "axis" };
  svg.append(el("line", { ...axis, x1: left, x2: w - right, y1: h - bottom, y2: h - bottom }));
  svg.append(el("line", { ...axis, x1: left, x2: left, y1: top, y2: h - bottom }));
  svg.append(el("line", { ...axis, x1: w - right, x2: w - right, y1: top, y2: h - bottom }));
  if (cap) {
    // A step line: each bucket's cap held until the next bucket.
    const steps = points.map((p, i) => {
      const y = yIn(p.cap || cap).toFixed(1);
      return i ? `H${x(p.at).toFixed(1)} V${y}` : `M${x(p.at).toFixed(1)},${y}`;
    }).join(" ");
    svg.append(el("path", { class: "cap", d: steps, "data-caps": [...new Set(points.map(
      (p) => p.cap || cap))].join(",") }));
    svg.append(el("text", { x: w - right - 4, y: yIn(cap) - 4, class: "label end" }, `cap ${cap}`));
  }
  svg.append(el("text", { x: left - 6, y: top + 10, class: "label end" }, String(maxIn)));
  svg.append(el("text", { x: left - 6, y: h - bottom, class: "label end" }, "0"));
  svg.append(el("text", { x: w - right + 6, y: top + 10, class: "label" }, String(maxDone)));
  svg.append(el("text", { x: w - right + 6, y: h - bottom, class: "label" }, "0"));
  const seconds = t1 - t0 < 15 * 60 * 1000;
  svg.append(el("text", { x: left, y: h - 8, class: "label" }, clock(t0, seconds)));
  svg.append(el("text", { x: w - right, y: h - 8, class: "label end" }, clock(t1, seconds)));
  svg.append(el("path", { d: path(points, x, yDone, "finished"), class: "line done" }));
  svg.append(el("path", { d: path(points, x, yIn, "inProgress"), class: "line live" }));
  figure.replaceChildren(svg);
}
