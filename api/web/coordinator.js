// The coordinator console: today's lessons and the exceptions to handle (acknowledge,
// resolve with a note, or give a no-show's lesson to a ranked substitute), and booking
// a weekly series, with each conflict the API finds shown in place.
import { insightPage } from "./insight.js";
import { addPeopleForms } from "./people_forms.js";
import { privacyRoutes } from "./privacy.js";
import { reportRoutes } from "./reports.js";
import { tutorSettingsPage } from "./tutor_settings.js";
import { api, app, el, put, say, show, when } from "./ui.js";

export function coordinatorRoutes() {
  return [
    [/^#\/today$/, today],
    [/^#\/calendar$/, calendarPage],
    [/^#\/book$/, book],
    [/^#\/messages$/, messagesPage],
    [/^#\/people$/, peoplePage],
    [/^#\/people\/tutors\/([^/]+)$/, tutorSettingsPage],
    [/^#\/requests$/, requestsPage],
    [/^#\/insight$/, insightPage],
    ...reportRoutes(),
    ...privacyRoutes(),
  ];
}

const people = new Map(); // "tutors/<id>" or "students/<id>" -> display name

function nameOf(kind, id) {
  const key = `${kind}/${id}`;
  if (!people.has(key)) {
    people.set(
      key,
      api("GET", `/api/v1/${kind}/${encodeURIComponent(id)}`)
        .then((p) => p.display_name)
        .catch(() => id),
    );
  }
  return people.get(key);
}

async function describe(session) {
  const students = await Promise.all(session.student_ids.map((id) => nameOf("students", id)));
  return `${session.subject} with ${students.join(", ")}, taught by ${await nameOf("tutors", session.tutor_id)}`;
}

const KINDS = {
  tutor_no_show: "Tutor has not joined",
  student_absent: "Student absent",
  no_recording: "No recording",
  drafting_failed: "Drafting failed",
  attendance_falling: "Attendance falling",
  lateness_rising: "Arriving later and later",
  talk_share_falling: "Speaking less and less",
  repeated_difficulty: "The same difficulty again",
  homework_not_followed_up: "Homework not followed up",
  reviews_overdue: "Drafts waiting for review",
  late_starts: "Tutor starting late",
};

// --- the ops feed: Server-Sent Events read with fetch (EventSource sends no bearer header)

function follow(onEvent, onStop) {
  const controller = new AbortController();
  (async () => {
    const response = await fetch("/api/v1/ops/feed", {
      headers: { authorization: `Bearer ${app.token}`, accept: "text/event-stream" },
      signal: controller.signal,
    });
    if (!response.ok) throw new Error(`the live feed answered ${response.status}`);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the live feed ended");
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let type = "message";
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("event: ")) type = line.slice(7);
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (data) onEvent(type, JSON.parse(data));
      }
    }
  })().catch((error) => {
    if (error.name !== "AbortError") onStop(error);
  });
  return () => controller.abort();
}

// session id -> snapshot room; user id, tutor id or student id -> their name
const live = { rooms: new Map(), names: new Map() };

function roomTitle(room) {
  const students = (room.student_ids || []).map((id) => live.names.get(id) || "a student");
  const tutor = live.names.get(room.tutor_id);
  const who = students.length ? ` with ${students.join(", ")}` : "";
  return `${room.subject || "Lesson"}${who}${tutor ? `, taught by ${tutor}` : ""} (${room.status})`;
}

// Whether the room records now: while someone recorded is in it (as sessions/ops.py says),
// and whose audio is not recorded, and why.
function recordingOf(room) {
  const here = new Set((room.present || []).map((p) => p.participant_id));
  const recording = (room.recorded || []).some((id) => here.has(id));
  const skipped = (room.not_recorded || []).map((s) => `${live.names.get(s.participant_id) || "someone"}: no consent`);
  return `${recording ? "recording" : "not recording"}${skipped.length ? ` (not recorded: ${skipped.join(", ")})` : ""}`;
}

function liveRooms(box) {
  const rooms = [...live.rooms.values()];
  if (!rooms.length) {
    box.replaceChildren(el("p", {}, "No room is open now."));
    return;
  }
  box.replaceChildren(
    el(
      "ul",
      { class: "rooms" },
      rooms.map((room) =>
        el(
          "li",
          { "data-room": room.id },
          el("strong", {}, roomTitle(room)),
          room.present.length
            ? ` · in the room: ${room.present
                .map((p) => `${live.names.get(p.participant_id) || "someone"} (${p.role}, since ${new Date(p.since).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })})`)
                .join(", ")}`
            : " · nobody in the room",
          el("span", { class: "recording", "data-recording": recordingOf(room).startsWith("recording") ? "on" : "off" }, ` · ${recordingOf(room)}`),
        ),
      ),
    ),
  );
}

// One ops-feed event on Today: the rooms follow joins, leaves and ends; the lists below
// refresh unless a coordinator is writing a note there.
function onLiveEvent(type, data, boxes) {
  if (type === "snapshot") {
    live.rooms = new Map(data.sessions.map((room) => [room.id, room]));
    liveRooms(boxes.rooms);
    return;
  }
  const room = live.rooms.get(data.session_id);
  const who = data.payload && data.payload.participant_id;
  if (type === "participant.joined" && room && who) {
    room.present = [...room.present.filter((p) => p.participant_id !== who), { participant_id: who, role: data.payload.role, since: data.occurred_at }];
  } else if (type === "participant.left" && room && who) {
    room.present = room.present.filter((p) => p.participant_id !== who);
  } else if (type === "recording.started" && room && who) {
    room.recorded = [...(room.recorded || []).filter((id) => id !== who), who];
  } else if (type === "recording.skipped" && room && who) {
    room.not_recorded = [...(room.not_recorded || []).filter((s) => s.participant_id !== who), { participant_id: who, reason: data.payload.reason }];
  } else if (type === "recording.ready" && room) {
    room.recorded = [];
    room.not_recorded = [];
  } else if (["session.opened", "session.started"].includes(type)) {
    const status = type === "session.opened" ? "open" : "live";
    if (room) room.status = status;
    else live.rooms.set(data.session_id, { id: data.session_id, status, subject: "", present: [] });
  } else if (["session.ended", "session.cancelled", "session.no_show"].includes(type)) {
    live.rooms.delete(data.session_id);
  }
  liveRooms(boxes.rooms);
  clearTimeout(boxes.timer);
  boxes.timer = setTimeout(() => refreshLists(boxes), 300);
}

async function refreshLists(boxes) {
  // Someone writing a note, or with the focus on an exception's button, keeps their place:
  // the page says that something changed instead of redrawing under them.
  const writing = [...document.querySelectorAll("li.exception textarea")].some((t) => t.value.trim());
  if (writing || boxes.exceptions.contains(document.activeElement)) {
    boxes.changed.hidden = false;
    return;
  }
  const fresh = await todayLists();
  boxes.exceptions.replaceChildren(...fresh.exceptions);
  boxes.lessons.replaceChildren(...fresh.lessons);
  boxes.count.textContent = fresh.title;
  boxes.changed.hidden = true;
}

async function todayLists() {
  const start = new Date();
  start.setHours(0, 0, 0, 0);
  const end = new Date(start.getTime() + 24 * 3600 * 1000);
  const [sessions, open, acknowledged] = await Promise.all([
    api(
      "GET",
      `/api/v1/sessions?starts_after=${encodeURIComponent(start.toISOString())}&starts_before=${encodeURIComponent(end.toISOString())}&limit=200`,
    ),
    api("GET", "/api/v1/exceptions?status=open&limit=100"),
    api("GET", "/api/v1/exceptions?status=acknowledged&limit=100"),
  ]);
  const exceptions = [...open.items, ...acknowledged.items];
  const cards = await Promise.all(exceptions.map(exceptionCard));
  const rows = await Promise.all(
    sessions.items.map(async (s) =>
      el(
        "li",
        { class: s.status === "cancelled" ? "cancelled" : undefined },
        el("time", { datetime: s.scheduled_start }, when(s.scheduled_start)),
        ` · ${await describe(s)} · `,
        el("span", { class: `state ${s.status}` }, s.status.replace("_", " ")),
      ),
    ),
  );
  return {
    title: `Exceptions to handle (${exceptions.length})`,
    exceptions: cards.length ? [el("ul", { class: "exceptions" }, cards)] : [el("p", {}, "Nothing needs you: no open exceptions.")],
    lessons: rows.length ? [el("ul", { class: "sessions" }, rows)] : [el("p", {}, "No lessons today.")],
  };
}

async function today() {
  say("Loading…");
  const [lists, tutors, students] = await Promise.all([
    todayLists(),
    api("GET", "/api/v1/tutors?limit=200"),
    api("GET", "/api/v1/students?limit=200"),
  ]);
  for (const person of [...tutors.items, ...students.items]) {
    live.names.set(person.user_id, person.display_name);
    live.names.set(person.id, person.display_name);
  }
  const boxes = {
    rooms: el("div", { class: "live", "aria-live": "polite" }, el("p", {}, "Connecting to the live feed…")),
    count: el("h2", {}, lists.title),
    exceptions: el("div", {}, lists.exceptions),
    lessons: el("div", {}, lists.lessons),
    changed: el(
      "p",
      { class: "changed", hidden: true, role: "status" },
      "Something changed since this list was drawn. ",
      el("button", { type: "button", onclick: () => today() }, "Refresh"),
    ),
    timer: null,
  };
  show("Today", [
    el("h2", {}, "In the rooms now"),
    boxes.rooms,
    boxes.count,
    boxes.changed,
    boxes.exceptions,
    el("h2", {}, "Lessons today"),
    boxes.lessons,
  ]);
  app.leave = follow(
    (type, data) => onLiveEvent(type, data, boxes),
    (error) => boxes.rooms.replaceChildren(el("p", {}, `The live view stopped (${error.message}); reload to follow again.`)),
  );
  say("");
}

async function exceptionCard(x) {
  let session = null;
  try {
    session = await api("GET", `/api/v1/sessions/${encodeURIComponent(x.session_id)}`);
  } catch {
    session = null;
  }
  const title = `${KINDS[x.kind] || x.kind}: ${session ? await describe(session) : x.session_id}`;
  const card = el("li", { class: "exception", "data-kind": x.kind });
  const noteId = `note-${x.id}`;
  const note = el("textarea", { id: noteId, rows: 2, maxlength: 1000 });
  const move = async (action) => {
    try {
      await api("POST", `/api/v1/exceptions/${encodeURIComponent(x.id)}/${action}`, {
        note: note.value.trim() || null,
      });
      await today();
      say(action === "resolve" ? "Resolved." : "Acknowledged: it stays listed until resolved.");
    } catch (error) {
      say(error.message, { error: true });
    }
  };
  const actions = el(
    "div",
    { class: "actions" },
    x.status === "open" ? el("button", { type: "button", onclick: () => move("acknowledge") }, "Acknowledge") : null,
    el("button", { type: "button", onclick: () => move("resolve") }, "Resolve"),
  );
  const substitutes = el("div", { class: "substitutes" });
  if (x.kind === "tutor_no_show") {
    actions.prepend(
      el(
        "button",
        { type: "button", class: "primary", onclick: () => offerSubstitutes(x, substitutes) },
        "Find a substitute",
      ),
    );
  }
  card.append(
    el("h3", {}, title),
    el(
      "p",
      { class: "meta" },
      session ? `Lesson at ${when(session.scheduled_start)}. ` : "",
      `Raised ${when(x.raised_at)}; ${x.status}.`,
    ),
    ...(x.details && x.details.why ? [el("p", { class: "why" }, `Why: ${x.details.why}.`)] : []),
    el("label", { for: noteId }, "Note (kept with the exception)"),
    note,
    actions,
    substitutes,
  );
  return card;
}

async function offerSubstitutes(x, box) {
  say("Finding tutors who are free and qualified…");
  let ranked;
  try {
    ranked = await api("GET", `/api/v1/sessions/${encodeURIComponent(x.session_id)}/substitutes`);
  } catch (error) {
    say(error.message, { error: true });
    return;
  }
  const heading = el("h4", { tabindex: "-1" }, "Substitutes, best first");
  if (!ranked.items.length) {
    box.replaceChildren(heading, el("p", {}, "No tutor is free and qualified for this lesson."));
  } else {
    box.replaceChildren(
      heading,
      el(
        "ol",
        {},
        ranked.items.map((s) =>
          el(
            "li",
            {},
            el("strong", {}, s.name),
            el("ul", { class: "reasons" }, s.reasons.map((r) => el("li", {}, r))),
            el(
              "button",
              {
                type: "button",
                onclick: async () => {
                  try {
                    await api("POST", `/api/v1/sessions/${encodeURIComponent(x.session_id)}/substitute`, {
                      tutor_id: s.tutor_id,
                    });
                    await today();
                    say(`${s.name} now teaches the lesson; the families and both tutors are told by email.`);
                  } catch (error) {
                    say(error.message, { error: true });
                  }
                },
              },
              `Give the lesson to ${s.name}`,
            ),
          ),
        ),
      ),
    );
  }
  say("");
  heading.focus();
}

// --- booking a weekly series -----------------------------------------------------------

const DAYS = [
  ["MO", "Monday"],
  ["TU", "Tuesday"],
  ["WE", "Wednesday"],
  ["TH", "Thursday"],
  ["FR", "Friday"],
  ["SA", "Saturday"],
  ["SU", "Sunday"],
];

function field(id, label, input) {
  input.id = id;
  return el("div", { class: "field" }, el("label", { for: id }, label), input);
}

async function book() {
  say("Loading…");
  const [tutors, students] = await Promise.all([
    api("GET", "/api/v1/tutors?limit=200"),
    api("GET", "/api/v1/students?limit=200"),
  ]);
  const options = (items) => items.map((p) => el("option", { value: p.id }, p.display_name));
  const tutor = el("select", { required: true }, options(tutors.items));
  const student = el("select", { required: true }, options(students.items));
  const subject = el("input", { type: "text", required: true, maxlength: 64, value: "mathematics" });
  const first = el("input", { type: "date", required: true, value: new Date().toISOString().slice(0, 10) });
  const start = el("input", { type: "time", required: true, value: "16:00" });
  const minutes = el("input", { type: "number", required: true, min: "5", max: "720", value: "60" });
  const count = el("input", { type: "number", required: true, min: "1", max: "200", value: "4" });
  const weekday = DAYS[(new Date().getDay() + 6) % 7][0];
  const days = DAYS.map(([code, name]) =>
    el(
      "div",
      { class: "toggle" },
      el("input", { type: "checkbox", id: `day-${code}`, value: code, checked: code === weekday }),
      el("label", { for: `day-${code}` }, name),
    ),
  );
  const outcome = el("div", { class: "outcome", "aria-live": "polite" });
  const form = el(
    "form",
    {
      class: "booking",
      onsubmit: async (event) => {
        event.preventDefault();
        const byday = [...form.querySelectorAll("fieldset.days input:checked")].map((i) => i.value);
        if (!byday.length) {
          say("Choose at least one day of the week.", { error: true });
          return;
        }
        say("Booking…");
        try {
          const series = await api("POST", "/api/v1/series", {
            tutor_id: tutor.value,
            student_ids: [student.value],
            subject: subject.value.trim(),
            start_date: first.value,
            start_time: start.value,
            duration_minutes: Number(minutes.value),
            rrule: `FREQ=WEEKLY;BYDAY=${byday.join(",")};COUNT=${Number(count.value)}`,
          });
          put(outcome,
            el("h2", { tabindex: "-1" }, `Booked: ${series.occurrences.length} lessons`),
            el(
              "ul",
              { class: "sessions" },
              series.occurrences.map((o) => el("li", {}, el("time", { datetime: o.scheduled_start }, when(o.scheduled_start)))),
            ),
          );
          say(`Booked ${series.occurrences.length} lessons.`);
          outcome.querySelector("h2").focus();
        } catch (error) {
          put(outcome,
            el("h2", { tabindex: "-1" }, "Not booked"),
            el("p", {}, error.message),
            error.details.length
              ? el("ul", { class: "conflicts" }, error.details.map((d) => el("li", {}, d.message)))
              : null,
          );
          say("Not booked: see why below.", { error: true });
          outcome.querySelector("h2").focus();
        }
      },
    },
    field("book-tutor", "Tutor", tutor),
    field("book-student", "Student", student),
    field("book-subject", "Subject", subject),
    field("book-first", "First day", first),
    field("book-start", "Start time (the tutor's time zone)", start),
    field("book-minutes", "Minutes each", minutes),
    el("fieldset", { class: "days" }, el("legend", {}, "Every week on"), days),
    field("book-count", "How many lessons", count),
    el("button", { type: "submit", class: "primary" }, "Book the series"),
  );
  show("Book a weekly series", [
    el("p", {}, "Every lesson is checked as a single booking is; if any conflicts, nothing is booked and each conflict is listed."),
    form,
    outcome,
  ]);
  say("");
}

// --- a week's calendar per tutor or student: move and cancel in place --------------------

const calendar = { who: null, monday: null }; // what the page last showed

function mondayOf(date) {
  const day = new Date(date);
  day.setHours(0, 0, 0, 0);
  day.setDate(day.getDate() - ((day.getDay() + 6) % 7));
  return day;
}

function localInput(iso) {
  // A datetime-local value in this browser's zone, from an ISO time.
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const ASKED = [
  ["organisation", "The school"],
  ["tutor", "The tutor"],
  ["student", "The student or family"],
];

async function calendarPage() {
  say("Loading…");
  const [tutors, students] = await Promise.all([
    api("GET", "/api/v1/tutors?limit=200"),
    api("GET", "/api/v1/students?limit=200"),
  ]);
  calendar.who = calendar.who || (tutors.items[0] ? `tutors/${tutors.items[0].id}` : null);
  calendar.monday = calendar.monday || mondayOf(new Date());
  const whose = el(
    "select",
    { id: "calendar-who" },
    el("optgroup", { label: "Tutors" }, tutors.items.map((t) => el("option", { value: `tutors/${t.id}`, selected: calendar.who === `tutors/${t.id}` }, t.display_name))),
    el("optgroup", { label: "Students" }, students.items.map((s) => el("option", { value: `students/${s.id}`, selected: calendar.who === `students/${s.id}` }, s.display_name))),
  );
  whose.addEventListener("change", () => {
    calendar.who = whose.value;
    calendarPage();
  });
  const shift = (days) => () => {
    calendar.monday = new Date(calendar.monday.getTime() + days * 24 * 3600 * 1000);
    calendarPage();
  };
  const week = el("div", { class: "week" });
  show("Calendar", [
    el("div", { class: "field" }, el("label", { for: "calendar-who" }, "Whose calendar"), whose),
    el(
      "div",
      { class: "actions" },
      el("button", { type: "button", onclick: shift(-7) }, "Previous week"),
      el("button", { type: "button", onclick: () => { calendar.monday = mondayOf(new Date()); calendarPage(); } }, "This week"),
      el("button", { type: "button", onclick: shift(7) }, "Next week"),
    ),
    week,
  ]);
  if (calendar.who) await showWeek(week);
  say("");
}

async function showWeek(box) {
  const start = calendar.monday;
  const end = new Date(start.getTime() + 7 * 24 * 3600 * 1000);
  const agenda = await api(
    "GET",
    `/api/v1/${calendar.who}/calendar?start=${encodeURIComponent(start.toISOString())}&end=${encodeURIComponent(end.toISOString())}&limit=200`,
  );
  const days = [];
  for (let n = 0; n < 7; n++) {
    const day = new Date(start.getTime() + n * 24 * 3600 * 1000);
    const key = day.toDateString();
    const entries = agenda.items.filter((e) => new Date(e.scheduled_start).toDateString() === key);
    days.push(
      el(
        "li",
        { class: "day" },
        el("h2", {}, day.toLocaleDateString([], { weekday: "long", day: "numeric", month: "long" })),
        entries.length ? el("ul", {}, entries.map(entryItem)) : el("p", { class: "hint" }, "No lessons."),
      ),
    );
  }
  box.replaceChildren(
    el("p", { class: "hint" }, `Times in your browser's zone; ${agenda.time_zone} is theirs.`),
    el("ol", { class: "days" }, days),
  );
}

function entryItem(e) {
  const time = (iso) => new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const names = e.students.map((s) => s.name || "a student").join(", ");
  const panel = el("div", { class: "change" });
  const open = e.status === "scheduled" || e.status === "open";
  const asked = (id) =>
    el("div", { class: "field" }, el("label", { for: id }, "Who asked"), el("select", { id }, ASKED.map(([v, n]) => el("option", { value: v }, n))));
  const moveForm = () => {
    const id = `move-${e.session_id}`;
    const when = el("input", { type: "datetime-local", id, value: localInput(e.scheduled_start), required: true });
    const length = Date.parse(e.scheduled_end) - Date.parse(e.scheduled_start);
    const form = el(
      "form",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          const startAt = new Date(when.value);
          try {
            await api("PATCH", `/api/v1/sessions/${encodeURIComponent(e.session_id)}`, {
              scheduled_start: startAt.toISOString(),
              scheduled_end: new Date(startAt.getTime() + length).toISOString(),
              requested_by: form.querySelector("select").value,
            });
            await calendarPage();
            say(`Moved ${e.subject} to ${startAt.toLocaleString([], { dateStyle: "full", timeStyle: "short" })}; everyone is emailed.`);
          } catch (error) {
            say(`Not moved: ${error.message}`, { error: true });
            panel.append(el("ul", { class: "conflicts" }, error.details.map((d) => el("li", {}, d.message))));
          }
        },
      },
      el("div", { class: "field" }, el("label", { for: id }, "New start (your time)"), when),
      asked(`${id}-asked`),
      el("button", { type: "submit", class: "primary" }, "Move it"),
    );
    panel.replaceChildren(form);
    when.focus();
  };
  const cancelForm = () => {
    const id = `cancel-${e.session_id}`;
    const reason = el("input", { type: "text", id: `${id}-reason`, maxlength: 500 });
    const form = el(
      "form",
      {
        onsubmit: async (event) => {
          event.preventDefault();
          try {
            const done = await api("POST", `/api/v1/sessions/${encodeURIComponent(e.session_id)}/cancel`, {
              requested_by: form.querySelector("select").value,
              reason: reason.value.trim() || null,
            });
            await calendarPage();
            say(
              done.late_cancellation
                ? `Cancelled, and flagged late: less notice than the policy asks. Everyone is emailed.`
                : "Cancelled; everyone is emailed.",
            );
          } catch (error) {
            say(`Not cancelled: ${error.message}`, { error: true });
          }
        },
      },
      asked(`${id}-asked`),
      el("div", { class: "field" }, el("label", { for: `${id}-reason` }, "Reason (shown in the timeline)"), reason),
      el("button", { type: "submit", class: "primary" }, "Cancel the lesson"),
    );
    panel.replaceChildren(form);
    form.querySelector("select").focus();
  };
  return el(
    "li",
    { class: e.status === "cancelled" ? "cancelled" : undefined, "data-session": e.session_id },
    el("time", { datetime: e.scheduled_start }, `${time(e.scheduled_start)}–${time(e.scheduled_end)}`),
    ` ${e.subject}: ${e.tutor_name} with ${names} · `,
    el("span", { class: `state ${e.status}` }, e.status.replace("_", " ")),
    open ? [" ", el("button", { type: "button", onclick: moveForm }, "Move"), el("button", { type: "button", onclick: cancelForm }, "Cancel")] : null,
    panel,
  );
}

// A table with its caption and column headings; cells hold text only.
function table(caption, heads, rows) {
  return el(
    "table",
    {},
    el("caption", {}, caption),
    el("thead", {}, el("tr", {}, heads.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows),
  );
}

const cell = (text) => el("td", {}, text ?? "");

// --- emails and failed events ------------------------------------------------------

const STATUSES = ["", "pending", "sent", "skipped", "failed"];

async function messagesPage() {
  say("Loading…");
  const filter = el(
    "select",
    { id: "email-status" },
    STATUSES.map((s) => el("option", { value: s, selected: s === (messages.status || "") }, s ? s : "every state")),
  );
  filter.addEventListener("change", () => {
    messages.status = filter.value;
    messagesPage();
  });
  const query = messages.status ? `&status=${encodeURIComponent(messages.status)}` : "";
  const [emails, letters] = await Promise.all([
    api("GET", `/api/v1/notifications?limit=100${query}`),
    api("GET", "/api/v1/dead-letters?limit=100"),
  ]);
  const emailRows = emails.items.map((d) =>
    el(
      "tr",
      { "data-status": d.status },
      cell(when(d.created_at)),
      cell(d.kind.replaceAll("_", " ")),
      cell(d.to_address),
      cell(d.subject),
      cell(d.status),
      cell(d.skip_reason || d.last_error || (d.attempts ? `${d.attempts} attempt(s)` : "")),
    ),
  );
  const letterRows = letters.items.map((x) =>
    el(
      "tr",
      {},
      cell(when(x.failed_at)),
      cell(x.handler),
      cell(x.event_type),
      cell(x.session_id),
      cell(String(x.attempts)),
      cell(x.last_error.slice(0, 200)),
      el(
        "td",
        {},
        el(
          "button",
          {
            type: "button",
            onclick: async () => {
              try {
                await api("POST", `/api/v1/dead-letters/${encodeURIComponent(x.handler)}/${encodeURIComponent(x.event_id)}/replay`);
                await messagesPage();
                say(`Replayed: ${x.handler} gets ${x.event_type} again.`);
              } catch (error) {
                say(error.message, { error: true });
              }
            },
          },
          "Replay",
        ),
      ),
    ),
  );
  show("Emails and failures", [
    el("div", { class: "field" }, el("label", { for: "email-status" }, "Show emails in"), filter),
    emailRows.length
      ? table(`Emails (${emails.total}, newest first)`, ["Queued", "Kind", "To", "Subject", "State", "Why / tries"], emailRows)
      : el("p", {}, "No emails in this state."),
    el("h2", {}, "Failed events"),
    letterRows.length
      ? table(
          "Events a handler gave up on: replay one once its cause is fixed",
          ["Failed", "Handler", "Event", "Session", "Tries", "Last error", ""],
          letterRows,
        )
      : el("p", {}, "No failed events: every handler is up to date."),
  ]);
  say("");
}

const messages = { status: "" };

// --- people: tutors, students, and each family's consents ------------------------------

async function peoplePage() {
  say("Loading…");
  const [tutors, students, guardians] = await Promise.all([
    api("GET", "/api/v1/tutors?limit=200"),
    api("GET", "/api/v1/students?limit=200"),
    api("GET", "/api/v1/guardians?limit=200"),
  ]);
  const names = new Map(students.items.map((s) => [s.id, s.display_name]));
  const yes = (on) => (on ? "yes" : "no");
  show("People", [
    table(
      `Tutors (${tutors.total})`,
      ["Name", "Email", "Subjects", "Levels", "Time zone"],
      tutors.items.map((t) => el("tr", {}, el("td", {}, el("a", { href: `#/people/tutors/${encodeURIComponent(t.id)}` }, t.display_name)), cell(t.email), cell((t.subjects || []).join(", ")), cell((t.levels || []).join(", ")), cell(t.time_zone))),
    ),
    table(
      `Students (${students.total})`,
      ["Name", "Email", "Level", "Time zone"],
      students.items.map((s) => el("tr", {}, el("td", {}, el("a", { href: `#/people/students/${encodeURIComponent(s.id)}` }, s.display_name)), cell(s.email), cell(s.level), cell(s.time_zone))),
    ),
    table(
      `Guardians and their consents (${guardians.total})`,
      ["Guardian", "Email", "Child", "Recording", "AI processing", "Emails"],
      guardians.items.flatMap((g) =>
        (g.students.length ? g.students : [null]).map((link) =>
          el(
            "tr",
            {},
            cell(g.display_name),
            cell(g.email),
            cell(link ? names.get(link.student_id) || link.student_id : "no child linked"),
            cell(link ? yes(link.recording_consent) : ""),
            cell(link ? yes(link.ai_processing_consent) : ""),
            cell(
              link
                ? link.notify_email
                  ? [
                      link.notify_summaries && "summaries",
                      link.notify_absences && "absences",
                      link.notify_reminders && "reminders",
                    ]
                      .filter(Boolean)
                      .join(", ") || "none"
                  : "none"
                : "",
            ),
          ),
        ),
      ),
    ),
    el(
      "p",
      { class: "hint" },
      "Families change their own consents and emails in their portal; each change holds at once. A tutor's name opens what they teach, their hours and their limits; a student's name opens their data: download it for the family, or erase it."
    ),
    addPeopleForms(students.items, peoplePage),
  ]);
  say("");
}

// --- requests and matching ---------------------------------------------------------------

async function requestsPage() {
  say("Loading…");
  const [requests, students] = await Promise.all([
    api("GET", "/api/v1/requests?status=open&limit=200"),
    api("GET", "/api/v1/students?limit=200"),
  ]);
  const names = new Map(students.items.map((s) => [s.id, s.display_name]));
  const span = (w) =>
    `${new Date(w.start).toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" })}–${new Date(w.end).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })}`;
  const items = requests.items.map((r) => {
    const box = el("div", { class: "candidates" });
    const offer = async () => {
      say("Ranking the tutors who could take it…");
      try {
        const ranked = await api("GET", `/api/v1/requests/${encodeURIComponent(r.id)}/candidates`);
        const heading = el("h3", { tabindex: "-1" }, "Tutors who could take it, best first");
        put(box,
          heading,
          ranked.candidates.length
            ? el(
                "ol",
                {},
                ranked.candidates.map((c) =>
                  el(
                    "li",
                    {},
                    el("strong", {}, c.display_name),
                    ` · ${span({ start: c.start, end: c.end })}`,
                    el("ul", { class: "reasons" }, c.reasons.map((reason) => el("li", {}, reason))),
                    el(
                      "button",
                      {
                        type: "button",
                        onclick: async () => {
                          try {
                            await api("POST", `/api/v1/requests/${encodeURIComponent(r.id)}/book`, { tutor_id: c.tutor_id, start: c.start });
                            await requestsPage();
                            say(`Booked ${names.get(r.student_id) || "the student"} with ${c.display_name}, ${span({ start: c.start, end: c.end })}.`);
                          } catch (error) {
                            say(`Not booked: ${error.message}`, { error: true });
                          }
                        },
                      },
                      `Book with ${c.display_name}`,
                    ),
                  ),
                ),
              )
            : el("p", {}, "No tutor is qualified and free in its windows."),
          ranked.excluded.length
            ? el(
                "details",
                {},
                el("summary", {}, `Why ${ranked.excluded.length} other tutor(s) are left out`),
                el("ul", {}, ranked.excluded.map((x) => el("li", {}, `${x.display_name}: ${x.reasons.join("; ")}`))),
              )
            : null,
        );
        say("");
        heading.focus();
      } catch (error) {
        say(error.message, { error: true });
      }
    };
    return el(
      "li",
      { class: "request", "data-request": r.id },
      el("h2", {}, `${names.get(r.student_id) || r.student_id}: ${r.subject} (${r.level}), ${r.duration_minutes} min`),
      el("p", { class: "meta" }, `Could meet: ${r.windows.map(span).join("; ")}`, r.note ? `. ${r.note}` : ""),
      el("button", { type: "button", onclick: offer }, "Find tutors"),
      box,
    );
  });
  const matchAll = el("button", { type: "button", class: "primary" }, "Match and book every open request");
  matchAll.addEventListener("click", async () => {
    matchAll.disabled = true;
    say("Matching…");
    try {
      const done = await api("POST", "/api/v1/requests/match", { book: true });
      await requestsPage();
      say(
        `Booked ${done.booked.length}; ${done.not_booked.length} refused when booked; ` +
          `${done.expired.length} with no room left in their windows.`,
      );
    } catch (error) {
      say(error.message, { error: true });
      matchAll.disabled = false;
    }
  });
  show("Requests", [
    items.length
      ? [el("p", {}, matchAll), el("ul", { class: "requests" }, items)]
      : el("p", {}, "No open requests: every student who asked has a tutor."),
    requestForm(students.items),
  ]);
  say("");
}

// A new request, as a family asks by phone: who, what, how long, and when they could meet
// (times in this browser's zone; the API keeps UTC). Refusals name the field.
function requestForm(students) {
  const student = el("select", { required: true }, students.map((s) => el("option", { value: s.id }, s.display_name)));
  const subject = el("input", { type: "text", required: true, maxlength: 64, value: "mathematics" });
  const level = el("input", { type: "text", required: true, maxlength: 64 });
  const minutes = el("input", { type: "number", required: true, min: "15", max: "480", value: "60" });
  const tomorrow = new Date();
  tomorrow.setDate(tomorrow.getDate() + 1);
  tomorrow.setHours(16, 0, 0, 0);
  const windows = el("ul", { class: "rows" });
  let count = 0;
  const addWindow = (from) => {
    count += 1;
    const start = el("input", { type: "datetime-local", required: true, id: `request-from-${count}`, value: localInput(from) });
    const end = el("input", { type: "datetime-local", required: true, id: `request-to-${count}`, value: localInput(new Date(from.getTime() + 3 * 3600 * 1000)) });
    const remove = el("button", { type: "button", class: "remove" }, "Remove");
    const li = el(
      "li",
      {},
      el("span", { class: "cell" }, el("label", { for: start.id }, "From"), start),
      el("span", { class: "cell" }, el("label", { for: end.id }, "To"), end),
      remove,
    );
    li.read = () => ({ start: new Date(start.value).toISOString(), end: new Date(end.value).toISOString() });
    remove.addEventListener("click", () => {
      li.remove();
      more.focus();
    });
    windows.append(li);
    return start;
  };
  const more = el("button", { type: "button" }, "Add a time they could meet");
  more.addEventListener("click", () => {
    const last = windows.lastElementChild;
    const after = last ? new Date(new Date(last.read().start).getTime() + 24 * 3600 * 1000) : tomorrow;
    addWindow(after).focus();
  });
  addWindow(tomorrow);
  const outcome = el("div", { class: "outcome", "aria-live": "polite" });
  const form = el(
    "form",
    {
      class: "booking",
      onsubmit: async (event) => {
        event.preventDefault();
        say("Storing the request…");
        try {
          await api("POST", "/api/v1/requests", {
            student_id: student.value,
            subject: subject.value.trim(),
            level: level.value.trim(),
            duration_minutes: Number(minutes.value),
            windows: [...windows.children].map((li) => li.read()),
          });
          await requestsPage();
          say(`Stored: ${student.selectedOptions[0].textContent} asks for ${subject.value.trim()}. Find tutors for it above.`);
        } catch (error) {
          put(outcome,
            el("p", {}, `Not stored: ${error.message}`),
            error.details.length ? el("ul", { class: "conflicts" }, error.details.map((d) => el("li", {}, d.message))) : null,
          );
          say("Not stored: see why below.", { error: true });
        }
      },
    },
    field("request-student", "Student", student),
    field("request-subject", "Subject", subject),
    field("request-level", "Level", level),
    field("request-minutes", "Minutes each lesson", minutes),
    el("fieldset", {}, el("legend", {}, "When they could meet (your time zone)"), windows, more),
    el("button", { type: "submit", class: "primary" }, "Store the request"),
    outcome,
  );
  return [el("h2", {}, "A new request"), form];
}
