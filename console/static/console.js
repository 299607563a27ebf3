// The console's live part: screen-pops arrive as Server-Sent Events ("offer") and fill the
// pop section with text only (never HTML). EventSource resumes by Last-Event-ID by itself.
"use strict";

function showOffer(pop, offer) {
  for (const field of ["pseudonym", "queue", "language", "waited_s"]) {
    const id = "pop-" + field.replace("_s", "");
    document.getElementById(id).textContent = String(offer[field]);
  }
  pop.dataset.call = offer.call_id;
  pop.hidden = false;
}

const pop = document.getElementById("pop");
if (pop) {
  const events = new EventSource(pop.dataset.events);
  events.addEventListener("offer", (event) => showOffer(pop, JSON.parse(event.data)));
}
