// A student's page: their lessons to come, each with a Join button.
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
  const now = Date.now();
  const coming = page.items.filter((s) => Date.parse(s.scheduled_end) > now && JOINABLE.has(s.status));
  show("My lessons", [
    coming.length
      ? el("ul", { class: "sessions" }, coming.slice(0, 10).map(lesson))
      : el("p", {}, "No lessons to come."),
  ]);
  say("");
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
