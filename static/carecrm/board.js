// Drag a card onto another column to move the lead through the pipeline service.
// The server answers with the whole board re-rendered, so a refused move puts the card back
// in its real column and shows why.
(function () {
  function setUp(area) {
    let dragged = null;
    // The card whose move is on its way to the server, and where it came from.
    let pending = null;

    area.addEventListener("dragstart", (event) => {
      const card = event.target.closest("[data-referral]");
      if (!card) return;
      dragged = card;
      card.classList.add("crm-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", card.dataset.referral);
    });
    area.addEventListener("dragend", () => {
      if (dragged) dragged.classList.remove("crm-dragging");
      dragged = null;
      area.querySelectorAll(".crm-drop-target").forEach((c) => c.classList.remove("crm-drop-target"));
    });
    area.addEventListener("dragover", (event) => {
      const column = event.target.closest("[data-stage]");
      if (!column || !dragged) return;
      event.preventDefault();
      column.classList.add("crm-drop-target");
    });
    area.addEventListener("dragleave", (event) => {
      const column = event.target.closest("[data-stage]");
      if (column && !column.contains(event.relatedTarget)) column.classList.remove("crm-drop-target");
    });
    area.addEventListener("drop", (event) => {
      const column = event.target.closest("[data-stage]");
      if (!column || !dragged) return;
      event.preventDefault();
      const card = dragged;
      dragged = null;
      card.classList.remove("crm-dragging");
      column.classList.remove("crm-drop-target");
      if (card.closest("[data-stage]") === column) return;
      pending = { card, parent: card.parentNode, next: card.nextSibling };
      column.querySelector("[data-cards]").appendChild(card);
      // The area is the request's source, so its hx-headers (the CSRF token) go with it;
      // without a source htmx resolves attributes from <body> and Django refuses the POST.
      htmx.ajax("POST", area.dataset.moveUrl, {
        source: area,
        target: "#board",
        swap: "outerHTML",
        values: {
          referral: card.dataset.referral,
          version: card.dataset.version,
          to_stage: column.dataset.stage,
        },
      });
    });

    // No board came back (server error, expired session, network down): put the card back
    // where it was and say so, rather than leave it in a column it never reached.
    area.addEventListener("htmx:afterRequest", (event) => {
      const move = pending;
      pending = null;
      if (!move || event.detail.successful) return;
      if (move.parent.isConnected) move.parent.insertBefore(move.card, move.next);
      const board = document.getElementById("board");
      let note = board && board.querySelector("[data-testid=board-error]");
      if (board && !note) {
        note = document.createElement("div");
        note.setAttribute("role", "alert");
        note.dataset.testid = "board-error";
        note.className = "crm-alert crm-alert-error";
        board.prepend(note);
      }
      if (note) note.textContent = "The move was not saved. Reload the board and try again.";
    });
  }

  // Listeners sit on the area around the board, so they survive the board being swapped.
  document.addEventListener("DOMContentLoaded", () => {
    const area = document.getElementById("board-area");
    if (area) setUp(area);
  });
})();
