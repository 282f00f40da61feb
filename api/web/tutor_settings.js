// A tutor's settings, for a coordinator: what they teach, when they are free (weekly
// hours, time off, extra hours) and their limits. Each part saves on its own through the
// API's PUT, which replaces it whole; a refusal names the field it is about.
import { api, el, put, say, show } from "./ui.js";

const WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].map((day) => [
  day,
  `${day[0].toUpperCase()}${day.slice(1)}`,
]);
// Where in a part a refusal points: the API's loc, in the page's words.
const PARTS = { items: "Subject", rules: "Weekly hours", exceptions: "Time off and extra hours" };

function where(loc) {
  const [part, row, ...rest] = loc.slice(1); // after "body"
  if (!(part in PARTS)) return loc.slice(1).join(" ");
  return `${PARTS[part]}${typeof row === "number" ? `, row ${row + 1}` : ""}${rest.length ? ` (${rest.join(" ")})` : ""}`;
}
const EXCEPTION_KINDS = [
  ["time_off", "Time off"],
  ["extra_hours", "Extra hours"],
];

let rowCount = 0; // ids for the rows' fields, unique on the page

// An input with its own label (for screen readers), inside a row of a list.
function labelled(label, input) {
  input.id = `tutor-field-${(rowCount += 1)}`;
  return el("span", { class: "cell" }, el("label", { for: input.id }, label), input);
}

function select(pairs, value) {
  return el("select", {}, pairs.map(([v, text]) => el("option", { value: v, selected: v === value }, text)));
}

// A list of editable rows with Add and Remove; `make(values)` builds a row's inputs and
// returns [inputs..., read()] where read() gives the row's JSON.
function rows(title, addLabel, items, make) {
  const list = el("ul", { class: "rows" });
  const add = (values) => {
    const [parts, read] = make(values);
    const remove = el("button", { type: "button", class: "remove" }, "Remove");
    const li = el("li", {}, parts, remove);
    li.read = read;
    remove.addEventListener("click", () => {
      const next = li.nextElementSibling || li.previousElementSibling;
      li.remove();
      (next ? next.querySelector("input, select") : addButton).focus();
    });
    list.append(li);
    return li;
  };
  const addButton = el("button", { type: "button" }, addLabel);
  addButton.addEventListener("click", () => add({}).querySelector("input, select").focus());
  items.forEach(add);
  return {
    node: el("fieldset", {}, el("legend", {}, title), list, addButton),
    read: () => [...list.children].map((li) => li.read()),
  };
}

// Save one part: PUT, then say what holds now, or what was refused and where.
function saver(form, label, save) {
  const outcome = el("div", { class: "outcome", "aria-live": "polite" });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    say(`Saving ${label}…`);
    try {
      await save();
      outcome.replaceChildren();
      say(`Saved ${label}.`);
    } catch (error) {
      put(outcome,
        el("p", {}, `Not saved: ${error.message}`),
        error.details.length ? el("ul", { class: "conflicts" }, error.details.map((d) => el("li", {}, `${where(d.loc)}: ${d.message.replace(/^Value error, /, "")}`))) : null,
      );
      say(`${label[0].toUpperCase()}${label.slice(1)} not saved: see why below.`, { error: true });
    }
  });
  form.append(el("button", { type: "submit", class: "primary" }, `Save ${label}`), outcome);
  return form;
}

const blank = (value) => (value === "" ? null : value);

// A wall-clock time, HH:MM (24:00 allowed, for the end of a day).
function clock(value, required) {
  return el("input", {
    type: "text",
    inputmode: "numeric",
    pattern: "([01][0-9]|2[0-3]):[0-5][0-9]|24:00",
    placeholder: "HH:MM",
    title: "A time as HH:MM, 00:00 to 24:00",
    size: "5",
    required,
    value,
  });
}

export async function tutorSettingsPage(tutorId) {
  say("Loading…");
  const path = `/api/v1/tutors/${encodeURIComponent(tutorId)}`;
  const [tutor, qualifications, availability, limits] = await Promise.all([
    api("GET", path),
    api("GET", `${path}/qualifications`),
    api("GET", `${path}/availability`),
    api("GET", `${path}/limits`),
  ]);

  const taught = rows("Qualified to teach", "Add a subject", qualifications.items, (q) => {
    const subject = el("input", { type: "text", required: true, maxlength: 64, value: q.subject || "" });
    const level = el("input", { type: "text", required: true, maxlength: 64, value: q.level || "" });
    return [[labelled("Subject", subject), labelled("Level", level)], () => ({ subject: subject.value.trim(), level: level.value.trim() })];
  });
  const qualificationsForm = saver(el("form", { class: "settings" }, taught.node), "qualifications", () =>
    api("PUT", `${path}/qualifications`, { items: taught.read() }),
  );

  const weekly = rows(`Weekly hours (${availability.time_zone})`, "Add hours", availability.rules, (r) => {
    const day = select(WEEKDAYS, r.weekday || "monday");
    const start = clock(r.start || "16:00", true);
    const end = clock(r.end || "19:00", true); // 24:00 is a day's end, which a time input cannot say
    return [
      [labelled("Day", day), labelled("From", start), labelled("To", end)],
      () => ({ weekday: day.value, start: start.value, end: end.value }),
    ];
  });
  const dated = rows("Time off and extra hours (whole days when no times are given)", "Add a date", availability.exceptions, (x) => {
    const kind = select(EXCEPTION_KINDS, x.kind || "time_off");
    const date = el("input", { type: "date", required: true, value: x.date || "" });
    const start = clock(x.start || "", false);
    const end = clock(x.end || "", false);
    const note = el("input", { type: "text", maxlength: 200, value: x.note || "" });
    return [
      [labelled("Kind", kind), labelled("Date", date), labelled("From", start), labelled("To", end), labelled("Note", note)],
      () => ({ kind: kind.value, date: date.value, start: blank(start.value), end: blank(end.value), note: blank(note.value.trim()) }),
    ];
  });
  const availabilityForm = saver(el("form", { class: "settings" }, weekly.node, dated.node), "availability", () =>
    api("PUT", `${path}/availability`, { rules: weekly.read(), exceptions: dated.read() }),
  );

  const number = (value, min, max) => el("input", { type: "number", min: String(min), max: String(max), value: value ?? "" });
  const perDay = number(limits.max_sessions_per_day, 1, 48);
  const perWeek = number(limits.max_sessions_per_week, 1, 300);
  const buffer = number(limits.buffer_minutes, 0, 1440);
  const limitsForm = saver(
    el(
      "form",
      { class: "settings" },
      el(
        "fieldset",
        {},
        el("legend", {}, "Limits (empty: none)"),
        labelled("Lessons a day at most", perDay),
        labelled("Lessons a week at most", perWeek),
        labelled("Minutes between lessons", buffer),
      ),
    ),
    "limits",
    () =>
      api("PUT", `${path}/limits`, {
        max_sessions_per_day: perDay.value ? Number(perDay.value) : null,
        max_sessions_per_week: perWeek.value ? Number(perWeek.value) : null,
        buffer_minutes: Number(buffer.value || 0),
      }),
  );

  show(`${tutor.display_name}: teaching, hours and limits`, [
    el("p", { class: "hint" }, "Bookings are checked against these from now on; lessons already booked stay. With no weekly hours, the tutor can be booked at any time but their time off."),
    qualificationsForm,
    availabilityForm,
    limitsForm,
    el("p", {}, el("a", { href: "#/people" }, "Back to People")),
  ]);
  say("");
}
