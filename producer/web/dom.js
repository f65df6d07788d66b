// Small helpers: building elements (text is always text, never HTML), formatting
// times and counts, and telling screen readers what changed.

/** h("p", {class: "x", onclick: f}, "text", child, ...) → element. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (key in node && typeof value !== "string") {
      node[key] = value;
    } else {
      node.setAttribute(key, value === true ? "" : String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Say `text` in the polite live region (and show it briefly). */
export function announce(text) {
  const region = document.getElementById("announce");
  region.textContent = "";
  // A new text node after a tick is announced even when the text repeats.
  setTimeout(() => {
    region.textContent = text;
  }, 30);
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => {
    region.textContent = "";
  }, 6000);
}

const DATE_TIME = {
  weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
};
const dateTime = new Intl.DateTimeFormat(undefined, { ...DATE_TIME, timeZoneName: "short" });

/** The browser's own IANA time zone. */
export const VIEWER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** "Mon, Nov 30, 09:00 UTC" in the browser's time zone, the zone named; "—" for nothing. */
export function when(iso) {
  if (!iso) return "—";
  return dateTime.format(new Date(iso));
}

/** An instant in the job's zone, then in the viewer's when that differs:
 * "Mon, Dec 7, 09:00 EST (Mon, Dec 7, 14:00 UTC your time)". */
export function whenIn(iso, zone) {
  if (!iso) return "—";
  if (!zone || zone === VIEWER_ZONE) return when(iso);
  let there;
  try {
    there = new Intl.DateTimeFormat(undefined, { ...DATE_TIME, timeZone: zone,
      timeZoneName: "short" }).format(new Date(iso));
  } catch {
    return when(iso); // a zone this browser does not know
  }
  return `${there} (${when(iso)} your time)`;
}

const clockTime = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit", minute: "2-digit", second: "2-digit",
});

/** "10:43:05" for an instant of today, else as `when`. */
export function moment(iso) {
  if (!iso) return "—";
  const at = new Date(iso);
  return at.toDateString() === new Date().toDateString() ? clockTime.format(at) : when(iso);
}

/** A <time> element showing `when(iso)` (or `moment(iso)`) with the exact instant. */
export function timeEl(iso, precise = false) {
  if (!iso) return "—";
  return h("time", { datetime: iso, title: iso }, precise ? moment(iso) : when(iso));
}

/** "in 3 h", "in 12 min", "5 min ago". */
export function relative(iso, nowMs = Date.now()) {
  if (!iso) return "";
  const diff = Date.parse(iso) - nowMs;
  const minutes = Math.round(Math.abs(diff) / 60000);
  let text;
  if (minutes < 1) text = "under a minute";
  else if (minutes < 90) text = `${minutes} min`;
  else if (minutes < 48 * 60) text = `${Math.round(minutes / 60)} h`;
  else text = `${Math.round(minutes / 1440)} days`;
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

/** The window of a job as one phrase: "open now · closes Mon 17:00 EST (in 3 h)"; times
 * in the job's zone (and the viewer's). A finished job's window is nobody's concern. */
export function windowText(window, job = {}) {
  if (TERMINAL.has(job.status)) {
    return job.status === "COMPLETE" ? "— (the job is complete)" : "— (the job was cancelled)";
  }
  if (!window) return "—";
  if (window.alwaysOpen) return "open at any time";
  const zone = job.schedule && !job.disableSchedule ? job.schedule.timezone : null;
  if (window.openNow) {
    return window.nextCloseAt
      ? `open now · closes ${whenIn(window.nextCloseAt, zone)} (${relative(window.nextCloseAt)})`
      : "open now";
  }
  return window.nextOpenAt
    ? `closed · opens ${whenIn(window.nextOpenAt, zone)} (${relative(window.nextOpenAt)})`
    : "closed · never opens (the schedule has no slot)";
}

/** "completed 12 · no-answer 3": rows by final outcome (counts.outcomes; a retried row
 * counts once), else finished dials by status (counts.byStatus). */
export function outcomes(counts, status) {
  const entries = Object.entries(counts.outcomes || counts.byStatus || {})
    .sort((a, b) => b[1] - a[1]);
  if (entries.length) return entries.map(([k, v]) => `${k} ${v}`).join(" · ");
  if (status === "CANCELLED") return "none (cancelled before any call ended)";
  return status === "COMPLETE" ? "none" : "none yet";
}

export function statusBadge(status) {
  return h("span", { class: `badge s-${String(status).toLowerCase()}` }, status);
}

export const TERMINAL = new Set(["COMPLETE", "CANCELLED"]);
