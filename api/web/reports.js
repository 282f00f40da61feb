// Progress reports, for the tutors who taught the student and for coordinators: the
// list of drafts waiting, and the review of one (edit the text, preview the PDF the
// family will get, approve and send). The API decides who may see which report.
import { api, app, el, put, say, show, when } from "./ui.js";

export function reportRoutes() {
  return [
    [/^#\/reports$/, reportsPage],
    [/^#\/reports\/([^/]+)$/, reportPage],
  ];
}

const names = new Map(); // student id -> name (a promise)

function studentName(id) {
  if (!names.has(id)) {
    names.set(
      id,
      api("GET", `/api/v1/students/${encodeURIComponent(id)}`)
        .then((s) => s.display_name)
        .catch(() => "a student"),
    );
  }
  return names.get(id);
}

async function reportItem(r) {
  return el(
    "li",
    {},
    el(
      "a",
      { href: `#/reports/${encodeURIComponent(r.id)}` },
      `${await studentName(r.student_id)}, ${r.report.period_label}`,
    ),
    r.status === "draft" ? ` · drafted ${when(r.drafted_at)}` : ` · sent ${when(r.approved_at)}`,
  );
}

// The tutor desk's section: the reports waiting for this tutor's review.
export async function reportsToReview() {
  const drafts = await api("GET", "/api/v1/progress-reports?status=draft&limit=20");
  const items = await Promise.all(drafts.items.map(reportItem));
  return [
    el("h2", {}, "Progress reports to review"),
    items.length
      ? el("ul", { class: "reports" }, items)
      : el("p", {}, "No progress report is waiting for you."),
  ];
}

async function reportsPage() {
  say("Loading…");
  const [drafts, sent] = await Promise.all([
    api("GET", "/api/v1/progress-reports?status=draft&limit=50"),
    api("GET", "/api/v1/progress-reports?status=approved&limit=50"),
  ]);
  const waiting = await Promise.all(drafts.items.map(reportItem));
  const done = await Promise.all(sent.items.slice(-20).reverse().map(reportItem));
  show("Progress reports", [
    el(
      "p",
      {},
      "Each month's reports are drafted from the lessons' approved notes when the month ends. " +
        "Read each, correct what is wrong, then approve it: only then is it emailed to the family, " +
        "with the report as a PDF.",
    ),
    el("h2", {}, "Waiting for review"),
    waiting.length ? el("ul", { class: "reports" }, waiting) : el("p", {}, "No report is waiting."),
    el("h2", {}, "Sent"),
    done.length ? el("ul", { class: "reports" }, done) : el("p", {}, "No report has been sent yet."),
  ]);
  say("");
}

function listSection(title, items) {
  if (!items.length) return null;
  return [
    el("h2", {}, title),
    el(
      "ul",
      {},
      items.map((i) =>
        el("li", {}, i.text, el("span", { class: "hint" }, ` (from ${i.sessions.length} lesson${i.sessions.length === 1 ? "" : "s"})`)),
      ),
    ),
  ];
}

function field(id, label, value, rows, disabled) {
  const box = el("textarea", { id, rows, maxlength: id === "report-summary" ? 1500 : 400, disabled });
  box.value = value;
  return [el("label", { for: id }, label), box];
}

async function preview(id, button) {
  button.disabled = true;
  say("Making the PDF…");
  try {
    const response = await fetch(`/api/v1/progress-reports/${encodeURIComponent(id)}/report.pdf`, {
      headers: { authorization: `Bearer ${app.token}` },
    });
    if (!response.ok) throw new Error(`the PDF could not be made (${response.status})`);
    const url = URL.createObjectURL(await response.blob());
    const link = el("a", { href: url, download: `progress-report-${id}.pdf` }, "Download the PDF");
    button.replaceWith(link);
    link.focus();
    say("The PDF is ready: download it to see what the family will get.");
  } catch (error) {
    say(error.message, { error: true });
    button.disabled = false;
  }
}

async function reportPage(id) {
  say("Loading…");
  const r = await api("GET", `/api/v1/progress-reports/${encodeURIComponent(id)}`);
  const report = r.report;
  const approved = r.status === "approved";
  const summary = field("report-summary", "Summary for the family", report.summary, 6, approved);
  const attendance = field("report-attendance", "Attendance", report.attendance, 2, approved);
  const homework = field("report-homework", "Homework", report.homework, 2, approved);
  const store = () =>
    api("PATCH", `/api/v1/progress-reports/${encodeURIComponent(id)}`, {
      summary: summary[1].value.trim(),
      attendance: attendance[1].value.trim(),
      homework: homework[1].value.trim(),
    });
  const save = async (event) => {
    event.preventDefault();
    say("Saving…");
    try {
      await store();
      say("Saved. Approve it when it reads right.");
    } catch (error) {
      say(error.message, { error: true });
    }
  };
  const approve = async () => {
    say("Sending…");
    try {
      await store();
      await api("POST", `/api/v1/progress-reports/${encodeURIComponent(id)}/approve`);
      await reportPage(id);
      say("Approved: the family is being sent the report.");
    } catch (error) {
      say(error.message, { error: true });
    }
  };
  const pdf = el("button", { type: "button", onclick: () => preview(id, pdf) }, "Preview the PDF");
  const actions = el("div", { class: "actions" });
  put(
    actions,
    approved ? null : el("button", { type: "submit" }, "Save changes"),
    approved ? null : el("button", { type: "button", class: "primary", onclick: approve }, "Approve and send to the family"),
    pdf,
  );
  const form = el("form", { class: "report", onsubmit: save }, summary, attendance, homework, actions);
  show(`${report.student_name}: progress report for ${report.period_label}`, [
    el(
      "p",
      { class: "meta" },
      approved
        ? `Approved ${when(r.approved_at)}: the family has been sent it.`
        : `Drafted ${when(r.drafted_at)} from the approved notes of ${r.session_ids.length} lesson${r.session_ids.length === 1 ? "" : "s"}. ` +
            "Check it, change what is wrong, then approve: it is emailed only then.",
    ),
    form,
    listSection("What we covered", report.covered),
    listSection("What went well", report.went_well),
    listSection("Still working on", report.working_on),
    listSection("Next steps", report.next_steps),
    el("p", {}, el("a", { href: app.me.role === "tutor" ? "#/desk" : "#/reports" }, "Back")),
  ]);
  say("");
}
