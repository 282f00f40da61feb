// The family portal: a guardian's children, their lessons to come, the summaries their
// tutors approved, their monthly progress reports (as PDFs), and the consents and emails the guardian decides, changed here and
// holding at once (PATCH /api/v1/guardians/{id}/students/{student_id}).
import { api, app, el, say, show, when } from "./ui.js";

export function familyRoutes() {
  return [
    [/^#\/family$/, familyHome],
    [/^#\/summaries\/([^/]+)$/, summaryPage],
  ];
}

const tutors = new Map(); // tutor id -> name, for the session lists

async function tutorName(id) {
  if (!tutors.has(id)) {
    tutors.set(id, api("GET", `/api/v1/tutors/${encodeURIComponent(id)}`).then((t) => t.display_name));
  }
  try {
    return await tutors.get(id);
  } catch {
    return "their tutor";
  }
}

async function familyHome() {
  say("Loading…");
  const guardian = await api("GET", `/api/v1/guardians/${encodeURIComponent(app.me.guardian_id)}`);
  const children = await Promise.all(
    guardian.students.map(async (link) => ({
      link,
      student: await api("GET", `/api/v1/students/${encodeURIComponent(link.student_id)}`),
    })),
  );
  const sections = await Promise.all(children.map(({ link, student }) => childSection(guardian, link, student)));
  show("My children", [
    children.length
      ? null
      : el("p", {}, "No child is linked to your account yet. Your school's coordinator links them."),
    ...sections,
    calendarSection(guardian),
  ]);
  say("");
}

async function childSection(guardian, link, student) {
  const name = student.display_name;
  const sid = student.id;
  const [upcoming, summaries, reports] = await Promise.all([
    upcomingList(sid),
    summaryList(sid),
    reportList(sid, name),
  ]);
  return el(
    "section",
    { class: "child", "aria-labelledby": `child-${sid}` },
    el("h2", { id: `child-${sid}` }, name),
    el("h3", {}, "Lessons to come"),
    upcoming,
    el("h3", {}, "Lesson summaries"),
    summaries,
    el("h3", {}, "Progress reports"),
    reports,
    consentForm(guardian, link, name, student.consents.decides_for_self),
  );
}

async function upcomingList(studentId) {
  const since = new Date(Date.now() - 6 * 3600 * 1000).toISOString();
  const page = await api(
    "GET",
    `/api/v1/sessions?student_id=${encodeURIComponent(studentId)}&starts_after=${encodeURIComponent(since)}&limit=50`,
  );
  const now = Date.now();
  // Cancelled ones stay, said so: a parent must see that a lesson will not happen.
  const coming = page.items
    .filter((s) => Date.parse(s.scheduled_end) > now && ["scheduled", "open", "live", "cancelled"].includes(s.status))
    .slice(0, 5);
  if (!coming.length) return el("p", {}, "No lessons to come.");
  const items = await Promise.all(
    coming.map(async (s) =>
      el(
        "li",
        { class: s.status === "cancelled" ? "cancelled" : undefined },
        el("time", { datetime: s.scheduled_start }, when(s.scheduled_start)),
        ` · ${s.subject} with ${await tutorName(s.tutor_id)}`,
        s.status === "cancelled" ? " (cancelled)" : s.status === "live" ? " (on now)" : "",
      ),
    ),
  );
  return el("ul", { class: "sessions" }, items);
}

async function summaryList(studentId) {
  const page = await api("GET", `/api/v1/students/${encodeURIComponent(studentId)}/summaries?limit=10`);
  if (!page.items.length) return el("p", {}, "No summaries yet: one comes after each lesson, once the tutor has approved it.");
  return el(
    "ul",
    { class: "summaries" },
    page.items.map((s) =>
      el(
        "li",
        {},
        el(
          "a",
          { href: `#/summaries/${encodeURIComponent(s.session_id)}` },
          `${s.subject}, ${when(s.scheduled_start, { dateOnly: true })}`,
        ),
      ),
    ),
  );
}

// Each approved progress report as its PDF: fetched with the login, then a download link.
async function reportList(studentId, name) {
  const page = await api("GET", `/api/v1/students/${encodeURIComponent(studentId)}/progress-reports?limit=12`);
  if (!page.items.length) {
    return el("p", {}, "No progress reports yet: one comes after each month, once the tutor has reviewed it.");
  }
  return el(
    "ul",
    { class: "reports" },
    page.items.map((r) => {
      const button = el("button", { type: "button" }, `${r.report.period_label} (PDF)`);
      button.addEventListener("click", async () => {
        button.disabled = true;
        say("Getting the report…");
        try {
          const response = await fetch(`/api/v1/progress-reports/${encodeURIComponent(r.id)}/report.pdf`, {
            headers: { authorization: `Bearer ${app.token}` },
          });
          if (!response.ok) throw new Error(`the report could not be fetched (${response.status})`);
          const link = el(
            "a",
            { href: URL.createObjectURL(await response.blob()), download: `progress-report-${r.period_start}.pdf` },
            `Download ${name}'s report for ${r.report.period_label}`,
          );
          button.replaceWith(link);
          link.focus();
          say("The report is ready to download.");
        } catch (error) {
          say(error.message, { error: true });
          button.disabled = false;
        }
      });
      return el("li", {}, button);
    }),
  );
}

// The consents and the emails, one switch each: a change is saved at once and said so.
// A child of the consent age decides recording and AI for themselves: only the emails stay here.
function consentForm(guardian, link, name, decidesForSelf) {
  const sid = link.student_id;
  const toggle = (term, label, hint) => {
    const id = `${term}-${sid}`;
    const input = el("input", {
      type: "checkbox",
      id,
      name: term,
      checked: link[term],
      "aria-describedby": hint ? `${id}-hint` : undefined,
    });
    input.addEventListener("change", async () => {
      const wanted = input.checked;
      input.disabled = true;
      try {
        const saved = await api(
          "PATCH",
          `/api/v1/guardians/${encodeURIComponent(guardian.id)}/students/${encodeURIComponent(sid)}`,
          { [term]: wanted },
        );
        const now = saved.students.find((s) => s.student_id === sid)[term];
        link[term] = now;
        input.checked = now;
        say(`Saved for ${name}: ${label} is ${now ? "on" : "off"}.`);
      } catch (error) {
        input.checked = !wanted;
        say(`Not saved: ${error.message}`, { error: true });
      } finally {
        input.disabled = false;
        input.focus();
      }
    });
    return el(
      "div",
      { class: "toggle" },
      input,
      el("label", { for: id }, label),
      hint ? el("p", { id: `${id}-hint`, class: "hint" }, hint) : null,
    );
  };
  const own = el(
    "p",
    { class: "own-consent" },
    `${name} is of the consent age: they decide themselves, in their own portal, whether their voice is ` +
      "recorded and turned into text. Your choices below are only about the emails you get.",
  );
  return el(
    "form",
    { class: "consents", onsubmit: (event) => event.preventDefault() },
    decidesForSelf
      ? own
      : el(
          "fieldset",
          {},
          el("legend", {}, `What Liveclass may do with ${name}'s lessons`),
          toggle(
            "recording_consent",
            `Record ${name}'s voice`,
            `Only ${name}'s own audio, kept with the lesson's record. Off: ${name} is never recorded. ` +
              "Every guardian on file must agree.",
          ),
          toggle(
            "ai_processing_consent",
            `Turn ${name}'s recorded speech into text, and draft the summary with AI`,
            "Speech recognition runs on the Liveclass server; the transcript may go to the school's AI " +
              `model. Off: nothing ${name} says is turned into text, and you get no AI summary by email.`,
          ),
        ),
    el(
      "fieldset",
      {},
      el("legend", {}, `Emails about ${name}`),
      toggle("notify_email", "Send me emails at all", "Off: none of the emails below are sent."),
      toggle("notify_summaries", "The summary after each lesson, and the monthly progress report"),
      // Of age, the child's own consent decides what is transcribed; whether AI-drafted
      // summaries come to this guardian stays this guardian's choice.
      decidesForSelf ? toggle("ai_processing_consent", "Those summaries and reports even though they are drafted with AI") : null,
      toggle("notify_absences", `When ${name} misses a lesson`),
      toggle("notify_reminders", "Reminders 24 hours and 1 hour before each lesson"),
      toggle(
        "join_without_login",
        `${name}'s own reminders take them straight into the lesson`,
        `Off: the link in ${name}'s reminder asks them to log in first. On: anyone with that email can join as ${name}. Every guardian on file must turn it on.`,
      ),
    ),
  );
}

function calendarSection(guardian) {
  const out = el("div", { class: "feed" });
  const button = el("button", { type: "button" }, "Get a calendar link");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const feed = await api("POST", `/api/v1/guardians/${encodeURIComponent(guardian.id)}/calendar-feed`);
      const input = el("input", { id: "feed-url", type: "text", readonly: true, value: feed.url });
      out.replaceChildren(
        el("label", { for: "feed-url" }, "Your calendar link"),
        input,
        el(
          "p",
          { class: "hint" },
          "Add it to your calendar app as a subscription. Anyone with the link can see the lesson " +
            "times; getting a new link stops the old one.",
        ),
      );
      input.focus();
      input.select();
      say("Your calendar link is ready.");
    } catch (error) {
      say(error.message, { error: true });
    } finally {
      button.disabled = false;
    }
  });
  return el(
    "section",
    { "aria-labelledby": "calendar-title" },
    el("h2", { id: "calendar-title" }, "Your calendar"),
    el("p", {}, "Every lesson of your children in your own calendar app, kept up to date."),
    button,
    out,
  );
}

async function summaryPage(sessionId) {
  say("Loading…");
  let summary;
  try {
    summary = await api("GET", `/api/v1/sessions/${encodeURIComponent(sessionId)}/summary`);
  } catch (error) {
    if (error.status !== 404) throw error;
    show("No summary here", [
      el("p", {}, "This lesson has no approved summary that you can read, or the link is wrong."),
      el("p", {}, el("a", { href: "#/family" }, "Back to my children")),
    ]);
    say("");
    return;
  }
  const tutor = await tutorNameForSession(sessionId);
  show(`${summary.subject}, ${when(summary.scheduled_start, { dateOnly: true })}`, [
    el(
      "p",
      { class: "meta" },
      `Lesson at ${when(summary.scheduled_start)}`,
      tutor ? ` with ${tutor}` : "",
      ". ",
      summary.automatic
        ? "Sent without the tutor's review, as drafted."
        : `Reviewed and approved by the tutor on ${when(summary.approved_at, { dateOnly: true })}.`,
    ),
    el("blockquote", { class: "summary" }, summary.summary),
    el("p", {}, el("a", { href: "#/family" }, "Back to my children")),
  ]);
  say("");
}

async function tutorNameForSession(sessionId) {
  try {
    const session = await api("GET", `/api/v1/sessions/${encodeURIComponent(sessionId)}`);
    return await tutorName(session.tutor_id);
  } catch {
    return null;
  }
}
