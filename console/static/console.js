// The console's live part: screen-pops ("offer") and presence changes ("presence") arrive as
// Server-Sent Events and are written as text only (never HTML); EventSource resumes by
// Last-Event-ID by itself. The pop's wrap-up form is saved in place.
"use strict";

// Words in the page's language (states, roles, units), from the server.
const LABELS = JSON.parse(document.body.dataset.labels || "{}");
const label = (key) => LABELS[key] ?? key;

function showOffer(pop, offer) {
  showCallControls(true);
  document.getElementById("pop-title").textContent = label("incoming");
  for (const field of ["pseudonym", "queue", "language", "waited_s", "line", "ivr_path"]) {
    const id = "pop-" + field.replace("_s", "").replace("_", "-");
    document.getElementById(id).textContent = String(offer[field]) || label("none");
  }
  const context = offer.context;
  document.getElementById("pop-context").textContent = context
    ? label(context.kind) + " " + new Date(context.asked_at * 1000).toLocaleTimeString()
    : label("direct");
  pop.dataset.call = offer.call_id;
  document.getElementById("wrapup-call").value = offer.call_id;
  for (const field of document.querySelectorAll(".pop-call")) field.value = offer.call_id;
  document.getElementById("transfer-status").textContent = "";
  document.getElementById("hangup-status").textContent = "";
  const select = document.getElementById("disposition");
  select.replaceChildren(...offer.dispositions.map((name) => new Option(name, name)));
  showFlagChoices(offer.flags);
  document.getElementById("notes").value = "";
  document.getElementById("pop-earlier").textContent = "…";
  document.getElementById("pop-flags").textContent = "…";
  document.getElementById("wrapup-status").textContent = "";
  pop.hidden = false;
}

// A call to the texter of one of the volunteer's conversations pops like an offer, with the
// conversation's newest messages; it is no queue call: no transfer, hang-up or wrap-up here.
function showTextCall(pop, call) {
  showOffer(pop, call);
  showCallControls(false);
  document.getElementById("pop-title").textContent = label("calling_texter");
  document.getElementById("pop-messages").replaceChildren(...chatItems(call.lines));
}

// A conversation's lines as list items: who, then what they wrote (text only).
function chatItems(lines) {
  return lines.map((line) => {
    const item = document.createElement("li");
    item.textContent = label("chat_" + line.author) + " " + line.body;
    return item;
  });
}

// The pop's messages (a call to a texter) or its call controls (a queue call).
function showCallControls(shown) {
  for (const id of ["transfer", "wrapup"]) document.getElementById(id).hidden = !shown;
  if (!shown) document.getElementById("hangup").hidden = true;
  for (const id of ["pop-messages-title", "pop-messages-item"]) {
    document.getElementById(id).hidden = shown;
  }
}

// The queue's flags as labelled checkboxes of the wrap-up form (none set), after its legend.
function showFlagChoices(flags) {
  const fieldset = document.getElementById("wrapup-flags");
  const choices = flags.map((name) => {
    const box = Object.assign(document.createElement("input"), {
      type: "checkbox",
      name: "flags",
      value: name,
      id: "flag-" + name,
    });
    const text = Object.assign(document.createElement("label"), {htmlFor: box.id});
    text.textContent = name;
    return [box, text];
  });
  fieldset.replaceChildren(fieldset.querySelector("legend"), ...choices.flat());
  fieldset.hidden = flags.length === 0;
}

// Post a form's fields (or ``body``) without leaving the page; the JSON answer.
async function postForm(form, body = new URLSearchParams(new FormData(form))) {
  const response = await fetch(form.action, {
    method: "POST",
    body,
    headers: {"Accept": "application/json"},
    credentials: "same-origin",
  });
  return response.json();
}

// The wrap-up is sent without leaving the page (the pop stays); the answer says how it went.
async function saveWrapup(event) {
  event.preventDefault();
  const form = event.target;
  const status = document.getElementById("wrapup-status");
  const answer = await postForm(form);
  status.textContent = answer.saved ? label("saved") : label("not_saved") + " " + answer.error;
}

// A transfer is sent without leaving the page; the answer says where the call went. The
// button pressed says whether to a queue or to a supervisor.
async function transferCall(event) {
  event.preventDefault();
  const form = event.target;
  const body = new URLSearchParams(new FormData(form));
  if (event.submitter && event.submitter.name) {
    body.set(event.submitter.name, event.submitter.value);
  }
  const answer = await postForm(form, body);
  document.getElementById("transfer-status").textContent = answer.transferred
    ? label("transferred") + " " + answer.transferred
    : label("not_transferred") + " " + answer.error;
}

// A hang-up is sent without leaving the page; the presence that follows shows the wrap-up.
async function hangUp(event) {
  event.preventDefault();
  const form = event.target;
  const answer = await postForm(form);
  document.getElementById("hangup-status").textContent = answer.hung_up
    ? label("hung_up")
    : label("not_hung_up") + " " + answer.error;
}

// "m min s s" for a number of seconds.
function duration(seconds) {
  return `${Math.floor(seconds / 60)} ${label("min")} ${seconds % 60} ${label("s")}`;
}

// The call's timer and the wrap-up's countdown, from their times in the presence.
function tickCall() {
  const now = Date.now() / 1000;
  const since = parseFloat(document.getElementById("call-clock").dataset.since);
  document.getElementById("call-timer").textContent = Number.isNaN(since)
    ? ""
    : duration(Math.max(0, Math.floor(now - since)));
  const until = parseFloat(document.getElementById("wrapup-time").dataset.until);
  document.getElementById("wrapup-left").textContent = Number.isNaN(until)
    ? ""
    : duration(Math.max(0, Math.ceil(until - now)));
}

function showEarlier(earlier) {
  const last = earlier.last_dispositions.join(", ");
  document.getElementById("pop-earlier").textContent =
    earlier.contacts === 0
      ? label("none")
      : earlier.contacts + (last ? " (" + label("last") + " " + last + ")" : "");
  document.getElementById("pop-flags").textContent = earlier.flags.join(", ") || label("none");
}

function showPresence(presence) {
  const state = document.getElementById("state");
  state.dataset.state = presence.state;
  state.textContent = label(presence.state);
  const reason = document.getElementById("pause-reason");
  reason.textContent = presence.pause_reason ? "(" + presence.pause_reason + ")" : "";
  document.getElementById("paused-in").textContent = Object.entries(presence.paused_in)
    .map(([queue, why]) => queue + ": " + why)
    .join(", ");
  const clock = document.getElementById("call-clock");
  clock.dataset.since = presence.call_since ?? "";
  clock.hidden = presence.state !== "on_call";
  document.getElementById("hangup").hidden = presence.state !== "on_call";
  const wrapup = document.getElementById("wrapup-time");
  wrapup.dataset.until = presence.wrapup_until ?? "";
  wrapup.hidden = presence.state !== "wrap_up";
  tickCall();
}

// A supervisor joined or left the call (where the queue tells its volunteers).
function showMonitored(notice) {
  const line = document.getElementById("monitored");
  line.textContent = notice.on ? label("monitored_" + notice.mode) : "";
  line.hidden = !notice.on;
}

// The pledge form of a telethon call: opened for each call the operator answers in a campaign
// queue, prefilled for a returning donor; amounts arrive in minor units and are written in
// the currency's major unit. A form keeps one client key, so a double submission saves once.
const money = (minor, currency) => (minor / 100).toFixed(2) + " " + currency;

function clientKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function showPledgeForm(form) {
  const section = document.getElementById("pledge");
  const fields = document.getElementById("pledge-form");
  fields.reset();
  document.getElementById("pledge-campaign").textContent = form.title;
  document.getElementById("pledge-pseudonym").textContent = form.pseudonym;
  // A caller who chose no language in the IVR (a line straight to the operators) has the
  // call's own, as the pop shows it.
  document.getElementById("pledge-language").textContent =
    form.language || document.getElementById("pop-language").textContent;
  document.getElementById("pledge-call").value = form.call_id;
  document.getElementById("pledge-client-key").value = clientKey();
  document.getElementById("pledge-id").value = "";
  for (const field of section.querySelectorAll(".pledge-currency")) {
    field.textContent = form.currency;
  }
  document.getElementById("pledge-limits").textContent =
    label("from") + " " + money(form.minimum, form.currency) + " " +
    label("to") + " " + money(form.maximum, form.currency);
  const amount = document.getElementById("pledge-amount");
  const presets = form.presets.map((minor) => {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = money(minor, form.currency);
    button.addEventListener("click", () => { amount.value = (minor / 100).toFixed(2); });
    return button;
  });
  document.getElementById("pledge-presets").replaceChildren(...presets);
  document.getElementById("pledge-one-off").disabled = !form.one_off;
  document.getElementById("pledge-monthly").disabled = !form.monthly;
  document.getElementById("pledge-monthly").checked = !form.one_off;
  document.getElementById("pledge-receipt").disabled = form.receipt === "none";
  const earlier = form.earlier.map((pledge) => {
    const item = document.createElement("li");
    item.textContent = money(pledge.amount, pledge.currency) + ", " + label(pledge.frequency) +
      ", " + label(pledge.status) + (pledge.alias ? " (" + pledge.alias + ")" : "");
    return item;
  });
  if (earlier.length === 0) earlier.push(Object.assign(document.createElement("li"), {textContent: label("none")}));
  document.getElementById("pledge-earlier").replaceChildren(...earlier);
  if (form.donor) {
    document.getElementById("pledge-name").value = form.donor.name;
    document.getElementById("pledge-address").value = form.donor.address;
    document.getElementById("pledge-email").value = form.donor.email;
    document.getElementById("pledge-keep").checked = true;
  }
  document.getElementById("pledge-status").textContent = "";
  document.getElementById("pledge-error").textContent = "";
  document.getElementById("pledge-link").hidden = true;
  document.getElementById("pledge-link-status").textContent = "";
  for (const field of fields.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
  if (form.saved) showSavedPledge(form.saved, form.donor);
  section.hidden = false;
  amount.focus();
}

// A form reopened mid-call (a reload) holds the pledge saved on the call: saving corrects it.
function showSavedPledge(pledge, donor) {
  document.getElementById("pledge-id").value = pledge.id;
  document.getElementById("pledge-link-id").value = pledge.id;
  document.getElementById("pledge-amount").value = (pledge.amount / 100).toFixed(2);
  document.getElementById(pledge.frequency === "monthly" ? "pledge-monthly" : "pledge-one-off").checked = true;
  document.getElementById("pledge-day").value = pledge.day_of_month ?? "";
  document.getElementById("pledge-instalments").value = pledge.instalments ?? "";
  document.getElementById("pledge-method").value = pledge.method;
  document.getElementById("pledge-receipt").checked = pledge.receipt;
  document.getElementById("pledge-keep").checked = pledge.keep_details && donor !== null;
  document.getElementById("pledge-sms").checked = pledge.consent_sms;
  document.getElementById("pledge-on-air").checked = pledge.on_air;
  document.getElementById("pledge-alias").value = pledge.alias;
  document.getElementById("pledge-comment").value = pledge.comment;
  document.getElementById("pledge-link").hidden = pledge.method !== "sms_link";
  document.getElementById("pledge-status").textContent =
    label("pledge_saved") + " " + money(pledge.amount, pledge.currency);
}

// The field each refusal is about, marked invalid and focused.
const PLEDGE_FIELDS = {
  "bad-amount": "pledge-amount",
  "amount-out-of-range": "pledge-amount",
  "bad-number": "pledge-day",
  "day-out-of-range": "pledge-day",
  "instalments-out-of-range": "pledge-instalments",
  "receipt-needs-name-and-address": "pledge-address",
  "email-required": "pledge-email",
  "sms-consent-required": "pledge-sms",
  "alias-required": "pledge-alias",
};

async function savePledge(event) {
  event.preventDefault();
  const form = event.target;
  const button = document.getElementById("pledge-save");
  const error = document.getElementById("pledge-error");
  const status = document.getElementById("pledge-status");
  button.disabled = true;
  try {
    const answer = await postForm(form);
    for (const field of form.querySelectorAll("[aria-invalid]")) field.removeAttribute("aria-invalid");
    if (answer.pledge) {
      const corrected = document.getElementById("pledge-id").value !== "";
      document.getElementById("pledge-id").value = answer.pledge.id;
      document.getElementById("pledge-link-id").value = answer.pledge.id;
      document.getElementById("pledge-link").hidden = answer.pledge.method !== "sms_link";
      error.textContent = "";
      status.textContent = label(corrected ? "pledge_corrected" : "pledge_saved") + " " +
        money(answer.pledge.amount, answer.pledge.currency);
    } else {
      status.textContent = "";
      error.textContent = answer.message + " (" + answer.error + ")";
      const field = document.getElementById(PLEDGE_FIELDS[answer.error] || "pledge-amount");
      field.setAttribute("aria-invalid", "true");
      field.focus();
    }
  } finally {
    button.disabled = false;
  }
}

// The payment link is texted once the operator says so (a pledge is corrected only before).
async function sendLink(event) {
  event.preventDefault();
  const form = event.target;
  const button = document.getElementById("pledge-send-link");
  button.disabled = true;
  try {
    const answer = await postForm(form);
    document.getElementById("pledge-link-status").textContent = answer.pledge
      ? label("link_texted")
      : answer.message + " (" + answer.error + ")";
  } finally {
    button.disabled = false;
  }
}

// More wrap-up time, or its end, without leaving the page: the pop's wrap-up form (and notes
// being written) stays, and the presence event that follows moves the countdown. A refusal
// goes to the page that names it, as the plain form does.
async function changeWrapupTime(event) {
  event.preventDefault();
  const form = event.target;
  const body = new URLSearchParams(new FormData(form));
  body.set(event.submitter.name, event.submitter.value);
  const init = {method: "POST", body, credentials: "same-origin"};
  // The attribute: ``form.action`` is the buttons named "action".
  const response = await fetch(form.getAttribute("action"), init);
  if (new URL(response.url).searchParams.has("error")) window.location.assign(response.url);
}

const pop = document.getElementById("pop");
if (pop) {
  const events = new EventSource(pop.dataset.events);
  events.addEventListener("offer", (event) => showOffer(pop, JSON.parse(event.data)));
  events.addEventListener("earlier", (event) => showEarlier(JSON.parse(event.data)));
  events.addEventListener("presence", (event) => showPresence(JSON.parse(event.data)));
  events.addEventListener("monitored", (event) => showMonitored(JSON.parse(event.data)));
  events.addEventListener("pledge", (event) => showPledgeForm(JSON.parse(event.data)));
  document.getElementById("pledge-form").addEventListener("submit", savePledge);
  document.getElementById("pledge-link").addEventListener("submit", sendLink);
  document.getElementById("wrapup").addEventListener("submit", saveWrapup);
  document.getElementById("transfer").addEventListener("submit", transferCall);
  document.getElementById("hangup").addEventListener("submit", hangUp);
  document.getElementById("wrapup-time").addEventListener("submit", changeWrapupTime);
  tickCall();
  setInterval(tickCall, 1000);
}

// The chat panel: each "chat" event carries one of the volunteer's conversations whole; its
// article (cloned from the page's template when new) is rewritten, as text only.
function showChat(list, view) {
  let article = list.querySelector(`article[data-conversation="${CSS.escape(view.id)}"]`);
  if (!article) {
    article = document.getElementById("chat-template").content.firstElementChild.cloneNode(true);
    article.dataset.conversation = view.id;
    list.append(article);
  }
  article.setAttribute("aria-label", view.pseudonym);
  article.querySelector(".chat-pseudonym").textContent = view.pseudonym;
  article.querySelector(".chat-queue").textContent = view.queue;
  article.querySelector(".chat-ended").hidden = view.state !== "ended";
  for (const form of article.querySelectorAll("form")) {
    const action = form.className.replace("chat-", "");
    form.action = `/console/chats/${encodeURIComponent(view.id)}/${action}`;
    form.hidden = view.state === "ended";
  }
  const canned = article.querySelector(".chat-canned");
  if (canned.options.length !== view.canned.length + 1) {
    canned.replaceChildren(new Option("—", ""), ...view.canned.map((text) => new Option(text)));
  }
  article.querySelector(".chat-lines").replaceChildren(...view.lines.map((line) => {
    const item = document.createElement("li");
    item.dataset.author = line.author;
    const who = document.createElement("strong");
    who.textContent = label("chat_" + line.author);
    const body = document.createElement("span");
    body.className = "chat-body";
    body.textContent = line.body;
    item.append(who, " ", body);
    return item;
  }));
  document.getElementById("chats-none").hidden = true;
}

// A reply or an end is posted without leaving the page; the conversation's next "chat" event
// shows it. A ready-made reply fills the reply box, to be sent as it is or edited.
async function chatAction(event) {
  event.preventDefault();
  const form = event.target;
  const status = form.querySelector(".chat-status");
  const answer = await postForm(form);
  if (!status) return;
  if (answer.sent) {
    form.elements.text.value = "";
    status.textContent = label("chat_sent");
  } else if (answer.reference) {
    status.textContent = `${label("chat_called_back")} ${answer.reference}`;
  } else {
    status.textContent = `${label("chat_not_sent")} ${answer.error}`;
  }
}

const chats = document.getElementById("chats");
if (chats) {
  const list = document.getElementById("chat-list");
  const chatEvents = new EventSource(chats.dataset.events);
  chatEvents.addEventListener("chat", (event) => showChat(list, JSON.parse(event.data)));
  chatEvents.addEventListener("text-call", (event) => showTextCall(pop, JSON.parse(event.data)));
  chatEvents.addEventListener("earlier", (event) => showEarlier(JSON.parse(event.data)));
  chatEvents.addEventListener("chat-gone", (event) => {
    const id = JSON.parse(event.data).id;
    list.querySelector(`article[data-conversation="${CSS.escape(id)}"]`)?.remove();
    document.getElementById("chats-none").hidden = list.children.length > 0;
  });
  list.addEventListener("submit", chatAction);
  list.addEventListener("change", (event) => {
    if (!event.target.classList.contains("chat-canned") || !event.target.value) return;
    event.target.closest("form").elements.text.value = event.target.value;
  });
}

// The supervisor's board: every "board" event rewrites the wallboard's counts and the agents'
// states (text only); the times in state tick every second from each state's start.
function showBoard(board) {
  for (const tile of board.tiles) {
    const row = document.querySelector(`#wallboard tr[data-queue="${CSS.escape(tile.queue)}"]`);
    if (!row) continue;
    const agents = tile.agents;
    const values = {
      waiting: tile.waiting,
      longest_wait_s: Math.round(tile.longest_wait_s),
      available: agents.available || 0,
      paused: agents.paused || 0,
      on_call: (agents.on_call || 0) + (agents.offered || 0),
      wrap_up: agents.wrap_up || 0,
      service_level_pct:
        tile.service_level_pct === null ? "–" : Math.round(tile.service_level_pct) + " %",
      answered: tile.answered,
      abandoned: tile.abandoned + " (" + tile.short_abandoned + ")",
      asa_s: tile.asa_s === null ? "–" : Math.round(tile.asa_s),
      aht_s: tile.aht_s === null ? "–" : Math.round(tile.aht_s),
      callbacks_pending: tile.callbacks_pending,
    };
    for (const [field, value] of Object.entries(values)) {
      row.querySelector(`[data-field="${field}"]`).textContent = String(value);
    }
  }
  for (const agent of board.agents) {
    const row = document.querySelector(`#agents tr[data-agent="${CSS.escape(agent.id)}"]`);
    if (!row) continue;
    const reason = agent.pause_reason ? " (" + agent.pause_reason + ")" : "";
    row.querySelector('[data-field="state"]').textContent = label(agent.state) + reason;
    row.querySelector('[data-field="since"]').dataset.since = agent.since ?? "";
    row.querySelector('[data-field="paused_in"]').textContent = Object.entries(agent.paused_in)
      .map(([queue, why]) => queue + ": " + why)
      .join(", ");
    row.querySelector('[data-field="call_queue"]').textContent = agent.call_queue;
    row.querySelector('[data-field="call_since"]').dataset.since = agent.call_since ?? "";
    row.querySelector('[data-field="calls_today"]').textContent = agent.calls_today ?? "–";
    for (const field of ["unmask", "monitor"]) {
      const form = row.querySelector(`[data-field="${field}"]`);
      if (form) {
        form.elements.call.value = agent.call_id;
        form.hidden = !agent.call_id;
      }
    }
  }
  tick();
}

// Listen, whisper or barge: the supervisor's own phone rings; the answer says so, or why not.
async function monitorCall(event) {
  event.preventDefault();
  const form = event.target;
  const body = new URLSearchParams(new FormData(form));
  if (event.submitter) body.set("mode", event.submitter.value);
  const answer = await postForm(form, body);
  form.querySelector('[data-field="monitor-status"]').textContent = answer.monitoring
    ? label("ringing_you") + " " + event.submitter.textContent
    : label("not_monitoring") + " " + answer.error;
}

// The queue log's tail: each "log" event (already filtered by the server) becomes the newest
// row, as text; the oldest rows past the tail's length go.
function showLogLine(line) {
  const table = document.getElementById("queue-log");
  const row = document.createElement("tr");
  row.dataset.entry = line.id;
  for (const value of [line.at, line.event, line.queue, line.agent, line.pseudonym]) {
    const cell = document.createElement("td");
    cell.textContent = value;
    row.append(cell);
  }
  table.tBodies[0].prepend(row);
  const most = parseInt(table.dataset.lines, 10);
  while (table.tBodies[0].rows.length > most) table.tBodies[0].lastElementChild.remove();
}

function tick() {
  const now = Date.now() / 1000;
  for (const cell of document.querySelectorAll("#agents [data-since]")) {
    const since = parseFloat(cell.dataset.since);
    const seconds = Number.isNaN(since) ? null : Math.max(0, Math.floor(now - since));
    cell.textContent = seconds === null ? "" : duration(seconds);
  }
}

const board = document.getElementById("board");
if (board) {
  const events = new EventSource(board.dataset.events);
  events.addEventListener("board", (event) => showBoard(JSON.parse(event.data)));
  events.addEventListener("log", (event) => showLogLine(JSON.parse(event.data)));
  for (const form of document.querySelectorAll("#agents form.monitor")) {
    form.addEventListener("submit", monitorCall);
  }
  tick();
  setInterval(tick, 1000);
}

// A supervisor's read-only view of their queues' text conversations: the list's rows follow
// each "chat" event (an ended conversation leaves it); one conversation's page rewrites its
// lines on each, and says when it left the supervisor's queues ("chat-gone").
function showOverseenRow(table, view) {
  let row = table.querySelector(`tr[data-conversation="${CSS.escape(view.id)}"]`);
  if (view.state !== "open") {
    row?.remove();
  } else {
    if (!row) {
      row = table.tBodies[0].insertRow(0);
      row.dataset.conversation = view.id;
      for (const field of ["pseudonym", "queue", "agent"]) {
        row.insertCell().dataset.field = field;
      }
      const cell = row.insertCell();
      if (table.dataset.reads) {  // reading a conversation is for supervisors (not admins)
        const link = document.createElement("a");
        link.href = "/console/supervisor/chats/" + encodeURIComponent(view.id);
        link.textContent = label("read");
        cell.append(link);
      }
    }
    for (const field of ["pseudonym", "queue", "agent"]) {
      row.querySelector(`[data-field="${field}"]`).textContent = view[field];
    }
  }
  document.getElementById("overseen-none").hidden = table.tBodies[0].rows.length > 0;
}

function showOverseenChat(view) {
  document.getElementById("overseen-pseudonym").textContent = view.pseudonym;
  document.getElementById("overseen-queue").textContent = view.queue;
  document.getElementById("overseen-agent").textContent = view.agent;
  document.getElementById("overseen-state").textContent = label(view.state);
  document.getElementById("overseen-lines").replaceChildren(...chatItems(view.lines));
}

const overseenChats = document.getElementById("overseen-chats");
if (overseenChats) {
  const table = document.getElementById("overseen-table");
  const source = new EventSource(overseenChats.dataset.events);
  source.addEventListener("chat", (event) => showOverseenRow(table, JSON.parse(event.data)));
}
const overseenChat = document.getElementById("overseen-chat");
if (overseenChat) {
  const source = new EventSource(overseenChat.dataset.events);
  source.addEventListener("chat", (event) => showOverseenChat(JSON.parse(event.data)));
  source.addEventListener("chat-gone", () => {
    document.getElementById("overseen-state").textContent = label("gone");
    source.close();
  });
}
