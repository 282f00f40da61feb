// Adding people from the console: a tutor, a student, a guardian linked to their child.
// Each form posts to the API as an integrator would; a refusal (a taken email, a bad zone)
// is shown beside the form, field by field. A guardian's consents start off: they are the
// family's to give, in their portal.
import { api, el, put, say } from "./ui.js";

let formCount = 0;

function input(label, attrs) {
  formCount += 1;
  const id = `person-${formCount}`;
  const node = attrs.tag === "select" ? el("select", { id }, attrs.options) : el("input", { id, type: "text", ...attrs });
  return { node, field: el("div", { class: "field" }, el("label", { for: id }, label), node) };
}

const list = (text) =>
  text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);

// One form: its fields, the body they make, and what to say once the API has the person.
function personForm(title, fields, body, done) {
  const outcome = el("div", { class: "outcome", "aria-live": "polite" });
  const heading = el("h3", {}, title);
  const form = el(
    "form",
    {
      class: "booking",
      onsubmit: async (event) => {
        event.preventDefault();
        say(`${title}…`);
        try {
          const made = await api("POST", ...body());
          await done(made);
        } catch (error) {
          put(outcome,
            el("p", {}, `Not added: ${error.message}`),
            error.details.length
              ? el("ul", { class: "conflicts" }, error.details.map((d) => el("li", {}, `${d.loc.slice(1).join(" ")}: ${d.message.replace(/^Value error, /, "")}`)))
              : null,
          );
          say("Not added: see why below.", { error: true });
        }
      },
    },
    Object.values(fields).map((f) => f.field),
    el("button", { type: "submit", class: "primary" }, title),
    outcome,
  );
  return el("section", { class: "add-person" }, heading, form);
}

const zone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
const PASSWORD_HINT = "Password (optional; without one they cannot log in yet)";

export function addPeopleForms(students, reload) {
  const common = () => ({
    name: input("Name", { required: true, maxlength: 200, autocomplete: "off" }),
    email: input("Email", { type: "email", required: true, autocomplete: "off" }),
    zone: input("Time zone", { required: true, value: zone() }),
    password: input(PASSWORD_HINT, { type: "password", minlength: 8, autocomplete: "new-password" }),
  });
  const person = (f) => ({
    display_name: f.name.node.value.trim(),
    email: f.email.node.value.trim(),
    time_zone: f.zone.node.value.trim(),
    ...(f.password.node.value ? { password: f.password.node.value } : {}),
  });
  const added = (kind) => async (made) => {
    await reload();
    say(`Added ${kind} ${made.display_name}.`);
  };

  const tutor = { ...common(), subjects: input("Subjects (comma between)", { value: "mathematics" }), levels: input("Levels (comma between)", {}) };
  const student = {
    ...common(),
    level: input("Level", { maxlength: 64 }),
    born: input("Date of birth (optional: from the consent age on, the student gives consent, not the guardians)", { type: "date" }),
  };
  const guardian = {
    ...common(),
    child: input("Their child", { tag: "select", options: students.map((s) => el("option", { value: s.id }, s.display_name)) }),
    relationship: input("Relationship (mother, father, carer…)", { maxlength: 64 }),
  };
  return [
    el("h2", {}, "Add someone"),
    personForm("Add a tutor", tutor, () => ["/api/v1/tutors", { ...person(tutor), subjects: list(tutor.subjects.node.value), levels: list(tutor.levels.node.value) }], added("tutor")),
    personForm(
      "Add a student",
      student,
      () => [
        "/api/v1/students",
        {
          ...person(student),
          ...(student.level.node.value.trim() ? { level: student.level.node.value.trim() } : {}),
          ...(student.born.node.value ? { date_of_birth: student.born.node.value } : {}),
        },
      ],
      added("student"),
    ),
    personForm(
      "Add a guardian",
      guardian,
      () => [
        "/api/v1/guardians",
        {
          ...person(guardian),
          students: guardian.child.node.value
            ? [{ student_id: guardian.child.node.value, relationship: guardian.relationship.node.value.trim() || null }]
            : [],
        },
      ],
      added("guardian"),
    ),
    el("p", { class: "hint" }, "Consents start off: a guardian gives them in their portal, or a student of the consent age in theirs."),
  ];
}
