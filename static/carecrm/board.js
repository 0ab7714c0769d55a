// Drag a card onto another column to move the lead through the pipeline service.
// The server answers with the whole board re-rendered, so a refused move puts the card back
// in its real column and shows why.
(function () {
  function setUp(area) {
    let dragged = null;
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
      if (card.closest("[data-stage]") === column) return;
      column.querySelector("[data-cards]").appendChild(card);
      htmx.ajax("POST", area.dataset.moveUrl, {
        target: "#board",
        swap: "outerHTML",
        values: {
          referral: card.dataset.referral,
          version: card.dataset.version,
          to_stage: column.dataset.stage,
        },
      });
    });
  }

  // Listeners sit on the area around the board, so they survive the board being swapped.
  document.addEventListener("DOMContentLoaded", () => {
    const area = document.getElementById("board-area");
    if (area) setUp(area);
  });
})();
