// Creating a job from a CSV file: its head parsed here for the preview (its rows counted
// by streaming it in slices: a large file is never held whole), then sent as it is with
// the job's settings in one multipart create (the API reads the file as a stream, so
// a large file is never rebuilt as one JSON); the API validates every row and stores
// nothing when any is wrong, and its problems are shown against the lines of the file.

import { ApiError, api, jobsPath } from "./api.js";
import { CONSENT_COLUMNS, countRows, describeProblem, readHead } from "./csv.js";
import { announce, h } from "./dom.js";
import { businessHours, scheduleEditor } from "./schedule.js";

/** A labelled field; `hint` is text, or an element with the id `${id}-hint`. */
function field(id, label, input, hint) {
  input.id = id;
  if (hint) input.setAttribute("aria-describedby", `${id}-hint`);
  const note = typeof hint === "string" ? h("p", { class: "hint", id: `${id}-hint` }, hint) : hint;
  return h("div", { class: "field" }, h("label", { for: id }, label), input, note || null);
}

/** "1,234 rows; row fields: externalId, state; inputs: name." */
function summary(head, rows) {
  const fields = head.fields.length ? `; row fields: ${head.fields.join(", ")}` : "";
  return `${rows.toLocaleString("en-US")} rows${fields}; inputs: ${head.inputs.join(", ") || "none"}.`;
}

function megabytes(bytes) {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/** The first rows of a file's head: toNumber and the row-field columns, then the inputs. */
function previewTable(head) {
  const sample = head.rows.slice(0, 5);
  const fields = ["toNumber", ...head.fields];
  const valueOf = (row, name) => (Object.hasOwn(CONSENT_COLUMNS, name)
    ? row.consent?.[CONSENT_COLUMNS[name]] : row[name]) ?? "";
  const group = (label, span, kind) => (span
    ? h("th", { scope: "colgroup", colspan: span, "data-kind": kind }, label) : null);
  return h("div", { class: "table-wrap" }, h("table", {},
    h("caption", { class: "sr-only" }, "First rows of the file"),
    h("thead", {},
      h("tr", {}, h("td", {}), group("Row fields", fields.length, "fields"),
        group("Inputs", head.inputs.length, "inputs")),
      h("tr", {}, h("th", { scope: "col" }, "Line"),
        ...fields.map((k) => h("th", { scope: "col", "data-kind": "field" }, k)),
        ...head.inputs.map((k) => h("th", { scope: "col", "data-kind": "input" }, k)))),
    h("tbody", {}, ...sample.map((row, i) => h("tr", {},
      h("td", {}, String(head.lines[i])),
      ...fields.map((k) => h("td", {}, valueOf(row, k))),
      ...head.inputs.map((k) => h("td", {}, row.inputs[k])))))));
}

/** Render the create form into `root`; `navigate(hash)` opens another view. */
export async function showCreate(root, navigate) {
  let parsed = null;
  const name = h("input", { type: "text", required: true, value: "" });
  const agent = h("input", { type: "text", required: true, value: "" });
  const cap = h("input", { type: "number", min: 1, step: 1, value: 5, required: true });
  const pool = h("input", { type: "text", required: true, spellcheck: "false" });
  const file = h("input", { type: "file", accept: ".csv,text/csv", required: true });
  const preview = h("div", { class: "preview", "aria-live": "polite" });
  const problems = h("div", { id: "create-problems", class: "problems", tabindex: -1 });
  const submit = h("button", { type: "submit", class: "primary" }, "Create job");
  const schedule = scheduleEditor(businessHours(), "new-schedule");

  const poolHint = h("p", { class: "hint", id: "new-pool-hint" },
    "The ids (pn_…) printed by `batchdial workspace create`.");
  // The workspace's numbers: offered as the default pool and listed under the field.
  try {
    const ws = await api("/api/workspace");
    const numbers = ws.phoneNumbers || [];
    if (numbers.length) {
      pool.value = numbers.map((n) => n.id).join(", ");
      poolHint.textContent = "This workspace's numbers: " +
        numbers.map((n) => `${n.id} (${n.number})`).join(", ") + ".";
    }
  } catch (err) {
    // Keep the generic hint.
  }
  // The newest job's agent and pool are the likeliest choice for the next one.
  try {
    const latest = await api(`${jobsPath()}?limit=1`);
    if (latest.data.length) {
      agent.value = latest.data[0].callAgentId;
      pool.value = latest.data[0].fromPhoneNumberIds.join(", ");
      cap.value = latest.data[0].maxConcurrentDials;
    }
  } catch (err) {
    // Leave the fields as they are.
  }

  // Each choice of file has its number: a count still running for an earlier file stops.
  let choice = 0;
  file.addEventListener("change", async () => {
    parsed = null;
    problems.replaceChildren();
    const chosen = file.files[0];
    const mine = (choice += 1);
    if (!chosen) return;
    if (!name.value) name.value = chosen.name.replace(/\.csv$/i, "");
    let head;
    try {
      head = await readHead(chosen);
    } catch (err) {
      if (mine === choice) refuse(err);
      return;
    }
    if (mine !== choice) return;
    parsed = head;
    const count = h("p", { class: "preview-count" });
    preview.replaceChildren(count, previewTable(head));
    if (head.whole) {
      count.textContent = summary(head, head.rows.length);
      return;
    }
    // Only the head was read: the rows are counted by streaming the file in slices.
    const shown = `the first ${head.rows.length} rows are read for this preview`;
    count.textContent = `Counting the rows… (${shown})`;
    preview.setAttribute("aria-busy", "true"); // the progress is not read out, the total is
    try {
      const total = await countRows(chosen, (done) => {
        if (mine === choice) {
          count.textContent = `Counting the rows: ${Math.floor((100 * done) / chosen.size)}% ` +
            `of ${megabytes(chosen.size)} read… (${shown})`;
        }
      }, () => mine !== choice);
      if (total !== null && mine === choice) count.textContent = summary(head, total);
    } catch (err) {
      if (mine === choice) refuse(err);
    } finally {
      if (mine === choice) preview.removeAttribute("aria-busy");
    }
  });

  function refuse(err) {
    parsed = null;
    preview.replaceChildren(h("p", { class: "error" }, `This file cannot be used: ${err.message}`));
  }

  function showProblems(title, items) {
    problems.replaceChildren(
      h("h2", {}, title),
      h("ul", {}, ...items.map((text) => h("li", {}, text))));
    problems.focus();
  }

  async function onSubmit(event) {
    event.preventDefault();
    problems.replaceChildren();
    if (!parsed) {
      showProblems("Nothing was sent", ["Choose a CSV file with a toNumber column first."]);
      return;
    }
    let body;
    try {
      body = {
        name: name.value.trim(),
        callAgentId: agent.value.trim(),
        maxConcurrentDials: Number(cap.value),
        fromPhoneNumberIds: pool.value.split(/[\s,]+/).filter(Boolean),
      };
      const sched = schedule.read();
      if (sched) body.schedule = sched;
    } catch (err) {
      showProblems("Nothing was sent", [err.message]);
      return;
    }
    submit.disabled = true;
    try {
      const form = new FormData();
      form.append("job", new Blob([JSON.stringify(body)], { type: "application/json" }));
      form.append("rows", new Blob([file.files[0]], { type: "text/csv" }), file.files[0].name);
      const job = await api(jobsPath(), { method: "POST", form });
      announce(`Created job ${job.name} with ${job.counts.rows} rows. It waits until you start it.`);
      navigate(`#/jobs/${encodeURIComponent(job.id)}`);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const lines = err.details.map((d) => {
        const where = describeProblem(d.path, parsed.lines, d.message);
        return `${where.where}: ${d.message.replace(/^line \d+: /, "")}`;
      });
      showProblems(`Nothing was stored: ${err.details.length || 1} problem(s) to fix`,
        lines.length ? lines : [err.message]);
      announce("The job was not created: see the problems listed.");
    } finally {
      submit.disabled = false;
    }
  }

  const form = h("form", { class: "card", novalidate: true, onsubmit: onSubmit },
    field("new-file", "CSV file", file,
      "First line: a toNumber column, optional row fields (externalId, timezone, state, " +
      "consent, …) and one column per input, e.g. toNumber,externalId,customer_name. " +
      "Numbers in E.164 form (+12125550123)."),
    preview,
    field("new-name", "Job name", name),
    field("new-agent", "Call agent id", agent),
    field("new-cap", "Most calls at once (maxConcurrentDials)", cap),
    field("new-pool", "Caller-ID number ids (comma-separated)", pool, poolHint),
    schedule.element,
    problems,
    h("div", { class: "row" }, submit,
      h("a", { href: "#/jobs", class: "button secondary" }, "Back to jobs")));
  root.replaceChildren(h("h1", {}, "New job from a CSV file"), form);
  file.focus();
  return () => {};
}
