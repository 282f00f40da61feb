// The tutor desk: drafts awaiting review (the longest waiting first), sessions to come
// with each student's briefing and Join, and the review of a draft beside the
// transcript it cites: edit, save, approve (which emails the families).
import { reportRoutes, reportsToReview } from "./reports.js";
import { api, app, el, joinButton, say, show, when } from "./ui.js";

// A lesson that ended (or was cancelled, or nobody came) is no longer one to come.
const JOINABLE = new Set(["scheduled", "open", "live"]);

export function tutorRoutes() {
  return [
    [/^#\/desk$/, desk],
    [/^#\/review\/([^/]+)$/, review],
    ...reportRoutes(),
  ];
}

const students = new Map(); // student id -> name

function studentName(id) {
  if (!students.has(id)) {
    students.set(
      id,
      api("GET", `/api/v1/students/${encodeURIComponent(id)}`)
        .then((s) => s.display_name)
        .catch(() => "a student"),
    );
  }
  return students.get(id);
}

async function names(ids) {
  return (await Promise.all(ids.map(studentName))).join(", ");
}

async function desk() {
  say("Loading…");
  const since = new Date(Date.now() - 6 * 3600 * 1000).toISOString();
  const [drafts, sessions, reports] = await Promise.all([
    api("GET", "/api/v1/documents?status=draft&limit=50"),
    api(
      "GET",
      `/api/v1/sessions?tutor_id=${encodeURIComponent(app.me.tutor_id)}&starts_after=${encodeURIComponent(since)}&limit=50`,
    ),
    reportsToReview(),
  ]);
  const now = Date.now();
  const coming = sessions.items
    .filter((s) => Date.parse(s.scheduled_end) > now && JOINABLE.has(s.status))
    .slice(0, 10);
  const reviewItems = await Promise.all(
    drafts.items.map(async (d) =>
      el(
        "li",
        {},
        el(
          "a",
          { href: `#/review/${encodeURIComponent(d.session_id)}` },
          `${d.subject} with ${await names(d.student_ids)}, ${when(d.scheduled_start, { dateOnly: true })}`,
        ),
        ` · ${d.label}, drafted ${when(d.drafted_at)}`,
      ),
    ),
  );
  const comingItems = await Promise.all(coming.map(upcoming));
  show("My desk", [
    el("h2", {}, "Awaiting your review"),
    reviewItems.length
      ? el("ul", { class: "reviews" }, reviewItems)
      : el("p", {}, "Nothing to review: every lesson's document is approved."),
    el("h2", {}, "Coming up"),
    comingItems.length ? el("ul", { class: "sessions" }, comingItems) : el("p", {}, "No lessons to come."),
    reports,
  ]);
  say("");
}

async function upcoming(s) {
  const details = el("details", {}, el("summary", {}, "Briefing"));
  let loaded = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loaded) return;
    loaded = true;
    try {
      const got = await api("GET", `/api/v1/sessions/${encodeURIComponent(s.id)}/briefing`);
      details.append(...(await briefing(got.briefings)));
    } catch (error) {
      details.append(el("p", {}, error.message));
    }
  });
  return el(
    "li",
    {},
    el("time", { datetime: s.scheduled_start }, when(s.scheduled_start)),
    ` · ${s.subject} with ${await names(s.student_ids)} `,
    joinButton(s.id),
    details,
  );
}

const BRIEFING = [
  ["open_difficulties", "Still difficult"],
  ["homework_to_check", "Homework to check"],
  ["suggested_focus", "Suggested focus"],
  ["what_worked", "What worked"],
];

async function briefing(briefings) {
  if (!briefings.length) return [el("p", {}, "No briefing yet: it comes from your documented lessons together.")];
  return Promise.all(
    briefings.map(async (b) =>
      el(
        "div",
        { class: "briefing" },
        el("h3", {}, await studentName(b.student_id)),
        BRIEFING.filter(([key]) => (b.briefing[key] || []).length).map(([key, title]) => [
          el("h4", {}, title),
          el("ul", {}, b.briefing[key].map((item) => el("li", {}, item.text))),
        ]),
      ),
    ),
  );
}

// --- review ------------------------------------------------------------------------

const SECTIONS = [
  ["topics", "Topics covered", "Topic"],
  ["went_well", "What went well", "Went well"],
  ["difficulties", "What was difficult", "Difficulty"],
  ["comprehension_checks", "Checks of understanding", "Check"],
  ["homework", "Homework", "Homework"],
  ["next_focus", "Next time", "Next time"],
];
const OUTCOMES = [
  ["understood", "Understood"],
  ["partly", "Partly"],
  ["not_yet", "Not yet"],
  ["unclear", "Unclear"],
];

function clock(seconds) {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

// Each citation is a button that shows and focuses the transcript line it names.
function citations(segments) {
  if (!segments.length) return null;
  return el(
    "span",
    { class: "cites" },
    "Rests on ",
    segments.map((n) =>
      el(
        "button",
        {
          type: "button",
          class: "cite",
          onclick: () => {
            const line = document.getElementById(`seg-${n}`);
            if (!line) return;
            document.querySelectorAll(".transcript li.cited").forEach((li) => li.classList.remove("cited"));
            line.classList.add("cited");
            line.focus();
          },
        },
        `line ${n}`,
      ),
    ),
  );
}

async function review(sessionId) {
  say("Loading…");
  const id = encodeURIComponent(sessionId);
  const [session, doc, transcript, chat] = await Promise.all([
    api("GET", `/api/v1/sessions/${id}`),
    api("GET", `/api/v1/sessions/${id}/document`),
    api("GET", `/api/v1/sessions/${id}/transcript`),
    api("GET", `/api/v1/sessions/${id}/chat`),
  ]);
  const who = await names(session.student_ids);
  const title = `${session.subject} with ${who}, ${when(session.scheduled_start, { dateOnly: true })}`;
  const approved = doc.status === "approved";
  const fields = new Map(); // section -> [{text: textarea, outcome: select, segments}]
  let dirty = false;
  const sections = SECTIONS.map(([key, heading, label]) => {
    const items = doc.document[key];
    const rows = items.map((item, n) => {
      const fieldId = `${key}-${n}`;
      const text = el("textarea", { id: fieldId, rows: 2, maxlength: 400, readonly: approved }, item.text);
      text.addEventListener("input", () => (dirty = true));
      let outcome = null;
      if ("outcome" in item) {
        outcome = el(
          "select",
          { id: `${fieldId}-outcome`, disabled: approved },
          OUTCOMES.map(([value, name]) => el("option", { value, selected: item.outcome === value }, name)),
        );
        outcome.addEventListener("change", () => (dirty = true));
      }
      fields.set(key, [...(fields.get(key) || []), { text, outcome, segments: item.segments }]);
      return el(
        "div",
        { class: "item" },
        el("label", { for: fieldId }, `${label} ${n + 1}`),
        text,
        outcome ? [el("label", { for: `${fieldId}-outcome` }, "Outcome"), outcome] : null,
        citations(item.segments),
      );
    });
    return el(
      "fieldset",
      {},
      el("legend", {}, heading),
      rows.length ? rows : el("p", { class: "hint" }, "None drafted."),
    );
  });
  const summary = doc.document.parent_summary;
  const summaryText = el("textarea", { id: "parent-summary", rows: 5, maxlength: 800, readonly: approved }, summary.text);
  summaryText.addEventListener("input", () => (dirty = true));

  const changes = () => {
    const body = {};
    for (const [key] of SECTIONS) {
      body[key] = (fields.get(key) || []).map(({ text, outcome, segments }) => ({
        text: text.value.trim(),
        segments,
        ...(outcome ? { outcome: outcome.value } : {}),
      }));
    }
    body.parent_summary = { text: summaryText.value.trim(), segments: summary.segments };
    return body;
  };
  const save = async () => {
    await api("PATCH", `/api/v1/sessions/${id}/document`, changes());
    dirty = false;
  };
  const saveButton = el("button", { type: "submit" }, "Save changes");
  const approveButton = el("button", { type: "button", class: "primary" }, "Approve and send to families");
  const form = el(
    "form",
    {
      class: "document",
      onsubmit: async (event) => {
        event.preventDefault();
        saveButton.disabled = true;
        try {
          await save();
          say("Saved. The draft is not sent until you approve it.");
        } catch (error) {
          say(`Not saved: ${error.message}`, { error: true });
        } finally {
          saveButton.disabled = false;
        }
      },
    },
    el("h2", {}, "Document"),
    sections,
    el(
      "fieldset",
      {},
      el("legend", {}, "For families"),
      el("label", { for: "parent-summary" }, "Summary for families"),
      summaryText,
      citations(summary.segments),
    ),
    approved ? null : el("div", { class: "actions" }, saveButton, approveButton),
  );
  approveButton.addEventListener("click", async () => {
    approveButton.disabled = true;
    try {
      if (dirty) await save();
      await api("POST", `/api/v1/sessions/${id}/document/approve`);
      await review(sessionId);
      say("Approved: the summary is on its way to the families who want it.");
    } catch (error) {
      say(`Not approved: ${error.message}`, { error: true });
      approveButton.disabled = false;
    }
  });

  const lines = transcript.segments.map((seg) =>
    el(
      "li",
      { id: `seg-${seg.index}`, tabindex: "-1" },
      el("span", { class: "line" }, `line ${seg.index}`),
      ` ${clock(seg.start)} `,
      el("strong", {}, `${seg.speaker}: `),
      seg.text,
    ),
  );
  const aside = el(
    "aside",
    { class: "transcript", "aria-labelledby": "transcript-title" },
    el("h2", { id: "transcript-title" }, "Transcript"),
    transcript.untranscribed.length
      ? el(
          "p",
          { class: "hint" },
          `${transcript.untranscribed.length} participant(s) not transcribed: their families did not consent to AI processing.`,
        )
      : null,
    lines.length ? el("ol", {}, lines) : el("p", {}, "Nothing was transcribed."),
    el("h2", { id: "chat-title" }, "Chat"),
    chat.lines.length
      ? el(
          "ol",
          { class: "chat", "aria-labelledby": "chat-title" },
          chat.lines.map((line) =>
            el("li", {}, ` ${clock((Date.parse(line.at) - Date.parse(session.scheduled_start)) / 1000)} `, el("strong", {}, `${line.name}: `), line.text),
          ),
        )
      : el("p", {}, "Nothing was typed in the chat."),
  );
  show(title, [
    el(
      "p",
      { class: "meta" },
      approved
        ? `Approved ${when(doc.approved_at)}: families have been sent the summary.`
        : `${doc.label[0].toUpperCase()}${doc.label.slice(1)}, drafted ${when(doc.drafted_at)}. ` +
            (doc.document.dropped
              ? `${doc.document.dropped} of its statements did not match the transcript and were left out. `
              : "") +
            "Check each line against the transcript, change what is wrong, then approve: " +
            "the summary for families is sent only then.",
    ),
    el("div", { class: "review" }, form, aside),
    el("p", {}, el("a", { href: "#/desk" }, "Back to my desk")),
  ]);
  say("");
}
