// The webhooks view (#/webhooks): the workspace's endpoints and each one's most recent
// delivery attempts, refreshed while shown. Read only: endpoints are managed with the
// API (/api/webhooks), whose answers carry the secret this page never shows.

import { api } from "./api.js";
import { h, timeEl } from "./dom.js";

const RECENT = 5;

function outcomeBadge(outcome) {
  const cls = { delivered: "s-complete", retrying: "s-paused", failed: "s-cancelled" }[outcome];
  return h("span", { class: `badge ${cls || ""}` }, outcome);
}

function attemptRow(a) {
  const answer = a.statusCode ? `HTTP ${a.statusCode}` : (a.error || "—");
  return h("tr", {},
    h("td", { "data-label": "When" }, timeEl(a.at, true)),
    h("td", { "data-label": "Event" }, a.eventType),
    h("td", { "data-label": "Attempt" }, String(a.attempt)),
    h("td", { "data-label": "Outcome" }, outcomeBadge(a.outcome)),
    h("td", { "data-label": "Answer" }, answer,
      a.latencyMs !== null ? h("span", { class: "muted" }, ` · ${a.latencyMs} ms`) : ""),
    h("td", { "data-label": "Next attempt" }, timeEl(a.nextAttemptAt)));
}

function endpointCard(hook, attempts) {
  const state = hook.enabled ? "enabled" : `disabled${hook.disabledReason ? `: ${hook.disabledReason}` : ""}`;
  const table = h("table", { class: "jobs" },
    h("caption", { class: "sr-only" }, `Recent deliveries to ${hook.url}, newest first`),
    h("thead", {}, h("tr", {},
      ...["When", "Event", "Attempt", "Outcome", "Answer", "Next attempt"]
        .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, attempts.map(attemptRow)));
  return h("section", { class: "card", dataset: { webhookId: hook.id } },
    h("h2", {}, hook.description || hook.url),
    h("p", { class: "muted id" }, `${hook.id} · ${hook.url} · ${state}`),
    h("p", {}, `Events: ${hook.events.join(", ")}`),
    attempts.length
      ? h("div", { class: "table-wrap" }, table)
      : h("p", { class: "muted" }, "No deliveries yet."));
}

/** Render the webhooks view into `root`; returns a function that stops its refreshing. */
export function showWebhooks(root) {
  let timer = null;
  let stopped = false;
  const list = h("div");
  const status = h("p", { class: "muted", role: "status" }, "Loading…");
  root.replaceChildren(h("div", { class: "title-row" }, h("h1", {}, "Webhooks")), status, list);

  async function load() {
    clearTimeout(timer);
    try {
      const hooks = (await api("/api/webhooks?limit=50")).data;
      const recent = await Promise.all(hooks.map((hook) =>
        api(`/api/webhooks/${encodeURIComponent(hook.id)}/deliveries?limit=${RECENT}`)));
      if (stopped) return;
      list.replaceChildren(...hooks.map((hook, i) => endpointCard(hook, recent[i].data)));
      status.textContent = hooks.length
        ? `${hooks.length} endpoint${hooks.length === 1 ? "" : "s"}`
        : "No webhook endpoints: add one with POST /api/webhooks.";
    } catch (err) {
      if (stopped) return;
      status.textContent = `Could not load the webhooks: ${err.message}`;
    }
    timer = setTimeout(load, 5000);
  }

  load();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
