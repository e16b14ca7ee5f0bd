// The instructor's page: the class's latest verdicts, live from the server's event stream.
// Names and texts go into the page only as text (textContent), never as HTML.
"use strict";

const state = { course: null, learners: new Map(), latest: new Map(), projector: false };
const $ = id => document.getElementById(id);
const key = (learner, exercise) => learner + "\u0000" + exercise;

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (className) node.className = className;
  return node;
}

function plain(hint) {  // hints are written with Markdown's * and `; the page shows them as plain text
  return hint.replace(/[*`]/g, "");
}

function concept() {
  return state.course.concepts.find(c => c.id === $("concept").value) || state.course.concepts[0];
}

function learnerLabel(learner, index) {
  return state.projector ? "Learner " + (index + 1) : learner.name;
}

function render() {
  const current = concept();
  const exercises = current.exercises;
  const learners = [...state.learners.values()].sort((a, b) => a.joined - b.joined || (a.name < b.name ? -1 : 1));

  const head = el("tr");
  head.append(el("th", "Learner"));
  for (const e of exercises) {
    const th = el("th");
    th.scope = "col";
    // The id without its concept's number (the selector names the concept): narrower columns.
    th.append(el("span", e.id.slice(e.id.indexOf(".") + 1), "id"), el("br"), el("span", e.title, "title"));
    head.append(th);
  }
  $("grid").tHead.replaceChildren(head);

  const passed = exercises.map(() => 0);
  const failing = new Map();  // exercise id + code -> learners whose latest check failed so
  const rows = learners.map((learner, index) => {
    const row = el("tr", undefined, learner.left ? "left" : "");
    const name = el("th", learnerLabel(learner, index) + (learner.left ? " (left)" : ""));
    name.scope = "row";
    row.append(name);
    exercises.forEach((e, i) => {
      const got = state.latest.get(key(learner.name, e.id));
      if (!got) {
        const cell = el("td", undefined, "none");
        cell.append(el("span", "–"), el("span", " not tried", "sr"));
        cell.firstChild.setAttribute("aria-hidden", "true");
        row.append(cell);
      } else if (got.passed) {
        passed[i] += 1;
        const cell = el("td", "✔", "pass");
        cell.append(el("span", " passed", "sr"));
        row.append(cell);
      } else {
        const id = e.id + " " + got.code;
        failing.set(id, { exercise: e, code: got.code, count: (failing.get(id) || { count: 0 }).count + 1 });
        row.append(el("td", "✘ " + got.code, "fail"));
      }
    });
    return row;
  });
  $("grid").tBodies[0].replaceChildren(...rows);

  const foot = el("tr");
  const label = el("th", "Passed");
  label.scope = "row";
  foot.append(label, ...passed.map(n => el("td", n + " of " + learners.length)));
  $("grid").tFoot.replaceChildren(foot);

  const top = [...failing.values()].sort((a, b) => b.count - a.count || (a.exercise.id < b.exercise.id ? -1 : 1)).slice(0, 5);
  $("mistakes").replaceChildren(...top.map(m => {
    const item = el("li");
    const hint = m.exercise.hints[m.code] || state.course.codes[m.code] || m.code;
    item.append(el("span", m.count + (m.count === 1 ? " learner" : " learners"), "count"), " · ",
                el("span", m.exercise.id), " · ", el("span", m.code, "code"), ": ", el("span", plain(hint)));
    return item;
  }));
  $("no-mistakes").hidden = top.length > 0;
}

let pending = null;
function soon() {  // many checks a second arrive in a full room: draw at most four times a second
  if (pending === null) pending = setTimeout(() => { pending = null; render(); }, 250);
}

function learner(data) {
  state.learners.set(data.name, data);
}

function check(data) {
  if (!state.learners.has(data.learner)) learner({ name: data.learner, joined: data.received, left: null });
  const k = key(data.learner, data.exercise);
  const before = state.latest.get(k);
  if (before && before.seq >= data.seq) return;
  state.latest.set(k, { passed: data.passed, code: data.code, seq: data.seq });
}

function snapshot(data) {
  state.learners = new Map();
  state.latest = new Map();
  data.learners.forEach(learner);
  data.latest.forEach(check);
}

function connect() {
  const stream = new EventSource("stream");
  stream.addEventListener("open", () => { $("status").textContent = "Live: every check shows as it arrives."; });
  stream.addEventListener("error", () => { $("status").textContent = "Reconnecting to the session server…"; });
  stream.addEventListener("snapshot", e => { snapshot(JSON.parse(e.data)); render(); });
  stream.addEventListener("check", e => { check(JSON.parse(e.data)); soon(); });
  stream.addEventListener("learner", e => { learner(JSON.parse(e.data)); soon(); });
}

async function start() {
  state.course = await (await fetch("course")).json();
  const select = $("concept");
  for (const c of state.course.concepts) select.append(new Option(c.id.slice(0, 2) + " · " + c.title, c.id));
  const wanted = new URLSearchParams(location.search).get("concept");
  if (wanted) select.value = wanted;
  select.addEventListener("change", render);
  $("projector").addEventListener("click", () => {
    state.projector = !state.projector;
    $("projector").setAttribute("aria-pressed", String(state.projector));
    document.body.classList.toggle("projector", state.projector);
    render();
  });
  render();
  connect();
}

start();
