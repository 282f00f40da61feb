// The Liveclass web app: login, the role's home, and its pages. A client of the public
// REST API (/api/v1) like any integrator's app: it adds no rules of its own, and every
// refusal it shows is the API's own message. Plain modules, no build step, nothing from
// another origin; the page's Content-Security-Policy allows only this one.
import { coordinatorRoutes } from "./coordinator.js";
import { familyRoutes } from "./family.js";
import { studentRoutes } from "./student.js";
import { tutorRoutes } from "./tutor.js";
import { api, app, el, say, show } from "./ui.js";

const TOKEN_KEY = "liveclass:app:token";
const $ = (id) => document.getElementById(id);

// --- login, logout ----------------------------------------------------------------

function remember(token) {
  app.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
}

function forget() {
  app.token = null;
  app.me = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $("nav").hidden = true;
  $("account").hidden = true;
}

function showLogin(message) {
  const email = el("input", { id: "email", type: "email", autocomplete: "username", required: true });
  const password = el("input", {
    id: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const form = el(
    "form",
    { id: "login-form", onsubmit: (event) => logIn(event, email.value, password.value) },
    el("label", { for: "email" }, "Email"),
    email,
    el("label", { for: "password" }, "Password"),
    password,
    el("button", { type: "submit" }, "Log in"),
  );
  show("Log in", [
    el("p", {}, "Log in with the email and password your school gave you."),
    form,
  ]);
  if (message) say(message, { error: true });
  email.focus();
}

async function logIn(event, email, password) {
  event.preventDefault();
  say("Logging in…");
  try {
    const granted = await api("POST", "/api/v1/auth/login", { email, password });
    remember(granted.access_token);
    say("");
    await start();
  } catch (error) {
    say(error.message, { error: true });
  }
}

function logOut() {
  forget();
  history.replaceState(null, "", "/app");
  showLogin();
  say("You are logged out.");
}

// --- pages and routes -------------------------------------------------------------

const ROLE_ROUTES = {
  coordinator: coordinatorRoutes,
  guardian: familyRoutes,
  student: studentRoutes,
  tutor: tutorRoutes,
};

function homeOf(role) {
  return { coordinator: "#/today", guardian: "#/family", student: "#/lessons", tutor: "#/desk" }[role] || "#/";
}

async function route() {
  if (!app.me) return;
  const routes = (ROLE_ROUTES[app.me.role] || (() => []))();
  const hash = location.hash || homeOf(app.me.role);
  for (const [pattern, page] of routes) {
    const match = hash.match(pattern);
    if (match) {
      app.route = hash;
      try {
        await page(...match.slice(1).map(decodeURIComponent));
      } catch (error) {
        if (error.code !== "expired") show("Something went wrong", [el("p", {}, error.message)]);
      }
      return;
    }
  }
  if (!routes.length) {
    show(`Welcome, ${app.me.display_name || "there"}`, [
      el(
        "p",
        {},
        "Pages for your role are not in the web app yet. Everything they will show is in the API: ",
        el("a", { href: "/docs" }, "see the API reference"),
        ".",
      ),
    ]);
    return;
  }
  // Another role's page (a family link opened by the student after the guardian logged
  // out on a shared computer): this person's own home instead.
  const others = Object.values(ROLE_ROUTES).flatMap((make) => make());
  if (others.some(([pattern]) => pattern.test(hash))) {
    history.replaceState(null, "", `/app${homeOf(app.me.role)}`);
    await route();
    return;
  }
  show("Page not found", [
    el("p", {}, "Nothing is at this address. "),
    el("a", { href: homeOf(app.me.role) }, "Go to your home page"),
  ]);
}

function navigation(role) {
  const links = {
    guardian: [["#/family", "My children"]],
    student: [["#/lessons", "My lessons"]],
    tutor: [["#/desk", "My desk"]],
    coordinator: [
      ["#/today", "Today"],
      ["#/calendar", "Calendar"],
      ["#/book", "Book a series"],
      ["#/requests", "Requests"],
      ["#/insight", "Insight"],
      ["#/reports", "Progress reports"],
      ["#/people", "People"],
      ["#/audit", "Audit log"],
      ["#/messages", "Emails and failures"],
    ],
  }[role] || [];
  const nav = $("nav");
  nav.replaceChildren(el("ul", {}, links.map(([href, text]) => el("li", {}, el("a", { href }, text)))));
  nav.hidden = links.length === 0;
}

async function start() {
  app.me = await api("GET", "/api/v1/me");
  if (app.me.role === "guardian") {
    app.zone = (await api("GET", `/api/v1/guardians/${app.me.guardian_id}`)).time_zone;
  } else if (app.me.role === "student") {
    app.zone = (await api("GET", `/api/v1/students/${app.me.student_id}`)).time_zone;
  } else if (app.me.role === "tutor") {
    app.zone = (await api("GET", `/api/v1/tutors/${app.me.tutor_id}`)).time_zone;
  }
  $("who").textContent = app.me.display_name || app.me.email;
  $("account").hidden = false;
  navigation(app.me.role);
  await route();
}

$("logout").addEventListener("click", logOut);
window.addEventListener("hashchange", () => {
  say("");
  route();
});

app.onExpired = () => {
  forget();
  showLogin("Your login has run out. Log in again to carry on.");
};
app.token = sessionStorage.getItem(TOKEN_KEY);
if (app.token) {
  start().catch((error) => {
    if (error.code !== "expired") {
      forget();
      showLogin(error.message);
    }
  });
} else {
  showLogin();
}
