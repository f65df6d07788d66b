// The jobs list: newest first, paginated by the API's cursors, refreshed while shown.

import { api, jobsPath } from "./api.js";
import { h, outcomes, statusBadge, timeEl, windowText } from "./dom.js";

const PAGE_SIZE = 20;

function progress(job) {
  const { rows, finished, cancelled } = job.counts;
  const label = `${finished} of ${rows} finished` + (cancelled ? `, ${cancelled} cancelled` : "");
  return h("div", { class: "progress" },
    h("progress", { max: Math.max(rows, 1), value: finished, "aria-label": label }),
    h("span", {}, `${finished} / ${rows}`));
}

function jobRow(job) {
  const link = h("a", { href: `#/jobs/${encodeURIComponent(job.id)}` }, job.name);
  return h("tr", { dataset: { jobId: job.id } },
    h("th", { scope: "row", "data-label": "Name" }, link, h("div", { class: "muted id" }, job.id)),
    h("td", { "data-label": "Status" }, statusBadge(job.status)),
    h("td", { "data-label": "Created" }, timeEl(job.createdAt)),
    h("td", { "data-label": "Progress" }, progress(job)),
    h("td", { "data-label": "Outcomes" }, outcomes(job.counts, job.status)),
    h("td", { "data-label": "Cap" }, String(job.maxConcurrentDials)),
    h("td", { "data-label": "Window" }, windowText(job.window, job)));
}

/** Render the jobs list into `root`; returns a function that stops its refreshing. */
export function showJobs(root) {
  let cursors = [null]; // cursors[i] reads page i
  let page = 0;
  let timer = null;
  let stopped = false;

  const body = h("tbody");
  const status = h("p", { class: "muted", role: "status" }, "Loading…");
  const newer = h("button", { type: "button", class: "secondary", onclick: () => go(page - 1) },
    "← Newer");
  const older = h("button", { type: "button", class: "secondary", onclick: () => go(page + 1) },
    "Older →");
  const table = h("table", { class: "jobs" },
    h("caption", { class: "sr-only" }, "Batch dial jobs, newest first"),
    h("thead", {}, h("tr", {},
      ...["Name", "Status", "Created", "Progress", "Outcomes", "Cap", "Window"]
        .map((t) => h("th", { scope: "col" }, t)))),
    body);

  root.replaceChildren(
    h("div", { class: "title-row" },
      h("h1", {}, "Batch dial jobs"),
      h("a", { class: "button primary", href: "#/new" }, "New job from CSV")),
    h("div", { class: "table-wrap" }, table),
    status,
    h("nav", { class: "pager", "aria-label": "Pages of jobs" }, newer, older));

  async function load() {
    clearTimeout(timer);
    try {
      const result = await api(`${jobsPath()}?limit=${PAGE_SIZE}` +
        (cursors[page] ? `&cursor=${encodeURIComponent(cursors[page])}` : ""));
      if (stopped) return;
      cursors[page + 1] = result.nextCursor;
      body.replaceChildren(...result.data.map(jobRow));
      status.textContent = result.data.length
        ? `Page ${page + 1}` + (result.nextCursor ? "" : " (last)")
        : "No jobs yet: create one from a CSV file.";
      newer.disabled = page === 0;
      older.disabled = !result.nextCursor;
    } catch (err) {
      if (stopped) return;
      status.textContent = `Could not load the jobs: ${err.message}`;
    }
    clearTimeout(timer);
    timer = setTimeout(load, 3000);
  }

  function go(to) {
    if (to < 0 || (to > page && !cursors[to])) return;
    page = to;
    cursors = cursors.slice(0, page + 1);
    load();
  }

  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
