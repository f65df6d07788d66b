// One job: its configuration, live counters and chart, calls per pool number, the
// queue, recent dials, the live event log, and the controls that steer it.

import { ApiError, api, download, followEvents, jobsPath } from "./api.js";
import { Timeline, drawChart } from "./chart.js";
import {
  TERMINAL, announce, h, moment, outcomes, statusBadge, timeEl, whenIn, windowText,
} from "./dom.js";
import { scheduleEditor } from "./schedule.js";

const HORIZON_MS = 10 * 60 * 1000; // the chart and event log cover at most the last 10 min
const LOG_SIZE = 100;
const ACTIVE_DIAL = new Set(["queued", "ringing", "in-progress"]);

function scheduleText(job) {
  if (!job.schedule || job.disableSchedule) return "any time (no schedule)";
  const names = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  const days = job.schedule.days.map((d) => `${names[d.dayOfWeek]} ` +
    d.timeSlots.map((s) => `${s.startTime}–${s.endTime}`).join(", "));
  return `${days.join("; ") || "no slot"} (${job.schedule.timezone})`;
}

/** What the staged configuration changes, compared with the running one. */
function pendingText(pending, job) {
  const changed = Object.entries(pending)
    .filter(([k, v]) => JSON.stringify(v ?? null) !== JSON.stringify(job[k] ?? null));
  if (!changed.length) return "no difference from the running configuration";
  return changed.map(([k, v]) => {
    if (k === "schedule") return `schedule ${v ? scheduleText({ schedule: v }) : "removed"}`;
    return `${k} ${Array.isArray(v) ? v.join(", ") : JSON.stringify(v)}`;
  }).join("; ");
}

/** "Tue, Dec 8, 10:40 EST (…) · 2.7 h of dialing over 2 days · calls 60 s (default)". */
function forecastText(forecast, job) {
  if (!forecast) return "—";
  if (!forecast.finishAt) {
    return forecast.reason === "no_capacity" ? "never: no call can run (cap or limits are 0)"
      : "never: the window does not open within a year";
  }
  const zone = job.schedule && !job.disableSchedule ? job.schedule.timezone : null;
  const days = forecast.days.length;
  const hours = forecast.days.reduce((sum, d) => sum + d.dialingHours, 0);
  const assumes = forecast.assumes ? ` (if ${forecast.assumes})` : "";
  return `${whenIn(forecast.finishAt, zone)}${assumes} · ${hours.toFixed(1)} h of dialing ` +
    `over ${days} day${days === 1 ? "" : "s"} · calls ${forecast.meanCallSeconds} s ` +
    `(${forecast.meanCallSecondsSource})`;
}

function dl(pairs) {
  return h("dl", { class: "pairs" }, ...pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

function table(caption, headers, rows, empty) {
  if (!rows.length) return h("p", { class: "muted" }, empty);
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "sr-only" }, caption),
    h("thead", {}, h("tr", {}, ...headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...rows.map((cells) => h("tr", {}, ...cells.map((c) => h("td", {}, c)))))));
}

/** Why a queued row waits: the API's `waitingFor` where given, else read off the job. */
function waitReason(entry, job) {
  if (entry.waitingFor) return h("span", {}, entry.waitingFor);
  let reason = "next in line";
  if (job.status === "INIT") reason = "not started";
  else if (job.status === "PAUSED") reason = "paused";
  else if (job.window && !job.window.openNow) reason = "schedule";
  else if (job.counts.inProgress >= job.maxConcurrentDials) reason = "capacity";
  return h("span", { class: "muted", title: "estimated from the job's state" }, reason);
}

function eligible(entry, job) {
  if (entry.nextEligibleAt !== undefined) return timeEl(entry.nextEligibleAt);
  return job.window && !job.window.openNow ? timeEl(job.window.nextOpenAt) : "—";
}

function eventText(event) {
  const parts = [];
  for (const key of ["rowId", "dialId", "fromNumber", "toNumber", "status", "from", "to"]) {
    if (event[key] !== undefined && event[key] !== null) parts.push(`${key} ${event[key]}`);
  }
  return parts.join(" · ");
}

/** Render job `id` into `root`; returns a function that stops its polling and stream. */
export function showJob(root, id) {
  const stop = new AbortController();
  let job = null;
  let timer = null;
  let soon = null;
  let timeline = null;
  let lastStatus = null;
  let forecast = null;
  let forecastAt = 0;

  const title = h("h1", { tabindex: -1 }, "Loading job…");
  const badge = h("span");
  const controls = h("div", { class: "row controls", role: "group", "aria-label": "Job controls" });
  const pending = h("div", { class: "notice", role: "status", hidden: true });
  const counters = h("div", { class: "counters" });
  const chart = h("figure", { class: "chart-box" });
  const config = h("div");
  const pools = h("div");
  const queue = h("div");
  const dials = h("div");
  const liveState = h("span", { class: "conn" }, "connecting…");
  const log = h("ol", { class: "log", reversed: true, "aria-label": "Events, newest first" });
  const error = h("p", { class: "error", role: "alert" });
  const edit = h("div");

  root.replaceChildren(
    h("p", {}, h("a", { href: "#/jobs" }, "← All jobs")),
    h("div", { class: "title-row" }, h("div", {}, title, badge), controls),
    error,
    pending,
    h("section", { "aria-labelledby": "h-live" }, h("h2", { id: "h-live" }, "Progress"), counters,
      chart, h("p", { class: "legend", "aria-hidden": "true" },
        h("span", { class: "key live" }, "in progress (left axis)"),
        h("span", { class: "key done" }, "finished (right axis)"))),
    h("div", { class: "grid2" },
      h("section", { "aria-labelledby": "h-config" }, h("h2", { id: "h-config" }, "Configuration"),
        config, edit),
      h("section", { "aria-labelledby": "h-pool" },
        h("h2", { id: "h-pool" }, "Calls per pool number"), pools)),
    h("section", { "aria-labelledby": "h-queue" }, h("h2", { id: "h-queue" }, "Queue"), queue),
    h("section", { "aria-labelledby": "h-dials" },
      h("h2", { id: "h-dials" }, "Recent dials"), dials),
    h("section", { "aria-labelledby": "h-events" },
      h("h2", { id: "h-events" }, "Event log ", liveState), log));

  let quietUntil = 0; // the user's own action announces its result; no second message

  async function act(label, done, request) {
    error.textContent = "";
    quietUntil = Date.now() + 4000;
    try {
      await request();
      announce(done);
    } catch (err) {
      if (err instanceof ApiError) error.textContent = `${label} failed: ${err.message}`;
      else throw err;
    }
    refresh();
  }

  const button = (text, cls, onclick) => h("button", { type: "button", class: cls, onclick }, text);
  const setPaused = (paused, done) => act(paused ? "Pause" : "Start", done,
    () => api(`${jobsPath(id)}/paused`, { method: "POST", body: { paused } }));

  function confirmCancel() {
    const dialog = document.getElementById("confirm");
    const opener = document.activeElement;
    const onClick = (event) => {
      const value = event.target.closest("button")?.value;
      if (!value) return;
      dialog.close(value);
    };
    dialog.addEventListener("click", onClick);
    dialog.addEventListener("close", () => {
      dialog.removeEventListener("click", onClick);
      if (opener && opener.isConnected) opener.focus();
      if (dialog.returnValue === "yes") {
        act("Cancel", "Job cancelled.", () => api(`${jobsPath(id)}/cancel`, { method: "POST" }));
      }
    }, { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  }

  function renderControls() {
    const items = [];
    if (job.status === "INIT") items.push(button("Start", "primary", () => setPaused(false, "Job started.")));
    if (job.status === "ACTIVE") items.push(button("Pause", "primary", () => setPaused(true, "Job paused.")));
    if (job.status === "PAUSED") items.push(button("Resume", "primary", () => setPaused(false, "Job resumed.")));
    if (!TERMINAL.has(job.status)) items.push(button("Cancel job…", "danger", confirmCancel));
    // Every row's outcome so far, as CSV (GET …/results, streamed by the API).
    items.push(button("Download results (CSV)", "", () => act("Download", "Results downloaded.",
      () => download(`${jobsPath(id)}/results`, "text/csv", `${id}-results.csv`))));
    const same = items.map((b) => b.textContent).join() ===
      [...controls.children].map((b) => b.textContent).join();
    if (!same) controls.replaceChildren(...items);
  }

  function renderEdit() {
    if (TERMINAL.has(job.status)) {
      edit.replaceChildren();
      return;
    }
    const cap = h("input", { id: "edit-cap", type: "number", min: 1, step: 1,
      value: (job.pendingConfig && job.pendingConfig.maxConcurrentDials) || job.maxConcurrentDials });
    const sched = scheduleEditor(job.disableSchedule ? null : job.schedule, "edit-schedule");
    const note = h("p", { class: "hint", id: "edit-note" });
    const problems = h("ul", { class: "problems" });
    const initialCap = cap.value;
    const initialSchedule = JSON.stringify(sched.read());
    const save = async (event) => {
      event.preventDefault();
      problems.replaceChildren();
      // Only what the user changed is sent (PUT is a partial update).
      const body = {};
      try {
        if (cap.value !== initialCap) body.maxConcurrentDials = Number(cap.value);
        const schedule = sched.read();
        if (JSON.stringify(schedule) !== initialSchedule) body.schedule = schedule;
      } catch (err) {
        problems.replaceChildren(h("li", {}, err.message));
        return;
      }
      if (!Object.keys(body).length) {
        problems.replaceChildren(h("li", {}, "Nothing was changed."));
        return;
      }
      try {
        const updated = await api(jobsPath(id), { method: "PUT", body });
        announce(updated.pendingConfig
          ? "Change staged: it applies when the job is next paused."
          : "Change applied.");
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        const items = err.details.length ? err.details.map((d) => `${d.path}: ${d.message}`)
          : [err.message];
        problems.replaceChildren(...items.map((t) => h("li", {}, t)));
      }
      refresh();
    };
    edit.replaceChildren(h("details", { class: "edit" },
      h("summary", {}, "Edit cap and schedule"),
      h("form", { novalidate: true, onsubmit: save, "aria-describedby": "edit-note" },
        note,
        h("div", { class: "field" }, h("label", { for: cap.id }, "Most calls at once"), cap),
        sched.element, problems,
        h("button", { type: "submit", class: "primary" }, "Save changes"))));
    renderEditNote();
  }

  function renderEditNote() {
    const note = document.getElementById("edit-note");
    if (!note) return;
    note.textContent = job.status === "ACTIVE"
      ? "This job is running: a change is staged (pendingConfig) and applies when you next " +
        "pause it. The running configuration stays as it is until then."
      : "The job is not running: a change applies at once.";
  }

  function render() {
    title.textContent = job.name;
    document.title = `${job.name} — Batch Dials`;
    badge.replaceChildren(statusBadge(job.status));
    if (lastStatus && lastStatus !== job.status && Date.now() > quietUntil) {
      announce(`Job is now ${job.status}.`);
    }
    if (lastStatus !== job.status) {
      renderEdit();
      renderControls();
    }
    lastStatus = job.status;
    renderEditNote();
    pending.hidden = !job.pendingConfig;
    pending.textContent = job.pendingConfig
      ? `Staged until the job is next paused: ${pendingText(job.pendingConfig, job)}.` : "";
    const c = job.counts;
    const dialsDone = Object.values(c.byStatus).reduce((a, b) => a + b, 0);
    counters.replaceChildren(dl([
      ["Status", job.status],
      ["Rows", String(c.rows)],
      ["Finished", h("span", { "data-count": "finished" }, `${c.finished} / ${c.rows}`)],
      ["In progress", h("span", {}, h("span", { "data-count": "inProgress" }, String(c.inProgress)),
        ` of cap ${job.maxConcurrentDials} `,
        h("meter", { min: 0, max: job.maxConcurrentDials, value: c.inProgress,
          "aria-label": `${c.inProgress} calls in progress of a cap of ${job.maxConcurrentDials}` }))],
      ["Queued", h("span", { "data-count": "queued" }, String(c.queued))],
      ["Held (retry or daily cap)", String(c.held ?? 0)],
      ["Cancelled", String(c.cancelled)],
      ["Outcomes", outcomes(c, job.status)],
      ["Window", windowText(job.window, job)],
      ...(TERMINAL.has(job.status) ? []
        : [["Expected to finish", h("span", { "data-forecast": "" }, forecastText(forecast, job))]]),
    ]));
    if (timeline) {
      const end = Date.parse(job.completedAt || job.cancelledAt || "") || Date.now();
      drawChart(chart, timeline.series(end, c.inProgress, dialsDone, job.maxConcurrentDials),
        job.maxConcurrentDials);
    }
    config.replaceChildren(dl([
      ["Job id", job.id],
      ["Call agent", job.callAgentId],
      ["Cap (maxConcurrentDials)", String(job.maxConcurrentDials)],
      ["Pool number ids", job.fromPhoneNumberIds.join(", ")],
      ["Schedule", scheduleText(job)],
      ["Created", timeEl(job.createdAt)],
      ["Started", timeEl(job.startedAt)],
      ["Updated", timeEl(job.updatedAt)],
    ]));
  }

  function renderQueue(page) {
    queue.replaceChildren(table("First rows waiting",
      ["#", "To", "Attempt", "Waiting for", "Eligible at"],
      page.data.map((e) => [String(e.index),
        e.timezones ? h("span", { title: `time zone (${e.timezoneSource}): ${e.timezones.join(", ")}` },
          e.toNumber, h("span", { class: "muted" }, ` · ${e.timezones.join(", ")}`)) : e.toNumber,
        String(e.attempt ?? 1), waitReason(e, job), eligible(e, job)]),
      "No row is waiting."),
    page.nextCursor ? h("p", { class: "muted" }, `First ${page.data.length} rows shown.`) : "");
  }

  function renderDials(page) {
    const perNumber = new Map();
    for (const d of page.data) {
      const n = perNumber.get(d.fromNumber) || { total: 0, live: 0 };
      n.total += 1;
      if (ACTIVE_DIAL.has(d.status)) n.live += 1;
      perNumber.set(d.fromNumber, n);
    }
    pools.replaceChildren(table("Calls per pool number",
      ["Number", `Dials (last ${page.data.length})`, "In progress"],
      [...perNumber.entries()].sort().map(([n, v]) => [n, String(v.total), String(v.live)]),
      "No dial yet."));
    dials.replaceChildren(table("Recent dials, newest first",
      ["Started", "To", "From (pool)", "Status", "Ended"],
      page.data.slice(0, 20).map((d) => [timeEl(d.startedAt, true), d.toNumber, d.fromNumber,
        h("span", { class: `dial s-${d.status}` }, d.status), timeEl(d.endedAt, true)]),
      "No dial yet."));
  }

  function onEvent(event) {
    if (timeline) timeline.add(event);
    log.prepend(h("li", { dataset: { type: event.type, id: event.id } },
      h("time", { datetime: event.at, title: event.at }, moment(event.at)), " ",
      h("strong", {}, event.type), " ", h("span", { class: "muted" }, eventText(event))));
    while (log.children.length > LOG_SIZE) log.lastElementChild.remove();
    clearTimeout(soon);
    soon = setTimeout(refresh, 300);
  }

  function startStream() {
    const endMs = Date.parse(job.completedAt || job.cancelledAt || "") || Date.now();
    const fromMs = Math.max(Date.parse(job.startedAt || job.createdAt), endMs - HORIZON_MS);
    // The chart starts when the job did (or now, for a job not started yet).
    timeline = new Timeline(job.startedAt ? fromMs : Date.now());
    // A young job's whole log; an older one's last minutes (an event id is "<ms>-<seq>").
    const from = Date.parse(job.createdAt) >= endMs - HORIZON_MS ? null : `${fromMs - 1}-0`;
    followEvents(id, {
      from, onEvent, signal: stop.signal,
      onState: (state) => {
        liveState.textContent = { live: "● live", reconnecting: "reconnecting…",
          stopped: "stopped" }[state];
        liveState.dataset.state = state;
      },
    });
  }

  async function refresh() {
    clearTimeout(timer);
    try {
      const [fresh, q, d] = await Promise.all([
        api(jobsPath(id)),
        api(`${jobsPath(id)}/queue?limit=10`),
        api(`${jobsPath(id)}/dials?limit=100`),
      ]);
      if (stop.signal.aborted) return;
      job = fresh;
      // The forecast reads the job's recent dials: every 10 s is often enough.
      if (!TERMINAL.has(job.status) && Date.now() - forecastAt > 10_000) {
        forecastAt = Date.now();
        forecast = await api(`${jobsPath(id)}/forecast`).catch(() => null);
        if (stop.signal.aborted) return;
      }
      render();
      renderQueue(q);
      renderDials(d);
      if (!timeline) startStream();
    } catch (err) {
      if (stop.signal.aborted) return;
      if (err instanceof ApiError && err.status === 404) {
        title.textContent = "No such job";
        error.textContent = `There is no job ${id} in your workspace.`;
        return;
      }
      error.textContent = `Could not refresh: ${err.message}`;
    }
    clearTimeout(timer);
    timer = setTimeout(refresh, 2000);
  }

  refresh().then(() => title.focus());
  return () => {
    stop.abort();
    clearTimeout(timer);
    clearTimeout(soon);
  };
}
