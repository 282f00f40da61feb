// A student's page: their lessons to come, each with a Join button, and, from the consent
// age on, the recording and AI consents they give themselves.
import { api, app, el, joinButton, say, show, when } from "./ui.js";

// A lesson that ended (or was cancelled, or nobody came) is no longer one to come.
const JOINABLE = new Set(["scheduled", "open", "live"]);

export function studentRoutes() {
  return [[/^#\/lessons$/, lessons]];
}

async function lessons() {
  say("Loading…");
  const since = new Date(Date.now() - 6 * 3600 * 1000).toISOString();
  const page = await api(
    "GET",
    `/api/v1/sessions?student_id=${encodeURIComponent(app.me.student_id)}&starts_after=${encodeURIComponent(since)}&limit=50`,
  );
  const me = await api("GET", `/api/v1/students/${encodeURIComponent(app.me.student_id)}`);
  const now = Date.now();
  const coming = page.items.filter((s) => Date.parse(s.scheduled_end) > now && JOINABLE.has(s.status));
  show("My lessons", [
    coming.length
      ? el("ul", { class: "sessions" }, coming.slice(0, 10).map(lesson))
      : el("p", {}, "No lessons to come."),
    consents(me),
  ]);
  say("");
}

// Of the consent age: two switches, each saved at once. Younger: who decides instead.
function consents(me) {
  if (!me.consents.decides_for_self) {
    return el(
      "p",
      { class: "hint" },
      "Your guardians decide whether your voice is recorded and turned into text (you are under the school's consent age, or it has no date of birth for you).",
    );
  }
  const toggle = (term, label, hint) => {
    const id = `own-${term}`;
    const input = el("input", { type: "checkbox", id, name: term, checked: me.consents[term], "aria-describedby": `${id}-hint` });
    input.addEventListener("change", async () => {
      const wanted = input.checked;
      input.disabled = true;
      try {
        const saved = await api("PATCH", `/api/v1/students/${encodeURIComponent(me.id)}/consents`, { [term]: wanted });
        me.consents = saved.consents;
        input.checked = saved.consents[term];
        say(`Saved: ${label} is ${input.checked ? "on" : "off"}.`);
      } catch (error) {
        input.checked = !wanted;
        say(`Not saved: ${error.message}`, { error: true });
      } finally {
        input.disabled = false;
        input.focus();
      }
    });
    return el("div", { class: "toggle" }, input, el("label", { for: id }, label), el("p", { id: `${id}-hint`, class: "hint" }, hint));
  };
  return el(
    "form",
    { class: "consents", onsubmit: (event) => event.preventDefault() },
    el(
      "fieldset",
      {},
      el("legend", {}, "What Liveclass may do with your lessons (you decide: you are of the consent age)"),
      toggle("recording_consent", "Record my voice", "Only your own audio, kept with the lesson's record. Off: you are never recorded, and a lesson in progress stops recording you at once."),
      toggle(
        "ai_processing_consent",
        "Turn my recorded speech into text, and draft the summary with AI",
        "Speech recognition runs on the Liveclass server; the transcript may go to the school's AI model. Off: nothing you say is turned into text.",
      ),
    ),
  );
}

function lesson(s) {
  return el(
    "li",
    {},
    el("time", { datetime: s.scheduled_start }, when(s.scheduled_start)),
    ` · ${s.subject} `,
    joinButton(s.id),
  );
}
