// The console's live part: screen-pops ("offer") and presence changes ("presence") arrive as
// Server-Sent Events and are written as text only (never HTML); EventSource resumes by
// Last-Event-ID by itself. The pop's wrap-up form is saved in place.
"use strict";

function showOffer(pop, offer) {
  for (const field of ["pseudonym", "queue", "language", "waited_s"]) {
    const id = "pop-" + field.replace("_s", "");
    document.getElementById(id).textContent = String(offer[field]);
  }
  pop.dataset.call = offer.call_id;
  document.getElementById("wrapup-call").value = offer.call_id;
  const select = document.getElementById("disposition");
  select.replaceChildren(...offer.dispositions.map((name) => new Option(name, name)));
  document.getElementById("notes").value = "";
  document.getElementById("pop-earlier").textContent = "…";
  document.getElementById("wrapup-status").textContent = "";
  pop.hidden = false;
}

// The wrap-up is sent without leaving the page (the pop stays); the answer says how it went.
async function saveWrapup(event) {
  event.preventDefault();
  const form = event.target;
  const status = document.getElementById("wrapup-status");
  const response = await fetch(form.action, {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    headers: {"Accept": "application/json"},
    credentials: "same-origin",
  });
  const answer = await response.json();
  status.textContent = answer.saved ? "Wrap-up saved." : "Not saved: " + answer.error;
}

function showEarlier(earlier) {
  const last = earlier.last_dispositions.join(", ");
  document.getElementById("pop-earlier").textContent =
    earlier.contacts === 0 ? "none" : earlier.contacts + (last ? " (last: " + last + ")" : "");
}

function showPresence(presence) {
  const state = document.getElementById("state");
  state.dataset.state = presence.state;
  state.textContent = presence.state.replace("_", " ");
  const reason = document.getElementById("pause-reason");
  reason.textContent = presence.pause_reason ? "(" + presence.pause_reason + ")" : "";
}

const pop = document.getElementById("pop");
if (pop) {
  const events = new EventSource(pop.dataset.events);
  events.addEventListener("offer", (event) => showOffer(pop, JSON.parse(event.data)));
  events.addEventListener("earlier", (event) => showEarlier(JSON.parse(event.data)));
  events.addEventListener("presence", (event) => showPresence(JSON.parse(event.data)));
  document.getElementById("wrapup").addEventListener("submit", saveWrapup);
}
