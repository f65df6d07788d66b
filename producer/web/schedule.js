// A schedule editor: a time zone, and per day of the week a list of slots written
// "09:00-12:00, 13:00-17:00" (empty: closed). "Dial at any time" means no schedule.

import { h } from "./dom.js";

export const DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/** Monday to Friday, 09:00-17:00, in `zone` (default: the browser's): what a new job
 * proposes, so that nobody dials at night by leaving a box as it came. */
export function businessHours(zone = Intl.DateTimeFormat().resolvedOptions().timeZone) {
  return {
    days: [1, 2, 3, 4, 5].map((d) => ({
      dayOfWeek: d, timeSlots: [{ startTime: "09:00", endTime: "17:00" }],
    })),
    timezone: zone,
  };
}

function slotsText(day) {
  return (day ? day.timeSlots : []).map((s) => `${s.startTime}-${s.endTime}`).join(", ");
}

/**
 * Build the editor for `schedule` (null: any time) with ids prefixed by `prefix`.
 * Returns {element, read()} where read() gives the schedule (or null) or throws
 * an Error naming the day whose slots cannot be read.
 */
export function scheduleEditor(schedule, prefix) {
  const anyTime = h("input", { type: "checkbox", id: `${prefix}-any`, checked: !schedule });
  const zone = h("input", {
    id: `${prefix}-tz`, type: "text", autocomplete: "off", spellcheck: "false",
    value: schedule ? schedule.timezone : Intl.DateTimeFormat().resolvedOptions().timeZone,
  });
  const byDay = new Map((schedule ? schedule.days : []).map((d) => [d.dayOfWeek, d]));
  const inputs = DAYS.map((name, i) => h("input", {
    id: `${prefix}-d${i}`, type: "text", autocomplete: "off", placeholder: "closed",
    value: schedule ? slotsText(byDay.get(i)) : (i >= 1 && i <= 5 ? "09:00-17:00" : ""),
  }));
  const fields = h("fieldset", { class: "days" },
    h("legend", {}, "Weekly calling hours"),
    h("div", { class: "field" }, h("label", { for: zone.id }, "Time zone (IANA name)"), zone),
    ...DAYS.map((name, i) => h("div", { class: "field day" },
      h("label", { for: inputs[i].id }, name), inputs[i])),
    h("p", { class: "hint" }, "Slots as HH:MM-HH:MM separated by commas; 24:00 ends a day; " +
      "empty means no calls that day."));
  const sync = () => {
    fields.disabled = anyTime.checked;
  };
  anyTime.addEventListener("change", sync);
  sync();

  function read() {
    if (anyTime.checked) return null;
    const days = [];
    inputs.forEach((input, i) => {
      const text = input.value.trim();
      if (!text) return;
      const timeSlots = text.split(",").map((part) => {
        const m = /^\s*(\d{1,2}:\d{2})\s*[-–]\s*(\d{1,2}:\d{2})\s*$/.exec(part);
        if (!m) throw new Error(`${DAYS[i]}: "${part.trim()}" is not a slot like 09:00-17:00`);
        const pad = (t) => t.padStart(5, "0");
        return { startTime: pad(m[1]), endTime: pad(m[2]) };
      });
      days.push({ dayOfWeek: i, timeSlots });
    });
    return { days, timezone: zone.value.trim() };
  }

  const element = h("div", { class: "schedule" },
    h("div", { class: "check" }, anyTime,
      h("label", { for: anyTime.id }, "Dial at any time (no schedule)")),
    fields);
  return { element, read };
}
