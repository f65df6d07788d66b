// The numbers view (#/numbers): the workspace's caller-ID numbers with their health over
// the last 24 hours (GET /api/workspace: phoneNumbers[].stats) and whether each rests
// (by hand, or quarantined under quarantineBelowAnswerRate), refreshed while shown.
// Read only: numbers are added, rested and removed with the API or the CLI.

import { api } from "./api.js";
import { h, timeEl } from "./dom.js";

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10} %`;
}

function restCell(n) {
  if (!n.resting) return h("span", { class: "badge s-active" }, "in use");
  if (!n.restingUntil) return h("span", { class: "badge s-paused" }, "resting");
  return h("span", {}, h("span", { class: "badge s-paused" }, "quarantined"), " until ",
    timeEl(n.restingUntil, true));
}

function numberRow(n) {
  const s = n.stats || { dials: 0, answered: 0, voicemail: 0, answerRate: null, voicemailRate: null };
  return h("tr", { dataset: { numberId: n.id } },
    h("th", { scope: "row", "data-label": "Number" }, n.number,
      h("span", { class: "muted id" }, ` ${n.id}`)),
    h("td", { "data-label": "Limit" }, String(n.maxConcurrentDials)),
    h("td", { "data-label": "State" }, restCell(n)),
    h("td", { "data-label": "Dials (24 h)" }, String(s.dials)),
    h("td", { "data-label": "Answered" }, String(s.answered)),
    h("td", { "data-label": "Answer rate" }, percent(s.answerRate)),
    h("td", { "data-label": "Voicemail rate" }, percent(s.voicemailRate)));
}

/** Render the numbers view into `root`; returns a function that stops its refreshing. */
export function showNumbers(root) {
  let timer = null;
  let stopped = false;
  const body = h("tbody");
  const status = h("p", { class: "muted", role: "status" }, "Loading…");
  const table = h("table", { class: "jobs" },
    h("caption", { class: "sr-only" }, "The workspace's caller-ID numbers and their health over 24 hours"),
    h("thead", {}, h("tr", {},
      ...["Number", "Limit", "State", "Dials (24 h)", "Answered", "Answer rate", "Voicemail rate"]
        .map((t) => h("th", { scope: "col" }, t)))),
    body);
  root.replaceChildren(h("div", { class: "title-row" }, h("h1", {}, "Caller-ID numbers")),
    status, h("div", { class: "table-wrap" }, table));

  async function load() {
    clearTimeout(timer);
    try {
      const ws = await api("/api/workspace");
      if (stopped) return;
      body.replaceChildren(...(ws.phoneNumbers || []).map(numberRow));
      const below = ws.quarantineBelowAnswerRate;
      status.textContent = `${ws.phoneNumbers.length} number${ws.phoneNumbers.length === 1 ? "" : "s"}; `
        + (below === null || below === undefined
          ? "no quarantine (quarantineBelowAnswerRate is not set)."
          : `a number answered below ${percent(below)} over at least 20 dials rests for a day.`);
    } catch (err) {
      if (stopped) return;
      status.textContent = `Could not load the numbers: ${err.message}`;
    }
    timer = setTimeout(load, 5000);
  }

  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
