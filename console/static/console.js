// The console's live part: screen-pops ("offer") and presence changes ("presence") arrive as
// Server-Sent Events and are written as text only (never HTML). EventSource resumes by
// Last-Event-ID by itself.
"use strict";

function showOffer(pop, offer) {
  for (const field of ["pseudonym", "queue", "language", "waited_s"]) {
    const id = "pop-" + field.replace("_s", "");
    document.getElementById(id).textContent = String(offer[field]);
  }
  pop.dataset.call = offer.call_id;
  pop.hidden = false;
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
  events.addEventListener("presence", (event) => showPresence(JSON.parse(event.data)));
}
