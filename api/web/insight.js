// Insight, for coordinators: trends per student, tutor or subject by week or month over
// a date range, read from /api/v1/analytics, a page at a time, and the same rows as CSV.
import { api, app, el, put, say, show } from "./ui.js";

const PAGE = 50;
// The figures shown per dimension (the CSV has them all); names as the API gives them.
const COLUMNS = {
  students: [
    ["sessions", "Lessons"],
    ["attended", "Came"],
    ["late", "Late"],
    ["mean_talk_share", "Talk share"],
    ["questions", "Questions"],
    ["understood_rate", "Understood"],
    ["homework_followed_up", "Homework followed up"],
  ],
  tutors: [
    ["sessions", "Lessons"],
    ["late_starts", "Late starts"],
    ["mean_talk_share", "Talk share"],
    ["documented", "Documented"],
    ["approved", "Approved"],
    ["understood_rate", "Understood"],
    ["homework_set", "Homework set"],
  ],
  subjects: [
    ["sessions", "Lessons"],
    ["topics", "Topics"],
    ["checks", "Checks"],
    ["understood_rate", "Understood"],
    ["difficulties", "Difficulties"],
    ["homework_set", "Homework set"],
  ],
};
const SHARES = new Set(["mean_talk_share", "understood_rate", "attendance_rate"]);

function isoDay(date) {
  return date.toISOString().slice(0, 10);
}

function figure(name, value) {
  if (value === null || value === undefined) return "–";
  return SHARES.has(name) ? `${Math.round(value * 100)}%` : String(value);
}

function query(form, offset) {
  const params = new URLSearchParams({
    start: form.start.value,
    end: form.end.value,
    period: form.period.value,
  });
  if (offset !== undefined) {
    params.set("limit", String(PAGE));
    params.set("offset", String(offset));
  }
  return params.toString();
}

async function download(form, button) {
  button.disabled = true;
  say("Preparing the CSV…");
  try {
    const response = await fetch(`/api/v1/analytics/${form.dimension.value}.csv?${query(form)}`, {
      headers: { authorization: `Bearer ${app.token}` },
    });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || `the export failed (${response.status})`);
    }
    const name = `${form.dimension.value}-${form.start.value}-${form.end.value}.csv`;
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: name }, `Download ${name}`);
    put(form.querySelector(".export"), link);
    link.focus();
    say("The CSV is ready.");
  } catch (error) {
    say(error.message, { error: true });
  } finally {
    button.disabled = false;
  }
}

async function load(form, table, pager, offset) {
  say("Loading…");
  try {
    const dimension = form.dimension.value;
    const page = await api("GET", `/api/v1/analytics/${dimension}?${query(form, offset)}`);
    const columns = COLUMNS[dimension];
    put(
      table,
      el("caption", {}, `${page.total} row${page.total === 1 ? "" : "s"}, by ${form.period.value}`),
      el(
        "thead",
        {},
        el("tr", {}, el("th", { scope: "col" }, "Name"), el("th", { scope: "col" }, "From"), columns.map(([, label]) => el("th", { scope: "col" }, label))),
      ),
      el(
        "tbody",
        {},
        page.items.map((row) =>
          el(
            "tr",
            {},
            el("th", { scope: "row" }, row.name),
            el("td", {}, row.period_start),
            columns.map(([name]) => el("td", {}, figure(name, row.figures[name]))),
          ),
        ),
      ),
    );
    const previous = offset > 0 ? el("button", { type: "button", onclick: () => load(form, table, pager, Math.max(0, offset - PAGE)) }, "Previous page") : null;
    const next = offset + PAGE < page.total ? el("button", { type: "button", onclick: () => load(form, table, pager, offset + PAGE) }, "Next page") : null;
    put(pager, previous, next);
    say(page.total ? "" : "No lessons were held in that range.");
  } catch (error) {
    say(error.message, { error: true });
  }
}

export async function insightPage() {
  const today = new Date();
  const start = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 5, 1));
  const input = (id, label, attrs) => [el("label", { for: id }, label), el("input", { id, name: id, required: true, ...attrs })];
  const choice = (id, label, options) => [
    el("label", { for: id }, label),
    el("select", { id, name: id }, options.map(([value, text]) => el("option", { value }, text))),
  ];
  const table = el("table", { class: "trends" });
  const pager = el("div", { class: "actions" });
  const exportButton = el("button", { type: "button" }, "Export as CSV");
  const form = el(
    "form",
    { class: "insight" },
    choice("dimension", "Per", [
      ["students", "student"],
      ["tutors", "tutor"],
      ["subjects", "subject"],
    ]),
    choice("period", "By", [
      ["month", "month"],
      ["week", "week"],
    ]),
    input("start", "From", { type: "date", value: isoDay(start) }),
    input("end", "To", { type: "date", value: isoDay(today) }),
    el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, "Show"), exportButton),
    el("p", { class: "export" }),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load(form, table, pager, 0);
  });
  exportButton.addEventListener("click", () => download(form, exportButton));
  show("Insight", [
    el(
      "p",
      {},
      "How lessons went, per student, tutor or subject. Talk share is left blank (–) for students whose families have not consented to transcription. Students and tutors who may need attention are raised on the Today page.",
    ),
    form,
    table,
    pager,
  ]);
  await load(form, table, pager, 0);
}
