// What every page of the web app shares: the API client, the page builder, the status
// line, times in the reader's zone. Text from the API only ever goes in as text.

const $ = (id) => document.getElementById(id);

// The state a test (or a curious developer) can read: window.liveclassApp.
export const app = {
  me: null,
  token: null,
  zone: undefined, // the reader's own time zone, from their profile; unset: the browser's
  route: null,
  onExpired: () => {}, // the API said 401 to a stored token: log in again
  leave: null, // what the page shown now must close when another replaces it
};
window.liveclassApp = app;

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details; // the API's [{loc, message, type}]: each conflict, each bad field
  }
}

// One call to the API with the stored token; a 401 means the login ran out.
export async function api(method, path, body) {
  const headers = { accept: "application/json" };
  if (app.token) headers.authorization = `Bearer ${app.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, "offline", "Liveclass cannot be reached. Check your connection and try again.");
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && app.token) {
    app.onExpired();
    throw new ApiError(401, "expired", "Your login has run out.");
  }
  if (!response.ok) {
    const error = data.error || {};
    throw new ApiError(
      response.status,
      error.code || "error",
      error.message || response.statusText,
      error.details || [],
    );
  }
  return data;
}

// --- building the page: text only, never markup from data ----------------------------

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && typeof value !== "string") node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Replace what `node` holds; parts that are null, undefined or false are left out (the
// DOM's replaceChildren would write them as text: "null").
export function put(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
}

// Status for everyone, read out by screen readers; errors are alerts.
export function say(text, { error = false } = {}) {
  const status = $("status");
  status.setAttribute("role", error ? "alert" : "status");
  status.classList.toggle("error", error);
  status.textContent = text;
}

// A time in the reader's own zone, with the zone named: a family abroad reads "10:00" as
// their own ten o'clock (the emails say it the same way).
export function when(iso, { dateOnly = false } = {}) {
  // dateStyle cannot be combined with timeZoneName: each part is named instead.
  const date = { weekday: "long", year: "numeric", month: "long", day: "numeric", timeZone: app.zone };
  const options = dateOnly ? date : { ...date, hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
}

// Replace the main area with a page: its heading takes the focus, so a screen reader
// (and a keyboard) starts there, and the tab's title names it.
export function show(title, content) {
  // The page being left lets go of what it held open (the coordinator's live feed).
  if (app.leave) {
    const leave = app.leave;
    app.leave = null;
    leave();
  }
  const heading = el("h1", { tabindex: "-1" }, title);
  $("main").replaceChildren(heading, ...content.flat().filter((part) => part !== null && part !== undefined));
  document.title = `${title} · Liveclass`;
  heading.focus();
}


// Join a lesson: a join token from the API, then the lesson page with it.
export function joinButton(sessionId) {
  const join = el("button", { type: "button" }, "Join");
  join.addEventListener("click", async () => {
    join.disabled = true;
    say("Opening the lesson…");
    try {
      const grant = await api("POST", `/api/v1/sessions/${encodeURIComponent(sessionId)}/join-token`);
      location.assign(`/join/${encodeURIComponent(sessionId)}?token=${encodeURIComponent(grant.token)}`);
    } catch (error) {
      say(error.message, { error: true });
      join.disabled = false;
    }
  });
  return join;
}
