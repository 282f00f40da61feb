// Children's data for the coordinator: a student's page (download everything held about
// them; erase them, after typing their name), and the audit log (who read or changed a
// student's data, who was refused), filtered and as CSV. All through the public API.
import { api, app, el, put, say, show } from "./ui.js";

export function privacyRoutes() {
  return [
    [/^#\/people\/students\/([^/]+)$/, studentPage],
    [/^#\/audit(?:\?.*)?$/, auditPage],
  ];
}

// A file from the API with the login (the zip, the CSV), offered as a download link.
async function fetchFile(path, name, slot, button, ready) {
  button.disabled = true;
  say("Preparing the file…");
  try {
    const response = await fetch(path, { headers: { authorization: `Bearer ${app.token}` } });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || `the download failed (${response.status})`);
    }
    const link = el("a", { href: URL.createObjectURL(await response.blob()), download: name }, `Download ${name}`);
    put(slot, link);
    link.focus();
    say(ready);
  } catch (error) {
    say(error.message, { error: true });
  } finally {
    button.disabled = false;
  }
}

async function studentPage(id) {
  say("Loading…");
  const student = await api("GET", `/api/v1/students/${encodeURIComponent(id)}`);
  const exportSlot = el("p", { class: "export" });
  const exportButton = el("button", { type: "button" }, "Prepare the download");
  exportButton.addEventListener("click", () =>
    fetchFile(
      `/api/v1/students/${encodeURIComponent(id)}/export`,
      `student-${id}.zip`,
      exportSlot,
      exportButton,
      "The zip is ready: one JSON file per kind of data, and the student's recordings.",
    ),
  );
  const confirmInput = el("input", { id: "erase-confirm", autocomplete: "off", required: true });
  const eraseButton = el("button", { type: "submit", class: "danger" }, "Erase this student");
  const result = el("div", { class: "erasure" });
  const eraseForm = el(
    "form",
    { class: "card" },
    el("h2", {}, "Erase everything about this student"),
    el(
      "p",
      {},
      "Their profile, login, guardians' consents, recordings, transcripts, chat, documents, progress reports and emails are deleted, from the database and from disk. Lessons they had alone go entirely; in group lessons only their part goes. Attendance figures stay, anonymous. This cannot be undone.",
    ),
    el("label", { for: "erase-confirm" }, `Type the student's name (${student.display_name}) to confirm`),
    confirmInput,
    eraseButton,
    result,
  );
  eraseForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (confirmInput.value.trim() !== student.display_name) {
      say("The name does not match: nothing was erased.", { error: true });
      confirmInput.focus();
      return;
    }
    eraseButton.disabled = true;
    say("Erasing…");
    try {
      const done = await api("POST", `/api/v1/students/${encodeURIComponent(id)}/erase`, { confirm: true });
      put(
        result,
        el("h3", {}, "Erased"),
        el("p", {}, `${done.files} file(s) deleted; rows per table:`),
        el("ul", {}, Object.entries(done.rows).map(([table, n]) => el("li", {}, `${table}: ${n}`))),
        done.already_sent.length
          ? [
              el("p", {}, "Emails sent before the erasure cannot be recalled; tell the family where they went:"),
              el("ul", {}, done.already_sent.map((line) => el("li", {}, line))),
            ]
          : null,
        el("ul", { class: "hint" }, done.kept.map((line) => el("li", {}, `Kept: ${line}`))),
      );
      say(`${student.display_name} was erased.`);
    } catch (error) {
      eraseButton.disabled = false;
      say(error.message, { error: true });
    }
  });
  show(student.display_name, [
    el(
      "dl",
      {},
      el("dt", {}, "Email"),
      el("dd", {}, student.email),
      el("dt", {}, "Level"),
      el("dd", {}, student.level || "not set"),
      el("dt", {}, "Time zone"),
      el("dd", {}, student.time_zone),
    ),
    el(
      "section",
      { class: "card" },
      el("h2", {}, "Everything held about this student"),
      el("p", {}, "For a family's request to see their data: a zip of every kind of data, with the recordings."),
      exportButton,
      exportSlot,
    ),
    el("p", {}, el("a", { href: `#/audit?student=${encodeURIComponent(id)}` }, "Who read or changed this student's data")),
    eraseForm,
  ]);
  say("");
}

const SHOWN = 25;

// A time to the second, in the reader's zone: entries come many a minute.
function short(iso) {
  return new Intl.DateTimeFormat(undefined, { dateStyle: "short", timeStyle: "medium", timeZone: app.zone }).format(new Date(iso));
}

const ACTIONS = ["", "read", "create", "update", "delete", "denied", "export", "erase", "expire", "login_failed", "login_throttled"];

async function auditPage() {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const student = el("input", { id: "audit-student", value: params.get("student") || "", placeholder: "stu_…" });
  const action = el("select", { id: "audit-action" }, ACTIONS.map((a) => el("option", { value: a }, a || "any")));
  action.value = params.get("action") || "";
  const rows = el("tbody");
  const total = el("p", { class: "hint" });
  const csvSlot = el("p", { class: "export" });
  const csvButton = el("button", { type: "button" }, "Prepare CSV");
  const query = () => {
    const q = new URLSearchParams();
    if (student.value.trim()) q.set("student_id", student.value.trim());
    if (action.value) q.set("action", action.value);
    return q;
  };
  const load = async () => {
    say("Loading…");
    const q = query();
    q.set("limit", String(SHOWN));
    try {
      const page = await api("GET", `/api/v1/audit?${q}`);
      put(
        rows,
        page.items.map((e) =>
          el(
            "tr",
            {},
            el("td", { class: "at" }, short(e.at)),
            el("td", {}, `${e.actor_kind}${e.actor_id ? ` ${e.actor_id}` : ""}`),
            el("td", {}, e.action),
            el("td", {}, `${e.resource}${e.resource_id ? ` ${e.resource_id}` : ""}`),
            el("td", {}, e.student_id || ""),
            el("td", {}, e.route),
            el("td", {}, e.address || ""),
          ),
        ),
      );
      total.textContent = `${page.total} entr${page.total === 1 ? "y" : "ies"}, newest first${page.total > SHOWN ? ` (the first ${SHOWN} shown; the CSV has them all)` : ""}.`;
      say("");
    } catch (error) {
      say(error.message, { error: true });
    }
  };
  const form = el(
    "form",
    { class: "filters" },
    el("label", { for: "audit-student" }, "Student id"),
    student,
    el("label", { for: "audit-action" }, "Action"),
    action,
    el("button", { type: "submit" }, "Show"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  csvButton.addEventListener("click", () =>
    fetchFile(`/api/v1/audit.csv?${query()}`, "audit-log.csv", csvSlot, csvButton, "The CSV is ready."),
  );
  show("Audit log", [
    el(
      "p",
      {},
      "Every read and change of a student's data, every refused attempt, failed logins, exports, erasures and what the retention sweep deleted. Ids only: open a student from People to see who they are.",
    ),
    form,
    total,
    el(
      "table",
      { class: "audit" },
      el("caption", { class: "visually-hidden" }, "Audit log entries"),
      el("thead", {}, el("tr", {}, ["When", "Who", "Action", "What", "Student", "Route", "Address"].map((h) => el("th", { scope: "col" }, h)))),
      rows,
    ),
    csvButton,
    csvSlot,
  ]);
  await load();
}
